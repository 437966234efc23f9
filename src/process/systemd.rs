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

/// A listening socket systemd passed, with its `FileDescriptorName`.
pub struct Passed {
    fd: OwnedFd,
    name: Option<String>,
    unix: bool,
}

/// A passed listener, by kind.
pub enum PassedListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Listening sockets passed by systemd (`LISTEN_PID`, `LISTEN_FDS`,
/// `LISTEN_FDNAMES`), in order, with their names and kinds.
pub fn listen_fds() -> Vec<Passed> {
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
            let fd = unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                OwnedFd::from_raw_fd(fd)
            };
            let unix = socket2::SockRef::from(&fd)
                .local_addr()
                .is_ok_and(|a| a.family() == libc::AF_UNIX as libc::sa_family_t);
            Passed {
                fd,
                unix,
                name: names
                    .get(i)
                    .cloned()
                    .filter(|n| !n.is_empty() && n != "unknown"),
            }
        })
        .collect()
}

/// Takes the passed client listeners: every socket named `clients` or
/// `clients-…` (`clients-unix` in the units), else the first unnamed one.
pub fn take_clients(passed: &mut Vec<Passed>) -> Vec<PassedListener> {
    let is_clients = |p: &Passed| {
        p.name
            .as_deref()
            .is_some_and(|n| n == "clients" || n.starts_with("clients-"))
    };
    let mut taken = Vec::new();
    if passed.iter().any(is_clients) {
        let (mine, rest): (Vec<Passed>, Vec<Passed>) = passed.drain(..).partition(is_clients);
        *passed = rest;
        taken = mine;
    } else if let Some(i) = passed.iter().position(|p| p.name.is_none()) {
        taken.push(passed.remove(i));
    }
    taken
        .into_iter()
        .map(|p| {
            if p.unix {
                PassedListener::Unix(p.fd.into())
            } else {
                PassedListener::Tcp(p.fd.into())
            }
        })
        .collect()
}

/// Takes the passed debugger listener (`--backend listen`): by the name
/// `debugger`, else the next unnamed TCP socket.
pub fn take_debugger(passed: &mut Vec<Passed>) -> Option<TcpListener> {
    let i = passed
        .iter()
        .position(|p| p.name.as_deref() == Some("debugger"))
        .or_else(|| passed.iter().position(|p| p.name.is_none() && !p.unix))?;
    Some(passed.remove(i).fd.into())
}
