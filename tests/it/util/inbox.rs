//! What the protocol clients (`dap.rs`, `mi.rs`, `dbgp.rs`) share: the
//! connection, the bytes read and not yet a whole message, the transcript
//! kept for failure messages, and reading with a deadline. Each client only
//! says how a whole message comes off the buffer and what it does with it
//! ([`Framed::take_one`]).

use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{DEADLINE, Filled};

pub struct Inbox {
    pub name: String,
    pub stream: TcpStream,
    /// Bytes read and not yet a whole message.
    pub buf: Vec<u8>,
    /// Every message received, as the client files it.
    pub log: Vec<String>,
    pub eof: bool,
}

impl Inbox {
    pub fn connect(port: u16, name: &str) -> Inbox {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
        Inbox::over(stream, name)
    }

    /// Over a connection the proxy made (a DBGp proxy dials its IDEs).
    pub fn over(stream: TcpStream, name: &str) -> Inbox {
        stream.set_nodelay(true).unwrap();
        Inbox {
            name: name.to_string(),
            stream,
            buf: Vec::new(),
            log: Vec::new(),
            eof: false,
        }
    }

    /// The last messages received, for failure messages.
    pub fn so_far(&self) -> String {
        let start = self.log.len().saturating_sub(40);
        format!(
            "client {} received (last {} of {}):\n{}",
            self.name,
            self.log.len() - start,
            self.log.len(),
            self.log[start..].join("\n")
        )
    }

    /// Reads once more into the buffer, waiting at most until `until`;
    /// false when nothing came (time is up, or the connection has ended).
    fn fill(&mut self, until: Instant) -> bool {
        if self.eof {
            return false;
        }
        match super::fill(&mut self.stream, &mut self.buf, until) {
            Ok(Filled::Data) => true,
            Ok(Filled::Closed) => {
                self.eof = true;
                false
            }
            Ok(Filled::TimedOut) => false,
            Err(e) => panic!("client {}: read: {e}\n{}", self.name, self.so_far()),
        }
    }
}

/// A protocol client reading whole messages from an [`Inbox`].
pub trait Framed {
    fn inbox(&self) -> &Inbox;
    fn inbox_mut(&mut self) -> &mut Inbox;

    /// Takes one whole message off the front of the buffer and files it;
    /// false when none is whole yet.
    fn take_one(&mut self) -> bool;

    fn name(&self) -> &str {
        &self.inbox().name
    }

    fn stream(&self) -> &TcpStream {
        &self.inbox().stream
    }

    /// Every message received so far, in order.
    fn log(&self) -> &[String] {
        &self.inbox().log
    }

    /// The last messages received, for failure messages.
    fn so_far(&self) -> String {
        self.inbox().so_far()
    }

    fn is_closed(&self) -> bool {
        self.inbox().eof
    }

    /// Reads one whole message if one comes before `until`; false if none
    /// did (time is up, or the connection ended).
    fn try_read_one(&mut self, until: Instant) -> bool {
        loop {
            if self.take_one() {
                return true;
            }
            if !self.inbox_mut().fill(until) {
                return false;
            }
        }
    }

    /// Reads one whole message, failing if none comes before `until`.
    fn read_one(&mut self, until: Instant, what: &str) {
        if !self.try_read_one(until) {
            let why = if self.is_closed() {
                "the proxy closed the connection"
            } else {
                "timed out"
            };
            panic!(
                "client {}: {why} waiting for {what}\n{}",
                self.name(),
                self.so_far()
            );
        }
    }

    /// Reads what arrives within `for_at_most`, without failing on silence.
    fn pump(&mut self, for_at_most: Duration) {
        let until = Instant::now() + for_at_most;
        while Instant::now() < until && self.try_read_one(until) {}
    }

    /// Reads until the proxy closes the connection (filing what comes).
    fn wait_closed(&mut self) {
        let until = Instant::now() + DEADLINE;
        while !self.is_closed() {
            assert!(
                Instant::now() < until,
                "client {}: the proxy did not close the connection\n{}",
                self.name(),
                self.so_far()
            );
            self.try_read_one(until);
        }
    }

    /// Closes with RST instead of FIN (SO_LINGER 0), like a crashed IDE.
    fn reset(self)
    where
        Self: Sized,
    {
        super::reset_stream(&self.inbox().stream);
    }
}
