//! A queue of byte chunks waiting to be written.
//!
//! Every sink in the proxy (each client, the debugger) and the backlog kept while
//! nobody listens is one of these. A `Chunk` is a range of an `Rc<[u8]>`, so that
//! one read from the debugger is shared by every client's queue, and a message
//! cut out of a read is a slice of it, never a copy. The queue itself enforces
//! no bound: its owner decides what happens when one is reached (drop the
//! oldest, stop reading, or disconnect), because each owner has its own policy.

use std::collections::VecDeque;
use std::io::{IoSlice, Write};
use std::ops::Deref;
use std::rc::Rc;

use crate::net::result::{self, SocketResult};

/// Chunks handed to one `writev`: enough to batch a burst, few enough to stay on the stack.
const MAX_IOV: usize = 64;

/// A shared, immutable range of bytes.
#[derive(Clone, Debug)]
pub struct Chunk {
    buf: Rc<[u8]>,
    start: usize,
    end: usize,
}

impl Chunk {
    /// Copies `bytes` into a new shared buffer.
    pub fn copy_from(bytes: &[u8]) -> Chunk {
        Chunk::from(Rc::<[u8]>::from(bytes))
    }

    /// The bytes of `parts`, in order, copied once into one new buffer: a
    /// message that spans reads, made contiguous for a session to read.
    /// (Gathering into a `Vec` first and then into an `Rc` copied it twice,
    /// with two allocations: 6 µs for 64 KiB against 0.8.)
    pub fn concat(parts: &[Chunk]) -> Chunk {
        let len = parts.iter().map(|c| c.len()).sum();
        let mut buf = Rc::<[u8]>::new_uninit_slice(len);
        let Some(dst) = Rc::get_mut(&mut buf) else {
            unreachable!("a new Rc has no other owner");
        };
        let mut at = 0;
        for part in parts {
            // A plain element-wise write: the compiler makes it a memcpy.
            for (d, s) in dst[at..at + part.len()].iter_mut().zip(part.iter()) {
                d.write(*s);
            }
            at += part.len();
        }
        assert_eq!(at, len);
        // SAFETY: the parts' lengths sum to `len` and each part was written
        // at its offset above (asserted), so every byte is initialised.
        Chunk::from(unsafe { buf.assume_init() })
    }

    /// The sub-range `from..to` of this chunk, sharing its buffer.
    pub fn slice(&self, from: usize, to: usize) -> Chunk {
        assert!(
            from <= to && to <= self.len(),
            "slice {from}..{to} of {}",
            self.len()
        );
        Chunk {
            buf: self.buf.clone(),
            start: self.start + from,
            end: self.start + to,
        }
    }

    /// Extends this chunk by `next` when `next` continues it in the same buffer.
    fn try_extend(&mut self, next: &Chunk) -> bool {
        let joins = Rc::ptr_eq(&self.buf, &next.buf) && self.end == next.start;
        if joins {
            self.end = next.end;
        }
        joins
    }
}

impl From<Rc<[u8]>> for Chunk {
    fn from(buf: Rc<[u8]>) -> Chunk {
        let end = buf.len();
        Chunk { buf, start: 0, end }
    }
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

#[derive(Default, Debug)]
pub struct ChunkQueue {
    chunks: VecDeque<Chunk>,
    len: usize,
}

impl ChunkQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `chunk`; a slice that continues the last one in the same buffer
    /// (consecutive messages of one read) extends it instead.
    pub fn push(&mut self, chunk: Chunk) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        if let Some(last) = self.chunks.back_mut()
            && last.try_extend(&chunk)
        {
            return;
        }
        self.chunks.push_back(chunk);
    }

    /// Moves everything from `other` to the back of this queue.
    pub fn append(&mut self, other: &mut ChunkQueue) {
        if self.is_empty() {
            std::mem::swap(self, other);
            return;
        }
        for chunk in other.chunks.drain(..) {
            self.push(chunk);
        }
        other.len = 0;
    }

    /// Forgets the first `n` queued bytes (they were written, or are being dropped).
    pub fn consume(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        n = n.min(self.len);
        self.len -= n;
        while let Some(first) = self.chunks.front_mut() {
            if n < first.len() {
                first.start += n;
                return;
            }
            n -= first.len();
            self.chunks.pop_front();
            if n == 0 {
                return;
            }
        }
    }

    /// Drops the oldest bytes until at most `bound` remain; returns how many went.
    pub fn trim_to(&mut self, bound: usize) -> usize {
        let excess = self.len.saturating_sub(bound);
        self.consume(excess);
        excess
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// The queued chunks, oldest first.
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.chunks.iter()
    }

    /// Writes as much as the sink takes, several chunks per syscall, and
    /// says what that came to: `Continue` once everything queued is written,
    /// `WouldBlock` with bytes left, `Error` for the caller to close the sink.
    /// Returns the bytes written alongside, whatever the outcome.
    pub fn flush_to<W: Write>(&mut self, sink: &mut W) -> (usize, SocketResult) {
        let mut written = 0;
        while !self.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for (slot, chunk) in iov.iter_mut().zip(&self.chunks) {
                *slot = IoSlice::new(chunk);
                count += 1;
            }
            match result::write_once(sink, &iov[..count]) {
                (n, SocketResult::Continue) => {
                    self.consume(n);
                    written += n;
                }
                (_, stop) => return (written, stop),
            }
        }
        (written, SocketResult::Continue)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn rc(b: &[u8]) -> Chunk {
        Chunk::copy_from(b)
    }

    #[test]
    fn concat_copies_the_parts_in_order() {
        let whole = rc(b"0123456789");
        let parts = [whole.slice(2, 5), rc(b""), rc(b"abc"), whole.slice(9, 10)];
        assert_eq!(&*Chunk::concat(&parts), b"234abc9");
        assert_eq!(&*Chunk::concat(&[]), b"");
        let big = rc(&vec![7u8; 70_000]);
        let joined = Chunk::concat(&[big.slice(0, 40_000), big.slice(40_000, 70_000)]);
        assert_eq!(&*joined, &*big);
    }

    /// A sink that takes at most `cap` bytes per call, then blocks after `budget`.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
        budget: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.cap).min(self.budget);
            self.out.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flush_keeps_order_across_partial_writes_and_blocking() {
        let mut q = ChunkQueue::new();
        q.push(rc(b"hello "));
        q.push(rc(b""));
        q.push(rc(b"wide "));
        q.push(rc(b"world"));
        assert_eq!(q.len(), 16);
        let mut sink = Trickle {
            out: vec![],
            cap: 3,
            budget: 7,
        };
        assert!(matches!(
            q.flush_to(&mut sink),
            (7, SocketResult::WouldBlock)
        ));
        assert_eq!(q.len(), 9);
        sink.budget = usize::MAX;
        assert!(matches!(q.flush_to(&mut sink), (9, SocketResult::Continue)));
        assert_eq!(sink.out, b"hello wide world");
        assert!(q.is_empty());
    }

    #[test]
    fn trim_drops_the_oldest_bytes_only() {
        let mut q = ChunkQueue::new();
        q.push(rc(b"0123456789"));
        q.push(rc(b"abcdef"));
        assert_eq!(q.trim_to(8), 8);
        assert_eq!(q.trim_to(8), 0);
        let mut sink = Trickle {
            out: vec![],
            cap: 100,
            budget: 100,
        };
        assert!(q.flush_to(&mut sink).1.is_continue());
        assert_eq!(sink.out, b"89abcdef");
    }

    #[test]
    fn slices_of_one_buffer_are_merged_and_written_in_order() {
        let read = rc(b"<a><bb><ccc>");
        let mut q = ChunkQueue::new();
        q.push(read.slice(0, 3));
        q.push(read.slice(3, 7));
        q.push(read.slice(7, 12));
        assert_eq!(q.chunks().count(), 1);
        q.push(rc(b"tail"));
        assert_eq!(q.chunks().count(), 2);
        let mut sink = Trickle {
            out: vec![],
            cap: 5,
            budget: 100,
        };
        assert!(q.flush_to(&mut sink).1.is_continue());
        assert_eq!(sink.out, b"<a><bb><ccc>tail");
    }

    #[test]
    fn append_does_not_resend_the_consumed_head() {
        let mut a = ChunkQueue::new();
        a.push(rc(b"A"));
        let mut b = ChunkQueue::new();
        b.push(rc(b"xxBC"));
        b.push(rc(b"D"));
        b.consume(2);
        a.append(&mut b);
        assert!(b.is_empty());
        assert_eq!(a.len(), 4);
        let mut sink = Trickle {
            out: vec![],
            cap: 100,
            budget: 100,
        };
        assert!(a.flush_to(&mut sink).1.is_continue());
        assert_eq!(sink.out, b"ABCD");
    }

    #[test]
    fn a_write_error_is_returned() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut q = ChunkQueue::new();
        q.push(rc(b"x"));
        assert!(matches!(
            q.flush_to(&mut Broken),
            (0, SocketResult::Error(_))
        ));
        assert_eq!(q.len(), 1);
    }
}
