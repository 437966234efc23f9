//! One IDE client: its socket, its bounded out-queue and what it has done.
//!
//! The client table (`clients.rs`) decides what goes into the queue; this module only
//! knows how to move bytes in and out of one socket and which readiness it
//! needs for that.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::framing::{Assembler, Direction, Protocol};
use crate::queue::{ChunkQueue, Flush};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reading and receiving the debugger's output.
    Open,
    /// The client closed its side, or the proxy is shutting down: deliver
    /// what is queued, then close. Nothing new is queued for it.
    Closing,
}

pub struct Client {
    /// The client's number in logs (#1, #2, …), never reused in one process.
    pub id: u64,
    pub peer: SocketAddr,
    pub since: Instant,
    pub state: State,
    pub out: ChunkQueue,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Edge-triggered readiness not yet drained: the socket may hold input.
    pub readable: bool,
    /// Cuts the client's input into whole messages for the debugger.
    pub input: Assembler,
    /// Since when its queue has been over `--client-buffer` (the debugger waits).
    pub behind_since: Option<Instant>,
    /// When a write last took some of its queue.
    pub last_progress: Instant,
    stream: TcpStream,
    token: Token,
    wants_write: bool,
}

/// What one attempt to read from a client gave.
pub enum Input {
    Data(usize),
    WouldBlock,
    /// The client closed its sending side.
    Eof,
    Failed(io::Error),
}

impl Client {
    pub fn new(
        id: u64,
        stream: TcpStream,
        peer: SocketAddr,
        token: Token,
        registry: &Registry,
        framing: (Protocol, usize),
    ) -> io::Result<Client> {
        let mut client = Client {
            id,
            peer,
            since: Instant::now(),
            state: State::Open,
            out: ChunkQueue::new(),
            bytes_in: 0,
            bytes_out: 0,
            readable: true,
            input: Assembler::new(framing.0, Direction::ToDebugger, framing.1),
            behind_since: None,
            last_progress: Instant::now(),
            stream,
            token,
            wants_write: false,
        };
        registry.register(&mut client.stream, token, Interest::READABLE)?;
        Ok(client)
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Reads once into `buf`; `Interrupted` is retried here.
    pub fn read(&mut self, buf: &mut [u8]) -> Input {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Input::Eof,
                Ok(n) => {
                    self.bytes_in += n as u64;
                    return Input::Data(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Input::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Input::Failed(e),
            }
        }
    }

    /// Writes what is queued, and asks for WRITABLE only while something is left.
    pub fn flush(&mut self, registry: &Registry) -> io::Result<Flush> {
        let (outcome, n) = self.out.flush_to(&mut self.stream)?;
        self.bytes_out += n as u64;
        self.want_write(registry, outcome == Flush::Blocked)?;
        Ok(outcome)
    }

    fn want_write(&mut self, registry: &Registry, yes: bool) -> io::Result<()> {
        if self.wants_write == yes {
            return Ok(());
        }
        let interest = if yes {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry.reregister(&mut self.stream, self.token, interest)?;
        self.wants_write = yes;
        Ok(())
    }

    /// Ends the connection. Sends FIN after any bytes already in the kernel so
    /// that the client reads everything before it sees the end.
    pub fn close(mut self, registry: &Registry) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = registry.deregister(&mut self.stream);
    }

    pub fn name(&self) -> String {
        format!("client #{} ({})", self.id, self.peer)
    }
}
