//! An MI goodbye (`-gdb-exit`, `quit`, `-target-detach`, `detach`): personal
//! while others remain, answered here in the FIFO's order; the last one goes
//! to gdb when the last goodbye is forwarded, else gdb is kept for the next
//! client, without the leaver's breakpoints and with the debuggee running.

use super::GdbMi;
use super::client::answer;
use super::inflight::Effect;
use crate::framing::Message;
use crate::protocol::gdb_mi::Goodbye;
use crate::session::{ClientId, Outbox, To};

impl GdbMi {
    pub(super) fn goodbye(
        &mut self,
        client: ClientId,
        m: Message,
        token: &[u8],
        kind: Goodbye,
        out: &mut Outbox,
    ) {
        let others = self.clients.others_remain(client);
        if !others && self.forwards_last_goodbye {
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
        if self.run.stopped.is_some() {
            self.ask("-exec-continue --all\n".into(), None, out);
        }
    }
}
