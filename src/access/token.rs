//! The token a client not let in by its uid presents: loading it from
//! `--token-file`, and the handshake.
//!
//! The handshake is one line, the first thing the client sends:
//! `dbgproxy-token <token>` and a newline (`\r\n` accepted), which someone at
//! `nc` can type and a tool can prepend to its stream. It is consumed, never
//! forwarded. The proxy answers nothing on success (the debugger's stream
//! starts, exactly as without a token, so a tool can send the line and then
//! relay bytes both ways); on failure it sends one line saying why and
//! closes. Anything else first, a line over 1 KiB, or nothing within
//! `--token-timeout` is a refusal.
//!
//! The token never reaches a log, `status`, or `Debug` output, and is compared
//! in time that depends only on its own length (see `Secret::matches`).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The keyword that opens the handshake line.
pub const KEYWORD: &[u8] = b"dbgproxy-token";
/// The longest handshake line.
pub const MAX_LINE: usize = 1024;
const MIN_TOKEN: usize = 16;
const MAX_TOKEN: usize = 256;

/// The token, kept out of logs. Deliberately not `PartialEq`: the only
/// comparison is `matches`.
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    #[cfg(test)]
    pub fn new(token: &[u8]) -> Secret {
        Secret(token.into())
    }

    /// Whether `presented` is the token, in time that depends on the token's
    /// length only: every byte of the token is compared, whatever the
    /// presented bytes are, and differences are folded with OR instead of
    /// returning at the first. Hand-written (ten lines) rather than a crate,
    /// since that is the whole of what is needed; `black_box` keeps the
    /// optimiser from turning the fold back into an early exit.
    /// The token itself, for a client that must present it (`dbgproxy attach`).
    pub fn reveal(&self) -> &[u8] {
        &self.0
    }

    pub fn matches(&self, presented: &[u8]) -> bool {
        let mut diff = u8::from(presented.len() != self.0.len());
        for (i, &expected) in self.0.iter().enumerate() {
            let got = presented.get(i).copied().unwrap_or(0);
            diff |= std::hint::black_box(expected ^ got);
        }
        std::hint::black_box(diff) == 0
    }
}

/// Reads `--token-file`. Refused if other users may read or write it, or if
/// the token is not 16–256 visible ASCII characters (what a person can type
/// after `dbgproxy-token `); trailing whitespace and newlines are dropped.
pub fn load(path: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read --token-file {shown}: {e}"))?;
    // The mode of the file that was opened, not of whatever the path names now.
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read --token-file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("--token-file {shown} is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "--token-file {shown} is open to other users (mode {mode:04o}): `chmod 600 {shown}`"
        ));
    }
    let mut text = Vec::new();
    file.by_ref()
        .take(MAX_TOKEN as u64 + 64)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read --token-file {shown}: {e}"))?;
    while text.last().is_some_and(u8::is_ascii_whitespace) {
        text.pop();
    }
    if !(MIN_TOKEN..=MAX_TOKEN).contains(&text.len()) || !text.iter().all(u8::is_ascii_graphic) {
        return Err(format!(
            "--token-file {shown}: the token must be {MIN_TOKEN} to {MAX_TOKEN} visible ASCII \
             characters, no spaces (e.g. `head -c 24 /dev/urandom | base64 > {shown}`)"
        ));
    }
    Ok(Secret(text.into_boxed_slice()))
}

/// What the bytes a client sent so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Not a whole line yet.
    More,
    /// The right token; the line took `consumed` bytes, the rest is for the debugger.
    Accepted { consumed: usize },
    /// Something other than a handshake line.
    Absent,
    /// A handshake line with the wrong token.
    Wrong,
}

/// Judges the first bytes a client sent.
pub fn check(received: &[u8], secret: &Secret) -> Handshake {
    let head = received.len().min(KEYWORD.len());
    if received[..head] != KEYWORD[..head] {
        return Handshake::Absent;
    }
    let Some(end) = received.iter().position(|&b| b == b'\n') else {
        return if received.len() >= MAX_LINE {
            Handshake::Absent
        } else {
            Handshake::More
        };
    };
    if end >= MAX_LINE {
        return Handshake::Absent;
    }
    let line = &received[KEYWORD.len()..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    if !line.first().is_some_and(blank) {
        return Handshake::Absent;
    }
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let stop = line
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    if secret.matches(&line[start..stop]) {
        Handshake::Accepted { consumed: end + 1 }
    } else {
        Handshake::Wrong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &[u8] = b"s3cret-token-0123456789";

    fn secret() -> Secret {
        Secret::new(TOKEN)
    }

    #[test]
    fn the_right_line_is_accepted_and_consumed() {
        let line = b"dbgproxy-token s3cret-token-0123456789\nContent-Length: 2";
        assert_eq!(check(line, &secret()), Handshake::Accepted { consumed: 39 });
        for typed in [
            &b"dbgproxy-token s3cret-token-0123456789\r\n"[..],
            b"dbgproxy-token \t s3cret-token-0123456789  \r\n",
        ] {
            assert_eq!(
                check(typed, &secret()),
                Handshake::Accepted {
                    consumed: typed.len()
                },
                "{:?}",
                String::from_utf8_lossy(typed)
            );
        }
    }

    #[test]
    fn waits_for_a_whole_line_but_not_for_other_protocols() {
        assert_eq!(check(b"", &secret()), Handshake::More);
        assert_eq!(check(b"dbg", &secret()), Handshake::More);
        assert_eq!(check(b"dbgproxy-token s3cr", &secret()), Handshake::More);
        // A client that starts talking its protocol is told at once.
        assert_eq!(check(b"C", &secret()), Handshake::Absent);
        assert_eq!(
            check(b"Content-Length: 2\r\n\r\n{}", &secret()),
            Handshake::Absent
        );
        assert_eq!(check(b"dbgproxy-tokens x\n", &secret()), Handshake::Absent);
        assert_eq!(check(b"dbgproxy-token\n", &secret()), Handshake::Absent);
        let mut long = b"dbgproxy-token ".to_vec();
        long.resize(MAX_LINE, b'a');
        assert_eq!(check(&long, &secret()), Handshake::Absent);
        long.push(b'\n');
        assert_eq!(check(&long, &secret()), Handshake::Absent);
    }

    #[test]
    fn wrong_tokens_are_wrong() {
        for wrong in [
            &b"dbgproxy-token s3cret-token-012345678\n"[..],
            b"dbgproxy-token s3cret-token-01234567890\n",
            b"dbgproxy-token S3cret-token-0123456789\n",
            b"dbgproxy-token \n",
            b"dbgproxy-token s3cret token-0123456789\n",
        ] {
            assert_eq!(check(wrong, &secret()), Handshake::Wrong);
        }
    }

    #[test]
    fn matching_is_exact() {
        let s = secret();
        assert!(s.matches(TOKEN));
        assert!(!s.matches(b""));
        assert!(!s.matches(&TOKEN[..TOKEN.len() - 1]));
        let mut longer = TOKEN.to_vec();
        longer.push(b'x');
        assert!(!s.matches(&longer));
        let mut flipped = TOKEN.to_vec();
        flipped[5] ^= 1;
        assert!(!s.matches(&flipped));
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn the_file_must_be_private_and_the_token_typeable() {
        let dir = std::env::temp_dir().join(format!("dbgproxy-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        let write = |text: &str, mode: u32| {
            std::fs::write(&file, text).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("s3cret-token-0123456789\n", 0o600);
        assert!(load(&file).unwrap().matches(TOKEN));
        write("s3cret-token-0123456789\n", 0o640);
        let e = load(&file).unwrap_err();
        assert!(e.contains("mode 0640") && e.contains("chmod 600"), "{e}");
        write("s3cret-token-0123456789\n", 0o604);
        assert!(load(&file).is_err());
        write("short\n", 0o600);
        assert!(load(&file).unwrap_err().contains("16 to 256"));
        write("has a space in the middle\n", 0o600);
        assert!(load(&file).is_err());
        assert!(
            load(&dir.join("missing"))
                .unwrap_err()
                .starts_with("cannot read")
        );
        assert!(load(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
