//! The checks live in the library (`dbgproxy::fuzzing`) so that
//! tests/it/fuzz_corpus.rs replays this corpus in every `cargo test`.

pub use dbgproxy::fuzzing::framing as check;
