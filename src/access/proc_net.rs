//! Who owns the other end of a local TCP connection, from the kernel's
//! socket tables as text: `/proc/net/tcp` and `/proc/net/tcp6`. This is the
//! fallback when `sock_diag` (see `diag.rs`) is not available: the kernel
//! prints every socket of the network namespace, so one read costs
//! O(sockets), and the lookup reads each file at most once per accept burst.
//!
//! Each line is `sl local remote st tx:rx tr:when retrnsmt uid timeout inode …`.
//! Addresses are hex: IPv4 as one 32-bit word, IPv6 as four, each printed in
//! the host's byte order (so `127.0.0.1` is `0100007F` on x86); ports are
//! plain hex. The peer's socket is the line whose local end is the peer's
//! address and whose remote end is ours. A line with inode 0 is a socket its
//! owner has closed (orphaned, or in TIME_WAIT, where the kernel prints uid
//! 0): its owner cannot be told.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Owner, Query};

/// Host byte order, for the hex words the kernel prints.
pub const LITTLE_ENDIAN: bool = cfg!(target_endian = "little");

/// Fills `found[i]` for every query whose peer socket is in `text` (one
/// `/proc/net/tcp{,6}` file); leaves the others as they are.
pub fn scan(text: &str, queries: &[Query], found: &mut [Option<Owner>], little_endian: bool) {
    for line in text.lines().skip(1) {
        if found.iter().all(Option::is_some) {
            return;
        }
        let mut fields = line.split_ascii_whitespace();
        let (Some(_), Some(local), Some(remote)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // Most lines are other sockets: decide on the port before anything else.
        let Some(local_port) = port(local) else {
            continue;
        };
        if !queries.iter().any(|q| q.peer.port() == local_port) {
            continue;
        }
        let (Some(local), Some(remote)) = (addr(local, little_endian), addr(remote, little_endian))
        else {
            continue;
        };
        let Some(i) = queries
            .iter()
            .position(|q| q.peer == local && q.ours == remote)
        else {
            continue;
        };
        // st, tx:rx, tr:when, retrnsmt, then uid, timeout, inode.
        let rest: Vec<&str> = fields.take(7).collect();
        let (Some(uid), Some(inode)) = (
            rest.get(4).and_then(|u| u.parse::<u32>().ok()),
            rest.get(6).and_then(|i| i.parse::<u64>().ok()),
        ) else {
            continue;
        };
        if found[i].is_none() {
            found[i] = Some(if inode == 0 {
                Owner::Gone
            } else {
                Owner::Uid(uid)
            });
        }
    }
}

fn port(field: &str) -> Option<u16> {
    let (_, port) = field.rsplit_once(':')?;
    u16::from_str_radix(port, 16).ok()
}

/// `0100007F:1F90` → 127.0.0.1:8080; IPv4-mapped IPv6 comes out as IPv4.
fn addr(field: &str, little_endian: bool) -> Option<SocketAddr> {
    let (hex, port) = field.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |w: &str| {
        u32::from_str_radix(w, 16).ok().map(|v| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        })
    };
    let ip = match hex.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(hex)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded on x86_64 with Python holding the connections named in each
    // test (the uid column edited from 0 to tell the rows apart).
    const TCP: &str = include_str!("testdata/tcp");
    const TCP6: &str = include_str!("testdata/tcp6");

    fn q(ours: &str, peer: &str) -> Query {
        Query {
            ours: ours.parse().unwrap(),
            peer: peer.parse().unwrap(),
        }
    }

    fn one(text: &str, query: Query) -> Option<Owner> {
        let mut found = [None];
        scan(text, &[query], &mut found, true);
        found[0]
    }

    #[test]
    fn addresses_decode_in_host_byte_order() {
        assert_eq!(
            addr("0100007F:1F90", true),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            addr("7F000001:1F90", false),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            addr("00000000000000000000000001000000:ECE3", true),
            Some("[::1]:60643".parse().unwrap())
        );
        assert_eq!(
            addr("0000000000000000FFFF00000100007F:A459", true),
            Some("127.0.0.1:42073".parse().unwrap()),
            "IPv4-mapped comes out as IPv4"
        );
        for bad in [
            "",
            "0100007F",
            "0100007F:",
            "01007F:1F90",
            "XYZ0007F:1F90",
            "0100007F:12345",
        ] {
            assert_eq!(addr(bad, true), None, "{bad:?}");
        }
    }

    #[test]
    fn the_peer_is_the_line_whose_local_end_is_the_peer() {
        // Client 127.0.0.1:59484 (uid 1000) → server 127.0.0.1:59593 (uid 0).
        assert_eq!(
            one(TCP, q("127.0.0.1:59593", "127.0.0.1:59484")),
            Some(Owner::Uid(1000))
        );
        // Asked the other way round, it is the server's own accepted socket.
        assert_eq!(
            one(TCP, q("127.0.0.1:59484", "127.0.0.1:59593")),
            Some(Owner::Uid(0))
        );
        // Same local port, another remote end (a TIME_WAIT line): no match.
        assert_eq!(one(TCP, q("127.0.0.1:9999", "127.0.0.1:59484")), None);
        assert_eq!(one(TCP, q("127.0.0.1:59593", "127.0.0.1:1")), None);
    }

    #[test]
    fn ipv6_and_v4_clients_of_a_dual_stack_listener() {
        // ::1 client 36102 (uid 1000) → ::1 server 60643.
        assert_eq!(
            one(TCP6, q("[::1]:60643", "[::1]:36102")),
            Some(Owner::Uid(1000))
        );
        // An AF_INET client 127.0.0.1:47952 (uid 65534) of a `::` listener:
        // the proxy sees ::ffff:127.0.0.1, canonical 127.0.0.1; the client's
        // line is in tcp, the accepted socket's in tcp6.
        let query = q("127.0.0.1:42073", "127.0.0.1:47952");
        assert_eq!(one(TCP, query), Some(Owner::Uid(65534)));
        assert_eq!(one(TCP6, query), None);
        // The accepted socket itself, v4-mapped in tcp6.
        assert_eq!(
            one(TCP6, q("127.0.0.1:47952", "127.0.0.1:42073")),
            Some(Owner::Uid(0))
        );
    }

    #[test]
    fn a_closed_peer_cannot_be_identified() {
        // Client 127.0.0.1:49296 closed: FIN_WAIT2 as a timewait socket,
        // inode 0 and uid 0 (which must not read as root).
        assert_eq!(
            one(TCP, q("127.0.0.1:52753", "127.0.0.1:49296")),
            Some(Owner::Gone)
        );
    }

    #[test]
    fn several_queries_in_one_pass_and_junk_lines_are_skipped() {
        let queries = [
            q("127.0.0.1:59593", "127.0.0.1:59484"),
            q("127.0.0.1:1", "127.0.0.1:2"),
            q("127.0.0.1:52753", "127.0.0.1:49296"),
        ];
        let text =
            format!("{TCP}garbage\n  9: 0100007F:E85C\n\n  9: 0100007F:E85C 0100007F:E8C9 01 x\n");
        let mut found = [None; 3];
        scan(&text, &queries, &mut found, true);
        assert_eq!(found, [Some(Owner::Uid(1000)), None, Some(Owner::Gone)]);
        // What was found already stays.
        let mut found = [Some(Owner::Uid(7)), None, None];
        scan(TCP, &queries, &mut found, true);
        assert_eq!(found[0], Some(Owner::Uid(7)));
        scan("", &queries, &mut found, true);
        scan("header only", &queries, &mut found, true);
    }
}
