//! Running under systemd: readiness notification (`Type=notify`) and socket
//! activation, both from the environment systemd sets, without libsystemd.
//!
//! Both take their variables out of the environment once read, as
//! `sd_notify`/`sd_listen_fds` do with `unset_environment`, so that a spawned
//! debugger does not inherit them and talk to systemd as if it were us.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;

/// Sends state to systemd's notification socket, if there is one.
pub struct Notifier {
    socket: UnixDatagram,
    addr: std::os::unix::net::SocketAddr,
}

impl Notifier {
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        // SAFETY: single-threaded at start-up; nothing else reads the
        // environment concurrently.
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let bytes = path.as_encoded_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
            }
            None => std::os::unix::net::SocketAddr::from_pathname(&path),
        };
        let notifier = (|| {
            let socket = UnixDatagram::unbound()?;
            // Never block the event loop on systemd: a full queue drops a line.
            socket.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(Notifier {
                socket,
                addr: addr?,
            })
        })();
        match notifier {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!("NOTIFY_SOCKET is set but unusable: {e}");
                None
            }
        }
    }

    /// Sends `KEY=value` lines (e.g. `READY=1`, `STATUS=…`, `STOPPING=1`).
    pub fn send(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.addr) {
            log::debug!("systemd notification {state:?}: {e}");
        }
    }
}

/// Listening sockets passed by systemd (`LISTEN_PID`, `LISTEN_FDS`,
/// `LISTEN_FDNAMES`), in order, with their names.
pub fn listen_fds() -> Vec<(TcpListener, Option<String>)> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count: usize = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(String::from).collect())
        .unwrap_or_default();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: single-threaded at start-up (see above).
        unsafe { std::env::remove_var(var) };
    }
    if !ours {
        return Vec::new();
    }
    (0..count)
        .map(|i| {
            let fd = 3 + i as i32;
            // SAFETY: systemd passed us descriptors 3.. LISTEN_FDS and they
            // are ours alone; set close-on-exec so a debugger does not get them.
            let owned = unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                OwnedFd::from_raw_fd(fd)
            };
            (
                TcpListener::from(owned),
                names
                    .get(i)
                    .cloned()
                    .filter(|n| !n.is_empty() && n != "unknown"),
            )
        })
        .collect()
}

/// Picks the passed listener for `role` ("clients" or "debugger"): by name,
/// else by position (clients first).
pub fn take(listeners: &mut Vec<(TcpListener, Option<String>)>, role: &str) -> Option<TcpListener> {
    if let Some(i) = listeners
        .iter()
        .position(|(_, n)| n.as_deref() == Some(role))
    {
        return Some(listeners.remove(i).0);
    }
    let i = listeners.iter().position(|(_, n)| n.is_none())?;
    Some(listeners.remove(i).0)
}
