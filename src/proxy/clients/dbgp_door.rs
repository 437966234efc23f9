//! The DBGp proxy's door (`door.rs`) on the client port: how a client
//! chooses among the live sessions, one per engine key (issue #21).
//!
//! With one session live, a client joins it at once, as a plain DBGp proxy
//! does: a DBGp client says nothing until it has the engine's `<init>`, so
//! it cannot be asked first. With none or several, it is asked here: its
//! first line names the session, `dbgproxy-session <key>` (after the token
//! line, when it needs one); the session's `<init>` is then replayed to it
//! as to any joiner. Anything else, or nothing within `--token-timeout`, is
//! answered with a line saying what to send, and closed.

use super::door::{Door, Judged, Visitor};

/// What the first line starts with.
pub const PREFIX: &str = "dbgproxy-session ";
/// The longest line taken: a key is a short word.
const MAX_LINE: usize = 256;

/// What a client that did not choose is told.
pub const HOW: &str = "dbgproxy: several DBGp sessions (or none) are live: send `dbgproxy-session <key>` and a newline first (`dbgproxy status` lists them)\n";

#[derive(Default)]
pub struct DbgpDoor;

impl Door for DbgpDoor {
    fn judge(&mut self, visitor: Visitor<'_>) -> Judged {
        let head = visitor.head;
        let Some(end) = head.iter().position(|&b| b == b'\n' || b == 0) else {
            if head.len() > MAX_LINE
                || !PREFIX
                    .as_bytes()
                    .starts_with(&head[..head.len().min(PREFIX.len())])
            {
                return refuse("not a dbgproxy-session line");
            }
            return Judged::More;
        };
        let line = String::from_utf8_lossy(&head[..end]);
        let line = line.trim_end_matches('\r');
        match line.strip_prefix(PREFIX).map(str::trim) {
            Some(key) if !key.is_empty() && !key.contains(char::is_whitespace) => {
                // A line ended as DBGp commands are, by a NUL, or both.
                let consumed = match head.get(end + 1) {
                    Some(0) if head[end] == b'\n' => end + 2,
                    _ => end + 1,
                };
                Judged::Join {
                    consumed,
                    name: key.to_string(),
                }
            }
            _ => refuse("not a dbgproxy-session line"),
        }
    }

    fn always(&self) -> bool {
        false
    }

    fn timeout_reply(&self) -> &'static str {
        HOW
    }
}

fn refuse(why: &str) -> Judged {
    Judged::Answer {
        bytes: HOW.as_bytes().to_vec(),
        why: format!("refused: {why}"),
        level: log::Level::Warn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(head: &[u8]) -> Judged {
        DbgpDoor.judge(Visitor {
            id: 1,
            head,
            token: None,
            local: None,
        })
    }

    #[test]
    fn a_line_names_the_session() {
        for head in [
            &b"dbgproxy-session alice\n"[..],
            b"dbgproxy-session alice\r\nstatus -i 1\0",
            b"dbgproxy-session  alice \0",
        ] {
            match judge(head) {
                Judged::Join { name, consumed } => {
                    assert_eq!(name, "alice");
                    assert_eq!(
                        head[consumed - 1],
                        head[head.iter().position(|&b| b == b'\n' || b == 0).unwrap()]
                    );
                }
                _ => panic!("not a join: {head:?}"),
            }
        }
    }

    #[test]
    fn a_partial_line_waits_and_anything_else_is_told_what_to_send() {
        assert!(matches!(judge(b"dbgproxy-ses"), Judged::More));
        assert!(matches!(judge(b"dbgproxy-session ali"), Judged::More));
        for head in [
            &b"status -i 1\0"[..],
            b"dbgproxy-session \n",
            b"dbgproxy-session a b\n",
            b"GET / HTTP/1.1\r\n",
            &[b'd'; 300][..],
        ] {
            match judge(head) {
                Judged::Answer { bytes, .. } => assert_eq!(bytes, HOW.as_bytes()),
                _ => panic!("not refused: {head:?}"),
            }
        }
    }
}
