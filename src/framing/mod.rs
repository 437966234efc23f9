//! The debuggers' message framing, as pure incremental scanners.
//!
//! A scanner is told bytes as they arrive, in any chunking, and says where a
//! message ends; it keeps only what it needs to decide that (a header line, a
//! length) and enforces the bounds: header line length, declared length and
//! message size. It knows nothing of sockets. An `Assembler` puts a scanner
//! to work on a stream of shared chunks and hands out whole messages, as
//! slices of the chunks they arrived in (no copies), keeping the bytes of an
//! incomplete message until it completes.

mod content_length;
mod dbgp;
mod lines;
mod websocket;

use clap::ValueEnum;

use crate::net::queue::Chunk;

/// A header line longer than this is malformed (V8, DAP).
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// All of one message's header lines together.
pub const MAX_HEADERS: usize = 64 * 1024;

/// What the proxy understands of the bytes it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Bytes, unframed: no message boundaries, no greeting.
    Raw,
    /// Legacy V8 debugger protocol (node ≤ 7): Content-Length framing.
    V8,
    /// Debug Adapter Protocol: Content-Length framing.
    Dap,
    /// DBGp (Xdebug): `LEN NUL XML NUL` from the engine, NUL-terminated commands to it.
    Dbgp,
    /// GDB/MI: newline-terminated records.
    #[value(name = "gdb-mi")]
    GdbMi,
    /// Chrome DevTools Protocol (node --inspect): text messages in WebSocket frames.
    Cdp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::V8 => "v8",
            Protocol::Dap => "dap",
            Protocol::Dbgp => "dbgp",
            Protocol::GdbMi => "gdb-mi",
            Protocol::Cdp => "cdp",
        }
    }
}

/// Which way the bytes go: DBGp is framed differently in each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    FromDebugger,
    ToDebugger,
}

/// What one call to `scan` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A message ends after `input[..end]`.
    Frame {
        end: usize,
        empty_body: bool,
        prompt: bool,
    },
    /// All the input belongs to a message that is not complete yet.
    Partial,
}

/// Malformed framing: what is wrong, and where in the input given to `scan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub at: usize,
    pub what: String,
    /// A size bound was hit (the flag that sets it depends on the direction).
    pub too_big: bool,
}

impl FrameError {
    fn new(at: usize, what: String) -> Self {
        FrameError {
            at,
            what,
            too_big: false,
        }
    }

    fn too_big(at: usize, what: String) -> Self {
        FrameError {
            at,
            what,
            too_big: true,
        }
    }
}

pub enum Scanner {
    Raw,
    ContentLength(content_length::ContentLength),
    DbgpPackets(dbgp::Packets),
    DbgpCommands(dbgp::Commands),
    Lines(lines::Lines),
}

impl Scanner {
    pub fn new(protocol: Protocol, direction: Direction, max_message: usize) -> Scanner {
        match (protocol, direction) {
            (Protocol::Raw, _) => Scanner::Raw,
            (Protocol::V8 | Protocol::Dap, _) => {
                Scanner::ContentLength(content_length::ContentLength::new(max_message))
            }
            (Protocol::Dbgp, Direction::FromDebugger) => {
                Scanner::DbgpPackets(dbgp::Packets::new(max_message))
            }
            (Protocol::Dbgp, Direction::ToDebugger) => {
                Scanner::DbgpCommands(dbgp::Commands::new(max_message))
            }
            (Protocol::GdbMi, _) => Scanner::Lines(lines::Lines::new(max_message)),
            // WebSocket framing is decoded by the assembler (`websocket.rs`);
            // this scanner is never asked.
            (Protocol::Cdp, _) => Scanner::Raw,
        }
    }

    /// Scans non-empty `input`, which continues what earlier calls were given.
    /// After a `Frame`, call again with the bytes after it.
    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, FrameError> {
        match self {
            // Every chunk is a "message": raw bytes are forwarded as they come.
            Scanner::Raw => Ok(Scan::Frame {
                end: input.len(),
                empty_body: false,
                prompt: false,
            }),
            Scanner::ContentLength(s) => s.scan(input),
            Scanner::DbgpPackets(s) => s.scan(input),
            Scanner::DbgpCommands(s) => s.scan(input),
            Scanner::Lines(s) => s.scan(input),
        }
    }

    /// Whether some bytes of an incomplete message have been scanned.
    pub fn in_message(&self) -> bool {
        match self {
            Scanner::Raw => false,
            Scanner::ContentLength(s) => s.in_message(),
            Scanner::DbgpPackets(s) => s.in_message(),
            Scanner::DbgpCommands(s) => s.in_message(),
            Scanner::Lines(s) => s.in_message(),
        }
    }
}

/// One whole message: the slices of the chunks it arrived in.
#[derive(Debug, Clone)]
pub struct Message {
    parts: Parts,
    pub len: usize,
    /// A Content-Length framed message with no body (V8's `Type: connect`, or
    /// the `Content-Length: 0` that V8 must never receive).
    pub empty_body: bool,
    /// gdb's `(gdb) ` prompt line.
    pub prompt: bool,
    /// Not a message but a WebSocket control event (CDP), for the session
    /// layer to act on; its parts are then the bytes to send back, if any.
    pub control: Option<Control>,
}

/// A WebSocket event that is not a text message (`Protocol::Cdp`): the loop
/// passes it to the session like any message, and the session answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// A ping: the message's parts are the pong, framed, to send back.
    Ping,
    /// The peer's close frame (`code`: `None` for an empty one).
    Closed { code: Option<u16>, reason: String },
    /// A protocol violation: the close code to answer with, and what was wrong.
    Fault { code: u16, what: String },
}

#[derive(Debug, Clone)]
enum Parts {
    One(Chunk),
    Many(Vec<Chunk>),
}

impl Message {
    pub fn parts(&self) -> &[Chunk] {
        match &self.parts {
            Parts::One(c) => std::slice::from_ref(c),
            Parts::Many(v) => v,
        }
    }

    /// A message made by the proxy itself (a rewritten or a local answer):
    /// `parts` are sent in order, each a slice of a shared buffer, so that a
    /// rewrite can splice a few new bytes between slices of the original.
    pub fn from_parts(parts: Vec<Chunk>) -> Message {
        let len = parts.iter().map(|c| c.len()).sum();
        let parts = match <[Chunk; 1]>::try_from(parts) {
            Ok([one]) => Parts::One(one),
            Err(many) => Parts::Many(many),
        };
        Message {
            parts,
            len,
            empty_body: false,
            prompt: false,
            control: None,
        }
    }

    /// A message made by the proxy from bytes it wrote.
    pub fn from_bytes(bytes: &[u8]) -> Message {
        Message::from_parts(vec![Chunk::copy_from(bytes)])
    }

    /// The message as one chunk: the chunk it arrived in (the common case),
    /// or one copy when it spans reads.
    pub fn one_chunk(&self) -> Chunk {
        match &self.parts {
            Parts::One(c) => c.clone(),
            Parts::Many(parts) => Chunk::concat(parts),
        }
    }

    /// The message's bytes in one buffer (tests and logs).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len);
        for part in self.parts() {
            bytes.extend_from_slice(part);
        }
        bytes
    }
}

/// A malformed stream: what was wrong, with the offending bytes escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFraming {
    pub what: String,
    pub excerpt: String,
}

impl std::fmt::Display for BadFraming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (near \"{}\")", self.what, self.excerpt)
    }
}

/// Turns a stream of chunks into whole messages.
pub struct Assembler {
    scanner: Scanner,
    /// For `Protocol::Cdp`: the WebSocket decoder that replaces the scanner.
    websocket: Option<websocket::Frames>,
    direction: Direction,
    partial: Vec<Chunk>,
    partial_len: usize,
}

impl Assembler {
    pub fn new(protocol: Protocol, direction: Direction, max_message: usize) -> Assembler {
        Assembler {
            scanner: Scanner::new(protocol, direction, max_message),
            websocket: (protocol == Protocol::Cdp)
                .then(|| websocket::Frames::new(direction, max_message)),
            direction,
            partial: Vec::new(),
            partial_len: 0,
        }
    }

    /// Bytes held of a message that is not complete yet.
    pub fn pending(&self) -> usize {
        self.websocket
            .as_ref()
            .map_or(self.partial_len, websocket::Frames::pending)
    }

    /// Whether the stream is between messages.
    pub fn at_boundary(&self) -> bool {
        self.pending() == 0 && !self.scanner.in_message()
    }

    /// Scans `chunk` and calls `emit` with each message it completes, in order.
    /// On malformed framing, messages before the fault have been emitted and
    /// the stream is unusable from there on.
    pub fn feed(&mut self, chunk: Chunk, mut emit: impl FnMut(Message)) -> Result<(), BadFraming> {
        if let Some(frames) = &mut self.websocket {
            frames.feed(&chunk, emit);
            return Ok(());
        }
        let mut offset = 0;
        while offset < chunk.len() {
            let scan = self
                .scanner
                .scan(&chunk[offset..])
                .map_err(|e| BadFraming {
                    excerpt: escape(
                        &chunk[(offset + e.at).saturating_sub(24)
                            ..(offset + e.at + 24).min(chunk.len())],
                        64,
                    ),
                    what: match (e.too_big, self.direction) {
                        (false, _) => e.what,
                        (true, Direction::FromDebugger) => format!("{} (--max-message)", e.what),
                        (true, Direction::ToDebugger) => {
                            format!("{} (--max-client-message)", e.what)
                        }
                    },
                })?;
            let Scan::Frame {
                end,
                empty_body,
                prompt,
            } = scan
            else {
                self.partial_len += chunk.len() - offset;
                self.partial.push(chunk.slice(offset, chunk.len()));
                return Ok(());
            };
            let piece = chunk.slice(offset, offset + end);
            offset += end;
            let message = if self.partial.is_empty() {
                Message {
                    len: piece.len(),
                    parts: Parts::One(piece),
                    empty_body,
                    prompt,
                    control: None,
                }
            } else {
                self.partial.push(piece);
                let parts = std::mem::take(&mut self.partial);
                let len = std::mem::take(&mut self.partial_len) + end;
                Message {
                    len,
                    parts: Parts::Many(parts),
                    empty_body,
                    prompt,
                    control: None,
                }
            };
            emit(message);
        }
        Ok(())
    }
}

/// Bytes as a log can show them: printable ASCII as is, the rest escaped,
/// cut at `max` characters.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes {
        if out.len() >= max {
            out.push('…');
            break;
        }
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\0' => out.push_str("\\0"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests;
