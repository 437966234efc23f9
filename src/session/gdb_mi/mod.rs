//! The GDB/MI session: several MI clients share one gdb (SESSIONS.md,
//! "GDB/MI").
//!
//! gdb answers commands strictly in order, one result record each, so routing
//! needs no rewriting: a FIFO remembers who sent each line, and the result
//! record, the stream records of the command and the `(gdb) ` prompt after
//! the result go to that client only; async records go to everyone. What gdb
//! tells only the channel that made a change (MI-made breakpoints) is
//! announced to the others. Goodbyes are answered here while others remain,
//! and a joiner learns the greeting, the live inferiors, the breakpoints and
//! whether the debuggee is stopped or running.
//!
//! Answers the proxy gives itself (an empty line, bad input, a personal
//! goodbye) wait in the FIFO behind the client's earlier commands, so a
//! client reads its answers in the order it asked.

mod breakpoints;
mod hooks;
mod output;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use self::breakpoints::{Breakpoints, Selection};
use self::hooks::answer;
use super::history::History;
use super::{ClientId, Outbox, Settings, To};
use crate::framing::{Message, Protocol};
use crate::protocol::gdb_mi::{Goodbye, mi};

/// Lines sent to gdb and not yet answered, plus held local answers.
const MAX_IN_FLIGHT: usize = 4096;
/// Inferiors remembered for joiners.
const MAX_GROUPS: usize = 256;

const GONE: &[u8] = b"dbgproxy: the debugger went away";

/// Who reads what gdb says about one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum From {
    /// `here` turns false when the client leaves: its answers are dropped.
    Client { id: ClientId, here: bool },
    /// The proxy's own command: its output is swallowed; with an `Announce`,
    /// its `-break-info` result becomes a notification for the others.
    Proxy(Option<Announce>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Announce {
    modified: bool,
    except: ClientId,
}

/// What a client's command does beyond its own answer, once gdb says `^done`.
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    None,
    Created,
    Deleted(Selection),
    Modified(Selection),
    /// `-gdb-exit` / `quit` forwarded: gdb ends.
    Exit,
}

enum Entry {
    Sent {
        from: From,
        token: Vec<u8>,
        effect: Effect,
    },
    /// An answer of the proxy's own, held until the lines before it are answered.
    Local {
        client: ClientId,
        reply: Message,
        close: bool,
    },
}

/// Who the next `(gdb) ` prompt is for.
#[derive(Clone, Copy)]
enum Prompt {
    Client(ClientId),
    Nobody,
}

#[derive(Default)]
struct Peer {
    /// Its goodbye was answered and its close requested.
    leaving: bool,
    warned: bool,
}

pub struct GdbMi {
    forward_last: bool,
    /// The greeting and what gdb said to all while nobody was connected.
    history: History,
    /// The backlog's dropped bytes when the stop state went into it: the
    /// joiner reads it there, unless the backlog dropped some since.
    stop_backlogged: Option<u64>,
    clients: BTreeMap<ClientId, Peer>,
    fifo: VecDeque<Entry>,
    prompt_for: Option<Prompt>,
    /// The last `*running` while running, the last `*stopped` while stopped
    /// (not after the inferior exited).
    running: Option<Message>,
    stopped: Option<Message>,
    /// Live inferiors: id → their `=thread-group-started` record.
    groups: BTreeMap<Vec<u8>, Message>,
    breakpoints: Breakpoints,
    orphan_results: u64,
    departed_answers: u64,
    bad_lines: u64,
    refused: u64,
    warned_orphan: bool,
    warned_full: bool,
}

impl GdbMi {
    pub fn new(settings: &Settings) -> GdbMi {
        GdbMi {
            forward_last: settings.forwards_last_goodbye,
            history: History::new(Protocol::GdbMi, settings.backlog_bytes),
            stop_backlogged: None,
            clients: BTreeMap::new(),
            fifo: VecDeque::new(),
            prompt_for: None,
            running: None,
            stopped: None,
            groups: BTreeMap::new(),
            breakpoints: Breakpoints::default(),
            orphan_results: 0,
            departed_answers: 0,
            bad_lines: 0,
            refused: 0,
            warned_orphan: false,
            warned_full: false,
        }
    }

    /// Sends `m` to every client, or keeps it for the next one.
    fn tell_all(&mut self, m: Message, out: &mut Outbox) {
        self.history.tell_all(m, self.clients.is_empty(), out);
    }

    /// The client whose command gdb is working on, if any.
    fn working_for(&self) -> Option<ClientId> {
        match (self.prompt_for, self.fifo.front()) {
            (
                None,
                Some(Entry::Sent {
                    from: From::Client { id, .. },
                    ..
                }),
            ) => Some(*id),
            _ => None,
        }
    }

    fn forward(
        &mut self,
        client: ClientId,
        m: Message,
        token: &[u8],
        effect: Effect,
        out: &mut Outbox,
    ) {
        if self.fifo.len() >= MAX_IN_FLIGHT {
            self.refused += 1;
            if !std::mem::replace(&mut self.warned_full, true) {
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
        self.fifo.push_back(Entry::Sent {
            from: From::Client {
                id: client,
                here: true,
            },
            token: token.to_vec(),
            effect,
        });
    }

    /// Sends a command of the proxy's own; its output is swallowed.
    fn ask(&mut self, line: String, announce: Option<Announce>, out: &mut Outbox) {
        if self.fifo.len() >= MAX_IN_FLIGHT {
            self.refused += 1;
            return;
        }
        log::debug!("to gdb, for the proxy: {}", line.trim_end());
        out.send(To::Debugger, Message::from_bytes(line.as_bytes()));
        self.fifo.push_back(Entry::Sent {
            from: From::Proxy(announce),
            token: Vec::new(),
            effect: Effect::None,
        });
    }

    /// Answers `client` locally, after the lines before it are answered.
    fn local(&mut self, client: ClientId, reply: Message, close: bool, out: &mut Outbox) {
        if close && let Some(p) = self.clients.get_mut(&client) {
            p.leaving = true;
        }
        let entry = Entry::Local {
            client,
            reply,
            close,
        };
        if (self.prompt_for.is_none() && self.fifo.is_empty()) || self.fifo.len() >= MAX_IN_FLIGHT {
            self.deliver(entry, out);
        } else {
            self.fifo.push_back(entry);
        }
    }

    fn deliver(&mut self, entry: Entry, out: &mut Outbox) {
        let Entry::Local {
            client,
            reply,
            close,
        } = entry
        else {
            return;
        };
        if self.clients.contains_key(&client) {
            out.send(To::Client(client), reply);
            if close {
                out.close(client, "said goodbye to gdb");
            }
        }
    }

    /// Delivers the local answers at the head of the FIFO; `force` when gdb
    /// has moved on without the prompt they wait for.
    fn flush_locals(&mut self, force: bool, out: &mut Outbox) {
        while (force || self.prompt_for.is_none())
            && matches!(self.fifo.front(), Some(Entry::Local { .. }))
        {
            if let Some(e) = self.fifo.pop_front() {
                self.deliver(e, out);
            }
        }
    }

    fn goodbye(
        &mut self,
        client: ClientId,
        m: Message,
        token: &[u8],
        kind: Goodbye,
        out: &mut Outbox,
    ) {
        let others = self
            .clients
            .iter()
            .any(|(&id, p)| id != client && !p.leaving);
        if !others && self.forward_last {
            log::info!("client #{client}: the last client's goodbye goes to gdb");
            let effect = if kind == Goodbye::Exit {
                Effect::Exit
            } else {
                Effect::None
            };
            self.forward(client, m, token, effect, out);
            return;
        }
        // The answer first: what the clean-up makes gdb say is not the leaver's.
        match kind {
            Goodbye::Exit => self.local(client, answer(token, b"^exit", false), true, out),
            Goodbye::Detach => self.local(client, answer(token, b"^done", true), false, out),
        }
        if others {
            // As DAP's and V8's: who left the shared session is worth a line.
            let what = match kind {
                Goodbye::Exit => "exit",
                Goodbye::Detach => "detach",
            };
            log::info!("client #{client}: {what} answered by the proxy (other clients remain)");
        } else {
            log::info!(
                "client #{client}: the last client said goodbye: gdb is kept for the next one"
            );
            self.keep_for_next(client, out);
        }
    }

    /// What the last goodbye asked of the debuggee, short of ending gdb: drop
    /// the leaver's breakpoints and let a stopped debuggee run.
    fn keep_for_next(&mut self, client: ClientId, out: &mut Outbox) {
        let mine = self.breakpoints.owned_by(client);
        if !mine.is_empty() {
            let mut line = String::from("-break-delete");
            for n in &mine {
                line.push_str(&format!(" {n}"));
                self.breakpoints.deleted(*n);
            }
            line.push('\n');
            self.ask(line, None, out);
            // A client that detached stays, and must not keep seeing them.
            for n in &mine {
                let note = format!("=breakpoint-deleted,id=\"{n}\"\n");
                out.send(To::All, Message::from_bytes(note.as_bytes()));
            }
        }
        if self.stopped.is_some() {
            self.ask("-exec-continue --all\n".into(), None, out);
        }
    }
}
