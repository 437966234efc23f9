//! Nothing lost, nothing hung (issue #12): in the data path (`data_path`:
//! messages larger than a buffer, clients and debuggers that read slowly or
//! pause, the bounds on client input, what a client learns when the debugger
//! goes) and in the environment around it (`environment`: a stderr nobody
//! reads, debuggers that close at once, a spawned debugger's children,
//! control connections that never ask anything).

mod data_path;
mod environment;
