//! Minimal clients for the debuggers' wire formats, for driving real debug
//! sessions through the proxy: GDB/MI lines, DBGp packets, and the
//! Content-Length framing of V8 and DAP. Each reader keeps what it has read
//! (the transcript) so a test can compare what two clients saw.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// A byte stream with a transcript and a read buffer.
pub struct Wire {
    pub stream: TcpStream,
    pending: Vec<u8>,
    pub transcript: Vec<u8>,
}

impl Wire {
    pub fn connect(port: u16) -> Wire {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
        stream.set_nodelay(true).unwrap();
        Wire {
            stream,
            pending: Vec::new(),
            transcript: Vec::new(),
        }
    }

    /// Closes with RST instead of FIN (SO_LINGER 0), like a crashed IDE.
    pub fn reset(self) {
        super::reset_stream(&self.stream);
    }

    /// Reads until the proxy closes the connection; returns what came.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        self.stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).expect("read to the end");
        self.transcript.extend_from_slice(&rest);
        self.pending.extend_from_slice(&rest);
        std::mem::take(&mut self.pending)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the proxy");
    }

    /// Reads more bytes into the buffer, failing at `until`.
    fn fill(&mut self, until: Instant, what: &str) {
        let left = until.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; so far:\n{}",
            self.so_far()
        );
        self.stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => panic!(
                "the proxy closed the connection while waiting for {what}; so far:\n{}",
                self.so_far()
            ),
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.transcript.extend_from_slice(&buf[..n]);
            }
            Err(e) => panic!("reading {what}: {e}; so far:\n{}", self.so_far()),
        }
    }

    fn so_far(&self) -> String {
        let start = self.transcript.len().saturating_sub(4000);
        String::from_utf8_lossy(&self.transcript[start..]).replace('\0', "\\0")
    }

    /// Takes `n` bytes once they are there.
    fn take(&mut self, n: usize, until: Instant, what: &str) -> Vec<u8> {
        while self.pending.len() < n {
            self.fill(until, what);
        }
        self.pending.drain(..n).collect()
    }

    /// Takes bytes through the next `delim` (inclusive).
    fn take_through(&mut self, delim: &[u8], until: Instant, what: &str) -> Vec<u8> {
        loop {
            if let Some(i) = self.pending.windows(delim.len()).position(|w| w == delim) {
                return self.pending.drain(..i + delim.len()).collect();
            }
            self.fill(until, what);
        }
    }

    // ----- GDB/MI: newline-terminated records -----

    pub fn mi_line(&mut self, until: Instant) -> String {
        let line = self.take_through(b"\n", until, "a GDB/MI line");
        String::from_utf8_lossy(&line).trim_end().to_string()
    }

    /// Reads MI records until one satisfies `want`; returns it.
    pub fn mi_until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            let line = self.mi_line(until);
            if want(&line) {
                return line;
            }
            assert!(
                !line.contains("^error"),
                "gdb error while waiting for {what}: {line}"
            );
        }
    }

    // ----- DBGp: engine sends LEN NUL XML NUL; the IDE sends commands + NUL -----

    pub fn dbgp_packet(&mut self) -> String {
        let until = Instant::now() + DEADLINE;
        let len = self.take_through(b"\0", until, "a DBGp length");
        let len: usize = std::str::from_utf8(&len[..len.len() - 1])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad DBGp length {len:?}"));
        let body = self.take(len + 1, until, "a DBGp packet");
        assert_eq!(body[len], 0, "DBGp packet not NUL-terminated");
        String::from_utf8_lossy(&body[..len]).into_owned()
    }

    /// Sends a DBGp command and returns the response with its transaction id,
    /// skipping the notify and stream packets that may come before it.
    pub fn dbgp(&mut self, txn: u32, command: &str) -> String {
        // The transaction id goes right after the command name: anything after
        // `--` is the base64 data argument.
        let (name, args) = command.split_once(' ').unwrap_or((command, ""));
        self.send(format!("{name} -i {txn} {args}").trim_end().as_bytes());
        self.send(b"\0");
        let tag = format!("transaction_id=\"{txn}\"");
        loop {
            let packet = self.dbgp_packet();
            if packet.contains("<response") {
                assert!(
                    !packet.contains("<error"),
                    "DBGp error for {command}: {packet}"
                );
                if packet.contains(&tag) {
                    return packet;
                }
            }
        }
    }

    // ----- V8 and DAP: header lines, a blank line, Content-Length bytes -----

    /// One message: its headers and its body.
    pub fn framed(&mut self) -> (String, String) {
        let until = Instant::now() + DEADLINE;
        let head = self.take_through(b"\r\n\r\n", until, "message headers");
        let head = String::from_utf8_lossy(&head).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
        let body = self.take(len, until, "a message body");
        (head, String::from_utf8_lossy(&body).into_owned())
    }

    pub fn send_framed(&mut self, body: &str) {
        self.send(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    /// Reads messages until one's body satisfies `want`; returns that body.
    pub fn framed_until(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            let (_, body) = self.framed();
            // Header-only messages (V8's `Type: connect`) carry no JSON.
            if !body.is_empty() && want(&body) {
                return body;
            }
        }
    }
}
