//! Who holds a TCP port, for the message that says a port is taken by
//! something that is not a dbgproxy: the listening socket is found in
//! `/proc/net/tcp{,6}`, its owner among this user's processes by their
//! descriptors. Best effort: another user's process is named by uid only.

use std::path::Path;

/// "pid 1234 (python3)", "a process of uid 1001", or `None` when the port
/// has no listener that `/proc` shows.
pub fn describe(port: u16) -> Option<String> {
    let (inode, uid) = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|text| listener(&text, port))?;
    match owner(inode) {
        Some((pid, name)) => Some(format!("pid {pid} ({name})")),
        None => Some(format!("a process of uid {uid}")),
    }
}

/// The inode and uid of the socket listening on `port` in one `/proc/net/tcp` table.
fn listener(table: &str, port: u16) -> Option<(u64, u32)> {
    const LISTEN: &str = "0A";
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f.get(1)?.rsplit(':').next()?;
        let ours = u16::from_str_radix(local_port, 16).ok()? == port;
        (ours && *f.get(3)? == LISTEN).then_some(())?;
        Some((f.get(9)?.parse().ok()?, f.get(7)?.parse().ok()?))
    })
}

/// The process (of those this user may look into) holding socket `inode`.
fn owner(inode: u64) -> Option<(u32, String)> {
    let link = format!("socket:[{inode}]");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            let holds = fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == Path::new(&link)));
            holds.then(|| {
                let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                (pid, name.trim().to_string())
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listener_in_a_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:162E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 100 0 0 10 0\n\
            1: 0100007F:162F 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 434343 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listener(table, 0x162E), Some((424242, 1000)));
        // Connected, not listening.
        assert_eq!(listener(table, 0x162F), None);
        assert_eq!(listener("garbage\nmore garbage", 1), None);
    }

    #[test]
    fn names_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let what = describe(port).expect("our listener");
        assert!(
            what.starts_with(&format!("pid {} (", std::process::id())),
            "{what}"
        );
    }
}
