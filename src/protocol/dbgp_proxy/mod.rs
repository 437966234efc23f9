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

use crate::access::token::Secret;
use command::{Bad, Read, Request, Verb};
use registry::{Age, Owner, Refusal, Registered, Registry};
use reply::ErrorId;

/// Who the registering peer is, by the access rules (as for clients).
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    /// Let in as is: its registrations are this owner's.
    Owner(Owner),
    /// Not a uid the rules let in, and there is a token: it may register
    /// only by passing it as `-t TOKEN` (stock IDEs cannot send the client
    /// port's `dbgproxy-token` line, but most let the user put words after
    /// the key), and then owns its registrations as `Owner::Token`.
    NeedsToken(&'a Secret),
    /// Refused, and why (names what would let it in).
    Refused(&'a str),
}

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
/// a registration names the registering peer only), who is `who`.
pub fn answer(read: Read, peer: IpAddr, who: Peer, reg: &mut Registry, now: Instant) -> Answer {
    let owner = match (&read, who) {
        (_, Peer::Owner(owner)) => owner,
        // A command that is not one touches no registration: answered alike.
        (Err(_), _) => Owner::Token,
        (Ok(request), Peer::NeedsToken(secret)) => match request.token() {
            Some(presented) if secret.matches(&presented.0) => Owner::Token,
            presented => {
                let why = match presented {
                    Some(_) => "wrong token (-t)",
                    None => "this peer is not a local user the proxy lets in",
                };
                let message = format!(
                    "access refused: {why}; pass the proxy's token as `-t TOKEN` \
                     (e.g. as the idekey \"KEY -t TOKEN\"), or register through an SSH tunnel"
                );
                return denied(request, peer, &message, why, reg);
            }
        },
        (Ok(request), Peer::Refused(why)) => {
            let message = format!("access refused: {why}");
            return denied(request, peer, &message, why, reg);
        }
    };
    match read {
        Ok(Request::Init {
            port, key, multi, ..
        }) => {
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
        Ok(Request::Stop { key, .. }) => match reg.unregister(&key, owner, now) {
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

/// The access rules (or the token) refuse the peer: nothing registered.
fn denied(request: &Request, peer: IpAddr, message: &str, why: &str, reg: &mut Registry) -> Answer {
    reg.count_denied();
    let verb = request.verb().name();
    Answer {
        reply: Some(reply::error(
            verb,
            Some(request.key()),
            ErrorId::Denied,
            message,
        )),
        level: log::Level::Warn,
        note: format!("{verb} from {peer} refused: {why}"),
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
