//! One vocabulary for what a read or write on a non-blocking stream came to
//! (sozu's `SocketResult`): every socket and pipe the loop moves bytes
//! through — a client's `net::Stream`, the debugger's `backends::Link`, the
//! queues flushed into them — says it the same way, and `WouldBlock` and
//! `Interrupted` are handled here once, not at every read and write.

use std::io::{self, IoSlice, Read, Write};

/// What one read or write on a non-blocking stream (a socket or a pipe) came
/// to, alongside the bytes it moved.
#[derive(Debug)]
pub enum SocketResult {
    /// Bytes moved, and there may be more to move: read again, or (after a
    /// flush) everything queued was written.
    Continue,
    /// The kernel has nothing more (or no more room) now: wait for the next
    /// readiness event.
    WouldBlock,
    /// The peer closed its sending side: a read returned 0.
    Closed,
    /// The stream failed; it is unusable from here on.
    Error(io::Error),
}

impl SocketResult {
    pub fn is_continue(&self) -> bool {
        matches!(self, SocketResult::Continue)
    }
}

/// For a log line: an error as itself.
impl std::fmt::Display for SocketResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketResult::Continue => f.write_str("more to come"),
            SocketResult::WouldBlock => f.write_str("would block"),
            SocketResult::Closed => f.write_str("closed by the other end"),
            SocketResult::Error(e) => write!(f, "{e}"),
        }
    }
}

/// A flush's outcome once interest has followed it: `want_write(true)` while
/// the sink would block, `want_write(false)` once all is written; a failure
/// to change interest fails the flush.
pub fn follow_flush(
    (n, result): (usize, SocketResult),
    want_write: impl FnOnce(bool) -> io::Result<()>,
) -> (usize, SocketResult) {
    let blocked = match result {
        SocketResult::Continue => false,
        SocketResult::WouldBlock => true,
        SocketResult::Closed | SocketResult::Error(_) => return (n, result),
    };
    match want_write(blocked) {
        Ok(()) => (n, result),
        Err(e) => (n, SocketResult::Error(e)),
    }
}

/// Reads once into `buf`, retrying `Interrupted`.
pub fn read_once(source: &mut impl Read, buf: &mut [u8]) -> (usize, SocketResult) {
    loop {
        return match source.read(buf) {
            Ok(0) => (0, SocketResult::Closed),
            Ok(n) => (n, SocketResult::Continue),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => (0, classify(e)),
        };
    }
}

/// Writes `bufs` once (one `writev`), retrying `Interrupted`. A write never
/// says `Closed`: a peer that is gone fails it (`EPIPE`), and a write that
/// takes nothing of a non-empty buffer is an error (`WriteZero`).
pub fn write_once(sink: &mut impl Write, bufs: &[IoSlice<'_>]) -> (usize, SocketResult) {
    loop {
        return match sink.write_vectored(bufs) {
            Ok(0) if bufs.iter().any(|b| !b.is_empty()) => {
                (0, SocketResult::Error(io::ErrorKind::WriteZero.into()))
            }
            Ok(n) => (n, SocketResult::Continue),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => (0, classify(e)),
        };
    }
}

fn classify(e: io::Error) -> SocketResult {
    if e.kind() == io::ErrorKind::WouldBlock {
        SocketResult::WouldBlock
    } else {
        SocketResult::Error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays one scripted result per call.
    struct Script(Vec<io::Result<usize>>);

    impl Read for Script {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            self.0.remove(0)
        }
    }

    impl Write for Script {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            self.0.remove(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn err(kind: io::ErrorKind) -> io::Result<usize> {
        Err(kind.into())
    }

    #[test]
    fn a_read_says_what_it_came_to_and_retries_interrupted() {
        use io::ErrorKind::*;
        let mut s = Script(vec![
            err(Interrupted),
            Ok(5),
            err(WouldBlock),
            Ok(0),
            err(ConnectionReset),
        ]);
        let buf = &mut [0u8; 8];
        assert!(matches!(
            read_once(&mut s, buf),
            (5, SocketResult::Continue)
        ));
        assert!(matches!(
            read_once(&mut s, buf),
            (0, SocketResult::WouldBlock)
        ));
        assert!(matches!(read_once(&mut s, buf), (0, SocketResult::Closed)));
        let (_, failed) = read_once(&mut s, buf);
        assert!(matches!(failed, SocketResult::Error(e) if e.kind() == ConnectionReset));
    }

    #[test]
    fn a_write_of_nothing_is_an_error_not_an_end() {
        use io::ErrorKind::*;
        let mut s = Script(vec![err(Interrupted), Ok(3), err(WouldBlock), Ok(0)]);
        let data = [IoSlice::new(b"abc")];
        assert!(matches!(
            write_once(&mut s, &data),
            (3, SocketResult::Continue)
        ));
        assert!(matches!(
            write_once(&mut s, &data),
            (0, SocketResult::WouldBlock)
        ));
        let (_, zero) = write_once(&mut s, &data);
        assert!(matches!(zero, SocketResult::Error(e) if e.kind() == WriteZero));
    }
}
