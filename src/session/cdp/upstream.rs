//! The CDP session's upstream side (see `mod.rs`): what node says, reading
//! only the few messages that matter (answers to setup commands, pauses,
//! contexts, the program's end); the next process's setup replay and
//! release; and what a client is told when its process goes.

use serde_json::{Value, json};

use super::gate::Readiness;
use super::setup::Recorded;
use super::wire::{self, Incoming, OWN_IDS, SERVER_ERROR};
use super::{Action, CdpClient, Outbox, Own, PROGRAM_ENDED, Pending, WENT_AWAY};
use crate::config::Mode;
use crate::net::queue::Chunk;

pub(super) const NOTIFY: &str = "NodeRuntime.notifyWhenWaitingForDisconnect";
pub(super) const RELEASE: &str = "Runtime.runIfWaitingForDebugger";

// `from_upstream` names where a message comes from, not a conversion.
#[allow(clippy::wrong_self_convention)]
impl CdpClient {
    /// A whole text message from the upstream session.
    pub fn from_upstream(&mut self, text: Chunk, out: &mut Outbox) {
        if self.closing || !self.up {
            // What was read before a close the machine asked for.
            self.counts.stale += 1;
            return;
        }
        match wire::incoming(&text) {
            Incoming::Answer(id) if OWN_IDS.contains(&id) => self.own_answer(id, &text, out),
            Incoming::Answer(id) => {
                if let Some(Pending {
                    setup: Some((method, params)),
                }) = self.in_flight.remove(&id)
                {
                    self.record(&method, params, &text);
                }
                out.push(Action::ToClient(text));
            }
            Incoming::Event(method) => self.event(method.to_owned(), text, out),
            Incoming::Other => out.push(Action::ToClient(text)),
        }
    }

    fn record(&mut self, method: &str, params: Option<Value>, answer: &[u8]) {
        let answer = wire::parse(answer);
        let Some(result) = answer.get("result") else {
            return;
        };
        if method == RELEASE {
            self.releases = true;
            return;
        }
        if method == NOTIFY {
            self.client_notify = true;
            return;
        }
        if self.setup.record(method, params, result) == Recorded::Refused {
            self.counts.setup_refused += 1;
            self.warn_bound("setup remembered for a restart");
        }
    }

    fn event(&mut self, method: String, text: Chunk, out: &mut Outbox) {
        match method.as_str() {
            "Debugger.paused" => self.paused = true,
            "Debugger.resumed" => self.paused = false,
            "Runtime.executionContextsCleared" => self.contexts.clear(),
            "Runtime.executionContextCreated" => {
                let context = &wire::parse(&text)["params"]["context"];
                if let Some(id) = context["id"].as_i64() {
                    self.contexts.insert(id);
                    let default = context["auxData"]["isDefault"].as_bool() == Some(true);
                    if default && self.default_context.is_none() {
                        self.default_context = Some((id, context["uniqueId"].clone()));
                    }
                }
            }
            "Runtime.executionContextDestroyed" => {
                let id = wire::parse(&text)["params"]["executionContextId"].as_i64();
                if let Some(id) = id {
                    self.contexts.remove(&id);
                }
                out.push(Action::ToClient(text));
                if id.is_some() && id == self.default_context.as_ref().map(|d| d.0) {
                    self.program_ended(out);
                }
                return;
            }
            "NodeRuntime.waitingForDisconnect" => {
                // Asked for by dbgproxy on every session, so that the end is
                // seen whatever the client enabled; node then sends no
                // executionContextDestroyed. The client is told what node
                // tells a session that asked (the event), or one that did not
                // (the default context's end).
                let default = self.default_context.take();
                if self.client_notify {
                    out.push(Action::ToClient(text));
                } else if let Some((id, unique)) = default.filter(|d| self.contexts.remove(&d.0)) {
                    let params =
                        json!({"executionContextId": id, "executionContextUniqueId": unique});
                    let destroyed = wire::event("Runtime.executionContextDestroyed", params);
                    out.push(Action::ToClient(destroyed));
                }
                self.program_ended(out);
                return;
            }
            _ => {}
        }
        out.push(Action::ToClient(text));
    }

    fn program_ended(&mut self, out: &mut Outbox) {
        log::info!("CDP client {}: {PROGRAM_ENDED}", self.description);
        out.push(Action::CloseUpstream(PROGRAM_ENDED.into()));
        self.gone(out);
        if self.settings.mode == Mode::OneSession {
            self.close_client("the program ended".into(), out);
        }
    }

    /// A new upstream session is open (to the first process, or to the next
    /// one after a restart): the client's setup goes to it, then what the
    /// client sent meanwhile, and then, once the setup is answered, the
    /// release of a process that waits for a debugger.
    pub fn upstream_up(&mut self, out: &mut Outbox) {
        if self.closing {
            return;
        }
        self.up = true;
        self.ups += 1;
        self.paused = false;
        self.contexts.clear();
        self.default_context = None;
        self.warned_own = false;
        // Node tells a session that asked the program's end even when its
        // client enabled nothing: without it a silent client would keep a
        // finished node alive.
        let notify = json!({"enabled": true});
        self.own_request(NOTIFY, Some(&notify), None, out);
        self.replaying = 1;
        let (steps, dropped) = self.setup.replay();
        if dropped > 0 {
            self.counts.not_replayed += dropped as u64;
            log::warn!(
                "CDP client {}: {dropped} breakpoints set by script id not replayed to the new process",
                self.description
            );
        }
        for step in steps {
            let params = step.params.as_ref();
            self.own_request(&step.method, params, step.breakpoint, out);
            self.replaying += 1;
        }
        while let Some((command, text)) = self.held.pop_front() {
            self.send(command, text, out);
        }
        self.release_pending = self.releases && self.ups > 1;
        self.maybe_release(out);
    }

    fn maybe_release(&mut self, out: &mut Outbox) {
        if !self.settings.gated_release {
            self.release(out);
        }
    }

    /// Whether this client's setup is in the new process and it waits for
    /// [`release`](Self::release) (with `gated_release`).
    pub fn ready_to_release(&self) -> bool {
        self.up && self.release_pending && self.replaying == 0
    }

    /// Where this client stands toward releasing its process, for the
    /// gate: not up yet or still replaying (others wait for it), ready, or
    /// asking nothing. A client that is closing asks nothing.
    pub fn readiness(&self) -> Readiness {
        if self.closing {
            Readiness::Settled
        } else if !self.up || self.replaying > 0 {
            Readiness::Pending
        } else if self.release_pending {
            Readiness::Ready
        } else {
            Readiness::Settled
        }
    }

    /// Lets the new process run (`Runtime.runIfWaitingForDebugger`), if this
    /// client wants it released and its setup is in.
    pub fn release(&mut self, out: &mut Outbox) {
        if self.ready_to_release() {
            self.release_pending = false;
            self.own_request(RELEASE, None, None, out);
        }
    }

    fn own_request(
        &mut self,
        method: &str,
        params: Option<&Value>,
        breakpoint: Option<String>,
        out: &mut Outbox,
    ) {
        let id = self.next_own;
        self.next_own = if id == *OWN_IDS.end() {
            *OWN_IDS.start()
        } else {
            id + 1
        };
        out.push(Action::ToUpstream(wire::request(id, method, params)));
        let method = method.to_owned();
        self.own.insert(id, Own { method, breakpoint });
    }

    fn own_answer(&mut self, id: i64, text: &[u8], out: &mut Outbox) {
        let Some(own) = self.own.remove(&id) else {
            self.counts.stale += 1;
            return;
        };
        if own.method != RELEASE {
            self.replaying = self.replaying.saturating_sub(1);
        }
        let answer = wire::parse(text);
        if let Some(error) = answer.get("error") {
            self.counts.own_failed += 1;
            if !std::mem::replace(&mut self.warned_own, true) {
                log::warn!(
                    "CDP client {}: replaying {} failed: {error}",
                    self.description,
                    own.method
                );
            }
        } else if let Some(wanted) = own.breakpoint {
            let result = &answer["result"];
            if result["breakpointId"].as_str() != Some(wanted.as_str()) {
                self.counts.breakpoint_ids_changed += 1;
                log::warn!(
                    "CDP client {}: breakpoint {wanted} came back as {}",
                    self.description,
                    result["breakpointId"]
                );
            }
            // What node would have said had the script been parsed after.
            for location in result["locations"].as_array().into_iter().flatten() {
                let params = json!({"breakpointId": wanted, "location": location});
                out.push(Action::ToClient(wire::event(
                    "Debugger.breakpointResolved",
                    params,
                )));
            }
        }
        self.maybe_release(out);
    }

    /// The upstream session closed, or the process is gone.
    pub fn upstream_lost(&mut self, out: &mut Outbox) {
        if self.closing || !self.up {
            return;
        }
        self.gone(out);
        if self.settings.mode == Mode::OneSession {
            self.close_client("the debuggee went away".into(), out);
        }
    }

    /// Tells the client that the process is gone, in CDP terms.
    fn gone(&mut self, out: &mut Outbox) {
        self.up = false;
        self.own.clear();
        self.replaying = 0;
        self.release_pending = false;
        if std::mem::take(&mut self.paused) {
            out.push(Action::ToClient(wire::event("Debugger.resumed", json!({}))));
        }
        // Cleared rather than destroyed one by one: DevTools and js-debug
        // handle both, but js-debug takes the default context's destruction
        // for the program's end and detaches.
        if !std::mem::take(&mut self.contexts).is_empty() {
            let cleared = wire::event("Runtime.executionContextsCleared", json!({}));
            out.push(Action::ToClient(cleared));
        }
        for (id, _) in std::mem::take(&mut self.in_flight) {
            self.counts.failed_in_flight += 1;
            out.push(Action::ToClient(wire::error(id, SERVER_ERROR, WENT_AWAY)));
        }
    }
}
