//! A GDB/MI client for the shared-session tests. gdb answers a channel's
//! commands in order, one result record each, so the client checks every
//! result record against the oldest command it has not had answered: a
//! result with another token, or one when it is waiting for nothing, fails
//! the test where it arrives (SESSIONS.md rule 1). Async and stream records
//! are kept in arrival order for the test to take; `(gdb)` prompts are only
//! logged.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

use super::DEADLINE;
use super::inbox::{Framed, Inbox};

pub struct Mi {
    io: Inbox,
    /// Commands sent and not yet answered, oldest first: (token, command).
    waiting: VecDeque<(String, String)>,
    /// Result records received and not yet taken: (token, record).
    results: VecDeque<(String, String)>,
    /// Async and stream records not yet taken.
    records: VecDeque<String>,
    /// Where in the log the last greeting taken ends.
    greeted: usize,
}

/// The value of `field="…"` in a record (the first one).
pub fn field(record: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = record
        .match_indices(&key)
        .find(|(i, _)| *i == 0 || matches!(record.as_bytes()[i - 1], b',' | b'{' | b'['))?
        .0
        + key.len();
    let len = record[at..].find('"')?;
    Some(record[at..at + len].to_string())
}

/// `^done`, `^running`… of a result record: the token stripped.
fn is_result(line: &str) -> Option<&str> {
    let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.starts_with('^')
        .then(|| &line[..line.len() - rest.len()])
}

impl Mi {
    pub fn connect(port: u16, name: &str) -> Mi {
        Mi {
            io: Inbox::connect(port, name),
            waiting: VecDeque::new(),
            results: VecDeque::new(),
            records: VecDeque::new(),
            greeted: 0,
        }
    }

    /// Reads the next greeting of a gdb (its start-up records, from
    /// `=thread-group-added` through the `(gdb)` prompt that ends them);
    /// returns the lines before the prompt.
    pub fn greeting(&mut self) -> Vec<String> {
        let until = Instant::now() + DEADLINE;
        loop {
            let from = self.greeted;
            let start = self.io.log[from..]
                .iter()
                .position(|l| l.starts_with("=thread-group-added"))
                .map(|i| from + i);
            if let Some(start) = start
                && let Some(end) = self.io.log[start..]
                    .iter()
                    .position(|l| l.starts_with("(gdb)"))
            {
                self.greeted = start + end + 1;
                return self.io.log[start..start + end].to_vec();
            }
            self.read_one(until, "gdb's greeting");
        }
    }

    /// Sends `TOKEN COMMAND` as one line.
    pub fn send(&mut self, token: &str, command: &str) {
        self.send_raw(token, format!("{token}{command}").as_bytes());
    }

    /// Sends `bytes` and a newline as a command whose result carries `token`.
    pub fn send_raw(&mut self, token: &str, bytes: &[u8]) {
        let mut line = bytes.to_vec();
        line.push(b'\n');
        self.io.stream.write_all(&line).expect("write to the proxy");
        self.waiting.push_back((
            token.to_string(),
            String::from_utf8_lossy(bytes).into_owned(),
        ));
    }

    /// Sends a command and waits for its result, which must not be `^error`.
    pub fn cmd(&mut self, token: &str, command: &str) -> String {
        self.send(token, command);
        let r = self.result(token);
        assert!(
            !r.contains("^error"),
            "client {}: {token}{command} failed: {r}",
            self.io.name
        );
        r
    }

    /// Waits for the next result record with `token`.
    pub fn result(&mut self, token: &str) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.results.iter().position(|(t, _)| t == token) {
                return self.results.remove(i).unwrap().1;
            }
            self.read_one(until, &format!("the result of {token}"));
        }
    }

    /// Takes the first async or stream record that starts with `prefix` and
    /// satisfies `want`, waiting for it; earlier ones with that prefix that
    /// do not are dropped, others stay.
    pub fn record_where(&mut self, prefix: &str, want: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + DEADLINE;
        loop {
            while let Some(i) = self.records.iter().position(|r| r.starts_with(prefix)) {
                let r = self.records.remove(i).unwrap();
                if want(&r) {
                    return r;
                }
            }
            self.read_one(until, &format!("a {prefix} record"));
        }
    }

    pub fn record(&mut self, prefix: &str) -> String {
        self.record_where(prefix, |_| true)
    }

    /// Whether a record starting with `prefix` is waiting.
    pub fn has_record(&self, prefix: &str) -> bool {
        self.records.iter().any(|r| r.starts_with(prefix))
    }

    fn take(&mut self, line: String) {
        self.io.log.push(line.clone());
        if line.starts_with("(gdb)") {
            return;
        }
        let Some(token) = is_result(&line) else {
            self.records.push_back(line);
            return;
        };
        let Some((want, command)) = self.waiting.pop_front() else {
            panic!(
                "client {}: a result while it waits for none: {line}\n{}",
                self.io.name,
                self.so_far()
            );
        };
        assert_eq!(
            token,
            want,
            "client {}: the next answer is for {want}{command}, got {line}\n{}",
            self.io.name,
            self.so_far()
        );
        self.results.push_back((want, line));
    }
}

impl Framed for Mi {
    fn inbox(&self) -> &Inbox {
        &self.io
    }

    fn inbox_mut(&mut self) -> &mut Inbox {
        &mut self.io
    }

    fn take_one(&mut self) -> bool {
        let Some(nl) = self.io.buf.iter().position(|&b| b == b'\n') else {
            return false;
        };
        let line: Vec<u8> = self.io.buf.drain(..=nl).collect();
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        self.take(line);
        true
    }
}
