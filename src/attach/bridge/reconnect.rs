//! The bridge's side of a drop: what was not written goes back to the
//! held input, the dialect answers what will never be answered, and the
//! link retries until the proxy is back or gone for good.

use std::time::Instant;

use super::Bridge;
use crate::attach::link::{self, Away, Conn, Link};
use crate::framing::{Assembler, Direction};

impl Bridge {
    /// Moves the link along: a retry due, a connect finished, a new
    /// connection settled, or the proxy gone for good.
    pub(super) fn tend_link(&mut self, now: Instant) -> bool {
        if !matches!(self.link, Link::Up(_))
            && self.ending.is_none()
            && let (Some(away), Some(timeout)) = (&self.away, self.reconnect_timeout)
            && now >= away.since + timeout
        {
            let what = format!(
                "the proxy on {} has been {} for {}s (last: {}); giving up",
                self.addr,
                if away.first { "missing" } else { "gone" },
                timeout.as_secs(),
                away.why
            );
            self.end(1, Some(what), now);
            return true;
        }
        match &mut self.link {
            Link::Away { next_try } if now >= *next_try && self.ending.is_none() => {
                match link::connect(&self.addr, self.poll.registry(), now) {
                    Ok(l) => self.link = l,
                    Err(e) => self.attempt_failed(link::describe(&e), now),
                }
                true
            }
            Link::Connecting { stream, since } => match link::connected(stream, *since, now) {
                Ok(false) => false,
                Ok(true) => {
                    let Link::Connecting { stream, .. } =
                        std::mem::replace(&mut self.link, Link::Away { next_try: now })
                    else {
                        unreachable!("matched Connecting above");
                    };
                    log::debug!("connected to {} again", self.addr);
                    self.link = Link::Up(Conn::new(stream, now, false));
                    self.on_connected(now);
                    true
                }
                Err(e) => {
                    let _ = self.poll.registry().deregister(stream);
                    self.attempt_failed(link::describe(&e), now);
                    true
                }
            },
            Link::Up(conn) if !conn.settled && now >= conn.since + link::SETTLE => {
                conn.settled = true;
                self.back(now);
                true
            }
            _ => false,
        }
    }

    /// The connection dropped (`why`). Always "moved".
    pub(super) fn lost(&mut self, why: String, now: Instant) -> bool {
        let old = std::mem::replace(&mut self.link, Link::Away { next_try: now });
        let settled = match old {
            Link::Up(mut conn) => {
                let _ = self.poll.registry().deregister(&mut conn.stream);
                conn.settled
            }
            _ => true,
        };
        log::debug!("the connection to {} dropped: {why}", self.addr);
        // What did not go out whole goes again, whole, to the next proxy;
        // attach's own messages are made anew for it.
        for (m, from_ide) in self.outgoing.take().into_iter().rev() {
            if from_ide {
                self.dialect.unsent(&m);
                self.held_bytes += m.len;
                self.held.push_front(m);
            }
        }
        self.proxy_frames =
            Assembler::new(self.protocol, Direction::FromDebugger, self.max_message);
        self.dialect.lost(&mut self.out);
        self.take_out();
        if self.dialect.closing_after_goodbye(now) || self.stdin_eof {
            self.end(0, None, now);
            return true;
        }
        if self.reconnect_timeout.is_none() {
            let what = format!(
                "lost the proxy on {} ({why}); not reconnecting (--reconnect-timeout 0)",
                self.addr
            );
            self.end(1, Some(what), now);
            return true;
        }
        let next_try = match (&mut self.away, settled) {
            // A connection that never settled was one more failed try.
            (Some(away), false) => away.failed(now, why),
            _ => {
                crate::process::logging::line(&format!(
                    "dbgproxy attach: proxy on {} away ({why}); retrying",
                    self.addr
                ));
                let away = Away::new(now, why);
                let first = away.first_try();
                self.away = Some(away);
                first
            }
        };
        self.link = Link::Away { next_try };
        true
    }

    /// The proxy answers again.
    pub(super) fn back(&mut self, now: Instant) {
        if let Some(away) = self.away.take() {
            crate::process::logging::line(&format!(
                "dbgproxy attach: proxy on {} {} after {:.1}s",
                self.addr,
                if away.first { "up" } else { "back" },
                now.duration_since(away.since).as_secs_f64()
            ));
        }
    }

    fn attempt_failed(&mut self, why: String, now: Instant) {
        let away = self.away.get_or_insert_with(|| Away::new(now, why.clone()));
        let next_try = away.failed(now, why);
        self.link = Link::Away { next_try };
    }
}
