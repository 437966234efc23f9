//! attach's stdin and stdout, as the event loop sees them.
//!
//! A pipe, a socket or a terminal is made non-blocking and polled (its
//! original flags are put back when `attach` ends: a terminal's file
//! description is shared with the shell). A regular file or `/dev/null`
//! cannot be polled (epoll refuses it) and never blocks: it is read or
//! written whenever the loop wants to, as if always ready. A closed
//! descriptor reads as end of input and takes no output.

use std::io::{self, IoSlice, Write};
use std::os::fd::RawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub const STDIN: RawFd = libc::STDIN_FILENO;
pub const STDOUT: RawFd = libc::STDOUT_FILENO;

/// One end of the IDE's side.
pub struct End {
    fd: RawFd,
    /// Open at all.
    pub open: bool,
    /// The flags to restore, when they were changed.
    saved: Option<libc::c_int>,
}

impl End {
    /// Registers `fd` for `interest` if it can be polled. The flags of both
    /// ends must be read before either is changed (`save_flags`), since
    /// stdin and stdout may share one file description (a terminal).
    pub fn new(
        fd: RawFd,
        flags: Option<libc::c_int>,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<End> {
        let Some(flags) = flags else {
            return Ok(End {
                fd,
                open: false,
                saved: None,
            });
        };
        match registry.register(&mut SourceFd(&fd), token, interest) {
            Ok(()) => {}
            // A regular file or /dev/null: never blocks, cannot be polled.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                log::debug!("fd {fd} cannot be polled: read and written as always ready");
                return Ok(End {
                    fd,
                    open: true,
                    saved: None,
                });
            }
            Err(e) => return Err(e),
        }
        let mut end = End {
            fd,
            open: true,
            saved: None,
        };
        if flags & libc::O_NONBLOCK == 0 {
            // SAFETY: fcntl on a descriptor we hold; no memory involved.
            if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
                return Err(io::Error::last_os_error());
            }
            end.saved = Some(flags);
        }
        Ok(end)
    }

    /// Reads what is there; `Ok(0)` is end of input.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.open {
            return Ok(0);
        }
        loop {
            // SAFETY: `buf` is valid for `buf.len()` bytes.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.open {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let count = bufs.len().min(libc::UIO_MAXIOV as usize) as libc::c_int;
        // SAFETY: IoSlice is ABI-compatible with iovec; `count` slices are valid.
        let n = unsafe { libc::writev(self.fd, bufs.as_ptr().cast(), count) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for End {
    fn drop(&mut self) {
        if let Some(flags) = self.saved {
            // SAFETY: fcntl on a descriptor we hold; no memory involved.
            unsafe { libc::fcntl(self.fd, libc::F_SETFL, flags) };
        }
    }
}

/// The current flags of `fd`, `None` when it is not open.
pub fn flags(fd: RawFd) -> Option<libc::c_int> {
    // SAFETY: fcntl F_GETFL on any number is harmless.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    (flags >= 0).then_some(flags)
}
