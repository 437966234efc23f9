//! Where the proxy serves clients, and a connection to it: TCP, or a Unix
//! socket when the proxy listens only on one (`--listen unix:PATH`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::ListenAddr;

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Target {
    /// The first of the proxy's `--listen` addresses, loopback for one
    /// that is every interface.
    pub fn of(listen: &[ListenAddr]) -> Option<Target> {
        Some(match listen.first()? {
            ListenAddr::Tcp(addr) => Target::Tcp(match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
                IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
                _ => *addr,
            }),
            ListenAddr::Unix(path) => Target::Unix(path.clone()),
        })
    }

    /// Connects (at start-up); `Ok` is a blocking stream.
    pub fn connect_std(&self, timeout: Duration) -> io::Result<StdStream> {
        match self {
            Target::Tcp(addr) => {
                std::net::TcpStream::connect_timeout(addr, timeout).map(StdStream::Tcp)
            }
            Target::Unix(path) => {
                std::os::unix::net::UnixStream::connect(path).map(StdStream::Unix)
            }
        }
    }

    /// Starts a non-blocking connect (in the loop).
    pub fn connect(&self) -> io::Result<Stream> {
        match self {
            Target::Tcp(addr) => mio::net::TcpStream::connect(*addr).map(Stream::Tcp),
            Target::Unix(path) => mio::net::UnixStream::connect(path).map(Stream::Unix),
        }
    }

    /// Whether "nothing listens there" is what `e` says.
    pub fn nobody_there(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
        )
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "{addr}"),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A connection made before the loop starts.
pub enum StdStream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl StdStream {
    /// The same connection, non-blocking, for the loop.
    pub fn into_mio(self) -> io::Result<Stream> {
        Ok(match self {
            StdStream::Tcp(s) => {
                s.set_nonblocking(true)?;
                Stream::Tcp(mio::net::TcpStream::from_std(s))
            }
            StdStream::Unix(s) => {
                s.set_nonblocking(true)?;
                Stream::Unix(mio::net::UnixStream::from_std(s))
            }
        })
    }
}

pub use crate::net::Stream;
