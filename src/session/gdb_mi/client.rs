//! What an MI client sends: a command line, forwarded with what it does
//! beyond its own answer (`Effect`), or a goodbye (see `goodbye.rs`), or an
//! empty or bad line, answered here. The proxy's own MI lines are written
//! here too.

use super::GdbMi;
use super::breakpoints::Selection;
use super::inflight::Effect;
use super::mi::{self, Op};
use crate::framing::Message;
use crate::net::queue::Chunk;
use crate::protocol::gdb_mi::{self, Goodbye};
use crate::session::{ClientId, Outbox};

/// What a client's line is, for the session.
enum Line {
    Forward(Effect),
    Goodbye(Goodbye),
    /// Answered here with `TOKEN^done` and a prompt.
    Empty,
}

fn classify(op: &Op) -> Line {
    if let Some(kind) = gdb_mi::goodbye(op) {
        return Line::Goodbye(kind);
    }
    match *op {
        Op::Empty => Line::Empty,
        Op::Mi { name, args } => Line::Forward(match name {
            b"break-insert" | b"dprintf-insert" | b"break-watch" => Effect::Created,
            n if n.starts_with(b"catch-") => Effect::Created,
            b"break-delete" => Effect::Deleted(Selection::parse(args)),
            b"break-enable" | b"break-disable" => Effect::Modified(Selection::parse(args)),
            b"break-condition" | b"break-after" | b"break-commands" | b"break-passcount" => {
                Effect::Modified(Selection::first(args))
            }
            _ => Effect::None,
        }),
        // gdb announces what CLI commands change itself.
        Op::Cli { .. } => Line::Forward(Effect::None),
    }
}

/// `TOKEN` + `record` + newline, and a prompt when `prompt`.
pub(super) fn answer(token: &[u8], record: &[u8], prompt: bool) -> Message {
    let mut b = Vec::with_capacity(token.len() + record.len() + 8);
    b.extend_from_slice(token);
    b.extend_from_slice(record);
    b.push(b'\n');
    if prompt {
        b.extend_from_slice(b"(gdb) \n");
    }
    Message::from_bytes(&b)
}

/// `head` followed by `rest`'s bytes (shared, not copied).
pub(super) fn prefixed(head: &[u8], rest: &Message) -> Message {
    let mut parts = vec![Chunk::copy_from(head)];
    parts.extend(rest.parts().iter().cloned());
    Message::from_parts(parts)
}

impl GdbMi {
    pub(super) fn client_line(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        let chunk = message.one_chunk();
        let line = mi::trim_eol(&chunk);
        let command = match mi::command(line) {
            Ok(c) => c,
            Err(why) => {
                self.bad_lines += 1;
                if let Some(p) = self.clients.get_mut(client)
                    && p.warned.first("bad line")
                {
                    log::warn!(
                        "client #{client}: {why}: \"{}\" answered with ^error, not sent to gdb",
                        crate::framing::escape(line, 60)
                    );
                }
                let digits = line
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count()
                    .min(20);
                let record = format!("^error,msg=\"dbgproxy: {why}\"");
                self.local(
                    client,
                    answer(&line[..digits], record.as_bytes(), true),
                    false,
                    out,
                );
                return;
            }
        };
        log::debug!("client #{client}: {}", crate::framing::escape(line, 80));
        match classify(&command.op) {
            Line::Empty => self.local(client, answer(command.token, b"^done", true), false, out),
            Line::Goodbye(kind) => self.goodbye(client, message, command.token, kind, out),
            Line::Forward(effect) => self.forward(client, message, command.token, effect, out),
        }
    }
}
