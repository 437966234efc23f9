//! Whose socket is at the other end: for TCP, by `sock_diag` when the
//! kernel answers it (`diag.rs`), else from `/proc/net/tcp{,6}`
//! (`proc_net.rs`); for Unix sockets, `SO_PEERCRED`.

use std::os::fd::RawFd;

use super::diag::{Answer, Diag};
use super::{Owner, Query, proc_net};

/// Finds the owners of TCP peers: by `sock_diag` when the kernel answers it
/// (probed once at start-up), else from `/proc/net/tcp{,6}`, read once per
/// batch. `DBGPROXY_PEER_LOOKUP=proc` forces the fallback (for comparison).
pub struct Lookup {
    diag: Option<Diag>,
    text: String,
}

impl Lookup {
    pub fn new() -> Lookup {
        let forced_proc = std::env::var("DBGPROXY_PEER_LOOKUP").is_ok_and(|v| v == "proc");
        let diag = if forced_proc {
            None
        } else {
            match probe() {
                Ok(diag) => Some(diag),
                Err(why) => {
                    log::info!(
                        "sock_diag unavailable ({why}): identifying local clients from /proc/net/tcp"
                    );
                    None
                }
            }
        };
        Lookup {
            diag,
            text: String::new(),
        }
    }

    pub fn method(&self) -> &'static str {
        if self.diag.is_some() {
            "sock_diag"
        } else {
            "/proc/net/tcp"
        }
    }

    /// The owner of each query's peer socket, in order.
    pub fn owners(&mut self, queries: &[Query]) -> Vec<Owner> {
        let mut found: Vec<Option<Owner>> = vec![None; queries.len()];
        if let Some(diag) = self.diag.as_mut() {
            for (slot, answer) in found.iter_mut().zip(diag.ask(queries)) {
                *slot = match answer {
                    Answer::Found(owner) => Some(owner),
                    Answer::NotFound => Some(Owner::Remote),
                    Answer::Failed => None,
                };
            }
        }
        if found.iter().any(Option::is_none) {
            self.scan_proc(queries, &mut found);
        }
        queries
            .iter()
            .zip(found)
            .map(|(q, owner)| match owner {
                // A loopback peer is on this host whatever the tables say:
                // not finding it means it is gone, never that it is remote.
                Some(Owner::Remote) | None if q.peer.ip().is_loopback() => Owner::Gone,
                Some(owner) => owner,
                None => Owner::Remote,
            })
            .collect()
    }

    fn scan_proc(&mut self, queries: &[Query], found: &mut [Option<Owner>]) {
        // A v4 peer's socket may be AF_INET (tcp) or v4-mapped AF_INET6 (tcp6).
        let v4 = queries.iter().any(|q| q.peer.is_ipv4());
        for (file, wanted) in [("/proc/net/tcp", v4), ("/proc/net/tcp6", true)] {
            if !wanted || found.iter().all(Option::is_some) {
                continue;
            }
            self.text.clear();
            let read = std::fs::File::open(file)
                .and_then(|mut f| std::io::Read::read_to_string(&mut f, &mut self.text));
            match read {
                Ok(_) => proc_net::scan(&self.text, queries, found, proc_net::LITTLE_ENDIAN),
                Err(e) => log::debug!("{file}: {e}"),
            }
        }
        // Do not keep a large table's text between bursts.
        if self.text.capacity() > 1 << 20 {
            self.text = String::new();
        }
    }
}

impl Default for Lookup {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks that the kernel answers `sock_diag` for a connection of our own.
fn probe() -> Result<Diag, String> {
    let mut diag = Diag::open().map_err(|e| e.to_string())?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let ours = listener.local_addr().map_err(|e| e.to_string())?;
    let client = std::net::TcpStream::connect(ours).map_err(|e| e.to_string())?;
    let peer = client.local_addr().map_err(|e| e.to_string())?;
    match diag.ask(&[Query::new(ours, peer)])[..] {
        [Answer::Found(Owner::Uid(uid))] if uid == own_uid() => Ok(diag),
        [answer] => Err(format!("a test connection came back as {answer:?}")),
        _ => Err("no answer".into()),
    }
}

/// The uid the proxy's sockets belong to.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The uid and pid of the process that connected a Unix socket.
pub fn unix_peer(fd: RawFd) -> std::io::Result<(u32, i32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is
    // a valid, properly sized ucred.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((cred.uid, cred.pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_finds_our_own_connections_both_ways() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let q = Query::new(listener.local_addr().unwrap(), client.local_addr().unwrap());
        let gone = Query::new(q.ours, "127.0.0.1:1".parse().unwrap());
        let remote = Query::new(q.ours, "192.0.2.1:1".parse().unwrap());
        let mut lookup = Lookup::new();
        assert_eq!(
            lookup.owners(&[q, gone, remote]),
            [Owner::Uid(own_uid()), Owner::Gone, Owner::Remote],
            "{}",
            lookup.method()
        );
        let mut proc_only = Lookup {
            diag: None,
            text: String::new(),
        };
        assert_eq!(
            proc_only.owners(&[q, gone]),
            [Owner::Uid(own_uid()), Owner::Gone]
        );
    }
}
