//! DBGp proxy mode, sans-I/O (issue #21, shared/DBGP-PROXY.md): PHP IDEs
//! register `idekey → their port` on a registration port with `proxyinit`
//! and leave with `proxystop`; each engine's `<init>` names the idekey of
//! the IDE the proxy dials for it.
//!
//! - `command`: one registration connection's command, however the IDE
//!   ends it (NUL, EOF, half-close, idle pause), with the bounds on it;
//! - `reply`: the answers, as the IDEs can read them;
//! - `registry`: who registered which key, and where an engine goes;
//! - `engine`: the idekey in `<init>`, `proxied`, `detach`;
//! - `router`: which row each engine goes to, which wait, which are let go.
//!
//! [`answer`] joins the first three: what the loop does with a command
//! read on the registration port. The loop itself owns the sockets, the
//! timers, the engines held while their IDE may still register, and the
//! connect-back.

pub mod command;
pub mod engine;
pub mod registry;
pub mod reply;
pub mod router;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use command::{Bad, Read, Request, Verb};
use registry::{Age, Owner, Refusal, Registered, Registry};
use reply::ErrorId;

/// What to send back on a registration connection (then close it at once:
/// php-debug parses the reply only on close), and the one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `None`: close without a word (nothing was asked).
    pub reply: Option<Vec<u8>>,
    pub level: log::Level,
    pub note: String,
}

/// Serves one registration connection's command from `peer` (its address:
/// a registration names the registering peer only), owned by `owner`.
pub fn answer(read: Read, peer: IpAddr, owner: Owner, reg: &mut Registry, now: Instant) -> Answer {
    match read {
        Ok(Request::Init { port, key, multi }) => {
            let ide = SocketAddr::new(peer, port);
            match reg.register(&key, owner, ide, multi, now) {
                Ok(done) => {
                    let how = match done {
                        Registered::New => String::new(),
                        Registered::Replaced(old) => format!(
                            ", replacing {} (registered {} ago)",
                            old.ide,
                            Age(now.saturating_duration_since(old.since))
                        ),
                    };
                    let multi = if multi { ", multi" } else { "" };
                    Answer {
                        reply: Some(reply::init_ok(&key, peer, port)),
                        level: log::Level::Info,
                        note: format!("proxyinit: idekey '{key}' -> {ide} ({owner}{multi}){how}"),
                    }
                }
                Err(refusal) => refused(Verb::Init, &key, peer, &refusal),
            }
        }
        Ok(Request::Stop { key }) => match reg.unregister(&key, owner, now) {
            Ok(gone) => Answer {
                reply: Some(reply::stop_ok(&key)),
                level: log::Level::Info,
                note: format!("proxystop: idekey '{key}' ({}) unregistered", gone.ide),
            },
            Err(refusal) => refused(Verb::Stop, &key, peer, &refusal),
        },
        Err(Bad::Nothing) => Answer {
            reply: None,
            level: log::Level::Debug,
            note: format!("registration port: {peer} closed without a command"),
        },
        Err(bad) => {
            let id = match bad {
                Bad::Garbage(_) | Bad::TooLong { .. } => ErrorId::Parse,
                Bad::Unknown(_) => ErrorId::Unknown,
                Bad::Silent { .. } => ErrorId::Timeout,
                _ => ErrorId::Options,
            };
            let root = bad.verb().map_or("proxyerror", Verb::name);
            let message = bad.to_string();
            Answer {
                reply: Some(reply::error(root, bad.key(), id, &message)),
                level: match bad {
                    Bad::Silent { .. } => log::Level::Info,
                    _ => log::Level::Warn,
                },
                note: format!("registration port: {peer}: {message}"),
            }
        }
    }
}

fn refused(verb: Verb, key: &str, peer: IpAddr, refusal: &Refusal) -> Answer {
    let id = match refusal {
        Refusal::Taken { .. } => ErrorId::Taken,
        Refusal::Full { .. } => ErrorId::Full,
        Refusal::NotRegistered { .. } => ErrorId::NotRegistered,
    };
    let message = refusal.to_string();
    Answer {
        reply: Some(reply::error(verb.name(), Some(key), id, &message)),
        level: log::Level::Warn,
        note: format!("{} from {peer} refused: {message}", verb.name()),
    }
}
