//! Runs: one debug adapter session is one run of the debuggee, and a
//! persistent proxy outlives it.
//!
//! Once the debugger says `exited` or `terminated`, the run is over: a
//! joiner is told nothing of it (no `process` for a dead pid, no `stopped`),
//! and the next client that starts a session — a joiner's `initialize`, or a
//! `launch`/`attach` from a client still there — starts a new run. Adapters
//! take one launch per session (lldb-vscode 14 aborts on a second, and on
//! most requests once its run is over; debugpy's adapter goes away with its
//! debuggee), so the proxy asks the loop for a new debugger session
//! (`Action::RestartDebugger`: a spawned adapter is started again, a
//! connection made again) and sends the new one the handshake: the client's
//! own `initialize`, or for a client that had its handshake with the old
//! adapter the first client's `initialize` arguments; then the `launch` or
//! `attach`; and when the adapter says `initialized`, the breakpoints every
//! client has set, before the clients hear it and send their own.
//!
//! A client whose debugger session ended under it (the adapter went away, or
//! the proxy restarted it) is *stale*: until it starts a run again, or
//! another client does, its requests are answered with an error that says
//! so, rather than reaching an adapter that knows nothing of it.

use serde_json::{Value, json};

use super::inflight::Kind;
use super::{Dap, Handshake};
use crate::session::{ClientId, Outbox};

impl Dap {
    /// The debugger's `exited` or `terminated`: the run is over.
    pub(super) fn run_over(&mut self) {
        if !self.debugger.memory.is_over() {
            log::info!(
                "the debuggee's run is over: the next session the clients start is a new run"
            );
        }
        self.debugger.memory.over();
    }

    /// Whether `client`'s `initialize`, `launch` or `attach` must start a new
    /// run first (and does so); false in one-session mode, where the proxy
    /// ends with its debugger.
    pub(super) fn start_new_run(&mut self, client: ClientId, command: &str, out: &mut Outbox) {
        if !self.debugger.memory.is_over() || self.one_session {
            return;
        }
        log::info!(
            "client #{client}: {command} after the run is over: restarting the debugger for a new run"
        );
        self.fail_in_flight("the debugger is restarting for a new run", out);
        out.restart_debugger(format!("client #{client} starts a new run"));
        self.restarting = true;
        self.mark_stale();
        self.new_debugger_session(false);
        self.debugger.resend_breakpoints = true;
    }

    /// Answers every request in flight with an error: the debugger that was
    /// to answer them is gone.
    pub(super) fn fail_in_flight(&mut self, why: &str, out: &mut Outbox) {
        for p in self.in_flight.drain() {
            if let Some(c) = p.waiter.client().filter(|&c| self.clients.contains(c)) {
                self.counts.failed_debugger_lost += 1;
                let p = p.job;
                self.refuse(c, p.client_seq.into(), &p.command, why, out);
            }
        }
    }

    /// The debugger session ends under the clients that had their handshake
    /// with it.
    pub(super) fn mark_stale(&mut self) {
        for c in self.clients.iter_mut().map(|(_, c)| c) {
            c.stale |= c.initialize_answered;
        }
    }

    /// A `launch`/`attach` that a debugger with no `initialize` yet is to get
    /// (its client had its handshake with an adapter that is gone): the
    /// first client's `initialize` goes first, and the client hears this
    /// debugger's `initialized`.
    pub(super) fn initialize_for(&mut self, client: ClientId, out: &mut Outbox) {
        let Some(c) = self.clients.get_mut(client) else {
            return;
        };
        c.stale = false;
        if c.initialize_answered {
            return;
        }
        c.initialize_answered = true;
        match (&self.debugger.handshake, &self.initialize_args) {
            (Handshake::Fresh, Some(args)) => {
                log::info!(
                    "client #{client}: initializing the new debugger with the first client's arguments"
                );
                let args = args.clone();
                self.debugger.handshake = Handshake::Asked;
                self.request(None, "initialize", args, Kind::Initialize, out);
            }
            (Handshake::Answered(_), _) if self.debugger.initialized_seen => {
                if let Some(c) = self.clients.get_mut(client)
                    && !c.initialized_sent
                {
                    c.initialized_sent = true;
                    self.event(client, "initialized", None, out);
                }
            }
            _ => {}
        }
    }

    /// Whether `client`'s request finds no run to act on: it is stale, and
    /// nobody has started one with the new debugger. Answers it if so.
    pub(super) fn refuse_stale(
        &mut self,
        client: ClientId,
        seq: i64,
        command: &str,
        out: &mut Outbox,
    ) -> bool {
        let stale = self.clients.get(client).is_some_and(|c| c.stale);
        if !stale || self.debugger.started {
            return false;
        }
        log::debug!("client #{client}: {command} refused: its debugger session is over");
        let why = "the debug session this client started is over and the debugger was \
                   restarted: launch or attach to start a new run";
        self.refuse(client, seq.into(), command, why, out);
        true
    }

    /// After a restart, the new debugger gets every client's breakpoints
    /// before they hear its `initialized` (and add theirs again).
    pub(super) fn resend_breakpoints(&mut self, out: &mut Outbox) {
        if !std::mem::take(&mut self.debugger.resend_breakpoints) {
            return;
        }
        let requests = self.breakpoints.all();
        log::debug!(
            "new run: sending the debugger the clients' breakpoints ({} requests)",
            requests.len()
        );
        for (command, arguments, layout) in requests {
            let kind = Kind::Resync(Box::new(layout));
            self.request(None, command, arguments, kind, out);
        }
    }

    /// The arguments of the `initialize` that reached the debugger first:
    /// what the proxy sends a later debugger for a client that had its
    /// handshake already.
    pub(super) fn remember_initialize(&mut self, args: &Value) {
        if self.initialize_args.is_none() {
            let args = if args.is_object() { args } else { &json!({}) };
            self.initialize_args = Some(args.clone());
        }
    }
}
