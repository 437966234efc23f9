//! WebSocket framing (RFC 6455) over memory buffers, for both ends of a
//! CDP connection: `Role::Server` toward the proxy's clients (their frames
//! arrive masked, ours leave unmasked), `Role::Client` toward node.
//!
//! The loop feeds a [`Decoder`] the chunks it read and gets whole text
//! messages, each one contiguous `Chunk` (`Message::from_parts(vec![c])`
//! makes the session layer's `Message`), pongs to send back, and the peer's
//! close; a protocol violation is a [`Fault`] carrying the close code to
//! send. Frame headers are parsed and written by tungstenite's
//! `FrameHeader`; message assembly, the checks and the masking pass are
//! here, because tungstenite's `WebSocketContext` copies a payload three
//! times on the way to a `Chunk` (into its buffer, unmasked in place, out of
//! its `Bytes`) where this copies once, unmasking as it goes (`mask.rs`).
//!
//! What goes to node is shaped by what node takes (CDP.md): single text
//! frames and close only, masked with the zero key (as `node inspect` does),
//! which leaves the payload as it is: a frame to node is a header chunk
//! followed by the message's own chunks, never a copy.

use std::io::Cursor;
use std::mem::MaybeUninit;
use std::rc::Rc;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::mask::unmask_into;
use crate::framing::Message;
use crate::net::queue::Chunk;

/// RFC 6455 §7.4.1 close codes the proxy sends or reports.
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reported for an empty close frame; never sent in one.
    pub const NO_STATUS: u16 = 1005;
    /// Reported when TCP closed without a close frame; never sent.
    pub const ABNORMAL: u16 = 1006;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte key.
const MAX_HEAD: usize = 14;
/// RFC 6455 §5.5: a control frame's payload.
const MAX_CONTROL: u64 = 125;

/// Which end of the connection the proxy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Toward a CDP client: its frames must be masked, ours are not.
    Server,
    /// Toward node: its frames must not be masked, ours are (zero key).
    Client,
}

/// What a decoder found in the bytes it was fed.
#[derive(Debug, Clone)]
pub enum Event {
    /// A whole text message, valid UTF-8, in one buffer.
    Text(Chunk),
    /// Bytes to send back to the same peer (a pong answering its ping).
    Reply(Chunk),
    /// The peer's close frame: its code, `None` for an empty frame (which
    /// RFC 6455 reports as 1005), and reason. The decoder reads no further.
    Close { code: Option<u16>, reason: String },
}

/// A violation: the close code to send the peer (`close_frame`), and what
/// was wrong, for the log. The decoder reads no further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: u16,
    pub what: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (close {})", self.what, self.code)
    }
}

fn fault<T>(code: u16, what: impl Into<String>) -> Result<T, Fault> {
    Err(Fault {
        code,
        what: what.into(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Continuation,
    Close,
    Ping,
    Pong,
}

/// The payload of the frame being read.
enum Body {
    /// Unmasked frames (from node): slices of the chunks it arrived in.
    Slices(Vec<Chunk>),
    /// Masked frames (from a client): unmasked into its own buffer, of
    /// which `filled` bytes are written.
    Unmasked(Rc<[MaybeUninit<u8>]>, [u8; 4]),
}

struct Frame {
    kind: Kind,
    fin: bool,
    len: usize,
    filled: usize,
    body: Body,
}

/// Turns a peer's bytes, in any chunking, into events.
pub struct Decoder {
    role: Role,
    max_message: usize,
    head: [u8; MAX_HEAD],
    head_len: usize,
    frame: Option<Frame>,
    /// The frames of a fragmented text message so far.
    fragments: Vec<Chunk>,
    fragments_len: usize,
    fragmented: bool,
    done: bool,
}

impl Decoder {
    /// `max_message` bounds a text message (all its fragments together):
    /// `--max-client-message` toward clients.
    pub fn new(role: Role, max_message: usize) -> Decoder {
        Decoder {
            role,
            max_message,
            head: [0; MAX_HEAD],
            head_len: 0,
            frame: None,
            fragments: Vec::new(),
            fragments_len: 0,
            fragmented: false,
            done: false,
        }
    }

    /// Bytes held of a message that is not complete yet.
    pub fn pending(&self) -> usize {
        self.head_len + self.fragments_len + self.frame.as_ref().map_or(0, |f| f.filled)
    }

    /// Whether a close or a fault ended the stream.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Decodes `chunk`, which continues what earlier calls were given,
    /// calling `emit` with each event in order. After a close or a fault,
    /// further input is ignored.
    pub fn feed(&mut self, chunk: &Chunk, mut emit: impl FnMut(Event)) -> Result<(), Fault> {
        let mut at = 0;
        while !self.done && at < chunk.len() {
            let result = match self.frame {
                None => self.read_head(chunk, &mut at),
                Some(_) => self.read_payload(chunk, &mut at),
            };
            let finished = result.and_then(|()| match &self.frame {
                Some(f) if f.filled == f.len => self.finish(&mut emit),
                _ => Ok(()),
            });
            if let Err(f) = finished {
                self.done = true;
                return Err(f);
            }
        }
        Ok(())
    }

    fn read_head(&mut self, chunk: &Chunk, at: &mut usize) -> Result<(), Fault> {
        let take = (MAX_HEAD - self.head_len).min(chunk.len() - *at);
        self.head[self.head_len..self.head_len + take].copy_from_slice(&chunk[*at..*at + take]);
        let mut cursor = Cursor::new(&self.head[..self.head_len + take]);
        match FrameHeader::parse(&mut cursor) {
            Ok(None) => {
                self.head_len += take;
                *at += take;
                Ok(())
            }
            // Only a reserved opcode makes the parse fail.
            Err(e) => fault(code::PROTOCOL_ERROR, format!("bad frame header: {e}")),
            Ok(Some((header, len))) => {
                // `cursor` is past the header; what of it was held from
                // earlier chunks was not taken from this one.
                *at += cursor.position() as usize - self.head_len;
                self.head_len = 0;
                self.start(&header, len)
            }
        }
    }

    fn start(&mut self, h: &FrameHeader, len: u64) -> Result<(), Fault> {
        if h.rsv1 || h.rsv2 || h.rsv3 {
            return fault(
                code::PROTOCOL_ERROR,
                "reserved bits set: no extension was agreed",
            );
        }
        match (self.role, h.mask) {
            (Role::Server, None) => return fault(code::PROTOCOL_ERROR, "unmasked client frame"),
            (Role::Client, Some(_)) => return fault(code::PROTOCOL_ERROR, "masked server frame"),
            _ => {}
        }
        let kind = match h.opcode {
            OpCode::Data(Data::Text) if self.fragmented => {
                return fault(
                    code::PROTOCOL_ERROR,
                    "a new message inside a fragmented one",
                );
            }
            OpCode::Data(Data::Text) => Kind::Text,
            OpCode::Data(Data::Continue) if !self.fragmented => {
                return fault(code::PROTOCOL_ERROR, "a continuation frame with no message");
            }
            OpCode::Data(Data::Continue) => Kind::Continuation,
            OpCode::Data(Data::Binary) => {
                return fault(code::UNSUPPORTED_DATA, "a binary message: CDP is text");
            }
            OpCode::Control(Control::Close) => Kind::Close,
            OpCode::Control(Control::Ping) => Kind::Ping,
            OpCode::Control(Control::Pong) => Kind::Pong,
            OpCode::Data(Data::Reserved(n)) | OpCode::Control(Control::Reserved(n)) => {
                return fault(code::PROTOCOL_ERROR, format!("reserved opcode {n}"));
            }
        };
        let control = matches!(kind, Kind::Close | Kind::Ping | Kind::Pong);
        if control && !h.is_final {
            return fault(code::PROTOCOL_ERROR, "a fragmented control frame");
        }
        if control && len > MAX_CONTROL {
            return fault(
                code::PROTOCOL_ERROR,
                format!("a control frame of {len} bytes (at most 125)"),
            );
        }
        if !control && len.saturating_add(self.fragments_len as u64) > self.max_message as u64 {
            return fault(
                code::TOO_BIG,
                format!("a message over {} bytes", self.max_message),
            );
        }
        // Bounded by max_message or by 125 above, so it fits a usize.
        let len = len as usize;
        let body = match h.mask {
            Some(key) => Body::Unmasked(Rc::new_uninit_slice(len), key),
            None => Body::Slices(Vec::new()),
        };
        self.frame = Some(Frame {
            kind,
            fin: h.is_final,
            len,
            filled: 0,
            body,
        });
        Ok(())
    }

    fn read_payload(&mut self, chunk: &Chunk, at: &mut usize) -> Result<(), Fault> {
        let Some(f) = &mut self.frame else {
            return Ok(());
        };
        let n = (f.len - f.filled).min(chunk.len() - *at);
        match &mut f.body {
            Body::Slices(parts) => parts.push(chunk.slice(*at, *at + n)),
            Body::Unmasked(buf, key) => {
                let Some(dst) = Rc::get_mut(buf) else {
                    unreachable!("the buffer is shared only once it is complete");
                };
                unmask_into(
                    &mut dst[f.filled..f.filled + n],
                    &chunk[*at..*at + n],
                    *key,
                    f.filled,
                );
            }
        }
        f.filled += n;
        *at += n;
        Ok(())
    }

    fn finish(&mut self, emit: &mut impl FnMut(Event)) -> Result<(), Fault> {
        let Some(f) = self.frame.take() else {
            return Ok(());
        };
        let payload = match f.body {
            Body::Slices(parts) if parts.len() == 1 => parts[0].clone(),
            Body::Slices(parts) => Chunk::concat(&parts),
            Body::Unmasked(buf, _) => {
                // SAFETY: `finish` runs once `filled == len`: read_payload
                // has written every byte of the buffer, in order.
                Chunk::from(unsafe { buf.assume_init() })
            }
        };
        match f.kind {
            Kind::Text | Kind::Continuation => {
                self.fragments_len += payload.len();
                self.fragments.push(payload);
                self.fragmented = !f.fin;
                if f.fin {
                    let parts = std::mem::take(&mut self.fragments);
                    self.fragments_len = 0;
                    let text = match <[Chunk; 1]>::try_from(parts) {
                        Ok([one]) => one,
                        Err(parts) => Chunk::concat(&parts),
                    };
                    if std::str::from_utf8(&text).is_err() {
                        return fault(code::INVALID_DATA, "a text message that is not UTF-8");
                    }
                    emit(Event::Text(text));
                }
            }
            Kind::Ping => emit(Event::Reply(control_frame(
                self.role,
                Control::Pong,
                &payload,
            ))),
            Kind::Pong => {}
            Kind::Close => {
                self.done = true;
                let (code, reason) = close_payload(&payload)?;
                emit(Event::Close { code, reason });
            }
        }
        Ok(())
    }
}

/// RFC 6455 §5.5.1 and §7.4: a close frame's code and reason.
fn close_payload(payload: &[u8]) -> Result<(Option<u16>, String), Fault> {
    let [hi, lo, reason @ ..] = payload else {
        return match payload.len() {
            0 => Ok((None, String::new())),
            _ => fault(code::PROTOCOL_ERROR, "a close frame of one byte"),
        };
    };
    let code = u16::from_be_bytes([*hi, *lo]);
    // Codes a peer may send: the defined ones but 1004-1006 and 1015
    // (reserved, or only reported locally), and 3000-4999.
    if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
        return fault(code::PROTOCOL_ERROR, format!("close code {code}"));
    }
    let Ok(reason) = std::str::from_utf8(reason) else {
        return fault(code::INVALID_DATA, "a close reason that is not UTF-8");
    };
    Ok((Some(code), reason.to_owned()))
}

fn header(role: Role, opcode: OpCode, len: usize) -> Vec<u8> {
    let h = FrameHeader {
        opcode,
        // The zero key toward node: see the module's header.
        mask: (role == Role::Client).then_some([0; 4]),
        ..FrameHeader::default()
    };
    let mut out = Vec::with_capacity(MAX_HEAD);
    // Writing to a Vec cannot fail.
    let _ = h.format(len as u64, &mut out);
    out
}

/// One text frame holding `payload`: a header chunk, then `payload`'s own
/// chunks (no copy in either role).
pub fn text_frame(role: Role, payload: &[Chunk]) -> Message {
    let len = payload.iter().map(|c| c.len()).sum();
    let mut parts = Vec::with_capacity(payload.len() + 1);
    parts.push(Chunk::copy_from(&header(
        role,
        OpCode::Data(Data::Text),
        len,
    )));
    parts.extend(payload.iter().filter(|c| !c.is_empty()).cloned());
    Message::from_parts(parts)
}

fn control_frame(role: Role, control: Control, payload: &[u8]) -> Chunk {
    let mut bytes = header(role, OpCode::Control(control), payload.len());
    bytes.extend_from_slice(payload);
    Chunk::copy_from(&bytes)
}

/// A close frame: `None` is the empty frame, which the peer reports as
/// 1005 (what node sends; forward it that way). The reason is cut to fit
/// the 125-byte control payload, at a character boundary.
pub fn close_frame(role: Role, code: Option<u16>, reason: &str) -> Chunk {
    let Some(code) = code else {
        return control_frame(role, Control::Close, &[]);
    };
    let mut cut = reason.len().min(MAX_CONTROL as usize - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    control_frame(role, Control::Close, &payload)
}

#[cfg(test)]
mod tests;
