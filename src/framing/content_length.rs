//! V8 and DAP framing, both directions: header lines (`Name: value\r\n`), a
//! blank line, then exactly `Content-Length` bytes.

use super::{FrameError, MAX_HEADER_LINE, MAX_HEADERS, Scan, escape};

pub struct ContentLength {
    max_message: usize,
    in_body: Option<usize>,
    /// The header line being read, without its newline.
    line: Vec<u8>,
    header_bytes: usize,
    length: Option<usize>,
}

impl ContentLength {
    pub fn new(max_message: usize) -> Self {
        ContentLength {
            max_message,
            in_body: None,
            line: Vec::new(),
            header_bytes: 0,
            length: None,
        }
    }

    pub fn in_message(&self) -> bool {
        self.in_body.is_some() || self.header_bytes > 0 || !self.line.is_empty()
    }

    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, FrameError> {
        let mut i = 0;
        loop {
            if let Some(remaining) = self.in_body {
                let available = input.len() - i;
                if available < remaining {
                    self.in_body = Some(remaining - available);
                    return Ok(Scan::Partial);
                }
                self.in_body = None;
                return Ok(Scan::Frame {
                    end: i + remaining,
                    empty_body: false,
                    prompt: false,
                });
            }
            if i == input.len() {
                return Ok(Scan::Partial);
            }
            let rest = &input[i..];
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                self.add_to_line(rest, i)?;
                self.header_bytes += rest.len();
                return Ok(Scan::Partial);
            };
            self.add_to_line(&rest[..newline], i)?;
            i += newline + 1;
            self.header_bytes += newline + 1;
            if self.header_bytes > MAX_HEADERS {
                return Err(FrameError::new(
                    i,
                    format!("headers over {MAX_HEADERS} bytes"),
                ));
            }
            let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
            if line.is_empty() {
                let length = self.length.take().ok_or_else(|| {
                    FrameError::new(i, "headers without a Content-Length".to_string())
                })?;
                self.header_bytes = 0;
                self.line.clear();
                if length == 0 {
                    return Ok(Scan::Frame {
                        end: i,
                        empty_body: true,
                        prompt: false,
                    });
                }
                self.in_body = Some(length);
                continue;
            }
            self.header(i)?;
            self.line.clear();
        }
    }

    fn add_to_line(&mut self, bytes: &[u8], at: usize) -> Result<(), FrameError> {
        if self.line.len() + bytes.len() > MAX_HEADER_LINE {
            return Err(FrameError::new(
                at,
                format!("header line over {MAX_HEADER_LINE} bytes"),
            ));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Reads one `Name: value` line; only Content-Length matters.
    fn header(&mut self, at: usize) -> Result<(), FrameError> {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(FrameError::new(
                at,
                format!("malformed header line \"{}\"", escape(line, 80)),
            ));
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if !name.trim_ascii().eq_ignore_ascii_case(b"content-length") {
            return Ok(());
        }
        let value = value.trim_ascii();
        let length = parse_length(value).ok_or_else(|| {
            FrameError::new(
                at,
                format!("Content-Length \"{}\" is not a number", escape(value, 40)),
            )
        })?;
        if length > self.max_message {
            return Err(FrameError::too_big(
                at,
                format!(
                    "Content-Length {length} is over the {} byte limit",
                    self.max_message
                ),
            ));
        }
        if self.length.is_some_and(|l| l != length) {
            return Err(FrameError::new(
                at,
                "two different Content-Length headers".to_string(),
            ));
        }
        self.length = Some(length);
        Ok(())
    }
}

/// Decimal digits only (no sign, no spaces inside), without overflow.
pub fn parse_length(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0usize, |n, d| {
        n.checked_mul(10)?.checked_add((d - b'0') as usize)
    })
}
