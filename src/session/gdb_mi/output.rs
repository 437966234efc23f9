//! What gdb says, routed: a result record and its prompt to the sender of
//! the line it answers (the FIFO's head), stream records to whoever gdb is
//! working for, async records to all; the state a joiner needs is kept, and
//! what a client's command changed is announced to the others.

use super::hooks::prefixed;
use super::mi::{self, Kind};
use super::{Announce, Effect, Entry, From, GdbMi, MAX_GROUPS, Prompt};
use crate::framing::Message;
use crate::queue::Chunk;
use crate::session::{ClientId, Outbox, To};

impl GdbMi {
    /// Keeps what a joiner must learn from an async record.
    pub(super) fn track(
        &mut self,
        kind: Kind,
        class: &[u8],
        rest: &[u8],
        tuple_at: usize,
        chunk: &Chunk,
        m: &Message,
    ) {
        let number = || mi::field(rest, "number").and_then(mi::breakpoint_number);
        match (kind, class) {
            (Kind::Exec, b"running") => {
                self.running = Some(m.clone());
                self.stopped = None;
            }
            (Kind::Exec, b"stopped") => {
                self.running = None;
                let exited = mi::field(rest, "reason").is_some_and(|r| r.starts_with(b"exited"));
                self.stopped = (!exited).then(|| m.clone());
            }
            (Kind::Notify, b"breakpoint-created" | b"breakpoint-modified") => {
                if let Some(n) = number() {
                    let owner = (class == b"breakpoint-created")
                        .then(|| self.working_for())
                        .flatten();
                    let tuple = Message::from_parts(vec![chunk.slice(tuple_at, chunk.len())]);
                    self.breakpoints.seen(n, owner, Some(tuple));
                }
            }
            (Kind::Notify, b"breakpoint-deleted") => {
                if let Some(n) = mi::field(rest, "id").and_then(mi::breakpoint_number) {
                    self.breakpoints.deleted(n);
                }
            }
            (Kind::Notify, b"thread-group-started") => {
                if let Some(id) = mi::field(rest, "id")
                    && (self.groups.len() < MAX_GROUPS || self.groups.contains_key(id))
                {
                    self.groups.insert(id.to_vec(), m.clone());
                }
            }
            (Kind::Notify, b"thread-group-exited") => {
                if let Some(id) = mi::field(rest, "id") {
                    self.groups.remove(id);
                }
                if self.groups.is_empty() {
                    self.running = None;
                    self.stopped = None;
                }
            }
            _ => {}
        }
    }

    pub(super) fn result(
        &mut self,
        rest: &[u8],
        rest_at: usize,
        class: &[u8],
        chunk: &Chunk,
        m: Message,
        out: &mut Outbox,
    ) {
        self.flush_locals(true, out);
        let Some(Entry::Sent { from, effect, .. }) = self.fifo.pop_front() else {
            self.orphan_results += 1;
            if !std::mem::replace(&mut self.warned_orphan, true) {
                log::warn!(
                    "gdb answered a command nobody is waiting for: dropped (counted as orphan_results_dropped)"
                );
            }
            return;
        };
        let done = class == b"done";
        self.prompt_for = Some(Prompt::Nobody);
        match from {
            From::Client { id, here } => {
                if here {
                    self.prompt_for = Some(Prompt::Client(id));
                    if class == b"exit" {
                        self.prompt_for = None;
                        out.send(To::Client(id), m);
                        out.close(id, "gdb exited at its request");
                        return;
                    }
                    out.send(To::Client(id), m);
                } else {
                    self.departed_answers += 1;
                }
                if done {
                    self.apply(effect, id, rest, rest_at, chunk, out);
                }
            }
            From::Proxy(Some(a)) if done => {
                let line = mi::trim_eol(chunk);
                let Some(body) = mi::table_body(line) else {
                    return;
                };
                let number =
                    mi::field(&line[body.clone()], "number").and_then(mi::breakpoint_number);
                let eol = &chunk[line.len()..];
                let tuple = Message::from_parts(vec![
                    chunk.slice(body.start, body.end),
                    Chunk::copy_from(eol),
                ]);
                if let Some(n) = number {
                    self.breakpoints.seen(n, None, Some(tuple.clone()));
                }
                let what: &[u8] = if a.modified {
                    b"=breakpoint-modified,"
                } else {
                    b"=breakpoint-created,"
                };
                out.send(To::AllBut(a.except), prefixed(what, &tuple));
            }
            From::Proxy(_) => {}
        }
    }

    /// Tells the other clients what a client's command changed.
    fn apply(
        &mut self,
        effect: Effect,
        client: ClientId,
        rest: &[u8],
        rest_at: usize,
        chunk: &Chunk,
        out: &mut Outbox,
    ) {
        match effect {
            Effect::Created => {
                let Some(n) = mi::field(rest, "number").and_then(mi::breakpoint_number) else {
                    return;
                };
                if rest.starts_with(b",bkpt=") {
                    let tuple = Message::from_parts(vec![chunk.slice(rest_at + 1, chunk.len())]);
                    out.send(
                        To::AllBut(client),
                        prefixed(b"=breakpoint-created,", &tuple),
                    );
                    self.breakpoints.seen(n, Some(client), Some(tuple));
                } else {
                    // A watchpoint's result (`wpt={number,exp}`) is not the
                    // tuple gdb announces: ask for that one.
                    self.breakpoints.seen(n, Some(client), None);
                    let announce = Announce {
                        modified: false,
                        except: client,
                    };
                    self.ask(format!("-break-info {n}\n"), Some(announce), out);
                }
            }
            Effect::Deleted(selection) => {
                for n in self.breakpoints.selected(&selection) {
                    self.breakpoints.deleted(n);
                    let note = format!("=breakpoint-deleted,id=\"{n}\"\n");
                    out.send(To::AllBut(client), Message::from_bytes(note.as_bytes()));
                }
            }
            Effect::Modified(selection) => {
                for n in self.breakpoints.selected(&selection) {
                    let announce = Announce {
                        modified: true,
                        except: client,
                    };
                    self.ask(format!("-break-info {n}\n"), Some(announce), out);
                }
            }
            Effect::None | Effect::Exit => {}
        }
    }

    pub(super) fn stream(&mut self, m: Message, out: &mut Outbox) {
        let to = match self.prompt_for {
            Some(Prompt::Client(c)) => Some(To::Client(c)),
            Some(Prompt::Nobody) => None,
            // While the debuggee runs, what gdb prints is about the debuggee
            // (a sync-mode gdb reads no command meanwhile).
            None if self.running.is_some() => Some(To::All),
            None => match self.fifo.front() {
                Some(Entry::Sent {
                    from: From::Client { id, here: true },
                    ..
                }) => Some(To::Client(*id)),
                Some(Entry::Sent { .. }) => None,
                _ => Some(To::All),
            },
        };
        match to {
            Some(To::All) => self.tell_all(m, out),
            Some(to) => out.send(to, m),
            None => {}
        }
    }
}
