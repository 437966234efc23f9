//! What `attach` knows of each protocol: for DAP, the rejoin (`dap.rs`);
//! for the others, only which IDE message is a goodbye, so that the proxy
//! closing the connection right after one ends `attach` instead of making
//! it reconnect. Those protocols are carried as whole messages and joined
//! again as any new client joins (the proxy replays its greeting).

use std::time::{Duration, Instant};

use super::dap::Rejoin;
use super::out::Out;
use crate::framing::{Message, Protocol};
use crate::protocol;

/// A goodbye followed by the proxy closing the connection within this long
/// is the end, not a drop. (DBGp's `stop` ends a PHP request, not the
/// connection: a close much later is a drop.)
const GOODBYE_GRACE: Duration = Duration::from_secs(5);

pub struct Dialect {
    protocol: Protocol,
    dap: Option<Rejoin>,
    goodbye_at: Option<Instant>,
}

impl Dialect {
    pub fn new(protocol: Protocol) -> Dialect {
        Dialect {
            protocol,
            dap: (protocol == Protocol::Dap).then(Rejoin::default),
            goodbye_at: None,
        }
    }

    /// Whether the IDE's messages may go to the proxy now.
    pub fn ready(&self) -> bool {
        self.dap.as_ref().is_none_or(Rejoin::ready)
    }

    /// An IDE message is queued for the proxy.
    pub fn sending(&mut self, message: &Message, now: Instant) {
        let goodbye = match &mut self.dap {
            Some(dap) => {
                dap.sending(message);
                dap.said_goodbye()
            }
            None => is_goodbye(self.protocol, &message.one_chunk()),
        };
        self.goodbye_at = goodbye.then_some(now);
    }

    /// An IDE message queued for the proxy did not reach it.
    pub fn unsent(&mut self, message: &Message) {
        if let Some(dap) = &mut self.dap {
            dap.unsent(message);
        }
    }

    /// Whether the proxy closing the connection now is the end the IDE asked for.
    pub fn closing_after_goodbye(&self, now: Instant) -> bool {
        self.goodbye_at
            .is_some_and(|at| now.duration_since(at) < GOODBYE_GRACE)
    }

    pub fn lost(&mut self, out: &mut Out) {
        if let Some(dap) = &mut self.dap {
            dap.lost(out);
        }
    }

    pub fn connected(&mut self, now: Instant, out: &mut Out) {
        if let Some(dap) = &mut self.dap {
            dap.connected(now, out);
        }
    }

    pub fn proxy_message(&mut self, message: Message, out: &mut Out) {
        match &mut self.dap {
            Some(dap) => dap.proxy_message(message, out),
            None => out.to_ide.push(message),
        }
    }

    /// A message from the IDE while the proxy is away: whether it was a
    /// goodbye answered here (attach then ends).
    pub fn goodbye_while_away(&mut self, message: &Message, out: &mut Out) -> bool {
        self.dap
            .as_mut()
            .is_some_and(|dap| dap.goodbye_while_away(message, out))
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.dap.as_ref().and_then(Rejoin::deadline)
    }

    pub fn on_timer(&mut self, now: Instant, out: &mut Out) {
        if let Some(dap) = &mut self.dap {
            dap.on_timer(now, out);
        }
    }
}

/// Whether an IDE message says goodbye to the session (the proxy answers
/// it and closes the connection).
fn is_goodbye(protocol: Protocol, message: &[u8]) -> bool {
    match protocol {
        Protocol::GdbMi => protocol::gdb_mi::says_goodbye(message),
        Protocol::Dbgp => protocol::dbgp::says_goodbye(message),
        Protocol::V8 => protocol::v8::says_goodbye(message),
        // DAP's goodbye is read by its rejoin (`dap.rs`).
        Protocol::Dap | Protocol::Raw | Protocol::Cdp => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodbyes_per_protocol() {
        assert!(is_goodbye(Protocol::GdbMi, b"-gdb-exit\n"));
        assert!(is_goodbye(Protocol::GdbMi, b"12-gdb-exit\r\n"));
        assert!(is_goodbye(Protocol::GdbMi, b"quit\n"));
        assert!(is_goodbye(Protocol::GdbMi, b"-target-detach\n"));
        assert!(!is_goodbye(Protocol::GdbMi, b"-target-detach 1234\n"));
        assert!(!is_goodbye(Protocol::GdbMi, b"-exec-continue\n"));
        assert!(is_goodbye(Protocol::Dbgp, b"stop -i 7\0"));
        assert!(is_goodbye(Protocol::Dbgp, b"detach -i 8\0"));
        assert!(!is_goodbye(Protocol::Dbgp, b"step_into -i 9\0"));
        let body = br#"{"seq":3,"type":"request","command":"disconnect"}"#;
        let v8 = [
            format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
            body,
        ]
        .concat();
        assert!(is_goodbye(Protocol::V8, &v8));
        assert!(!is_goodbye(Protocol::Raw, b"quit\n"));
    }

    #[test]
    fn only_a_close_soon_after_a_goodbye_is_the_end() {
        let mut d = Dialect::new(Protocol::Dbgp);
        let t = Instant::now();
        d.sending(&Message::from_bytes(b"stop -i 1\0"), t);
        assert!(d.closing_after_goodbye(t + Duration::from_secs(1)));
        assert!(!d.closing_after_goodbye(t + Duration::from_secs(60)));
        d.sending(&Message::from_bytes(b"status -i 2\0"), t);
        assert!(!d.closing_after_goodbye(t));
    }
}
