//! The legacy V8 debugger protocol (node ≤ 7), as facts: which request ends
//! a client's part in a debug session. The session (`session::v8`) and
//! `attach` both decide it here; its framing (Content-Length headers) is
//! `framing::content_length`, its bodies are read with `protocol::json`.

/// Whether a request by this command is a goodbye.
pub fn is_goodbye(command: &[u8]) -> bool {
    command == b"disconnect"
}

/// Whether a whole V8 message (headers and body) is a goodbye request.
pub fn says_goodbye(message: &[u8]) -> bool {
    let body = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |at| &message[at + 4..]);
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v["type"] == "request"
            && v["command"]
                .as_str()
                .is_some_and(|c| is_goodbye(c.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_is_the_goodbye() {
        let body = br#"{"seq":3,"type":"request","command":"disconnect"}"#;
        let message = [
            format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
            body,
        ]
        .concat();
        assert!(says_goodbye(&message));
        assert!(!says_goodbye(b"Content-Length: 2\r\n\r\n{}"));
    }
}
