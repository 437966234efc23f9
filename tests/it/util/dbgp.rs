//! A DBGp (Xdebug) IDE for the shared-session tests. It numbers its
//! transaction ids from 1, as IDEs do, so that clients collide on purpose,
//! and checks every `<response>` that carries a `transaction_id`: one for
//! an id it never sent, under another command, or a second one for the same
//! id fails the test where it arrives (SESSIONS.md rule 1). Packets without
//! an id (`<init>`, `<stream>`, `<notify>`, stops nobody asked for) are kept
//! in arrival order for the test to take.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::time::Instant;

use super::DEADLINE;
use super::inbox::{Framed, Inbox};

pub struct Dbgp {
    io: Inbox,
    next_txn: u64,
    /// txn → command name of every command sent.
    sent: HashMap<u64, String>,
    answered: HashSet<u64>,
    responses: HashMap<u64, String>,
    /// Packets without a transaction id, not yet taken.
    others: VecDeque<String>,
}

/// The value of attribute `name` in a packet's first element that has it.
pub fn attr(packet: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = packet.find(&key)? + key.len();
    let len = packet[at..].find('"')?;
    Some(packet[at..at + len].to_string())
}

/// `base64` of a short ASCII string (for `eval -- …`).
pub fn base64(text: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = text.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Dbgp {
    pub fn connect(port: u16, name: &str) -> Dbgp {
        Dbgp::over(Inbox::connect(port, name))
    }

    /// An IDE the proxy dialled (DBGp proxy mode).
    pub fn over(io: Inbox) -> Dbgp {
        Dbgp {
            io,
            next_txn: 1,
            sent: HashMap::new(),
            answered: HashSet::new(),
            responses: HashMap::new(),
            others: VecDeque::new(),
        }
    }

    /// Sends `command` (`name [args] [-- data]`) with this client's next
    /// transaction id; returns the id.
    pub fn send(&mut self, command: &str) -> u64 {
        let txn = self.next_txn;
        self.next_txn += 1;
        let (name, args) = command.split_once(' ').unwrap_or((command, ""));
        self.sent.insert(txn, name.to_string());
        let line = format!("{name} -i {txn} {args}");
        self.send_raw(line.trim_end().as_bytes());
        txn
    }

    /// Sends bytes and the terminating NUL, as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let mut b = bytes.to_vec();
        b.push(0);
        self.io.stream.write_all(&b).expect("write to the proxy");
    }

    /// Sends a command and waits for its answer, which must not be an error.
    pub fn request(&mut self, command: &str) -> String {
        let txn = self.send(command);
        self.ok(txn)
    }

    pub fn ok(&mut self, txn: u64) -> String {
        let r = self.answer(txn);
        assert!(
            !r.contains("<error"),
            "client {}: command {txn} ({}) failed: {r}",
            self.io.name,
            self.sent[&txn]
        );
        r
    }

    /// Waits for the answer to `txn`.
    pub fn answer(&mut self, txn: u64) -> String {
        assert!(self.sent.contains_key(&txn), "never sent {txn}");
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(r) = self.responses.remove(&txn) {
                return r;
            }
            self.read_one(until, &format!("the answer to {txn}"));
        }
    }

    /// Whether the answer to `txn` has arrived (and not been taken).
    pub fn has_answer(&self, txn: u64) -> bool {
        self.responses.contains_key(&txn)
    }

    /// Takes the first packet without a transaction id that satisfies
    /// `want`, waiting for it; the ones before it stay.
    pub fn other(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.others.iter().position(|p| want(p)) {
                return self.others.remove(i).unwrap();
            }
            self.read_one(until, what);
        }
    }

    /// The next `<init>`.
    pub fn init(&mut self) -> String {
        self.other("<init>", |p| p.contains("<init "))
    }

    /// The next stop report nobody asked for: a `<response>` without an id.
    pub fn stop_report(&mut self) -> String {
        self.other("a stop report without an id", |p| p.contains("<response "))
    }

    /// `LEN NUL XML NUL` off the front of the buffer, if whole.
    fn split_packet(&mut self) -> Option<String> {
        let nul = self.io.buf.iter().position(|&b| b == 0)?;
        let len: usize = std::str::from_utf8(&self.io.buf[..nul])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "client {}: bad DBGp length {:?}",
                    self.io.name,
                    String::from_utf8_lossy(&self.io.buf[..nul])
                )
            });
        let end = nul + 1 + len;
        if self.io.buf.len() <= end {
            return None;
        }
        assert_eq!(
            self.io.buf[end], 0,
            "client {}: no NUL after a packet",
            self.io.name
        );
        let xml = String::from_utf8_lossy(&self.io.buf[nul + 1..end]).into_owned();
        assert_eq!(
            xml.len(),
            len,
            "client {}: the length prefix does not match",
            self.io.name
        );
        self.io.buf.drain(..=end);
        Some(xml)
    }

    fn take(&mut self, packet: String) {
        self.io.log.push(packet.clone());
        let is_response = packet.contains("<response ");
        let Some(txn) = attr(&packet, "transaction_id").filter(|_| is_response) else {
            self.others.push_back(packet);
            return;
        };
        let txn: u64 = txn
            .parse()
            .unwrap_or_else(|_| panic!("client {}: a non-numeric id: {packet}", self.io.name));
        let Some(name) = self.sent.get(&txn) else {
            panic!(
                "client {}: an answer to {txn}, which it never sent: {packet}\n{}",
                self.io.name,
                self.so_far()
            );
        };
        assert_eq!(
            attr(&packet, "command").as_deref(),
            Some(name.as_str()),
            "client {}: {txn} was {name}, answered by {packet}\n{}",
            self.io.name,
            self.so_far()
        );
        assert!(
            self.answered.insert(txn),
            "client {}: {txn} answered twice: {packet}\n{}",
            self.io.name,
            self.so_far()
        );
        self.responses.insert(txn, packet);
    }
}

impl Framed for Dbgp {
    fn inbox(&self) -> &Inbox {
        &self.io
    }

    fn inbox_mut(&mut self) -> &mut Inbox {
        &mut self.io
    }

    fn take_one(&mut self) -> bool {
        let Some(packet) = self.split_packet() else {
            return false;
        };
        self.take(packet);
        true
    }
}
