//! dbgproxy: a multi-client debug proxy. `main` only parses, sets up logging,
//! runs the proxy and turns an error into one line on stderr and exit code 1.

use std::io::Write;
use std::process::ExitCode;

use std::time::Duration;

use dbgproxy::config::{Action, Invocation};
use dbgproxy::{commands, config, daemon, proxy};

fn main() -> ExitCode {
    let config = match config::Config::from_args() {
        Invocation::Proxy(config) => *config,
        Invocation::Control(action) => return control(action),
    };
    init_logging(config.log_level);
    let result = proxy::run(config);
    daemon::cleanup();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let message = format!("{e:#}");
            daemon::report_error(&message);
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn control(action: Action) -> ExitCode {
    let result = match action {
        Action::Status {
            port,
            client_port,
            pretty,
        } => commands::status(port, client_port, pretty),
        Action::List { json } => commands::list(json),
        Action::Stop {
            port,
            client_port,
            timeout,
        } => commands::stop(port, client_port, Duration::from_secs(timeout)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr only: stdout carries the ready marker and nothing else.
fn init_logging(level: log::LevelFilter) {
    let env = env_logger::Env::default().default_filter_or(level.as_str());
    env_logger::Builder::from_env(env)
        .target(env_logger::Target::Stderr)
        .format(|f, record| {
            writeln!(
                f,
                "{} dbgproxy[{}] {:<5} {}",
                f.timestamp_millis(),
                std::process::id(),
                record.level(),
                record.args()
            )
        })
        .init();
}
