//! Replays the fuzz corpus (fuzz/corpus/<target>/) and the inputs that once
//! failed (fuzz/regressions/<target>/, kept apart because minimising the
//! corpus may drop them) through the same checks the fuzz targets run
//! (`dbgproxy::fuzzing`), so that every input a fuzzer ever found
//! interesting stays a test, on stable Rust and without a fuzzer.

use std::path::Path;

use dbgproxy::framing::{Direction, Protocol};
use dbgproxy::fuzzing;

/// Runs `check` on every file of one target's corpus and of its
/// regressions; returns how many.
fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = root.join("corpus").join(target);
    let n = replay_dir(&corpus, target, &check);
    assert!(
        n > 0,
        "{target}: the corpus in {} is empty",
        corpus.display()
    );
    let regressions = root.join("regressions").join(target);
    if regressions.is_dir() {
        assert!(replay_dir(&regressions, target, &check) > 0);
    }
    n
}

fn replay_dir(dir: &Path, target: &str, check: &impl Fn(&[u8])) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    n
}

#[test]
fn content_length_corpus() {
    replay("content_length", |d| {
        fuzzing::framing(Protocol::Dap, Direction::ToDebugger, d)
    });
}

#[test]
fn dbgp_corpus() {
    replay("dbgp", |d| {
        fuzzing::framing(Protocol::Dbgp, Direction::FromDebugger, d);
        fuzzing::framing(Protocol::Dbgp, Direction::ToDebugger, d);
    });
}

#[test]
fn gdb_mi_corpus() {
    replay("gdb_mi", |d| {
        fuzzing::framing(Protocol::GdbMi, Direction::FromDebugger, d)
    });
}

#[test]
fn session_corpus() {
    replay("session", fuzzing::session);
}

#[test]
fn json_corpus() {
    replay("json", fuzzing::json);
}

#[test]
fn dbgp_proxy_corpus() {
    replay("dbgp_proxy", fuzzing::dbgp_proxy);
}

#[test]
fn websocket_corpus() {
    replay("websocket", fuzzing::websocket);
}
