//! The integration tests: one binary that drives the real `dbgproxy`
//! executable (`env!("CARGO_BIN_EXE_dbgproxy")`) over real sockets, against
//! scripted and real debuggers, through the helpers in `util/`. Each module
//! is a topic; `cargo test --test it -- TOPIC::` runs one.

mod util;

mod access;
mod attach;
mod backends;
mod core;
mod debuggers;
mod framing;
mod fuzz_corpus;
mod no_loss;
mod process;
mod sessions;
