//! Who reads what gdb says: a FIFO of the lines sent to gdb (gdb answers
//! strictly in order) and, between them, the answers the proxy gives itself
//! (an empty line, bad input, a personal goodbye), which wait behind the
//! client's earlier commands so that a client reads its answers in the order
//! it asked. Bounded: past it a client's command is refused.

use super::GdbMi;
use super::breakpoints::Selection;
use super::client::answer;
use crate::framing::Message;
use crate::session::kit::inflight::Entry;
use crate::session::kit::{InFlight, Waiter};
use crate::session::{ClientId, Outbox, To};

/// Lines sent to gdb and not yet answered, plus held local answers.
const MAX_IN_FLIGHT: usize = 4096;

/// The proxy's own `-break-info`, whose result becomes a notification for
/// the clients but `except`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announce {
    pub modified: bool,
    pub except: ClientId,
}

/// What a client's command does beyond its own answer, once gdb says `^done`.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    Created,
    Deleted(Selection),
    Modified(Selection),
    /// `-gdb-exit` / `quit` forwarded: gdb ends.
    Exit,
}

pub enum Job {
    Sent {
        token: Vec<u8>,
        effect: Effect,
    },
    /// An answer of the proxy's own, held until the lines before it are answered.
    Local {
        reply: Message,
        close: bool,
    },
}

/// The proxy's own line waits with `Some` when its result is announced.
pub type Line = Entry<Job, Option<Announce>>;

/// Who the next `(gdb) ` prompt is for.
#[derive(Clone, Copy)]
pub enum Prompt {
    Client(ClientId),
    Nobody,
}

pub struct Fifo {
    table: InFlight<u64, Job, Option<Announce>>,
    next: u64,
}

impl Default for Fifo {
    fn default() -> Self {
        Fifo {
            table: InFlight::new(MAX_IN_FLIGHT),
            next: 0,
        }
    }
}

impl Fifo {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn refused(&self) -> u64 {
        self.table.refused
    }

    pub fn front(&self) -> Option<&Line> {
        self.table.first().map(|(_, e)| e)
    }

    pub fn pop_front(&mut self) -> Option<Line> {
        self.table.pop_first()
    }

    fn try_push(&mut self, waiter: Waiter<Option<Announce>>, job: Job) -> bool {
        self.next += 1;
        self.table.try_insert(self.next, waiter, job).is_ok()
    }

    /// The lines `client` sent that gdb has not answered.
    pub fn sent_by(&self, client: ClientId) -> usize {
        self.table
            .iter()
            .filter(|(_, e)| e.waiter.asker() == Some(client) && matches!(e.job, Job::Sent { .. }))
            .count()
    }

    /// `client` left: its held answers go, gdb's answers to it will be dropped.
    pub fn depart(&mut self, client: ClientId) {
        self.table
            .retain(|e| !(e.waiter.asker() == Some(client) && matches!(e.job, Job::Local { .. })));
        self.table.depart(client);
    }

    pub fn drain(&mut self) -> Vec<Line> {
        self.table.drain()
    }
}

impl GdbMi {
    /// The client whose command gdb is working on, if any.
    pub(super) fn working_for(&self) -> Option<ClientId> {
        match (self.prompt_for, self.fifo.front()) {
            (
                None,
                Some(Entry {
                    waiter,
                    job: Job::Sent { .. },
                }),
            ) => waiter.asker(),
            _ => None,
        }
    }

    pub(super) fn forward(
        &mut self,
        client: ClientId,
        m: Message,
        token: &[u8],
        effect: Effect,
        out: &mut Outbox,
    ) {
        let job = Job::Sent {
            token: token.to_vec(),
            effect,
        };
        if !self.fifo.try_push(Waiter::Client(client), job) {
            if self.warned.first("full") {
                log::warn!("over {MAX_IN_FLIGHT} gdb commands in flight: refusing more");
            }
            let reply = answer(
                token,
                b"^error,msg=\"dbgproxy: too many commands in flight\"",
                true,
            );
            out.send(To::Client(client), reply);
            return;
        }
        out.send(To::Debugger, m);
    }

    /// Sends a command of the proxy's own; its output is swallowed.
    pub(super) fn ask(&mut self, line: String, announce: Option<Announce>, out: &mut Outbox) {
        let job = Job::Sent {
            token: Vec::new(),
            effect: Effect::None,
        };
        if !self.fifo.try_push(Waiter::Proxy(announce), job) {
            return;
        }
        log::debug!("to gdb, for the proxy: {}", line.trim_end());
        out.send(To::Debugger, Message::from_bytes(line.as_bytes()));
    }

    /// Answers `client` locally, after the lines before it are answered.
    pub(super) fn local(
        &mut self,
        client: ClientId,
        reply: Message,
        close: bool,
        out: &mut Outbox,
    ) {
        if close {
            self.clients.set_leaving(client);
        }
        let idle = self.prompt_for.is_none() && self.fifo.front().is_none();
        let job = Job::Local { reply, close };
        if idle || self.fifo.table.is_full() {
            self.deliver(client, job, out);
        } else {
            self.fifo.next += 1;
            self.fifo
                .table
                .insert(self.fifo.next, Waiter::Client(client), job);
        }
    }

    pub(super) fn deliver(&mut self, client: ClientId, job: Job, out: &mut Outbox) {
        let Job::Local { reply, close } = job else {
            return;
        };
        if self.clients.contains(client) {
            out.send(To::Client(client), reply);
            if close {
                out.close(client, "said goodbye to gdb");
            }
        }
    }

    /// Delivers the local answers at the head of the FIFO; `force` when gdb
    /// has moved on without the prompt they wait for.
    pub(super) fn flush_locals(&mut self, force: bool, out: &mut Outbox) {
        while (force || self.prompt_for.is_none())
            && matches!(
                self.fifo.front(),
                Some(Entry {
                    job: Job::Local { .. },
                    ..
                })
            )
        {
            if let Some(e) = self.fifo.pop_front()
                && let Some(client) = e.waiter.asker()
            {
                self.deliver(client, e.job, out);
            }
        }
    }
}
