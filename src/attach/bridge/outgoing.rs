//! What waits to be written to the proxy, a whole message at a time.

use std::collections::VecDeque;
use std::io::IoSlice;

use crate::framing::Message;

/// Messages queued for the proxy, the first one `written` bytes in; `true`
/// marks the IDE's own (sent again after a drop), `false` attach's.
#[derive(Default)]
pub(super) struct Outgoing {
    queue: VecDeque<(Message, bool)>,
    pub(super) bytes: usize,
    written: usize,
}

impl Outgoing {
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn push(&mut self, message: Message, ide_message: bool) {
        self.bytes += message.len;
        self.queue.push_back((message, ide_message));
    }

    /// The unwritten bytes, as at most 64 slices for one `writev`.
    pub(super) fn iov(&self) -> Vec<IoSlice<'_>> {
        let mut iov = Vec::with_capacity(16);
        let mut skip = self.written;
        for (m, _) in &self.queue {
            for part in m.parts() {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                iov.push(IoSlice::new(&part[skip..]));
                skip = 0;
                if iov.len() == 64 {
                    return iov;
                }
            }
        }
        iov
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.written += n;
        while let Some((m, _)) = self.queue.front() {
            if self.written < m.len {
                break;
            }
            self.written -= m.len;
            self.bytes -= m.len;
            self.queue.pop_front();
        }
    }

    /// Everything queued, emptied out; the one being written starts over.
    pub(super) fn take(&mut self) -> VecDeque<(Message, bool)> {
        self.bytes = 0;
        self.written = 0;
        std::mem::take(&mut self.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::queue::Chunk;

    fn concat(iov: &[IoSlice<'_>]) -> Vec<u8> {
        iov.iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn partial_writes_resume_and_a_drop_gives_back_whole_messages() {
        let mut o = Outgoing::default();
        let two_parts = Message::from_parts(vec![Chunk::copy_from(b"ab"), Chunk::copy_from(b"cd")]);
        o.push(two_parts, true);
        o.push(Message::from_bytes(b"ef"), false);
        assert_eq!(o.bytes, 6);
        o.consume(3);
        assert_eq!(concat(&o.iov()), b"def");
        assert_eq!(o.bytes, 6, "the first message is not gone until whole");
        o.consume(1);
        assert_eq!((o.bytes, concat(&o.iov())), (2, b"ef".to_vec()));
        o.consume(1);
        let back = o.take();
        assert_eq!(back.len(), 1, "the half-written one comes back whole");
        assert_eq!((back[0].0.to_vec(), back[0].1), (b"ef".to_vec(), false));
        assert!(o.is_empty() && o.iov().is_empty() && o.bytes == 0);
    }
}
