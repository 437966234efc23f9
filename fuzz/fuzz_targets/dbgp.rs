#![no_main]

use dbgproxy::framing::{Direction, Protocol};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::check(Protocol::Dbgp, Direction::FromDebugger, data);
    common::check(Protocol::Dbgp, Direction::ToDebugger, data);
});
