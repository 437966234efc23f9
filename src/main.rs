//! dbgproxy: a multi-client debug proxy. `main` only parses, sets up logging,
//! runs the proxy and turns an error into one line on stderr and exit code 1.

use std::process::ExitCode;
use std::time::Duration;

use dbgproxy::config::{Command, Invocation};
use dbgproxy::control::commands;
use dbgproxy::process::{daemon, logging};
use dbgproxy::{attach, config, proxy};

/// How long the last log lines (and the error line) get to reach stderr at
/// exit; a stderr nobody reads ends the wait much sooner (see `logging`).
const EXIT_FLUSH: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let config = match config::Config::from_args() {
        Invocation::Proxy(config) => *config,
        Invocation::Control(Command::Attach { args }) => return ExitCode::from(attach::main(args)),
        Invocation::Control(action) => return control(action),
    };
    // Logs go to stderr only: stdout carries the ready marker and nothing else.
    logging::init(config.log_level);
    let result = proxy::run(config);
    daemon::cleanup();
    let code = match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let message = format!("{e:#}");
            daemon::report_error(&message);
            // Through the log queue: after the last log line, and never
            // blocking on a stderr that nobody reads.
            logging::line(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    };
    logging::flush(EXIT_FLUSH);
    code
}

fn control(command: Command) -> ExitCode {
    let result = match command {
        Command::Status {
            port,
            client_port,
            pretty,
        } => commands::status(port, client_port, pretty),
        Command::List { json } => commands::list(json),
        Command::Stop {
            port,
            client_port,
            timeout,
        } => commands::stop(port, client_port, Duration::from_secs(timeout)),
        Command::Attach { .. } => unreachable!("attach is run before control actions"),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
