//! A DAP client for the shared-session tests: it numbers its own requests
//! from 1 (as every IDE does, so clients collide on purpose), keeps the
//! events it has not consumed yet, and checks every response it receives
//! against what it sent: a response to a request this client never made, to
//! one of its requests under another command, or a second answer to the same
//! request fails the test at once (SESSIONS.md rule 1).
//!
//! Legacy V8 (node 6 `--debug`) has the same framing and the same `seq` /
//! `request_seq` / `command` / `event` fields, so the same client drives it
//! (`Dap::connect_v8`); it also takes V8's header-only `Type: connect`
//! greeting, which a DAP client must never see.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::time::Instant;

use serde_json::{Value, json};

use super::DEADLINE;
use super::inbox::{Framed, Inbox};

pub struct Dap {
    io: Inbox,
    next_seq: u64,
    /// seq → command of every request sent.
    sent: HashMap<u64, String>,
    answered: HashSet<u64>,
    /// Events received and not yet taken by `event`/`event_where`.
    pending_events: VecDeque<Value>,
    /// Responses received and not yet taken by `answer`.
    pending_responses: HashMap<u64, Value>,
    /// Check every response against what was sent (off for a client that
    /// sends bad input and takes whatever answer comes).
    strict: bool,
    /// Legacy V8: header-only messages (the greeting) are allowed.
    v8: bool,
    /// Header blocks of header-only messages received and not yet taken.
    greetings: VecDeque<String>,
}

impl Dap {
    pub fn connect(port: u16, name: &str) -> Dap {
        Dap {
            io: Inbox::connect(port, name),
            next_seq: 1,
            sent: HashMap::new(),
            answered: HashSet::new(),
            pending_events: VecDeque::new(),
            pending_responses: HashMap::new(),
            strict: true,
            v8: false,
            greetings: VecDeque::new(),
        }
    }

    /// A legacy V8 client: as a DAP one, and it takes `Type: connect`.
    pub fn connect_v8(port: u16, name: &str) -> Dap {
        let mut c = Dap::connect(port, name);
        c.v8 = true;
        c
    }

    /// Takes the next header-only message (V8's `Type: connect`), waiting
    /// for it; returns its header lines.
    pub fn greeting(&mut self) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(head) = self.greetings.pop_front() {
                return head;
            }
            self.read_one(until, "a header-only message (Type: connect)");
        }
    }

    /// A client whose responses are not checked against its requests.
    pub fn unchecked(mut self) -> Dap {
        self.strict = false;
        self
    }

    /// Any response received and not taken (for an unchecked client).
    pub fn any_response(&self) -> Option<&Value> {
        self.pending_responses.values().next()
    }

    /// The seq this client's next request gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Sends a framed body as it is (for bad input).
    pub fn send_raw(&mut self, body: &[u8]) {
        let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(body);
        self.io
            .stream
            .write_all(&bytes)
            .expect("write to the proxy");
    }

    /// Sends `body` as it is, as request `seq` of `command` (for bad input
    /// whose answer is still checked).
    pub fn send_raw_request(&mut self, seq: u64, command: &str, body: &[u8]) {
        self.sent.insert(seq, command.to_string());
        self.next_seq = self.next_seq.max(seq + 1);
        self.send_raw(body);
    }

    /// Sends a request with the next seq of this client; returns the seq.
    pub fn send(&mut self, command: &str, arguments: Value) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut request = json!({"seq": seq, "type": "request", "command": command});
        if !arguments.is_null() {
            request["arguments"] = arguments;
        }
        self.sent.insert(seq, command.to_string());
        self.send_raw(request.to_string().as_bytes());
        seq
    }

    /// Sends a request and waits for its successful response.
    pub fn request(&mut self, command: &str, arguments: Value) -> Value {
        let seq = self.send(command, arguments);
        self.ok(seq)
    }

    /// Waits for the successful response to `seq`.
    pub fn ok(&mut self, seq: u64) -> Value {
        let r = self.answer(seq);
        assert_eq!(
            r["success"], true,
            "client {}: request {seq} ({}) failed: {r}",
            self.io.name, self.sent[&seq]
        );
        r
    }

    /// Waits for the response to `seq`, successful or not.
    pub fn answer(&mut self, seq: u64) -> Value {
        self.answer_by(seq, Instant::now() + DEADLINE)
    }

    pub fn answer_by(&mut self, seq: u64, until: Instant) -> Value {
        assert!(
            self.sent.contains_key(&seq),
            "client {} never sent {seq}",
            self.io.name
        );
        loop {
            if let Some(r) = self.pending_responses.remove(&seq) {
                return r;
            }
            self.read_one(until, &format!("the response to request {seq}"));
        }
    }

    /// Takes the first event named `name` not yet taken, waiting for it.
    pub fn event(&mut self, name: &str) -> Value {
        self.event_where(name, |_| true)
    }

    /// Takes the first event named `name` that satisfies `want`; earlier
    /// events of that name that do not are dropped, others are kept.
    pub fn event_where(&mut self, name: &str, want: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + DEADLINE;
        loop {
            while let Some(i) = self.pending_events.iter().position(|e| e["event"] == name) {
                let e = self.pending_events.remove(i).unwrap();
                if want(&e) {
                    return e;
                }
            }
            self.read_one(until, &format!("a {name} event"));
        }
    }

    /// Whether an event named `name` has arrived and not been taken.
    pub fn has_event(&self, name: &str) -> bool {
        self.pending_events.iter().any(|e| e["event"] == name)
    }

    /// Forgets the events received so far (so that the next `event` waits
    /// for a new one).
    pub fn clear_events(&mut self) {
        self.pending_events.clear();
    }

    /// One message's body off the front of the buffer, if whole.
    fn split_message(&mut self) -> Option<(String, Vec<u8>)> {
        let end = self.io.buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&self.io.buf[..end]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("client {}: no Content-Length in {head:?}", self.io.name));
        let start = end + 4;
        if self.io.buf.len() < start + len {
            return None;
        }
        let body = self.io.buf[start..start + len].to_vec();
        self.io.buf.drain(..start + len);
        Some((head, body))
    }

    fn take_message(&mut self, head: String, body: Vec<u8>) {
        if body.is_empty() && self.v8 {
            self.io.log.push(format!("[headers] {head}"));
            self.greetings.push_back(head);
            return;
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("client {}: not JSON ({e}): {text}", self.io.name));
        self.io.log.push(text);
        match v["type"].as_str() {
            Some("event") => self.pending_events.push_back(v),
            Some("response") if !self.strict => {
                let seq = v["request_seq"].as_u64().unwrap_or(0);
                self.pending_responses.insert(seq, v);
            }
            Some("response") => {
                let seq = v["request_seq"].as_u64().unwrap_or_else(|| {
                    panic!("client {}: response without request_seq: {v}", self.io.name)
                });
                let Some(command) = self.sent.get(&seq) else {
                    panic!(
                        "client {}: a response to request {seq}, which it never sent: {v}\n{}",
                        self.io.name,
                        self.so_far()
                    );
                };
                assert_eq!(
                    v["command"],
                    command.as_str(),
                    "client {}: request {seq} was {command}, answered by {v}\n{}",
                    self.io.name,
                    self.so_far()
                );
                assert!(
                    self.answered.insert(seq),
                    "client {}: request {seq} answered twice: {v}\n{}",
                    self.io.name,
                    self.so_far()
                );
                self.pending_responses.insert(seq, v);
            }
            // A reverse request (runInTerminal): none of these tests start one.
            _ => panic!("client {}: unexpected message {v}", self.io.name),
        }
    }
}

impl Framed for Dap {
    fn inbox(&self) -> &Inbox {
        &self.io
    }

    fn inbox_mut(&mut self) -> &mut Inbox {
        &mut self.io
    }

    fn take_one(&mut self) -> bool {
        let Some((head, body)) = self.split_message() else {
            return false;
        };
        self.take_message(head, body);
        true
    }
}
