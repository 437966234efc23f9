//! DBGp (Xdebug), as facts: the engine's packets (`packet.rs`), the IDE's
//! commands (`command.rs`) and which commands end a client's part in a
//! debug session. The session (`session::dbgp`), the DBGp proxy's registrar
//! (`protocol::dbgp_proxy`) and `attach` all read DBGp through here; its
//! framing (`LEN NUL XML NUL` one way, NUL-terminated commands the other) is
//! `framing::dbgp`.

pub mod command;
pub mod packet;

/// Whether a command by this name is a goodbye: `stop` ends the PHP request,
/// `detach` lets it run on without the IDE.
pub fn is_goodbye(name: &[u8]) -> bool {
    matches!(name, b"stop" | b"detach")
}

/// Whether an IDE's command (`name -i TXN … NUL`) is a goodbye. Reads only
/// the name, so a command the session would refuse still counts.
pub fn says_goodbye(command: &[u8]) -> bool {
    let name = command
        .split(|b| b.is_ascii_whitespace() || *b == 0)
        .next()
        .unwrap_or_default();
    is_goodbye(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_detach_are_goodbyes() {
        assert!(says_goodbye(b"stop -i 7\0"));
        assert!(says_goodbye(b"detach -i 8\0"));
        assert!(!says_goodbye(b"step_into -i 9\0"));
        assert!(!says_goodbye(b"stopped -i 9\0"));
    }
}
