//! The least a client's CDP text message must be before it reaches node or
//! the session: one JSON object (strictly valid, checked through) with an
//! integer `id` and a string `method`. Read with the project's JSON
//! scanner (`protocol::json`), which gives where the values lie so the
//! session can splice a new id in without re-serialising.
//!
//! A message that fails the check but has an integer `id` gets CDP's error
//! answer for that id (code -32600, with V8's own wording where V8 has
//! one), and the client stays; one without an id cannot be answered, and
//! the client is closed (1007: the data is not what the protocol carries).

use std::ops::Range;

use crate::protocol::json::{self, Until};

/// JSON-RPC's "Invalid Request", which V8 answers such messages with.
pub const INVALID_REQUEST: i64 = -32600;

/// A client's message that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub id: i64,
    /// Where the id's digits lie in the message.
    pub id_at: Range<usize>,
    /// Where the method's string lies, quotes included.
    pub method_at: Range<usize>,
}

impl Command {
    /// The method's name (a plain string: CDP's names have no escapes).
    pub fn method<'a>(&self, body: &'a [u8]) -> Option<&'a str> {
        let inner = body.get(self.method_at.start + 1..self.method_at.end - 1)?;
        std::str::from_utf8(inner).ok()
    }
}

/// What to do with a client's text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Command(Command),
    /// Answer the client with this message (a CDP error for its id); what
    /// was wrong, for the log, is in it.
    Answer(Vec<u8>),
    /// Close the client (code 1007) and log why.
    Close(String),
}

pub fn check(body: &[u8]) -> Verdict {
    let [id_at, method_at] = match json::fields(body, ["id", "method"], Until::End) {
        Ok(found) => found,
        Err(fault) => {
            return Verdict::Close(format!("a message that is not a JSON object: {fault}"));
        }
    };
    let Some(id) = json::int(body, &id_at) else {
        let why = match id_at {
            None => "a message without an id",
            Some(_) => "a message whose id is not an integer",
        };
        return Verdict::Close(why.into());
    };
    let is_string = method_at
        .as_ref()
        .is_some_and(|r| json::string(&body[r.clone()]).is_some());
    match (id_at, method_at) {
        (Some(id_at), Some(method_at)) if is_string => Verdict::Command(Command {
            id,
            id_at,
            method_at,
        }),
        _ => Verdict::Answer(error(id, "Message must have string 'method' property")),
    }
}

/// CDP's error answer to the command `id`.
pub fn error(id: i64, message: &str) -> Vec<u8> {
    // Serialising a str cannot fail.
    let message = serde_json::to_string(message).unwrap_or_default();
    format!(r#"{{"id":{id},"error":{{"code":{INVALID_REQUEST},"message":{message}}}}}"#)
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(body: &str) -> (i64, String) {
        match check(body.as_bytes()) {
            Verdict::Command(c) => (c.id, c.method(body.as_bytes()).unwrap().to_owned()),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn commands_pass_with_where_their_id_lies() {
        assert_eq!(
            command(r#"{"id":1,"method":"Runtime.enable"}"#),
            (1, "Runtime.enable".into())
        );
        let body = r#" { "method" : "Debugger.resume", "params": {"x":[1,{}]}, "id" : 42 } "#;
        assert_eq!(command(body), (42, "Debugger.resume".into()));
        let Verdict::Command(c) = check(body.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(&body[c.id_at], "42");
        assert_eq!(&body[c.method_at], "\"Debugger.resume\"");
        // The last of a duplicated key counts, as with JSON.parse.
        assert_eq!(command(r#"{"id":1,"id":2,"method":"a"}"#).0, 2);
    }

    #[test]
    fn with_an_id_it_is_answered() {
        let want = br#"{"id":7,"error":{"code":-32600,"message":"Message must have string 'method' property"}}"#;
        for body in [
            r#"{"id":7}"#,
            r#"{"id":7,"method":3}"#,
            r#"{"id":7,"method":null}"#,
        ] {
            assert_eq!(
                check(body.as_bytes()),
                Verdict::Answer(want.to_vec()),
                "{body}"
            );
        }
    }

    #[test]
    fn without_one_it_is_closed() {
        for body in [
            r#"{"method":"Runtime.enable"}"#,
            r#"{"id":"1","method":"a"}"#,
            r#"{"id":1.5,"method":"a"}"#,
            r#"{"id":99999999999999999999,"method":"a"}"#,
            r#"[1]"#,
            r#"{"id":1,"method":"a"} x"#,
            r#"{"id":1,"method":"a""#,
            "",
            "null",
        ] {
            assert!(
                matches!(check(body.as_bytes()), Verdict::Close(_)),
                "{body}"
            );
        }
    }
}
