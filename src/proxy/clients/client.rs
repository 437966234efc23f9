//! One IDE client: its socket (TCP or Unix), its bounded out-queue and what
//! it has done.
//!
//! The client table (`clients/`) decides what goes into the queue; this module only
//! knows how to move bytes in and out of one socket and which readiness it
//! needs for that.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use mio::{Interest, Registry, Token};

use crate::access::Via;
use crate::framing::{Assembler, Direction, Protocol};
pub use crate::net::Stream;
use crate::net::queue::{Chunk, ChunkQueue};
use crate::net::result::{self, SocketResult};
use crate::tokens::RowId;

/// The other end, as logs and `status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    /// A Unix socket client, by its credentials (`SO_PEERCRED`).
    Unix {
        uid: u32,
        pid: i32,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix { uid, pid } => write!(f, "unix:uid={uid},pid={pid}"),
        }
    }
}

/// How a client got past the access rules (`access/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The owner of its socket, when local and looked up.
    pub uid: Option<u32>,
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Accepted, asked for the token: nothing it sends is forwarded, and it
    /// is not in the session yet.
    Waiting { deadline: Instant },
    /// Reading and receiving the debugger's output.
    Open,
    /// The client closed its side, or the proxy is shutting down: deliver
    /// what is queued, then close. Nothing new is queued for it.
    Closing,
}

pub struct Client {
    /// The client's number in logs (#1, #2, …), never reused in one process.
    pub id: u64,
    pub peer: Peer,
    pub admission: Admission,
    pub since: Instant,
    pub state: State,
    pub out: ChunkQueue,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Edge-triggered readiness not yet drained: the socket may hold input.
    pub readable: bool,
    /// Cuts the client's input into whole messages for the debugger.
    pub input: Assembler,
    /// While `Waiting`: what it has sent of the token line (or of its
    /// request, at a door).
    pub handshake: Vec<u8>,
    /// Its first request is still read (a door has not judged it yet).
    pub handshake_open: bool,
    /// While `Waiting`: at the protocol's door (`door.rs`), not asked for the token.
    pub at_door: bool,
    /// Input that came after the token line, for the debugger once it has
    /// joined the session.
    pub held: Option<Chunk>,
    /// The row of the session table it joined (`None` before it joins).
    pub row: Option<RowId>,
    stream: Stream,
    token: Token,
    wants_write: bool,
}

impl Client {
    pub fn new(
        id: u64,
        (stream, peer): (Stream, Peer),
        (state, admission): (State, Admission),
        token: Token,
        registry: &Registry,
        framing: (Protocol, usize),
    ) -> io::Result<Client> {
        let mut client = Client {
            id,
            peer,
            admission,
            since: Instant::now(),
            state,
            out: ChunkQueue::new(),
            bytes_in: 0,
            bytes_out: 0,
            readable: true,
            input: Assembler::new(framing.0, Direction::ToDebugger, framing.1),
            handshake: Vec::new(),
            handshake_open: true,
            at_door: false,
            held: None,
            row: None,
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

    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting { .. })
    }

    /// Tells a client refused during the handshake why, as far as the socket
    /// takes it at once, and ends the connection without a reset: input
    /// still unread would make the kernel send RST and discard the line.
    pub fn refuse(mut self, line: Option<&str>, registry: &Registry) {
        if let Some(line) = line {
            let _ = self.stream.write(line.as_bytes());
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if !result::read_once(&mut self.stream, &mut sink)
                .1
                .is_continue()
            {
                break;
            }
        }
        let _ = registry.deregister(&mut self.stream);
    }

    /// Reads once into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> (usize, SocketResult) {
        let (n, result) = result::read_once(&mut self.stream, buf);
        self.bytes_in += n as u64;
        (n, result)
    }

    /// Writes what is queued, and asks for WRITABLE only while something is
    /// left. Returns the bytes written, whatever the outcome.
    pub fn flush(&mut self, registry: &Registry) -> (usize, SocketResult) {
        let flushed = self.out.flush_to(&mut self.stream);
        self.bytes_out += flushed.0 as u64;
        result::follow_flush(flushed, |yes| self.want_write(registry, yes))
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

    /// The address the client connected to (TCP only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.stream {
            Stream::Tcp(s) => s.local_addr().ok(),
            Stream::Unix(_) => None,
        }
    }

    pub fn name(&self) -> String {
        format!("client #{} ({})", self.id, self.peer)
    }
}
