//! The least a client's CDP text message must be before it reaches node:
//! one JSON object (strictly valid, checked through) with an integer `id`
//! that node's inspector takes (it fits 32 bits: node answers a larger one
//! with an error without an id, then a second bogus one) and a string
//! `method`. Read with the project's JSON scanner (`protocol::json`), which
//! gives where the values lie so a session can splice without
//! re-serialising. The one check, used by the CDP session (`session::cdp`).
//!
//! A message that fails the check but has an `id` gets CDP's error answer
//! for that id as the client wrote it (code -32600, with V8's own wording
//! where V8 has one), and the client stays; one without an id cannot be
//! answered, and the client is closed (1007: the data is not what the
//! protocol carries).

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
    /// The method's name: CDP's names are plain ASCII, so one with escapes
    /// matches no method anyone cares about and is read as "".
    pub fn method<'a>(&self, body: &'a [u8]) -> &'a str {
        json::plain_str(body, &Some(self.method_at.clone()))
            .and_then(|m| std::str::from_utf8(m).ok())
            .unwrap_or("")
    }
}

/// What to do with a client's text that is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// Answer it with this error (it had an id); the client stays.
    Answer(Vec<u8>),
    /// It cannot be answered: close the client (code 1007), saying why.
    Close(String),
}

/// Checks a client's text.
pub fn check(body: &[u8]) -> Result<Command, Bad> {
    let [id_at, method_at] = json::fields(body, ["id", "method"], Until::End)
        .map_err(|fault| Bad::Close(format!("a message that is not a JSON object: {fault}")))?;
    let Some(id_at) = id_at else {
        return Err(Bad::Close("a message without an id".into()));
    };
    let refuse = |why: &str| Bad::Answer(error_raw(&body[id_at.clone()], INVALID_REQUEST, why));
    let id = match json::int(body, &Some(id_at.clone())) {
        None => return Err(refuse("Message must have integer 'id' property")),
        Some(id) if i32::try_from(id).is_err() => {
            return Err(refuse("node's inspector takes only ids that fit 32 bits"));
        }
        Some(id) => id,
    };
    match method_at {
        Some(at) if json::string(&body[at.clone()]).is_some() => Ok(Command {
            id,
            id_at,
            method_at: at,
        }),
        _ => Err(refuse("Message must have string 'method' property")),
    }
}

/// CDP's error answer to the command whose id the client wrote as `id`
/// (which may be no integer: it is echoed as written).
pub fn error_raw(id: &[u8], code: i64, message: &str) -> Vec<u8> {
    // Serialising a str cannot fail.
    let message = serde_json::to_string(message).unwrap_or_default();
    let mut text = Vec::with_capacity(64 + id.len() + message.len());
    text.extend_from_slice(b"{\"id\":");
    text.extend_from_slice(id);
    text.extend_from_slice(
        format!(",\"error\":{{\"code\":{code},\"message\":{message}}}}}").as_bytes(),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(body: &str) -> (i64, String) {
        match check(body.as_bytes()) {
            Ok(c) => (c.id, c.method(body.as_bytes()).to_owned()),
            Err(bad) => panic!("{body}: {bad:?}"),
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
        let c = check(body.as_bytes()).unwrap();
        assert_eq!(&body[c.id_at], "42");
        assert_eq!(&body[c.method_at], "\"Debugger.resume\"");
        // The last of a duplicated key counts, as with JSON.parse.
        assert_eq!(command(r#"{"id":1,"id":2,"method":"a"}"#).0, 2);
        assert_eq!(
            command(r#"{"id":-2147483648,"method":"a"}"#).0,
            i32::MIN as i64
        );
    }

    #[test]
    fn with_an_id_it_is_answered_with_that_id() {
        let method = br#"{"id":7,"error":{"code":-32600,"message":"Message must have string 'method' property"}}"#;
        for body in [
            r#"{"id":7}"#,
            r#"{"id":7,"method":3}"#,
            r#"{"id":7,"method":null}"#,
        ] {
            assert_eq!(
                check(body.as_bytes()),
                Err(Bad::Answer(method.to_vec())),
                "{body}"
            );
        }
        let integer = |id: &str| {
            format!(r#"{{"id":{id},"error":{{"code":-32600,"message":"Message must have integer 'id' property"}}}}"#)
                .into_bytes()
        };
        assert_eq!(
            check(br#"{"id":"1","method":"a"}"#),
            Err(Bad::Answer(integer("\"1\"")))
        );
        assert_eq!(
            check(br#"{"id":1.5,"method":"a"}"#),
            Err(Bad::Answer(integer("1.5")))
        );
        for big in ["2147483648", "9007199254740991", "99999999999999999999"] {
            let body = format!(r#"{{"id":{big},"method":"a"}}"#);
            assert!(
                matches!(check(body.as_bytes()), Err(Bad::Answer(ref a)) if a.starts_with(format!("{{\"id\":{big},").as_bytes())),
                "{body}"
            );
        }
    }

    #[test]
    fn without_one_it_is_closed() {
        for body in [
            r#"{"method":"Runtime.enable"}"#,
            r#"[1]"#,
            r#"{"id":1,"method":"a"} x"#,
            r#"{"id":1,"method":"a""#,
            "",
            "null",
        ] {
            assert!(
                matches!(check(body.as_bytes()), Err(Bad::Close(_))),
                "{body}"
            );
        }
    }
}
