//! The connection to the proxy, and getting it back when it drops:
//! non-blocking connects, retried with a bounded exponential backoff until
//! `--reconnect-timeout` has passed since the proxy went away.

use std::io;
use std::time::{Duration, Instant};

use mio::{Interest, Registry};

use super::stream::{Stream, Target};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A new connection counts as the proxy being back once the proxy has sent
/// something or it has stayed up this long; one that closes sooner (a
/// stopping proxy's listener, still bound while it drains) was one more
/// failed attempt.
pub const SETTLE: Duration = Duration::from_secs(1);

pub enum Link {
    Up(Conn),
    Connecting { stream: Stream, since: Instant },
    Away { next_try: Instant },
}

pub struct Conn {
    pub stream: Stream,
    pub readable: bool,
    pub writable: bool,
    pub since: Instant,
    /// Said "back" (or was the first connection).
    pub settled: bool,
    /// Something came from the proxy on it.
    pub heard: bool,
    /// Our side is shut down for writing (stdin ended).
    pub write_shut: bool,
}

impl Conn {
    pub fn new(stream: Stream, now: Instant, settled: bool) -> Conn {
        stream.set_nodelay();
        Conn {
            stream,
            readable: true,
            writable: true,
            since: now,
            settled,
            heard: false,
            write_shut: false,
        }
    }
}

/// Why and since when the proxy is away.
pub struct Away {
    pub since: Instant,
    pub why: String,
    backoff: Duration,
    /// Not there yet (`--no-start`), rather than gone.
    pub first: bool,
}

impl Away {
    pub fn new(now: Instant, why: String) -> Away {
        Away {
            since: now,
            why,
            backoff: FIRST_BACKOFF,
            first: false,
        }
    }

    /// Waiting for a proxy someone else starts.
    pub fn waiting(now: Instant) -> Away {
        Away {
            first: true,
            ..Away::new(now, "nothing listens yet".into())
        }
    }

    /// The first try after a drop.
    pub fn first_try(&self) -> Instant {
        self.since + self.backoff
    }

    /// A try failed: when the next one is.
    pub fn failed(&mut self, now: Instant, why: String) -> Instant {
        self.why = why;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        now + self.backoff
    }
}

/// Starts connecting to `target`.
pub fn connect(target: &Target, registry: &Registry, now: Instant) -> io::Result<Link> {
    let mut stream = target.connect()?;
    registry.register(
        &mut stream,
        crate::tokens::attach::PROXY,
        Interest::READABLE | Interest::WRITABLE,
    )?;
    Ok(Link::Connecting { stream, since: now })
}

/// Whether a connect in progress is done: `Ok(true)` connected, `Ok(false)`
/// not yet, `Err` failed.
pub fn connected(stream: &Stream, since: Instant, now: Instant) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.is_connected() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected && now < since + CONNECT_TIMEOUT => {
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
        }
        Err(e) => Err(e),
    }
}

/// When a connect in progress times out.
pub fn connect_deadline(since: Instant) -> Instant {
    since + CONNECT_TIMEOUT
}

/// "connection refused", without the "(os error 111)".
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let t = Instant::now();
        let mut away = Away::new(t, "x".into());
        assert_eq!(away.first_try(), t + FIRST_BACKOFF);
        let waits: Vec<Duration> = (0..7).map(|_| away.failed(t, "y".into()) - t).collect();
        assert_eq!(waits[0], Duration::from_millis(200));
        assert_eq!(waits[3], Duration::from_millis(1600));
        assert_eq!(waits[6], MAX_BACKOFF);
    }

    #[test]
    fn errors_read_as_words() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(describe(&e), "connection refused");
    }
}
