//! Shared sessions end to end (SESSIONS.md), one module per protocol: each
//! puts a real debugger behind the proxy and several clients before it that
//! reuse the same ids, every client checking each answer against what it
//! sent. DAP has three: debugpy (`dap`), lldb's adapter (`dap_lldb`), and
//! each client's own breakpoint ids on both (`dap_breakpoint_ids`).

pub(crate) mod cdp;
mod cdp_bad;
mod cdp_brk;
mod cdp_devtools;
mod dap;
mod dap_breakpoint_ids;
mod dap_lldb;
mod dbgp;
mod dbgp_proxy;
mod gdb;
mod v8;
