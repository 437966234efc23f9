//! DAP: rejoining the shared session after a reconnect, so that the IDE
//! does not notice (SESSIONS.md rule 3, from the client's side).
//!
//! As the IDE's requests go to the proxy, this remembers what a new
//! connection needs to be in the same place: `initialize`, `attach` or
//! `launch`, the breakpoints (`setBreakpoints` per source, the function,
//! exception, data and instruction ones) and `configurationDone`, and which requests are waiting
//! for an answer. When the connection drops, each request still waiting is
//! answered with an error ("the proxy restarted"), unless its answer will
//! come from the replay; a stopped IDE is told `continued` (the debuggee
//! does not stay stopped for a client that is gone). After a reconnect the
//! handshake is replayed with attach's own seqs (from `OWN_SEQ`), their
//! answers are swallowed, the `initialized` event the IDE already had is
//! swallowed, and the IDE's own requests wait until the replay is through.
//! Nothing is rewritten in the normal flow; after a reconnect, breakpoint
//! ids are (`ids`): the new connection numbers them afresh, and the
//! IDE keeps the ids it was told.
//!
//! Pure: messages in, messages out (`Out`), time passed in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use self::ids::{Slot, slot};
use super::out::Out;
use crate::framing::Message;
use crate::protocol::dap::{RESUMING, is_goodbye};
use crate::protocol::json::{self, Until};

/// attach's own requests (the replay) and messages are numbered from here,
/// far above any IDE's.
pub const OWN_SEQ: i64 = 1_000_000_000;
/// How long the replay waits for the `initialized` event before it sends
/// the breakpoints anyway.
const INITIALIZED_WAIT: Duration = Duration::from_secs(5);
/// Requests remembered as waiting for an answer; past this, the oldest is
/// forgotten (it gets no error answer if the connection drops).
const MAX_IN_FLIGHT: usize = 4096;
/// Sources whose breakpoints are remembered for the replay.
const MAX_SOURCES: usize = 4096;

/// A request the IDE sent, kept to be sent again.
#[derive(Clone, Debug)]
struct Kept {
    seq: i64,
    request: Value,
    /// A breakpoints request's: the ids the IDE was told in its answer.
    told: Option<Vec<Option<i64>>>,
}

/// Breakpoints requests kept one per kind (the latest replaces the rest).
const KINDS: [&str; 4] = [
    "setFunctionBreakpoints",
    "setExceptionBreakpoints",
    "setDataBreakpoints",
    "setInstructionBreakpoints",
];

/// A replayed request: the IDE seq its answer goes out as (None: swallowed),
/// and the kept breakpoints request it was.
#[derive(Debug)]
struct Replayed {
    answer_as: Option<i64>,
    slot: Option<Slot>,
}

/// What becomes of a message from the proxy.
enum Verdict {
    Forward,
    Swallow,
    Renumbered(Message),
    /// The replay's `initialized`: swallowed, and the configuration follows.
    Configure(Vec<Kept>),
}

#[derive(Debug)]
enum Phase {
    /// IDE requests flow.
    Live,
    /// The replayed `attach` waits for `initialized`; then `rest` goes.
    AwaitInitialized { until: Instant, rest: Vec<Kept> },
}

pub struct Rejoin {
    initialize: Option<Kept>,
    start: Option<Kept>,
    breakpoints: BTreeMap<String, Kept>,
    /// The other breakpoints requests, by command.
    kinds: BTreeMap<&'static str, Kept>,
    configuration_done: Option<Kept>,
    ide_saw_initialized: bool,
    /// IDE seq → command, of requests sent on this connection and not answered.
    in_flight: BTreeMap<i64, String>,
    /// IDE requests that were waiting when the connection dropped and whose
    /// answer the replay brings.
    answer_from_replay: HashSet<i64>,
    replayed: HashMap<i64, Replayed>,
    /// The new connection's breakpoint ids → the IDE's.
    ids: ids::IdMap,
    phase: Phase,
    next_own: i64,
    /// The thread of the last `stopped` the IDE heard, while it holds.
    stopped: Option<Value>,
    goodbye: bool,
    warned_sources: bool,
}

impl Default for Rejoin {
    fn default() -> Self {
        Rejoin {
            initialize: None,
            start: None,
            breakpoints: BTreeMap::new(),
            kinds: BTreeMap::new(),
            configuration_done: None,
            ide_saw_initialized: false,
            in_flight: BTreeMap::new(),
            answer_from_replay: HashSet::new(),
            replayed: HashMap::new(),
            ids: ids::IdMap::default(),
            phase: Phase::Live,
            next_own: OWN_SEQ,
            stopped: None,
            goodbye: false,
            warned_sources: false,
        }
    }
}

impl Rejoin {
    /// Whether the IDE's requests may go to the proxy (not while replaying).
    pub fn ready(&self) -> bool {
        matches!(self.phase, Phase::Live)
    }

    pub fn said_goodbye(&self) -> bool {
        self.goodbye
    }

    /// An IDE message goes to the proxy: remember what a rejoin needs.
    pub fn sending(&mut self, message: &Message) {
        let Some(request) = request(message) else {
            return;
        };
        let (Some(seq), Some(command)) = (request["seq"].as_i64(), request["command"].as_str())
        else {
            return;
        };
        let command = command.to_string();
        let kept = || Kept {
            seq,
            request: request.clone(),
            told: None,
        };
        match command.as_str() {
            "initialize" => self.initialize = Some(kept()),
            "attach" | "launch" => self.start = Some(kept()),
            "configurationDone" => self.configuration_done = Some(kept()),
            "setBreakpoints" => {
                let key = source_key(&request);
                if self.breakpoints.len() < MAX_SOURCES || self.breakpoints.contains_key(&key) {
                    self.breakpoints.insert(key, kept());
                } else if !self.warned_sources {
                    self.warned_sources = true;
                    log::warn!(
                        "breakpoints in more than {MAX_SOURCES} sources: those of further \
                         sources are not set again after a reconnect"
                    );
                }
            }
            c if is_goodbye(c) => self.goodbye = true,
            other => {
                if let Some(&kind) = KINDS.iter().find(|&&k| k == other) {
                    self.kinds.insert(kind, kept());
                }
            }
        }
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.in_flight.pop_first();
        }
        self.in_flight.insert(seq, command);
    }

    /// An IDE message that was queued for the proxy did not reach it: it
    /// will be sent again on the next connection.
    pub fn unsent(&mut self, message: &Message) {
        if let Some(seq) = request(message).and_then(|r| r["seq"].as_i64()) {
            self.in_flight.remove(&seq);
        }
    }

    /// The connection dropped.
    pub fn lost(&mut self, out: &mut Out) {
        self.phase = Phase::Live;
        self.replayed.clear();
        let kept: HashSet<i64> = self.kept().map(|k| k.seq).collect();
        for (seq, command) in std::mem::take(&mut self.in_flight) {
            if is_goodbye(&command) {
                // It asked to leave, and it has.
                out.to_ide.push(self.response(seq, &command, None));
            } else if kept.contains(&seq) {
                self.answer_from_replay.insert(seq);
            } else {
                let why = "the connection to dbgproxy dropped before the answer came \
                           (the proxy restarted?); try again";
                out.to_ide.push(self.response(seq, &command, Some(why)));
            }
        }
        if let Some(thread) = self.stopped.take() {
            let body = json!({"threadId": thread, "allThreadsContinued": true});
            out.to_ide.push(self.event("continued", body));
        }
    }

    /// A new connection is up: replay what puts it where the last one was.
    pub fn connected(&mut self, now: Instant, out: &mut Out) {
        let Some(initialize) = self.initialize.clone() else {
            self.phase = Phase::Live;
            return;
        };
        // Its breakpoints will have new ids: the IDE's are mapped onto them.
        self.ids.reconnected();
        self.replay(&initialize, out);
        let Some(start) = self.start.clone() else {
            self.phase = Phase::Live;
            return;
        };
        self.replay(&start, out);
        let mut rest: Vec<Kept> = self.breakpoints.values().cloned().collect();
        rest.extend(self.kinds.values().cloned());
        rest.extend(self.configuration_done.clone());
        if self.ide_saw_initialized {
            self.phase = Phase::AwaitInitialized {
                until: now + INITIALIZED_WAIT,
                rest,
            };
        } else {
            // The IDE configures on the `initialized` it has not had yet.
            self.phase = Phase::Live;
        }
    }

    /// A whole message from the proxy: pushed to the IDE, or not.
    pub fn proxy_message(&mut self, message: Message, out: &mut Out) {
        let verdict = {
            let bytes = message.one_chunk();
            self.judge(body(&bytes))
        };
        match verdict {
            Verdict::Forward => out.to_ide.push(message),
            Verdict::Swallow => {}
            Verdict::Renumbered(m) => out.to_ide.push(m),
            Verdict::Configure(rest) => self.replay_all(rest, out),
        }
    }

    fn judge(&mut self, body: &[u8]) -> Verdict {
        let Ok([kind, request_seq, event, command, success]) = json::fields(
            body,
            ["type", "request_seq", "event", "command", "success"],
            Until::Found,
        ) else {
            return Verdict::Forward;
        };
        match json::plain_str(body, &kind) {
            Some(b"response") => {
                let Some(rs) = json::number(body, &request_seq)
                    .and_then(|r| std::str::from_utf8(&body[r]).ok()?.parse::<i64>().ok())
                else {
                    return Verdict::Forward;
                };
                if let Some(replayed) = self.replayed.remove(&rs) {
                    return self.replayed_answer(body, replayed);
                }
                let asked = self.in_flight.remove(&rs);
                let resumed = json::plain_str(body, &command)
                    .is_some_and(|c| RESUMING.iter().any(|r| r.as_bytes() == c));
                if resumed && json::boolean(body, &success) == Some(true) {
                    self.stopped = None;
                }
                match asked {
                    Some(c) if c == "setBreakpoints" || KINDS.contains(&c.as_str()) => {
                        self.ide_answer(body, rs)
                    }
                    _ => Verdict::Forward,
                }
            }
            Some(b"event") => {
                match json::plain_str(body, &event) {
                    Some(b"initialized") => {
                        if let Phase::AwaitInitialized { rest, .. } =
                            std::mem::replace(&mut self.phase, Phase::Live)
                        {
                            // The IDE had its `initialized` long ago.
                            return Verdict::Configure(rest);
                        }
                        self.ide_saw_initialized = true;
                    }
                    Some(b"stopped") => {
                        let thread = serde_json::from_slice::<Value>(body)
                            .map(|v| v["body"]["threadId"].clone())
                            .unwrap_or(Value::Null);
                        self.stopped = Some(thread);
                        return self.ide_event(body);
                    }
                    Some(b"breakpoint") => return self.ide_event(body),
                    Some(b"continued" | b"terminated" | b"exited") => self.stopped = None,
                    _ => {}
                }
                Verdict::Forward
            }
            _ => Verdict::Forward,
        }
    }

    /// While the proxy is away: a `disconnect` is answered here, and attach
    /// may end. Returns whether it was one.
    pub fn goodbye_while_away(&mut self, message: &Message, out: &mut Out) -> bool {
        let Some(r) = request(message) else {
            return false;
        };
        if !r["command"].as_str().is_some_and(is_goodbye) {
            return false;
        }
        self.goodbye = true;
        let seq = r["seq"].as_i64().unwrap_or(0);
        out.to_ide.push(self.response(seq, "disconnect", None));
        true
    }

    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::AwaitInitialized { until, .. } => Some(*until),
            Phase::Live => None,
        }
    }

    /// The `initialized` event never came: send the rest anyway.
    pub fn on_timer(&mut self, now: Instant, out: &mut Out) {
        if let Phase::AwaitInitialized { until, .. } = &self.phase
            && now >= *until
            && let Phase::AwaitInitialized { rest, .. } =
                std::mem::replace(&mut self.phase, Phase::Live)
        {
            log::warn!("no `initialized` event after the replayed attach; configuring anyway");
            self.replay_all(rest, out);
        }
    }

    fn kept(&self) -> impl Iterator<Item = &Kept> {
        self.initialize
            .iter()
            .chain(&self.start)
            .chain(self.breakpoints.values())
            .chain(self.kinds.values())
            .chain(&self.configuration_done)
    }

    fn replay_all(&mut self, rest: Vec<Kept>, out: &mut Out) {
        for kept in &rest {
            self.replay(kept, out);
        }
    }

    fn replay(&mut self, kept: &Kept, out: &mut Out) {
        let seq = self.own_seq();
        let mut request = kept.request.clone();
        request["seq"] = seq.into();
        let answer_as = self
            .answer_from_replay
            .remove(&kept.seq)
            .then_some(kept.seq);
        let slot = slot(&kept.request);
        self.replayed.insert(seq, Replayed { answer_as, slot });
        log::debug!(
            "replaying {} as request {seq}",
            request["command"].as_str().unwrap_or("?")
        );
        out.to_proxy.push(framed(&request));
    }

    fn own_seq(&mut self) -> i64 {
        self.next_own += 1;
        self.next_own - 1
    }

    fn response(&mut self, request_seq: i64, command: &str, error: Option<&str>) -> Message {
        let mut r = json!({
            "seq": self.own_seq(), "type": "response", "request_seq": request_seq,
            "command": command, "success": error.is_none(),
        });
        if let Some(why) = error {
            r["message"] = why.into();
        }
        framed(&r)
    }

    fn event(&mut self, event: &str, body: Value) -> Message {
        framed(&json!({"seq": self.own_seq(), "type": "event", "event": event, "body": body}))
    }
}

/// The JSON body of a Content-Length framed message.
fn body(bytes: &[u8]) -> &[u8] {
    match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => &bytes[at + 4..],
        None => &[],
    }
}

/// An IDE request, parsed (IDE messages are small and few).
fn request(message: &Message) -> Option<Value> {
    let bytes = message.one_chunk();
    let v: Value = serde_json::from_slice(body(&bytes)).ok()?;
    (v["type"] == "request").then_some(v)
}

/// `setBreakpoints` keys sources by path, else by reference.
fn source_key(request: &Value) -> String {
    let source = &request["arguments"]["source"];
    match (&source["path"], &source["sourceReference"]) {
        (Value::String(p), _) => p.clone(),
        (_, Value::Number(r)) => format!("#{r}"),
        _ => String::new(),
    }
}

fn framed(v: &Value) -> Message {
    let body = v.to_string();
    let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    Message::from_bytes(&bytes)
}

mod ids;

#[cfg(test)]
mod tests;
