//! The CDP client row's [`Session`] (`adapter.rs`) over the loop's stand-in
//! (`session::testkit::Sim`): a recorded node 20 transcript played through
//! it end to end, the WebSocket frames each way decoded in the role the
//! peer reads them in (masked toward node, unmasked toward the client),
//! and the control frames the adapter answers itself.

use std::time::Instant;

use super::*;
use crate::framing::{Control, Message};
use crate::protocol::cdp::known::Known;
use crate::protocol::cdp::ws::{self, Decoder, Event, Role};
use crate::session::Session;
use crate::session::cdp::adapter::{CdpSession, Kind};
use crate::session::cdp::gate::{Gate, RELEASE_WAIT, SharedGate};
use crate::session::testkit::Sim;

pub(super) const C: u64 = 1;

/// Texts in `frames`, decoded as `role` reads them (all whole text frames).
fn texts(role: Role, frames: &[Vec<u8>]) -> Vec<String> {
    let mut decoder = Decoder::new(role, 1 << 24);
    let mut out = Vec::new();
    for f in frames {
        decoder
            .feed(&Chunk::copy_from(f), |e| match e {
                Event::Text(t) => out.push(text(&t)),
                other => panic!("not a text frame: {other:?}"),
            })
            .expect("a well-formed frame");
    }
    out
}

/// One client's row, with what went each way not yet looked at.
pub(super) struct Row {
    pub sim: Sim<CdpSession>,
    upstream_seen: usize,
    client_seen: usize,
}

impl Row {
    pub fn new(gate: &SharedGate, agent: &str) -> Row {
        let kind = Kind {
            user_agent: Some(agent.into()),
            origin: None,
        };
        let known = std::rc::Rc::new(std::cell::RefCell::new(Known::default()));
        let session = CdpSession::client(Mode::Persistent, kind, known, gate.clone());
        let mut sim = Sim::new(session);
        sim.join(C);
        Row {
            sim,
            upstream_seen: 0,
            client_seen: 0,
        }
    }

    pub fn client(&mut self, m: &str) {
        self.sim.from_client(C, Message::from_bytes(m.as_bytes()));
    }

    pub fn node(&mut self, m: &str) {
        self.sim.from_debugger(Message::from_bytes(m.as_bytes()));
    }

    /// What went upstream since the last look, as node reads it.
    pub fn upstream(&mut self) -> Vec<String> {
        let new = &self.sim.to_debugger[self.upstream_seen..];
        self.upstream_seen = self.sim.to_debugger.len();
        texts(Role::Server, new)
    }

    /// What reached the client since the last look, as it reads it.
    pub fn client_got(&mut self) -> Vec<String> {
        let got = &self.sim.got[&C];
        let new = &got[self.client_seen..];
        self.client_seen = got.len();
        texts(Role::Client, new)
    }
}

#[test]
fn a_recorded_restart_plays_through_the_row() {
    let gate = Gate::shared(RELEASE_WAIT);
    let mut row = Row::new(&gate, "test");
    let mut own_sent: Vec<String> = Vec::new();
    for line in lines(RESTART) {
        match line {
            Line::Up => row.sim.up(),
            Line::Lost => row.sim.lost(),
            Line::Client(m) if own(m) => {
                assert!(!own_sent.is_empty(), "dbgproxy did not send {m}");
                assert_eq!(json(&own_sent.remove(0)), json(m));
                continue;
            }
            Line::Client(m) => {
                row.client(m);
                let up = row.upstream();
                assert_eq!(up.first().map(String::as_str), Some(m), "{m}");
                own_sent.extend(up.into_iter().skip(1));
                continue;
            }
            Line::Node(m) => {
                row.node(m);
                let to_client = row.client_got();
                if !own(m) && !m.contains("NodeRuntime.waitingForDisconnect") {
                    assert_eq!(to_client, [m], "passed through as it came");
                } else {
                    assert!(!to_client.iter().any(|t| t == m), "{m} is dbgproxy's own");
                }
                own_sent.extend(row.upstream());
                continue;
            }
        };
        own_sent.extend(row.upstream());
    }
    assert_eq!(own_sent, Vec::<String>::new(), "sent but not recorded");
    // The program's end, twice: the upstream session closed each time.
    let ended = row.sim.restarts.iter();
    assert_eq!(ended.filter(|w| w.contains("program ended")).count(), 2);
    let status = row.sim.session.client_status(C);
    assert_eq!(status["restarts_survived"], 1);
    assert_eq!(status["kind"]["user_agent"], "test");
    assert_eq!(status["releases_forced"], 0);
}

#[test]
fn control_frames_are_answered_by_the_row() {
    let gate = Gate::shared(RELEASE_WAIT);
    let mut row = Row::new(&gate, "test");
    row.sim.up();
    row.upstream();
    // A ping from the client: the reply the framing made (its pong) goes
    // back to it, nothing to node.
    let pong = Chunk::copy_from(b"the pong frame");
    let mut ping = Message::from_parts(vec![pong.clone()]);
    ping.control = Some(Control::Ping);
    row.sim.from_client(C, ping);
    assert_eq!(row.sim.got[&C].last(), Some(&pong.to_vec()));
    assert_eq!(row.upstream(), Vec::<String>::new());
    // A bad frame: a close with its code and the client closed (its row,
    // upstream session included, goes with it: the loop removes the row).
    let mut bad = Message::from_parts(vec![]);
    bad.control = Some(Control::Fault {
        code: ws::code::PROTOCOL_ERROR,
        what: "an unmasked client frame".into(),
    });
    row.sim.from_client(C, bad);
    let close = ws::close_frame(Role::Server, Some(1002), "an unmasked client frame");
    assert!(row.sim.got[&C].contains(&close.to_vec()));
    assert_eq!(row.sim.closed, [C]);
    assert_eq!(row.sim.restarts, Vec::<String>::new());
    assert!(row.sim.tick(Instant::now()).is_empty());
}
