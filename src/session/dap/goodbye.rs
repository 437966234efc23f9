//! Goodbyes and departures (SESSIONS.md rules 2, 3, 5 and 6).
//!
//! debugpy answers `disconnect` with `terminated`, the response, and closes:
//! forwarded, one client's goodbye would end everyone's session. So while
//! other clients remain a goodbye is personal: the proxy drops the client's
//! breakpoints, answers, and closes it. Asking to end the debuggee
//! (`terminateDebuggee: true`, or `terminate`, from any client) is forwarded:
//! it is an explicit request to end the program, for everyone. The last
//! goodbye is forwarded in one-session mode (or with `--last-goodbye
//! forward`); in persistent mode it resumes the debuggee and keeps the
//! session for the next client.
//!
//! A client that just drops leaves everything as it was: its breakpoints stay
//! (until a client sets that source again), its requests' answers are
//! dropped, and a reverse request it was asked goes to another client.

use serde_json::{Value, json};

use super::Dap;
use super::client::Request;
use super::inflight::Kind;
use crate::protocol::dap;
use crate::session::{ClientId, Outbox};

impl Dap {
    pub(super) fn goodbye(&mut self, r: &Request, args: &Value, out: &mut Outbox) {
        let ends_debuggee = r.command == "terminate"
            || args.get("terminateDebuggee").and_then(Value::as_bool) == Some(true);
        let others = self.clients.others_remain(r.client);
        if ends_debuggee || (!others && self.forwards_last_goodbye) {
            log::info!(
                "client #{}: {} forwarded to the debugger ({})",
                r.client,
                r.command,
                if ends_debuggee {
                    "it ends the debuggee"
                } else {
                    "last client"
                }
            );
            // `terminate` asks debugpy to end the program; the client stays
            // for the `terminated` everyone hears, and its own disconnect.
            if dap::is_goodbye(r.command) {
                if let Some(c) = self.clients.get_mut(r.client) {
                    c.said_goodbye = true;
                }
                if !others {
                    self.debugger.goodbye_from = Some(r.client);
                }
            }
            return self.forward_request(r, Kind::Plain, out);
        }
        self.drop_breakpoints(r.client, out);
        if !others && let Some(thread) = self.debugger.memory.stopped_thread() {
            match thread {
                Some(t) => {
                    log::info!("last client left: resuming the debuggee (thread {t})");
                    let args = json!({"threadId": t, "singleThread": false});
                    self.request(None, "continue", args, Kind::Internal, out);
                }
                None => log::warn!("last client left a stopped debuggee, but no thread to resume"),
            }
        }
        log::info!(
            "client #{}: {} answered by the proxy ({})",
            r.client,
            r.command,
            if others {
                "other clients remain"
            } else {
                "the session is kept"
            }
        );
        self.answer(r.client, r.seq, r.command, None, out);
        self.clients.set_leaving(r.client);
        out.close(r.client, format!("said {}", r.command));
    }

    /// Brings the debugger to the breakpoints without `client`'s.
    fn drop_breakpoints(&mut self, client: ClientId, out: &mut Outbox) {
        let requests = self.breakpoints.forget(client);
        if self.debugger.memory.is_over() {
            // Nothing runs, and an adapter whose run is over may not take
            // requests (lldb-vscode 14 aborts): the next run gets the rest.
            return;
        }
        for (command, arguments, layout) in requests {
            let kind = Kind::Resync(Box::new(layout));
            self.request(None, command, arguments, kind, out);
        }
    }

    pub(super) fn left(&mut self, client: ClientId, out: &mut Outbox) {
        let Some(c) = self.clients.leave(client) else {
            return;
        };
        log::debug!("client #{client} left");
        self.in_flight.depart(client, &mut self.warned);
        self.debugger.held.retain(|(c, _)| *c != client);
        // Its ids were its connection's.
        self.ids.left(client);
        if c.said_goodbye {
            // The debugger session ends with its goodbye: nothing to tell it.
            self.breakpoints.forget(client);
        } else {
            self.breakpoints.departed(client);
        }
        if self.debugger.launcher == Some(client) {
            self.debugger.launcher = None;
        }
        let asked: Vec<i64> = self
            .debugger
            .reverse
            .iter()
            .filter(|(_, r)| r.client == client)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in asked {
            let Some(r) = self.debugger.reverse.remove(&seq) else {
                continue;
            };
            log::debug!(
                "client #{client} left before answering the debugger's {}: asking another",
                r.command
            );
            self.route_reverse(seq, r.command, r.message, out);
        }
    }
}
