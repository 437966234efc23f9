//! The few things the CDP session reads of a message, and the messages it
//! writes itself. A client's command is checked through (strictly valid
//! JSON, an integer id node takes, a string method) before it reaches node;
//! node's messages are trusted and read only as far as their `id` or
//! `method`, so that a megabyte of `Debugger.paused` or `getScriptSource`
//! costs a few bytes of scanning. Both use the session layer's JSON scanner
//! (`protocol::json`); only the messages whose contents matter are parsed.

use std::ops::RangeInclusive;

use serde_json::Value;

use crate::net::queue::Chunk;
use crate::protocol::cdp::message;
use crate::protocol::json::{self, Values};

/// The ids of dbgproxy's own requests upstream. Node's inspector takes only
/// ids that fit an i32 (others get an answer without an id, then a second,
/// bogus error that names the last good id: recorded in `disconnect.cdp`),
/// so the range lies inside, at the bottom, where no client counts.
pub const OWN_IDS: RangeInclusive<i64> = (i32::MIN as i64)..=(i32::MIN as i64 + 0xffff);

/// V8's code for a command that failed (CDP's "server error").
pub const SERVER_ERROR: i64 = -32000;

pub use crate::protocol::cdp::message::{Command, INVALID_REQUEST};

/// What to do with a client's text that is not a command.
#[derive(Debug, Clone)]
pub enum Bad {
    /// Answer it with this error (it had an id); the client stays.
    Answer(Chunk),
    /// It cannot be answered: close the client, saying why.
    Close(String),
}

/// Checks a client's text: a command node takes (`protocol::cdp::message`)
/// whose id is not one of dbgproxy's own.
pub fn command(body: &[u8]) -> Result<Command, Bad> {
    let command = message::check(body).map_err(|bad| match bad {
        message::Bad::Answer(text) => Bad::Answer(Chunk::copy_from(&text)),
        message::Bad::Close(why) => Bad::Close(why),
    })?;
    if OWN_IDS.contains(&command.id) {
        let why = format!(
            "ids {} to {} are dbgproxy's own",
            OWN_IDS.start(),
            OWN_IDS.end()
        );
        let raw = &body[command.id_at.clone()];
        return Err(Bad::Answer(Chunk::copy_from(&message::error_raw(
            raw,
            INVALID_REQUEST,
            &why,
        ))));
    }
    Ok(command)
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
    Chunk::copy_from(&message::error_raw(
        id.to_string().as_bytes(),
        code,
        message,
    ))
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
