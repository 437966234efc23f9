//! Registration transcripts: each IDE's way of registering (shared/
//! DBGP-PROXY.md: VS Code php-debug measured, the others read from their
//! sources), played into the reader and `answer` on a simulated clock the
//! way the loop would: a timer fires at the reader's deadline before any
//! later event, and the first answer ends the connection.
//!
//! - `clients`: VS Code, NetBeans, Eclipse PDT, Xdebug's dbgpClient, gedit,
//!   each checked against the exact reply bytes;
//! - `bad`: bad input, owners, the table's bounds, engines' lookups;
//! - `props`: any bytes, any split;
//! - `token`: remote peers that pass the token as `-t`.

mod bad;
mod clients;
mod props;
mod token;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::command::{Limits, Reader};
use super::registry::{Owner, Registry};
use super::{Answer, Peer, answer};

/// The `--token-timeout`-like bound the tests run with.
pub const SILENT: Duration = Duration::from_secs(5);
pub const MAX: usize = 4;
pub const ALICE: Owner = Owner::Uid(1000);
pub const BOB: Owner = Owner::Uid(1001);

/// What a peer does, `ms` after it connected.
#[derive(Debug, Clone, Copy)]
pub enum Ev<'a> {
    Send(u64, &'a [u8]),
    /// EOF or half-close.
    Eof(u64),
}

#[derive(Debug)]
pub struct Done {
    pub answer: Answer,
    /// When the proxy answered (and closed), in ms after the connection.
    pub at: u64,
}

impl Done {
    pub fn reply(&self) -> &[u8] {
        self.answer.reply.as_deref().expect("a reply")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.reply()).into_owned()
    }
}

pub struct H {
    pub reg: Registry,
    t0: Instant,
    /// The simulated clock, in ms since `t0`.
    pub now: u64,
}

impl H {
    pub fn new() -> H {
        H::with(Registry::new(MAX, None))
    }

    pub fn with(reg: Registry) -> H {
        H {
            reg,
            t0: Instant::now(),
            now: 0,
        }
    }

    pub fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub fn wait(&mut self, ms: u64) {
        self.now += ms;
    }

    /// One registration connection from `peer`, played as the loop would.
    pub fn conn(&mut self, peer: &str, owner: Owner, script: &[Ev]) -> Done {
        self.conn_as(peer, Peer::Owner(owner), script)
    }

    /// The same, from a peer the access rules see as `who`.
    pub fn conn_as(&mut self, peer: &str, who: Peer, script: &[Ev]) -> Done {
        let peer: IpAddr = peer.parse().unwrap();
        let open = self.now;
        let mut r = Reader::new(Limits::new(SILENT), self.at(open));
        let mut events = script.iter();
        let (read, at) = loop {
            let next = events.next();
            let t = match next {
                Some(Ev::Send(t, _) | Ev::Eof(t)) => Some(self.at(open + t)),
                None => None,
            };
            let deadline = r.deadline().expect("a reader not done has a deadline");
            if t.is_none_or(|t| deadline <= t) {
                let read = r.on_timer(deadline).expect("the deadline does something");
                break (read, deadline);
            }
            let t = t.unwrap();
            let read = match next {
                Some(Ev::Send(_, bytes)) => r.feed(bytes, t),
                Some(Ev::Eof(_)) => r.half_closed(t),
                None => unreachable!(),
            };
            if let Some(read) = read {
                break (read, t);
            }
        };
        assert!(r.is_done() && r.deadline().is_none());
        assert_eq!(
            r.feed(b"proxystop -k x\0", at),
            None,
            "one command a connection"
        );
        let ms = (at - self.at(open)).as_millis() as u64;
        self.now = open + ms;
        Done {
            answer: answer(read, peer, who, &mut self.reg, at),
            at: ms,
        }
    }
}

/// `LEN NUL xml NUL`.
pub fn framed(xml: &str) -> Vec<u8> {
    [format!("{}\0", xml.len()).as_bytes(), xml.as_bytes(), b"\0"].concat()
}
