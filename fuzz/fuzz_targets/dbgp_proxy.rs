#![no_main]

use libfuzzer_sys::fuzz_target;

// Bytes on the DBGp proxy's registration port (the first byte says where
// to cut them in two), and the same bytes as an engine's first packet.
fuzz_target!(|data: &[u8]| {
    dbgproxy::fuzzing::dbgp_proxy(data);
});
