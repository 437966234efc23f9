//! What gdb says, routed: a result record and its prompt to the sender of
//! the line it answers (the FIFO's head), stream records to whoever gdb is
//! working for, async records to all; the state a joiner needs is kept
//! (`joiners.rs`), and what a client's command changed is announced to the
//! others (`breakpoints.rs`). When gdb goes, everyone is told and the
//! commands in flight fail.

use super::client::{answer, prefixed};
use super::inflight::{Job, Prompt};
use super::mi::{self, Kind};
use super::{GdbMi, Run};
use crate::framing::Message;
use crate::net::queue::Chunk;
use crate::session::kit::Waiter;
use crate::session::kit::inflight::Entry;
use crate::session::{Outbox, To};

const GONE: &[u8] = b"dbgproxy: the debugger went away";

fn line_of(token: &[u8], id: &[u8], what: &[u8]) -> Message {
    Message::from_bytes(&[token, id, what].concat())
}

impl GdbMi {
    pub(super) fn debugger_line(&mut self, message: Message, out: &mut Outbox) {
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
                self.run.stop_backlogged = nobody.then(|| self.history.dropped());
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

    pub(super) fn lost(&mut self, out: &mut Outbox) {
        if let Some(Prompt::Client(c)) = self.prompt_for.take() {
            out.send(To::Client(c), Message::from_bytes(b"(gdb) \n"));
        }
        let run = std::mem::take(&mut self.run);
        // Said to all, or kept in the timeline a returning client reads.
        for id in run.groups.keys() {
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
        for entry in self.fifo.drain() {
            match (entry.waiter, entry.job) {
                (Waiter::Client(id) | Waiter::Departed(id), job @ Job::Local { .. }) => {
                    self.deliver(id, job, out)
                }
                (
                    Waiter::Client(id),
                    Job::Sent {
                        effect: super::inflight::Effect::Exit,
                        ..
                    },
                ) => out.close(id, "gdb exited at its request"),
                (Waiter::Client(id), Job::Sent { token, .. }) => {
                    let record = [&b"^error,msg=\""[..], GONE, b"\""].concat();
                    out.send(To::Client(id), answer(&token, &record, true));
                }
                _ => {}
            }
        }
        self.run = Run::default();
        self.breakpoints.clear();
        self.history.lost();
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
        let Some(Entry {
            waiter,
            job: Job::Sent { effect, .. },
        }) = self.fifo.pop_front()
        else {
            self.orphan_results += 1;
            if self.warned.first("orphan") {
                log::warn!(
                    "gdb answered a command nobody is waiting for: dropped (counted as orphan_results_dropped)"
                );
            }
            return;
        };
        let done = class == b"done";
        self.prompt_for = Some(Prompt::Nobody);
        match waiter {
            Waiter::Client(id) | Waiter::Departed(id) => {
                if waiter.client().is_some() {
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
            Waiter::Proxy(Some(a)) if done => {
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
            Waiter::Proxy(_) => {}
        }
    }

    pub(super) fn stream(&mut self, m: Message, out: &mut Outbox) {
        let to = match self.prompt_for {
            Some(Prompt::Client(c)) => Some(To::Client(c)),
            Some(Prompt::Nobody) => None,
            // While the debuggee runs, what gdb prints is about the debuggee
            // (a sync-mode gdb reads no command meanwhile).
            None if self.run.running.is_some() => Some(To::All),
            None => match self.fifo.front() {
                Some(Entry {
                    waiter: Waiter::Client(id),
                    job: Job::Sent { .. },
                }) => Some(To::Client(*id)),
                Some(Entry {
                    job: Job::Sent { .. },
                    ..
                }) => None,
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
