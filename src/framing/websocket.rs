//! WebSocket framing for `Protocol::Cdp`, in the assembler's shape: the
//! decoder of `protocol::cdp::ws` (the proxy is node's client on the
//! debugger side, its clients' server on theirs) turned into `Message`s.
//! A text message is a message; a ping, the peer's close and a violation
//! are messages with a `Control` for the session layer, which answers them
//! (a pong, a close frame with the right code): the loop never learns that
//! these bytes are WebSocket frames.

use super::{Control, Direction, Message};
use crate::net::queue::Chunk;
use crate::protocol::cdp::ws::{Decoder, Event, Role};

pub struct Frames {
    decoder: Decoder,
}

impl Frames {
    pub fn new(direction: Direction, max_message: usize) -> Frames {
        let role = match direction {
            Direction::FromDebugger => Role::Client,
            Direction::ToDebugger => Role::Server,
        };
        Frames {
            decoder: Decoder::new(role, max_message),
        }
    }

    pub fn pending(&self) -> usize {
        self.decoder.pending()
    }

    /// Decodes `chunk`; a violation is the last message (the decoder reads
    /// no further), so a stream never fails here.
    pub fn feed(&mut self, chunk: &Chunk, mut emit: impl FnMut(Message)) {
        let result = self.decoder.feed(chunk, |event| {
            emit(match event {
                Event::Text(text) => Message::from_parts(vec![text]),
                Event::Reply(pong) => control(vec![pong], Control::Ping),
                Event::Close { code, reason } => control(vec![], Control::Closed { code, reason }),
            })
        });
        if let Err(fault) = result {
            emit(control(
                vec![],
                Control::Fault {
                    code: fault.code,
                    what: fault.what,
                },
            ));
        }
    }
}

fn control(parts: Vec<Chunk>, control: Control) -> Message {
    let mut message = Message::from_parts(parts);
    message.control = Some(control);
    message
}
