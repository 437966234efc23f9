//! dbgproxy: a multi-client debug proxy. `main` only parses, sets up logging,
//! runs the proxy and turns an error into one line on stderr and exit code 1.

use std::io::Write;
use std::process::ExitCode;

use dbgproxy::{config, daemon, proxy};

fn main() -> ExitCode {
    let config = config::Config::from_args();
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
