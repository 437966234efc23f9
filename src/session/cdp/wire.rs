//! The few things the CDP session reads of a message, and the messages it
//! writes itself. A client's command is checked through (strictly valid
//! JSON, an integer id node takes, a string method) before it reaches node;
//! node's messages are trusted and read only as far as their `id` or
//! `method`, so that a megabyte of `Debugger.paused` or `getScriptSource`
//! costs a few bytes of scanning. Both use the session layer's JSON scanner
//! (`protocol::json`); only the messages whose contents matter are parsed.

use std::ops::{Range, RangeInclusive};

use serde_json::Value;

use crate::net::queue::Chunk;
use crate::protocol::json::{self, Until, Values};

/// The ids of dbgproxy's own requests upstream. Node's inspector takes only
/// ids that fit an i32 (others get an answer without an id, then a second,
/// bogus error that names the last good id: recorded in `disconnect.cdp`),
/// so the range lies inside, at the bottom, where no client counts.
pub const OWN_IDS: RangeInclusive<i64> = (i32::MIN as i64)..=(i32::MIN as i64 + 0xffff);

/// JSON-RPC's "Invalid Request", which V8 answers malformed commands with.
pub const INVALID_REQUEST: i64 = -32600;
/// V8's code for a command that failed (CDP's "server error").
pub const SERVER_ERROR: i64 = -32000;

/// A client's command that passed the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub id: i64,
    /// Where the method's string lies, quotes included.
    pub method_at: Range<usize>,
}

impl Command {
    /// The method's name: CDP's names are plain ASCII, so one with escapes
    /// matches no method dbgproxy cares about and is read as "".
    pub fn method<'a>(&self, body: &'a [u8]) -> &'a str {
        json::plain_str(body, &Some(self.method_at.clone()))
            .and_then(|m| std::str::from_utf8(m).ok())
            .unwrap_or("")
    }
}

/// What to do with a client's text that is not a command.
#[derive(Debug, Clone)]
pub enum Bad {
    /// Answer it with this error (it had an id); the client stays.
    Answer(Chunk),
    /// It cannot be answered: close the client, saying why.
    Close(String),
}

/// Checks a client's text: one JSON object with an integer `id` in node's
/// range (and outside dbgproxy's own) and a string `method`.
pub fn command(body: &[u8]) -> Result<Command, Bad> {
    let [id_at, method_at] = json::fields(body, ["id", "method"], Until::End)
        .map_err(|fault| Bad::Close(format!("a message that is not a JSON object: {fault}")))?;
    let Some(id_at) = id_at else {
        return Err(Bad::Close("a message without an id".into()));
    };
    let refuse = |why: &str| Bad::Answer(error_raw(&body[id_at.clone()], INVALID_REQUEST, why));
    let id = match json::int(body, &Some(id_at.clone())) {
        None => return Err(refuse("Message must have integer 'id' property")),
        Some(id) if OWN_IDS.contains(&id) => {
            return Err(refuse(&format!(
                "ids {} to {} are dbgproxy's own",
                OWN_IDS.start(),
                OWN_IDS.end()
            )));
        }
        Some(id) if i32::try_from(id).is_err() => {
            return Err(refuse("node's inspector takes only ids that fit 32 bits"));
        }
        Some(id) => id,
    };
    match method_at {
        Some(at) if json::string(&body[at.clone()]).is_some() => Ok(Command { id, method_at: at }),
        _ => Err(refuse("Message must have string 'method' property")),
    }
}

/// What node sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// The answer to command `id`.
    Answer(i64),
    /// An event, by method name.
    Event(&'a str),
    /// Neither (node's complaint about a message it could not read).
    Other,
}

/// Reads node's message only as far as its `id` or `method` (node writes
/// either first, but for some errors).
pub fn incoming(body: &[u8]) -> Incoming<'_> {
    for member in json::members(body, Values::Extent) {
        let Ok((key, value)) = member else {
            return Incoming::Other;
        };
        let value = Some(value);
        match key.raw() {
            b"id" => return json::int(body, &value).map_or(Incoming::Other, Incoming::Answer),
            b"method" => {
                return json::plain_str(body, &value)
                    .and_then(|m| std::str::from_utf8(m).ok())
                    .map_or(Incoming::Other, Incoming::Event);
            }
            _ => {}
        }
    }
    Incoming::Other
}

/// A message parsed, for the few whose contents matter (setup commands and
/// their answers, context events): small ones.
pub fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// CDP's error answer to command `id`.
pub fn error(id: i64, code: i64, message: &str) -> Chunk {
    error_raw(id.to_string().as_bytes(), code, message)
}

/// The same, with the id as the client wrote it (which may be no integer).
fn error_raw(id: &[u8], code: i64, message: &str) -> Chunk {
    let message = Value::from(message);
    let mut text = Vec::with_capacity(64 + id.len());
    text.extend_from_slice(b"{\"id\":");
    text.extend_from_slice(id);
    text.extend_from_slice(
        format!(",\"error\":{{\"code\":{code},\"message\":{message}}}}}").as_bytes(),
    );
    Chunk::copy_from(&text)
}

/// An empty success answer to command `id`.
pub fn result(id: i64) -> Chunk {
    Chunk::copy_from(format!("{{\"id\":{id},\"result\":{{}}}}").as_bytes())
}

/// A request of dbgproxy's own.
pub fn request(id: i64, method: &str, params: Option<&Value>) -> Chunk {
    let method = Value::from(method);
    let text = match params {
        Some(p) => format!("{{\"id\":{id},\"method\":{method},\"params\":{p}}}"),
        None => format!("{{\"id\":{id},\"method\":{method}}}"),
    };
    Chunk::copy_from(text.as_bytes())
}

/// An event dbgproxy tells a client itself.
pub fn event(method: &str, params: Value) -> Chunk {
    let method = Value::from(method);
    Chunk::copy_from(format!("{{\"method\":{method},\"params\":{params}}}").as_bytes())
}
