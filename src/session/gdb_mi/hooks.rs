//! The GDB/MI session's entry points (the `Session` trait): what arrives from
//! a client or from gdb is read here and handed to the routing in `mod.rs`.

use serde_json::{Map, Value};

use super::breakpoints::Selection;
use super::mi::{self, Kind, Op};
use super::{Effect, Entry, From, GONE, GdbMi, Goodbye, Peer, Prompt};
use crate::framing::Message;
use crate::protocol::gdb_mi;
use crate::queue::Chunk;
use crate::session::{ClientId, Outbox, Session, To};

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

fn line_of(token: &[u8], id: &[u8], what: &[u8]) -> Message {
    Message::from_bytes(&[token, id, what].concat())
}

impl Session for GdbMi {
    fn client_joined(&mut self, client: ClientId, out: &mut Outbox) {
        self.clients.insert(client, Peer::default());
        self.history.replay(client, out);
        let stop_backlogged = self.stop_backlogged.take();
        if self.history.greeting_open() {
            return;
        }
        for started in self.groups.values() {
            out.send(To::Client(client), started.clone());
        }
        for tuple in self.breakpoints.tuples() {
            out.send(To::Client(client), prefixed(b"=breakpoint-created,", tuple));
        }
        let read_in_backlog = stop_backlogged == Some(self.history.dropped());
        if let Some(m) = self.stopped.as_ref().or(self.running.as_ref())
            && !read_in_backlog
        {
            out.send(To::Client(client), m.clone());
        }
    }

    fn from_client(&mut self, client: ClientId, message: Message, out: &mut Outbox) {
        let chunk = message.one_chunk();
        let line = mi::trim_eol(&chunk);
        let command = match mi::command(line) {
            Ok(c) => c,
            Err(why) => {
                self.bad_lines += 1;
                if let Some(p) = self.clients.get_mut(&client)
                    && !std::mem::replace(&mut p.warned, true)
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

    fn client_left(&mut self, client: ClientId, _out: &mut Outbox) {
        self.clients.remove(&client);
        self.fifo
            .retain(|e| !matches!(e, Entry::Local { client: c, .. } if *c == client));
        for e in &mut self.fifo {
            if let Entry::Sent {
                from: From::Client { id, here },
                ..
            } = e
                && *id == client
            {
                *here = false;
            }
        }
        if matches!(self.prompt_for, Some(Prompt::Client(c)) if c == client) {
            self.prompt_for = Some(Prompt::Nobody);
        }
    }

    fn debugger_up(&mut self, _out: &mut Outbox) {
        log::debug!("gdb is up: its greeting goes to every client");
    }

    fn from_debugger(&mut self, message: Message, out: &mut Outbox) {
        let chunk = message.one_chunk();
        let line = mi::trim_eol(&chunk);
        let record = mi::record(line);
        let (kind, rest_at) = (record.kind, record.rest_at);
        let is_async = matches!(kind, Kind::Exec | Kind::Status | Kind::Notify);
        let nobody = self.clients.is_empty();
        let greeting = self.history.greeting(&message, nobody);
        if greeting || is_async {
            // The tuple of a breakpoint notification starts after the comma.
            self.track(
                kind,
                record.class,
                record.rest,
                rest_at + 1,
                &chunk,
                &message,
            );
            if greeting {
                out.send(To::All, message);
                return;
            }
            self.tell_all(message, out);
            if kind == Kind::Exec {
                self.stop_backlogged = nobody.then(|| self.history.dropped());
            }
            return;
        }
        if message.prompt {
            match self.prompt_for.take() {
                Some(Prompt::Client(c)) => out.send(To::Client(c), message),
                Some(Prompt::Nobody) => {}
                None => self.tell_all(message, out),
            }
            self.flush_locals(false, out);
            return;
        }
        match kind {
            Kind::Result => self.result(record.rest, rest_at, record.class, &chunk, message, out),
            _ => self.stream(message, out),
        }
    }

    fn debugger_lost(&mut self, out: &mut Outbox) {
        if let Some(Prompt::Client(c)) = self.prompt_for.take() {
            out.send(To::Client(c), Message::from_bytes(b"(gdb) \n"));
        }
        // Said to all, or kept in the timeline a returning client reads.
        for id in std::mem::take(&mut self.groups).keys() {
            self.tell_all(line_of(b"=thread-group-exited,id=\"", id, b"\"\n"), out);
        }
        let numbers: Vec<u32> = self.breakpoints.numbers().collect();
        for n in numbers {
            let note = format!("=breakpoint-deleted,id=\"{n}\"\n");
            self.tell_all(Message::from_bytes(note.as_bytes()), out);
        }
        self.tell_all(
            Message::from_bytes(b"&\"dbgproxy: the debugger exited\\n\"\n"),
            out,
        );
        for entry in std::mem::take(&mut self.fifo) {
            match entry {
                Entry::Local { .. } => self.deliver(entry, out),
                Entry::Sent {
                    from: From::Client { id, here: true },
                    effect: Effect::Exit,
                    ..
                } => out.close(id, "gdb exited at its request"),
                Entry::Sent {
                    from: From::Client { id, here: true },
                    token,
                    ..
                } => {
                    let record = [&b"^error,msg=\""[..], GONE, b"\""].concat();
                    out.send(To::Client(id), answer(&token, &record, true));
                }
                Entry::Sent { .. } => {}
            }
        }
        self.running = None;
        self.stopped = None;
        self.stop_backlogged = None;
        self.breakpoints.clear();
        self.history.lost();
    }

    fn client_status(&self, client: ClientId) -> Map<String, Value> {
        let in_flight = self
            .fifo
            .iter()
            .filter(
                |e| matches!(e, Entry::Sent { from: From::Client { id, .. }, .. } if *id == client),
            )
            .count();
        let mut m = Map::new();
        m.insert("commands_in_flight".into(), in_flight.into());
        m
    }

    fn counters(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("commands_in_flight".into(), self.fifo.len().into());
        m.insert("orphan_results_dropped".into(), self.orphan_results.into());
        m.insert(
            "answers_to_departed_clients_dropped".into(),
            self.departed_answers.into(),
        );
        m.insert("bad_client_lines".into(), self.bad_lines.into());
        m.insert("commands_refused".into(), self.refused.into());
        m.insert(
            "breakpoints_untracked".into(),
            self.breakpoints.untracked.into(),
        );
        self.history.counters(&mut m);
        m
    }
}
