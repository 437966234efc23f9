//! Who owns the other end of a local TCP connection, asked of the kernel
//! one socket at a time: `NETLINK_SOCK_DIAG` with an exact `inet_diag`
//! request (what `ss` uses). The kernel finds the socket by its addresses in
//! its connection hash, so an answer costs the same with ten sockets open or
//! a hundred thousand, unlike reading `/proc/net/tcp` (`proc_net.rs`).
//!
//! A burst of accepted connections is asked in one `send` (the kernel
//! answers every request before `send` returns) and one or two `recv`s.
//! The requests and replies are built and read field by field, in the
//! layouts of `linux/inet_diag.h` and `linux/netlink.h`.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use super::{Owner, Query};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const HEADER: usize = 16;
/// `inet_diag_req_v2`: family, protocol, ext, pad, states, `inet_diag_sockid`.
const REQUEST: usize = 56;
/// `inet_diag_msg` up to and including `idiag_inode`.
const REPLY: usize = 72;
/// Requests per `send`: their answers (88 bytes each) fit any receive buffer.
const BATCH: usize = 64;

/// What the kernel said about one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Found(Owner),
    /// No such socket in this network namespace.
    NotFound,
    /// No answer, or an error other than "no such socket".
    Failed,
}

pub struct Diag {
    socket: Socket,
    seq: u32,
    out: Vec<u8>,
    buf: Box<[u8]>,
}

impl Diag {
    pub fn open() -> io::Result<Diag> {
        let socket = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::DGRAM,
            Some(Protocol::from(NETLINK_SOCK_DIAG)),
        )?;
        // Answers are queued before `send` returns; never wait for more.
        socket.set_nonblocking(true)?;
        Ok(Diag {
            socket,
            seq: 0,
            out: Vec::with_capacity(BATCH * (HEADER + REQUEST)),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
        })
    }

    /// Answers every query, in order.
    pub fn ask(&mut self, queries: &[Query]) -> Vec<Answer> {
        let mut answers = vec![Answer::Failed; queries.len()];
        for (batch, answers) in queries.chunks(BATCH).zip(answers.chunks_mut(BATCH)) {
            if let Err(e) = self.ask_batch(batch, answers) {
                log::debug!("sock_diag: {e}");
            }
        }
        answers
    }

    fn ask_batch(&mut self, queries: &[Query], answers: &mut [Answer]) -> io::Result<()> {
        // Sequence numbers tie answers to queries, and make a late answer to
        // an earlier batch harmless.
        let first = self.seq.wrapping_add(1);
        self.out.clear();
        for (i, q) in queries.iter().enumerate() {
            request(&mut self.out, first.wrapping_add(i as u32), q);
        }
        self.seq = first.wrapping_add(queries.len() as u32);
        let sent = self.socket.send(&self.out)?;
        if sent != self.out.len() {
            return Err(io::Error::other("short send"));
        }
        let mut left = queries.len();
        while left > 0 {
            let n = match (&self.socket).read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::other(format!("{left} queries unanswered")));
                }
                Err(e) => return Err(e),
            };
            for (seq, answer) in replies(&self.buf[..n]) {
                let i = seq.wrapping_sub(first) as usize;
                if let Some(slot) = answers.get_mut(i)
                    && *slot == Answer::Failed
                {
                    *slot = answer;
                    left -= 1;
                }
            }
        }
        Ok(())
    }
}

/// Appends one exact request: the socket whose local end is `q.peer` and
/// whose remote end is `q.ours`, i.e. the peer's own socket.
fn request(out: &mut Vec<u8>, seq: u32, q: &Query) {
    let family = match (q.peer.ip(), q.ours.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => libc::AF_INET,
        _ => libc::AF_INET6,
    };
    out.extend_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    out.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
    out.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    out.extend_from_slice(&q.peer.port().to_be_bytes());
    out.extend_from_slice(&q.ours.port().to_be_bytes());
    out.extend_from_slice(&octets(q.peer, family));
    out.extend_from_slice(&octets(q.ours, family));
    let scope = match q.peer {
        SocketAddr::V6(a) => a.scope_id(),
        SocketAddr::V4(_) => 0,
    };
    out.extend_from_slice(&scope.to_ne_bytes());
    // INET_DIAG_NOCOOKIE: any socket with these addresses.
    out.extend_from_slice(&u32::MAX.to_ne_bytes());
    out.extend_from_slice(&u32::MAX.to_ne_bytes());
}

fn octets(addr: SocketAddr, family: i32) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr.ip() {
        IpAddr::V4(ip) if family == libc::AF_INET => out[..4].copy_from_slice(&ip.octets()),
        IpAddr::V4(ip) => out = ip.to_ipv6_mapped().octets(),
        IpAddr::V6(ip) => out = ip.octets(),
    }
    out
}

/// The answers in one datagram, each with its sequence number.
fn replies(mut data: &[u8]) -> Vec<(u32, Answer)> {
    let u32_at = |d: &[u8], at: usize| {
        d.get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut out = Vec::new();
    while data.len() >= HEADER {
        let Some(len) = u32_at(data, 0).map(|l| l as usize) else {
            break;
        };
        if len < HEADER || len > data.len() {
            break;
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let seq = u32_at(data, 8).unwrap_or(0);
        let body = &data[HEADER..len];
        let answer = match kind {
            SOCK_DIAG_BY_FAMILY if body.len() >= REPLY => {
                let uid = u32_at(body, 64).unwrap_or(0);
                let inode = u32_at(body, 68).unwrap_or(0);
                // Inode 0: closed by its owner (orphaned or TIME_WAIT, where
                // the kernel reports uid 0): it cannot be told whose it was.
                Some(Answer::Found(if inode == 0 {
                    Owner::Gone
                } else {
                    Owner::Uid(uid)
                }))
            }
            NLMSG_ERROR => match u32_at(body, 0).map(|e| e as i32) {
                Some(e) if e == -libc::ENOENT => Some(Answer::NotFound),
                Some(0) => None, // an acknowledgement, not an answer
                _ => Some(Answer::Failed),
            },
            _ => None,
        };
        if let Some(answer) = answer {
            out.push((seq, answer));
        }
        // Messages are aligned to 4 bytes.
        let step = (len + 3) & !3;
        data = data.get(step..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize, kind: u16, seq: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&(len as u32).to_ne_bytes());
        h.extend_from_slice(&kind.to_ne_bytes());
        h.extend_from_slice(&0u16.to_ne_bytes());
        h.extend_from_slice(&seq.to_ne_bytes());
        h.extend_from_slice(&0u32.to_ne_bytes());
        h
    }

    fn found(seq: u32, uid: u32, inode: u32) -> Vec<u8> {
        let mut m = header(HEADER + REPLY, SOCK_DIAG_BY_FAMILY, seq);
        let mut body = vec![0u8; REPLY];
        body[64..68].copy_from_slice(&uid.to_ne_bytes());
        body[68..72].copy_from_slice(&inode.to_ne_bytes());
        m.extend(body);
        m
    }

    fn error(seq: u32, errno: i32) -> Vec<u8> {
        let mut m = header(HEADER + 4 + HEADER, NLMSG_ERROR, seq);
        m.extend_from_slice(&errno.to_ne_bytes());
        m.extend(header(HEADER + REQUEST, SOCK_DIAG_BY_FAMILY, seq));
        m
    }

    #[test]
    fn requests_name_the_peer_as_the_local_end() {
        let mut out = Vec::new();
        let q = Query {
            ours: "127.0.0.1:5859".parse().unwrap(),
            peer: "127.0.0.1:40000".parse().unwrap(),
        };
        request(&mut out, 7, &q);
        assert_eq!(out.len(), HEADER + REQUEST);
        assert_eq!(out[16], libc::AF_INET as u8);
        assert_eq!(out[17], libc::IPPROTO_TCP as u8);
        assert_eq!(&out[24..26], &40000u16.to_be_bytes());
        assert_eq!(&out[26..28], &5859u16.to_be_bytes());
        assert_eq!(&out[28..32], &[127, 0, 0, 1]);
        assert_eq!(&out[44..48], &[127, 0, 0, 1]);
        let q6 = Query {
            ours: "[::1]:5859".parse().unwrap(),
            peer: "[::1]:40000".parse().unwrap(),
        };
        out.clear();
        request(&mut out, 8, &q6);
        assert_eq!(out[16], libc::AF_INET6 as u8);
        assert_eq!(out[28 + 15], 1);
    }

    #[test]
    fn replies_are_matched_by_sequence_and_inode_zero_is_gone() {
        let mut data = found(5, 1000, 1234);
        data.extend(error(6, -libc::ENOENT));
        data.extend(found(7, 0, 0));
        data.extend(error(8, -libc::EPERM));
        data.extend(error(9, 0));
        assert_eq!(
            replies(&data),
            [
                (5, Answer::Found(Owner::Uid(1000))),
                (6, Answer::NotFound),
                (7, Answer::Found(Owner::Gone)),
                (8, Answer::Failed),
            ]
        );
    }

    #[test]
    fn truncated_or_lying_replies_do_not_panic() {
        let data = found(5, 1000, 1234);
        for cut in 0..data.len() {
            let _ = replies(&data[..cut]);
        }
        let mut lying = data.clone();
        lying[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(replies(&lying).is_empty());
        lying[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(replies(&lying).is_empty());
    }

    #[test]
    fn the_kernel_names_the_owner_of_a_real_connection() {
        let Ok(mut diag) = Diag::open() else {
            eprintln!("no NETLINK_SOCK_DIAG here: nothing to check");
            return;
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let q = Query {
            ours: listener.local_addr().unwrap(),
            peer: client.local_addr().unwrap(),
        };
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        let gone = Query {
            ours: q.ours,
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        assert_eq!(
            diag.ask(&[q, gone]),
            [Answer::Found(Owner::Uid(me)), Answer::NotFound]
        );
    }
}
