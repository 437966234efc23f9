//! The Chrome DevTools Protocol's wire, sans I/O: what node's and
//! Chromium's inspector speak (HTTP discovery, then a WebSocket), for the
//! proxy's backend side (toward node) and its client port (toward DevTools,
//! `node inspect`, chrome-remote-interface, VS Code). The loop owns the
//! sockets and feeds these parsers bytes; see /work/shared/CDP.md for the
//! facts they follow (verified against node 20; transcripts/ holds node's
//! own bytes).
//!
//! - `http`: a client's request head, what it asks for, the Host and Origin
//!   checks; `discovery`: the answers (`/json/list` naming the proxy, the
//!   101, the refusals);
//! - `backend`: the same from the other end: asking node for its targets,
//!   choosing one, upgrading to it;
//! - `ws`: WebSocket frames both ways (`mask`: the unmasking pass);
//! - `message`: the minimal check of a client's CDP message.

pub mod backend;
pub mod discovery;
pub mod http;
pub mod known;
pub mod mask;
pub mod message;
pub mod ws;
