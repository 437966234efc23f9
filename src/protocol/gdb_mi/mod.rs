//! GDB/MI, as facts: the syntax of records and of a client's commands
//! (`mi.rs`), and which commands end a client's part in a debug session.
//! The session (`session::gdb_mi`) and `attach` both read it through here;
//! its framing (newline-terminated records) is `framing::lines`.

pub mod mi;

use self::mi::Op;

/// What a client's goodbye asks of gdb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goodbye {
    /// `-gdb-exit`, `quit`: gdb ends.
    Exit,
    /// `-target-detach`, `detach`: the debuggee runs on without gdb.
    Detach,
}

/// Whether a client's command is a goodbye, and which.
pub fn goodbye(op: &Op) -> Option<Goodbye> {
    match *op {
        Op::Mi {
            name: b"gdb-exit", ..
        }
        | Op::Cli {
            word: b"quit" | b"q",
            ..
        } => Some(Goodbye::Exit),
        // With an argument it detaches one inferior of several.
        Op::Mi {
            name: b"target-detach",
            args,
        }
        | Op::Cli {
            word: b"detach",
            args,
        } if args.is_empty() => Some(Goodbye::Detach),
        _ => None,
    }
}

/// Whether a client's line (with its line end) is a goodbye.
pub fn says_goodbye(line: &[u8]) -> bool {
    mi::command(mi::trim_eol(line)).is_ok_and(|c| goodbye(&c.op).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodbyes() {
        assert!(says_goodbye(b"-gdb-exit\n"));
        assert!(says_goodbye(b"12-gdb-exit\r\n"));
        assert!(says_goodbye(b"quit\n"));
        assert!(says_goodbye(b"q\n"));
        assert!(says_goodbye(b"-target-detach\n"));
        assert!(says_goodbye(b"detach\n"));
        assert!(!says_goodbye(b"-target-detach 1234\n"));
        assert!(!says_goodbye(b"-exec-continue\n"));
    }
}
