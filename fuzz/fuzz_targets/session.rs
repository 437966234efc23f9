#![no_main]

use libfuzzer_sys::fuzz_target;

// A script of joins, leaves, client and debugger messages played into the
// DAP, V8, DBGp or GDB/MI session (the first byte picks which).
fuzz_target!(|data: &[u8]| {
    dbgproxy::fuzzing::session(data);
});
