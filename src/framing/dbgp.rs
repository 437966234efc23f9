//! DBGp (Xdebug) framing. The engine sends `LENGTH NUL XML NUL`, where LENGTH
//! is ASCII decimal and does not count the final NUL; the IDE sends commands
//! each terminated by one NUL, with no length.

use super::{FrameError, Scan};

/// Engine → IDE packets.
pub struct Packets {
    max_message: usize,
    state: State,
}

#[derive(Clone, Copy)]
enum State {
    Length { value: usize, digits: usize },
    Body { remaining: usize },
    Terminator,
}

impl Packets {
    pub fn new(max_message: usize) -> Self {
        Packets {
            max_message,
            state: State::Length {
                value: 0,
                digits: 0,
            },
        }
    }

    pub fn in_message(&self) -> bool {
        !matches!(self.state, State::Length { digits: 0, .. })
    }

    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, FrameError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Length { value, digits } => {
                    let b = input[i];
                    if b == 0 {
                        if digits == 0 {
                            return Err(FrameError::new(i, "empty packet length".to_string()));
                        }
                        self.state = State::Body { remaining: value };
                    } else if b.is_ascii_digit() {
                        let value = value
                            .checked_mul(10)
                            .and_then(|v| v.checked_add((b - b'0') as usize))
                            .unwrap_or(usize::MAX);
                        if value > self.max_message {
                            return Err(FrameError::too_big(
                                i,
                                format!("packet length over the {} byte limit", self.max_message),
                            ));
                        }
                        self.state = State::Length {
                            value,
                            digits: digits + 1,
                        };
                    } else {
                        return Err(FrameError::new(
                            i,
                            format!("byte 0x{b:02x} in a packet length"),
                        ));
                    }
                    i += 1;
                }
                State::Body { remaining } => {
                    let take = remaining.min(input.len() - i);
                    i += take;
                    self.state = if take == remaining {
                        State::Terminator
                    } else {
                        State::Body {
                            remaining: remaining - take,
                        }
                    };
                }
                State::Terminator => {
                    if input[i] != 0 {
                        return Err(FrameError::new(
                            i,
                            "packet not terminated by NUL".to_string(),
                        ));
                    }
                    self.state = State::Length {
                        value: 0,
                        digits: 0,
                    };
                    return Ok(Scan::Frame {
                        end: i + 1,
                        empty_body: false,
                        prompt: false,
                    });
                }
            }
        }
        Ok(Scan::Partial)
    }
}

/// IDE → engine commands: everything up to and including a NUL.
pub struct Commands {
    max_message: usize,
    len: usize,
}

impl Commands {
    pub fn new(max_message: usize) -> Self {
        Commands {
            max_message,
            len: 0,
        }
    }

    pub fn in_message(&self) -> bool {
        self.len > 0
    }

    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, FrameError> {
        let (end, complete) = match memchr::memchr(0, input) {
            Some(nul) => (nul + 1, true),
            None => (input.len(), false),
        };
        self.len += end;
        if self.len > self.max_message {
            return Err(FrameError::too_big(
                end.saturating_sub(1),
                format!("command over the {} byte limit", self.max_message),
            ));
        }
        if !complete {
            return Ok(Scan::Partial);
        }
        self.len = 0;
        Ok(Scan::Frame {
            end,
            empty_body: false,
            prompt: false,
        })
    }
}
