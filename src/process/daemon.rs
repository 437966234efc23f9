//! `--daemon`: detach from the terminal once the listeners are bound, and
//! return in the foreground only when the detached proxy is ready.
//!
//! The listeners are bound before the fork, so a port clash is reported on the
//! terminal. A pipe made before the fork carries the outcome back to the
//! waiting parent (boringtun's pattern): the ready marker, or the one-line
//! error the daemon died of. The parent prints it and exits 0 or 1. The
//! daemon holds an `flock` on `--pidfile` for as long as it runs (the
//! `daemonize` crate's doing), so a second daemon on the same pidfile fails
//! instead of overwriting it; the pidfile is removed on a clean exit.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail};
use daemonize::{Daemonize, Outcome};

/// Where the ready marker goes: stdout, or (for `--daemon`) the pipe the
/// waiting foreground process reads.
pub enum ReadySink {
    Stdout,
    Pipe(File),
}

/// What `--daemon`, `--pidfile` and `--log-file` asked for, paths absolute.
#[derive(Clone, Debug)]
pub struct Options {
    pub pidfile: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
}

/// The daemon's own loose ends: where to report a fatal error while the parent
/// still waits, and the pidfile to remove on exit. Process-wide because they
/// belong to the process, not to one proxy.
struct Detached {
    errors: Option<File>,
    pidfile: Option<PathBuf>,
    log_file: Option<PathBuf>,
}

static DETACHED: Mutex<Option<Detached>> = Mutex::new(None);

/// Forks into the background. Returns in the daemon, with where the ready
/// marker goes; the foreground process never returns from here.
pub fn detach(options: &Options) -> Result<ReadySink> {
    let (mut from_daemon, to_parent) = pipe().context("creating the readiness pipe")?;
    let errors = to_parent
        .try_clone()
        .context("creating the readiness pipe")?;
    let stderr = match &options.log_file {
        Some(path) => daemonize::Stdio::from(open_log(path)?),
        None => daemonize::Stdio::keep(),
    };
    let mut daemon = Daemonize::new().working_directory("/").stderr(stderr);
    if let Some(path) = &options.pidfile {
        daemon = daemon.pid_file(path).chown_pid_file(false);
    }
    // The log writer thread does not survive a fork: the child needs its own.
    match crate::process::logging::around_fork(|| daemon.execute()) {
        Outcome::Parent(result) => {
            drop(to_parent);
            drop(errors);
            let code = match result {
                Ok(_) => relay(&mut from_daemon),
                Err(e) => {
                    eprintln!("error: cannot start the daemon: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
        Outcome::Child(result) => {
            drop(from_daemon);
            if let Err(e) = result {
                let why = match &options.pidfile {
                    Some(path) if e.to_string().contains("lock") => locked(path),
                    _ => format!("cannot become a daemon: {e}"),
                };
                let mut errors = errors;
                let _ = writeln!(errors, "error: {why}");
                std::process::exit(1);
            }
            *DETACHED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Detached {
                errors: Some(errors),
                pidfile: options.pidfile.clone(),
                log_file: options.log_file.clone(),
            });
            log::info!("running as a daemon, pid {}", std::process::id());
            Ok(ReadySink::Pipe(to_parent))
        }
    }
}

/// In the foreground: waits for the daemon's first line and passes it on.
fn relay(from_daemon: &mut File) -> i32 {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match from_daemon.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&line);
    if line.as_slice() == "ß".as_bytes() {
        let mut out = io::stdout().lock();
        let _ = out.write_all("ß\n".as_bytes()).and_then(|()| out.flush());
        0
    } else if text.starts_with("error: ") {
        eprintln!("{text}");
        1
    } else {
        eprintln!("error: the daemon exited before it was ready (its log says why)");
        1
    }
}

/// In the daemon: reports a fatal error to the parent if it still waits.
pub fn report_error(message: &str) {
    let mut detached = DETACHED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(errors) = detached.as_mut().and_then(|d| d.errors.as_mut()) {
        // The parent is gone once the daemon was ready: EPIPE is fine.
        let _ = writeln!(errors, "error: {message}");
    }
}

/// In the daemon, on the way out: the pidfile goes.
pub fn cleanup() {
    let detached = DETACHED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = detached.as_ref().and_then(|d| d.pidfile.as_ref())
        && let Err(e) = std::fs::remove_file(path)
    {
        log::warn!("cannot remove pidfile {}: {e}", path.display());
    }
}

/// SIGHUP: reopens `--log-file` (after logrotate moved it). Returns whether
/// there was one.
pub fn reopen_log() -> Result<bool> {
    let detached = DETACHED.lock().unwrap_or_else(|p| p.into_inner());
    let Some(path) = detached.as_ref().and_then(|d| d.log_file.as_ref()) else {
        return Ok(false);
    };
    let file = open_log(path)?;
    // SAFETY: dup2 onto stderr; the log writer writes to fd 2 by number and
    // sees the new file with its next line.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        bail!(
            "cannot reopen {}: {}",
            path.display(),
            io::Error::last_os_error()
        );
    }
    Ok(true)
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))
}

fn locked(pidfile: &Path) -> String {
    let holder = std::fs::read_to_string(pidfile).unwrap_or_default();
    let holder = holder.trim();
    let pid = if holder.is_empty() {
        String::new()
    } else {
        format!(", pid {holder}")
    };
    format!(
        "pidfile {} is locked: another dbgproxy daemon is running with it{pid}",
        pidfile.display()
    )
}

fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are fresh descriptors owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Makes `path` absolute against the current directory (the daemon runs in `/`).
pub fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd =
        std::env::current_dir().map_err(|e| anyhow!("cannot read the current directory: {e}"))?;
    Ok(cwd.join(path))
}
