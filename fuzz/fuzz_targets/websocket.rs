#![no_main]

use libfuzzer_sys::fuzz_target;

// WebSocket frames as a CDP client or node sends them: the first byte picks
// the role and where to cut the rest in two; both cuts must decode the same.
fuzz_target!(|data: &[u8]| {
    dbgproxy::fuzzing::websocket(data);
});
