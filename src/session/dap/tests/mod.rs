//! The DAP session fed what real debugpy 1.8.22 sent (`transcripts/*.bin`,
//! recorded by `transcripts/record.py`), around simulated clients.

use serde_json::{Value, json};

use super::{Dap, wire};
use crate::config::{LastGoodbye, Mode};
use crate::framing::{Assembler, Direction, Message, Protocol};
use crate::net::queue::Chunk;
use crate::session::kit::content_length::Frame;
use crate::session::testkit::{self, Sim};
use crate::session::{Action, ClientId, Session, Settings, To};

mod handshake;
mod ids;
mod routing;
mod runs;
mod state;

const ATTACH: &[u8] = include_bytes!("../transcripts/attach.bin");
const LAUNCH: &[u8] = include_bytes!("../transcripts/launch.bin");
const TARGET: &str = "/tmp/dbgproxy-dap/target.py";

/// What the session asked for, decoded.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Msg(To, Value),
    Close(ClientId),
    Restart,
}

/// The DAP layer over the test kit's loop: requests written as JSON, what
/// the session asked for read back as JSON, debugpy's recorded messages at
/// hand by their `seq`.
struct Rig {
    sim: Sim<Dap>,
    /// What debugpy sent, in order.
    recorded: Vec<Message>,
}

fn settings(last_goodbye: LastGoodbye) -> Settings {
    testkit::settings(Protocol::Dap, Mode::Persistent, last_goodbye)
}

/// Splits a recorded stream into messages with the proxy's own framing.
fn transcript(bytes: &[u8]) -> Vec<Message> {
    let mut a = Assembler::new(Protocol::Dap, Direction::FromDebugger, 1 << 20);
    let mut all = Vec::new();
    a.feed(Chunk::copy_from(bytes), |m| all.push(m)).unwrap();
    assert!(a.at_boundary());
    all
}

fn framed(v: &Value) -> Message {
    crate::session::kit::content_length::framed(v)
}

/// The JSON of a message, checking that its Content-Length is right.
fn decode(m: &Message) -> Value {
    let bytes = m.to_vec();
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let header = std::str::from_utf8(&bytes[..end]).unwrap();
    let len: usize = header
        .strip_prefix("Content-Length: ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, bytes.len() - end - 4, "Content-Length of {header}");
    serde_json::from_slice(&bytes[end + 4..]).unwrap()
}

/// A recorded message with its `request_seq` spliced to `request_seq` (as
/// debugpy would have answered a request the proxy numbered so).
fn answering(m: &Message, request_seq: i64) -> Message {
    let f = Frame::of(m).unwrap();
    let at = wire::head(f.body()).request_seq.unwrap();
    f.splice(&[(at, request_seq)])
}

/// The actions, decoded.
fn sent(actions: Vec<Action>) -> Vec<Sent> {
    actions
        .into_iter()
        .map(|a| match a {
            Action::Send(to, m) => Sent::Msg(to, decode(&m)),
            Action::Close(c, _) => Sent::Close(c),
            Action::RestartDebugger(_) | Action::CloseDebugger(_) => Sent::Restart,
        })
        .collect()
}

impl Rig {
    /// No debugger up yet (`up`); nobody joined.
    fn new(recorded: &[u8], last_goodbye: LastGoodbye) -> Rig {
        Rig {
            sim: Sim::new(Dap::new(&settings(last_goodbye))),
            recorded: transcript(recorded),
        }
    }

    fn dap(&self) -> &Dap {
        &self.sim.session
    }

    fn join(&mut self, c: ClientId) -> Vec<Sent> {
        sent(self.sim.join(c))
    }

    fn leave(&mut self, c: ClientId) -> Vec<Sent> {
        sent(self.sim.leave(c))
    }

    fn send(&mut self, c: ClientId, v: Value) -> Vec<Sent> {
        sent(self.sim.from_client(c, framed(&v)))
    }

    /// Messages from `c` in one read.
    fn read(&mut self, c: ClientId, vs: &[Value]) -> Vec<Sent> {
        sent(self.sim.read(c, vs.iter().map(framed)))
    }

    fn raw(&mut self, c: ClientId, body: &str) -> Vec<Sent> {
        let m = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        sent(self.sim.from_client(c, Message::from_bytes(m.as_bytes())))
    }

    fn req(&mut self, c: ClientId, seq: i64, command: &str, args: Value) -> Vec<Sent> {
        self.send(c, request(seq, command, args))
    }

    /// Feeds the debugger's message as it is.
    fn debugger(&mut self, m: Message) -> Vec<Sent> {
        sent(self.sim.from_debugger(m))
    }

    /// The recorded debugpy message with this `seq`.
    fn rec(&self, seq: i64) -> Message {
        let m = self.recorded[(seq - 1) as usize].clone();
        assert_eq!(decode(&m)["seq"], seq);
        m
    }

    /// Feeds recorded debugpy messages `from..=to` (by their `seq`).
    fn play(&mut self, from: i64, to: i64) -> Vec<Sent> {
        (from..=to)
            .flat_map(|s| self.debugger(self.rec(s)))
            .collect()
    }

    fn up(&mut self) -> Vec<Sent> {
        sent(self.sim.up())
    }

    fn lost(&mut self) -> Vec<Sent> {
        sent(self.sim.lost())
    }

    fn counter(&self, name: &str) -> u64 {
        self.sim.counter(name)
    }

    /// A client that does the whole handshake first (recorded requests 1-6,
    /// debugpy messages 1-14): initialize, attach, breakpoints at lines 4 and
    /// 3 (if i > 1), exception filter "uncaught", configurationDone; the
    /// debuggee then stops at line 4. Its seqs are 1-6, like the recorder's,
    /// so debugpy's answers apply unchanged.
    fn first_client_attaches(&mut self, c: ClientId) {
        self.join(c);
        self.req(c, 1, "initialize", init_args("vscode"));
        self.play(1, 4);
        self.req(
            c,
            2,
            "attach",
            json!({"justMyCode": true, "redirectOutput": true}),
        );
        self.play(5, 6);
        self.req(
            c,
            3,
            "setBreakpoints",
            bp_args(
                TARGET,
                json!([{"line": 4}, {"line": 3, "condition": "i > 1"}]),
            ),
        );
        self.play(7, 7);
        self.req(c, 4, "setFunctionBreakpoints", json!({"breakpoints": []}));
        self.play(8, 8);
        self.req(
            c,
            5,
            "setExceptionBreakpoints",
            json!({"filters": ["uncaught"]}),
        );
        self.play(9, 9);
        self.req(c, 6, "configurationDone", json!({}));
        self.play(10, 14);
        assert_eq!(self.dap().debugger.memory.stopped_thread(), Some(Some(1)));
    }
}

impl Rig {
    /// A client that joins the started session and is answered locally.
    fn joiner(&mut self, c: ClientId) -> Vec<Sent> {
        self.join(c);
        let mut sent = self.req(c, 1, "initialize", init_args(&format!("client{c}")));
        sent.extend(self.req(c, 2, "attach", json!({})));
        sent.extend(self.req(c, 3, "configurationDone", json!({})));
        assert!(self.dap().clients.get(c).is_some_and(|c| c.live));
        sent
    }
}

fn request(seq: i64, command: &str, args: Value) -> Value {
    json!({"seq": seq, "type": "request", "command": command, "arguments": args})
}

fn init_args(id: &str) -> Value {
    json!({"clientID": id, "clientName": format!("{id} IDE"), "adapterID": "python",
           "linesStartAt1": true, "columnsStartAt1": true, "pathFormat": "path"})
}

fn bp_args(path: &str, breakpoints: Value) -> Value {
    json!({"source": {"path": path}, "breakpoints": breakpoints})
}

/// The messages sent to `to`.
fn to(sent: &[Sent], to: To) -> Vec<Value> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Msg(t, v) if *t == to => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// The one message sent, to whom.
fn only(sent: &[Sent]) -> (To, Value) {
    match sent {
        [Sent::Msg(t, v)] => (*t, v.clone()),
        other => panic!("expected one message, got {other:#?}"),
    }
}

/// `v` with `seq` removed (the proxy numbers its own messages).
fn unseq(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("seq");
    v
}
