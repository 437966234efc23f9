//! Socket set-up shared by the client side and the backends: listeners built with
//! socket2, and the options every interactive socket gets.

pub mod queue;
pub mod result;

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use mio::net::{TcpListener, TcpStream, UnixListener};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

/// Pending connections the kernel holds for us; an IDE reconnecting many
/// windows at once must not see refusals.
const LISTEN_BACKLOG: i32 = 1024;

/// Binds a non-blocking listener. `role` names it in the error ("clients",
/// "the debugger") so a port clash says which of the proxy's ports it was.
pub fn listen(addr: SocketAddr, role: &str, hint: &str) -> Result<TcpListener> {
    bind(addr).map_err(|e| {
        let what = match e.kind() {
            io::ErrorKind::AddrInUse => format!("address already in use ({hint})"),
            io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_string()
            }
            io::ErrorKind::AddrNotAvailable => {
                "address not available (is it an address of this machine?)".to_string()
            }
            _ => e.to_string(),
        };
        anyhow!("cannot listen on {addr} for {role}: {what}")
    })
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR lets a restarted proxy bind while old connections sit in
    // TIME_WAIT. Never SO_REUSEPORT: a second instance must fail, not share.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// A socket file this process created, removed when it is done with it —
/// unless something else has replaced it meanwhile.
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    pub fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours && let Err(e) = std::fs::remove_file(&self.path) {
            log::warn!("cannot remove {}: {e}", self.path.display());
        }
    }
}

/// Binds a Unix socket for clients at `path`, mode 0600 from the start; a
/// missing directory is created 0700. A stale socket (nothing accepts on it)
/// is replaced; a live one, or a file that is not a socket, is an error.
pub fn listen_unix(path: &Path) -> Result<(UnixListener, SocketFile)> {
    let shown = path.display();
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {} for the client socket", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!("cannot listen on unix:{shown} for clients: another process serves it");
            }
            log::info!("replacing stale socket {shown}");
            std::fs::remove_file(path).with_context(|| format!("removing stale socket {shown}"))?;
        }
        Ok(_) => bail!("cannot listen on unix:{shown} for clients: it exists and is not a socket"),
        Err(_) => {}
    }
    // The mode is set at creation, not after: between bind and chmod another
    // user could connect. umask is process-wide, but nothing else runs yet.
    // SAFETY: umask only swaps the process's file-creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(|e| anyhow!("cannot listen on unix:{shown} for clients: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {shown}"))?;
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("reading {shown}"))?;
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        },
    ))
}

/// Options for every connected socket, either side: no Nagle (a proxy with it
/// adds ~40 ms to every multi-segment message) and keepalive, so a client whose
/// machine vanished is noticed in a long-lived session.
pub fn tune(stream: &TcpStream) {
    let sock = SockRef::from(stream);
    if let Err(e) = sock.set_tcp_nodelay(true) {
        log::debug!("TCP_NODELAY: {e}");
    }
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    if let Err(e) = sock.set_tcp_keepalive(&keepalive) {
        log::debug!("SO_KEEPALIVE: {e}");
    }
}

/// Starts a non-blocking connect; completion is signalled by WRITABLE.
pub fn connect(addr: SocketAddr) -> Result<TcpStream> {
    TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))
}

/// Whether a non-blocking connect has finished, per mio's recipe: no pending
/// socket error, and a peer address. `Ok(false)` means still in progress.
pub fn connect_finished(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// Accept errors that mean the process or system is out of descriptors or
/// buffers: these pause accepting instead of spinning on a listener that stays
/// readable (actix-server's rule), and never end the proxy.
pub fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accept errors that concern only the one connection being accepted (it
/// was aborted or reset while queued, or a signal interrupted the call):
/// move on to the next.
pub fn accept_error_is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection of the loop's, TCP or Unix: clients' (`proxy/clients/client.rs`) and
/// `attach`'s to its proxy. Bytes move through it the same way whichever
/// kind it is.
pub enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl Stream {
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    pub fn set_nodelay(&self) {
        if let Stream::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// Whether a non-blocking connect has completed (`NotConnected`: not yet).
    pub fn is_connected(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(drop),
            Stream::Unix(s) => s.peer_addr().map(drop),
        }
    }
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    // One writev per flush of a client's queue, whichever the socket.
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Stream {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}
