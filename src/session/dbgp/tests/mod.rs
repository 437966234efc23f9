//! The DBGp session driven by packets recorded from real Xdebug 3.2.0 (PHP
//! 8.2) around simulated clients. The transcripts are what Xdebug sent on
//! five engine connections (one PHP request each) of a script with a loop:
//! - conn1: feature_set ×3, feature_get ×2, stdout, two breakpoint_sets
//!   (with `breakpoint_resolved` notifies), status, run → break, stack_get,
//!   eval, malformed commands, breakpoint_list, `break` (error 4: Xdebug
//!   resumes the script, and reports the next stop with the stale id of
//!   breakpoint_list), status, breakpoint_get, run, stack_get, run, stop
//!   (answered `stopped`, then `stopping` again with the same id);
//! - conn2: breakpoint_set ×2, run → break, breakpoint_remove,
//!   breakpoint_update, detach while live;
//! - conn3: breakpoint_set, run → break, stop while live;
//! - conn4: run → stopping, detach at stopping;
//! - conn5: `break` first (error 4), then a `stopping` with no id, stop.
//!
//! The simulated engine answers with the recorded packet addressed to the
//! transaction the session actually sent.

mod hold;
mod lifecycle;
mod replay;
mod routing;

use super::Dbgp;
use super::packet::Packet;
use crate::config::{LastGoodbye, Mode};
use crate::framing::{Message, Protocol};
use crate::session::testkit::{self, Sim};
use crate::session::{Action, ClientId, Session, To};

pub const CONN1: &[u8] = include_bytes!("../transcripts/conn1.bin");
pub const CONN2: &[u8] = include_bytes!("../transcripts/conn2.bin");
pub const CONN3: &[u8] = include_bytes!("../transcripts/conn3.bin");
pub const CONN4: &[u8] = include_bytes!("../transcripts/conn4.bin");
pub const CONN5: &[u8] = include_bytes!("../transcripts/conn5.bin");

/// The packets of a transcript.
pub fn packets(t: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < t.len() {
        let nul = at + t[at..].iter().position(|&b| b == 0).unwrap();
        let len: usize = std::str::from_utf8(&t[at..nul]).unwrap().parse().unwrap();
        let end = nul + 1 + len + 1;
        out.push(&t[at..end]);
        at = end;
    }
    out
}

/// The `n`th packet of a transcript that contains all of `needles`.
pub fn nth(t: &[u8], n: usize, needles: &[&str]) -> Vec<u8> {
    packets(t)
        .into_iter()
        .filter(|p| needles.iter().all(|s| contains(p, s)))
        .nth(n)
        .unwrap_or_else(|| panic!("no packet {n} with {needles:?}"))
        .to_vec()
}

pub fn find(t: &[u8], needles: &[&str]) -> Vec<u8> {
    nth(t, 0, needles)
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A packet's XML, checking that its length prefix is right.
pub fn xml(packet: &[u8]) -> String {
    let nul = packet.iter().position(|&b| b == 0).expect("a length");
    let len: usize = std::str::from_utf8(&packet[..nul])
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(packet.last(), Some(&0), "a packet ends in NUL");
    let body = &packet[nul + 1..packet.len() - 1];
    assert_eq!(
        len,
        body.len(),
        "length prefix of {}",
        String::from_utf8_lossy(body)
    );
    String::from_utf8_lossy(body).into_owned()
}

/// An attribute of a packet's root element.
pub fn attr(packet: &[u8], name: &str) -> Option<String> {
    let p = Packet::parse(&Message::from_bytes(packet));
    p.attr(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The packet addressed to transaction `txn` (the recorded one was
/// answering the recorder's own numbering).
pub fn addressed(packet: &[u8], txn: &str) -> Vec<u8> {
    Packet::parse(&Message::from_bytes(packet))
        .readdressed(None, Some(txn.as_bytes()))
        .to_vec()
}

#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Debugger(String),
    Client(ClientId, Vec<u8>),
    All(Vec<u8>),
    Close(ClientId),
}

/// The DBGp layer over the test kit's loop: commands written as text,
/// packets checked for their length prefix, and the engine's answers taken
/// from the recordings, addressed to the transaction the session sent.
pub struct H {
    pub sim: Sim<Dbgp>,
    /// The transaction id of the last command sent to the engine.
    pub txn: Option<String>,
}

impl H {
    pub fn new(mode: Mode, last_goodbye: LastGoodbye) -> H {
        let settings = testkit::settings(Protocol::Dbgp, mode, last_goodbye);
        H {
            sim: Sim::new(Dbgp::new(&settings)),
            txn: None,
        }
    }

    /// Persistent mode, keeping the session at the last goodbye: what a
    /// proxy in front of Xdebug (a "listen" backend) runs with.
    pub fn persistent() -> H {
        H::new(Mode::Persistent, LastGoodbye::Keep)
    }

    /// Clients joined, and the engine connection of `init` up.
    pub fn with(clients: &[ClientId], init: &[u8]) -> H {
        let mut h = H::persistent();
        for &c in clients {
            h.join(c);
        }
        h.up();
        h.engine(packets(init)[0]);
        h
    }

    pub fn dbgp(&self) -> &Dbgp {
        &self.sim.session
    }

    fn collect(&mut self, actions: Vec<Action>) -> Vec<Sent> {
        let mut sent = Vec::new();
        for a in actions {
            sent.push(match a {
                Action::Send(To::Debugger, m) => {
                    let text = String::from_utf8(m.to_vec()).unwrap();
                    assert!(text.ends_with('\0'), "a command ends in NUL");
                    let text = text.trim_end_matches('\0').to_string();
                    let i = text.split(' ').skip_while(|w| *w != "-i").nth(1);
                    self.txn = i.map(str::to_string);
                    Sent::Debugger(text)
                }
                Action::Send(to, m) => {
                    let bytes = m.to_vec();
                    xml(&bytes);
                    match to {
                        To::Client(c) => Sent::Client(c, bytes),
                        To::All => Sent::All(bytes),
                        other => panic!("unexpected {other:?}"),
                    }
                }
                Action::Close(c, _) => Sent::Close(c),
                Action::RestartDebugger(why) | Action::CloseDebugger(why) => {
                    panic!("unexpected restart: {why}")
                }
            });
        }
        sent
    }

    pub fn join(&mut self, c: ClientId) -> Vec<Sent> {
        let actions = self.sim.join(c);
        self.collect(actions)
    }

    pub fn leave(&mut self, c: ClientId) -> Vec<Sent> {
        let actions = self.sim.leave(c);
        self.collect(actions)
    }

    pub fn client(&mut self, c: ClientId, command: &str) -> Vec<Sent> {
        self.read(c, &[command])
    }

    /// Commands from `c` in one read.
    pub fn read(&mut self, c: ClientId, commands: &[&str]) -> Vec<Sent> {
        let packets = commands.iter().map(|command| {
            let mut bytes = command.as_bytes().to_vec();
            bytes.push(0);
            Message::from_bytes(&bytes)
        });
        let actions = self.sim.read(c, packets);
        self.collect(actions)
    }

    pub fn up(&mut self) {
        assert!(self.sim.up().is_empty());
    }

    pub fn engine(&mut self, packet: &[u8]) -> Vec<Sent> {
        let actions = self.sim.from_debugger(Message::from_bytes(packet));
        self.collect(actions)
    }

    /// The engine answers the last command sent with this recorded packet.
    pub fn answer(&mut self, recorded: &[u8]) -> Vec<Sent> {
        let txn = self.txn.clone().expect("a command was sent");
        self.engine(&addressed(recorded, &txn))
    }

    pub fn lost(&mut self) -> Vec<Sent> {
        let actions = self.sim.lost();
        self.collect(actions)
    }

    /// A turn of the loop at `now`.
    pub fn tick(&mut self, now: std::time::Instant) -> Vec<Sent> {
        let actions = self.sim.tick(now);
        self.collect(actions)
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.sim.counter(name)
    }
}

/// The commands sent to the engine.
pub fn to_debugger(sent: &[Sent]) -> Vec<&str> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Debugger(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// What one client received (directly or as one of all), in order.
pub fn to_client(sent: &[Sent], c: ClientId) -> Vec<&[u8]> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Client(to, m) if *to == c => Some(&m[..]),
            Sent::All(m) => Some(&m[..]),
            _ => None,
        })
        .collect()
}

/// The init, a break on line 4 (client 1's `run` with id 10), both clients
/// told; the engine idle at the break.
pub fn at_break(clients: &[ClientId]) -> H {
    let mut h = H::with(clients, CONN1);
    h.client(clients[0], "run -i 10");
    let sent = h.answer(&find(CONN1, &["command=\"run\" transaction_id=\"10\""]));
    assert_eq!(to_client(&sent, clients[0]).len(), 1);
    h
}
