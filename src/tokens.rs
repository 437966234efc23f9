//! Every `mio::Token` the proxy registers, and the scheme that keeps them
//! apart. The loop (`proxy/`) tells events apart by these ranges alone.
//!
//! ```text
//! 1                     the signal pipe
//! 7                     the control socket's listener
//! 8 .. 16               the control socket's connections
//! 16 .. 24              the client listeners
//! 32 ..                 clients: FIRST_CLIENT + slab key, counting up
//! DBGP_BASE ..          DBGp proxy mode (`dbgp` below): its two listeners,
//!                       registration connections, engines not routed yet,
//!                       dials to IDEs
//! ROW_BASE ..           the session table's rows: ROW_BASE + row * ROW_STRIDE + k,
//!                       k one of a row's debugger-side sources (`RowTokens`)
//! ```
//!
//! The two unbounded ranges, clients and rows, count up from opposite ends of
//! their halves: clients from 32 in the lower half, rows from `ROW_BASE`, the
//! top half's first value. They could meet only with 2^63 clients, or rows
//! past the top of the space (the slab of rows would have to hold
//! `usize::MAX / 2 / ROW_STRIDE` rows first), so neither bound is checked.
//!
//! `dbgproxy attach` runs a poll of its own, in another process: its few
//! tokens are in `attach` below.

use mio::Token;

/// The signal pipe (SIGTERM, SIGINT, SIGCHLD, SIGHUP).
pub const SIGNALS: Token = Token(1);

/// The control socket's listener; its connections follow.
pub const CONTROL_LISTENER: Token = Token(7);
pub const FIRST_CONTROL_CONN: usize = 8;
pub const MAX_CONTROL_CONNS: usize = 8;

/// Client listeners: `FIRST_LISTENER..FIRST_LISTENER + MAX_LISTENERS`.
pub const FIRST_LISTENER: usize = 16;
pub const MAX_LISTENERS: usize = 8;

/// Client tokens start here and count up (`FIRST_CLIENT + slab key`).
pub const FIRST_CLIENT: usize = 32;

/// DBGp proxy mode's block (`proxy/dbgp/`), just below the rows: clients,
/// counting up from 32, never reach it.
pub const DBGP_BASE: usize = ROW_BASE - (1 << 24);

/// The tokens of DBGp proxy mode, each range bounded by its table's limit.
pub mod dbgp {
    use super::DBGP_BASE;
    use mio::Token;

    /// The registration port (`--dbgp-proxy`).
    pub const REGISTRAR: Token = Token(DBGP_BASE);
    /// The shared engine port (`--port`).
    pub const ENGINES: Token = Token(DBGP_BASE + 1);
    /// Registration connections: `CONN + slab key`.
    pub const CONN: usize = DBGP_BASE + (1 << 16);
    /// Engines not routed yet (reading `<init>`, or held): `PENDING + key`.
    pub const PENDING: usize = DBGP_BASE + (2 << 16);
    /// Connections to IDEs not yet up: `DIAL + key`.
    pub const DIAL: usize = DBGP_BASE + (3 << 16);
    /// Each range's size; the tables are bounded far below it.
    pub const RANGE: usize = 1 << 16;

    /// Which range `token` is in, and its key there.
    pub fn which(token: Token) -> Option<(usize, usize)> {
        let t = token.0;
        [CONN, PENDING, DIAL]
            .into_iter()
            .find(|&base| (base..base + RANGE).contains(&t))
            .map(|base| (base, t - base))
    }
}

/// The first row's block: the top half of the token space.
pub const ROW_BASE: usize = 1 << (usize::BITS - 1);
/// Tokens per row; a row uses `Which::COUNT` of them, the rest are spare.
pub const ROW_STRIDE: usize = 8;

/// A row of the session table (`proxy/rows.rs`): one debugger link, its
/// clients and its session layer. Its number picks its block of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId(pub usize);

impl std::fmt::Display for RowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which of a row's sources a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The TCP connection to the debugger (connect and listen backends).
    Link,
    /// The listener a `listen` backend waits for its debugger on.
    DebuggerListener,
    /// A spawned debugger's stdin, stdout and stderr.
    ChildStdin,
    ChildStdout,
    ChildStderr,
}

impl Which {
    const COUNT: usize = 5;
    const ALL: [Which; Which::COUNT] = [
        Which::Link,
        Which::DebuggerListener,
        Which::ChildStdin,
        Which::ChildStdout,
        Which::ChildStderr,
    ];
}

/// The tokens of one row's debugger side, handed to its backend and link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowTokens {
    row: RowId,
}

impl RowTokens {
    pub fn of(row: RowId) -> RowTokens {
        RowTokens { row }
    }

    pub fn token(self, which: Which) -> Token {
        Token(ROW_BASE + self.row.0 * ROW_STRIDE + which as usize)
    }

    pub fn link(self) -> Token {
        self.token(Which::Link)
    }

    pub fn debugger_listener(self) -> Token {
        self.token(Which::DebuggerListener)
    }

    pub fn child_stdin(self) -> Token {
        self.token(Which::ChildStdin)
    }

    pub fn child_stdout(self) -> Token {
        self.token(Which::ChildStdout)
    }

    pub fn child_stderr(self) -> Token {
        self.token(Which::ChildStderr)
    }
}

// The fixed ranges, in order and apart, checked when compiling.
const _: () = {
    assert!(SIGNALS.0 < CONTROL_LISTENER.0);
    assert!(CONTROL_LISTENER.0 < FIRST_CONTROL_CONN);
    assert!(FIRST_CONTROL_CONN + MAX_CONTROL_CONNS <= FIRST_LISTENER);
    assert!(FIRST_LISTENER + MAX_LISTENERS <= FIRST_CLIENT);
    assert!(FIRST_CLIENT < DBGP_BASE);
    assert!(dbgp::DIAL + dbgp::RANGE <= ROW_BASE);
    assert!(Which::COUNT <= ROW_STRIDE);
};

/// The row and source a token names, if it is in the rows' range.
pub fn row_of(token: Token) -> Option<(RowId, Which)> {
    let offset = token.0.checked_sub(ROW_BASE)?;
    let which = *Which::ALL.get(offset % ROW_STRIDE)?;
    Some((RowId(offset / ROW_STRIDE), which))
}

/// The client slab key a token names, if it is in the clients' range.
pub fn client_key(token: Token) -> Option<usize> {
    if token.0 >= DBGP_BASE {
        return None;
    }
    token.0.checked_sub(FIRST_CLIENT)
}

/// The tokens of `dbgproxy attach`'s own poll (`attach/bridge.rs`).
pub mod attach {
    use mio::Token;

    pub const STDIN: Token = Token(0);
    pub const STDOUT: Token = Token(1);
    /// The connection to the proxy (`attach/link.rs`).
    pub const PROXY: Token = Token(2);
    pub const SIGNALS: Token = Token(3);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_token_names_its_row_and_source() {
        for row in [0, 1, 7, 1000] {
            let tokens = RowTokens::of(RowId(row));
            for which in Which::ALL {
                let token = tokens.token(which);
                assert_eq!(row_of(token), Some((RowId(row), which)));
                assert_eq!(client_key(token), None);
            }
        }
        assert_eq!(tokens_of_rows_distinct(), 2 * Which::COUNT);
    }

    fn tokens_of_rows_distinct() -> usize {
        let mut all: Vec<usize> = [RowId(0), RowId(1)]
            .into_iter()
            .flat_map(|r| Which::ALL.map(|w| RowTokens::of(r).token(w).0))
            .collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    }

    #[test]
    fn client_tokens_are_not_row_tokens() {
        assert_eq!(client_key(Token(FIRST_CLIENT)), Some(0));
        assert_eq!(client_key(Token(FIRST_CLIENT + 41)), Some(41));
        assert_eq!(client_key(Token(FIRST_CLIENT - 1)), None);
        assert_eq!(row_of(Token(FIRST_CLIENT + 41)), None);
        assert_eq!(row_of(Token(ROW_BASE - 1)), None);
        // A spare slot in a row's block names nothing.
        assert_eq!(row_of(Token(ROW_BASE + ROW_STRIDE - 1)), None);
    }
}
