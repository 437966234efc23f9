//! GDB/MI framing, both directions: newline-terminated records (`\r\n` is
//! accepted, the `\r` stays part of the line). gdb's `(gdb) ` prompt is a line
//! of its own, and is reported as such: it ends gdb's greeting.

use super::{FrameError, Scan};

/// Enough of a line's start to recognise the prompt.
const HEAD: usize = 8;

pub struct Lines {
    max_message: usize,
    len: usize,
    head: [u8; HEAD],
}

impl Lines {
    pub fn new(max_message: usize) -> Self {
        Lines {
            max_message,
            len: 0,
            head: [0; HEAD],
        }
    }

    pub fn in_message(&self) -> bool {
        self.len > 0
    }

    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, FrameError> {
        let (end, complete) = match memchr::memchr(b'\n', input) {
            Some(newline) => (newline + 1, true),
            None => (input.len(), false),
        };
        if self.len < HEAD {
            let n = (HEAD - self.len).min(end);
            self.head[self.len..self.len + n].copy_from_slice(&input[..n]);
        }
        self.len += end;
        if self.len > self.max_message {
            return Err(FrameError::too_big(
                end.saturating_sub(1),
                format!("line over the {} byte limit", self.max_message),
            ));
        }
        if !complete {
            return Ok(Scan::Partial);
        }
        let prompt = self.len <= HEAD && is_prompt(&self.head[..self.len]);
        self.len = 0;
        Ok(Scan::Frame {
            end,
            empty_body: false,
            prompt,
        })
    }
}

/// `(gdb)`, with gdb's trailing space or not, and either line ending.
fn is_prompt(line: &[u8]) -> bool {
    line.strip_suffix(b"\n")
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .is_some_and(|l| l.trim_ascii_end() == b"(gdb)")
}
