//! Logging that never blocks the event loop.
//!
//! `main` installs this as the `log` backend. A record is filtered with
//! env_logger's rules (`RUST_LOG`, else -v/-q), formatted as
//! `{timestamp} dbgproxy[{pid}] {LEVEL} {message}`, and appended to a bounded
//! in-memory queue; one writer thread drains the queue to fd 2 with blocking
//! writes. The loop itself never waits on stderr: when nobody reads it (an IDE
//! that started the proxy with a pipe it never reads), only the writer thread
//! blocks, the queue fills, and further records are dropped and counted
//! (`dropped`, shown by `status`). When the reader comes back, the writer says
//! how many lines were lost. At exit `flush` gives what is queued a bounded
//! time to get out, and gives up at once on a pipe that does not move.
//!
//! The writer writes to descriptor 2 by number on every write, so SIGHUP's
//! `dup2` of a reopened log file onto it takes effect with the next line. A
//! fork (`--daemon`) goes through `around_fork`, which keeps the queue's lock
//! consistent and starts a new writer in the child.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{Level, Log, Metadata, Record};

/// The queue's bounds: a burst this large waits for a slow reader; past it,
/// records are dropped. (A batch being written is held besides, so at most
/// twice this is in memory.)
const QUEUE_BYTES: usize = 1 << 20;
const QUEUE_LINES: usize = 10_000;
/// Writes go out in pieces of this size, so that `flush` sees a slow reader
/// make progress and tells it from one that does not read at all.
const WRITE_CHUNK: usize = 64 * 1024;
/// A write(2) that has not returned after this long is on a pipe nobody reads.
const STALLED: Duration = Duration::from_millis(200);
/// Before a fork, what is queued gets this long at most to go out.
const FORK_FLUSH: Duration = Duration::from_secs(1);

struct Queue {
    buf: Vec<u8>,
    lines: usize,
    /// Records dropped since the writer last took the queue.
    dropped: u64,
    /// Bytes ever queued and ever written (or abandoned in a fork); `flush`
    /// waits for the second to reach the first.
    queued: u64,
    written: u64,
    /// The writer waits for work: a new record must wake it.
    writer_idle: bool,
    /// When the writer entered the write(2) it is blocked in, if any.
    writing_since: Option<Instant>,
    /// Whether a writer thread exists in this process.
    writer: bool,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    buf: Vec::new(),
    lines: 0,
    dropped: 0,
    queued: 0,
    written: 0,
    writer_idle: false,
    writing_since: None,
    writer: false,
});
/// Signalled when records are queued (the writer waits on it).
static WORK: Condvar = Condvar::new();
/// Signalled when the writer has written something (`flush` waits on it).
static PROGRESS: Condvar = Condvar::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Our pid, cached: the format needs it on every line. Renewed after a fork.
static PID: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Log records dropped so far because stderr was not being read.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Installs the logger: `RUST_LOG` if set, else `default`, with env_logger's
/// directive syntax.
pub fn init(default: &str) {
    let env = env_logger::Env::default().default_filter_or(default);
    let filter = env_logger::Builder::from_env(env).build();
    let max = filter.filter();
    PID.store(std::process::id(), Ordering::Relaxed);
    start_writer();
    if log::set_boxed_logger(Box::new(Logger { filter })).is_ok() {
        log::set_max_level(max);
    }
}

/// Queues one line as it is (no prefix, no filter, never dropped): the
/// `error:` line `main` ends with, kept in order after the log lines.
pub fn line(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    push(line.as_bytes(), true);
}

/// Waits until what is queued now is written, for at most `limit`; gives up
/// earlier when a write has been blocked for `STALLED` (nobody reads stderr).
pub fn flush(limit: Duration) {
    let end = Instant::now() + limit;
    let mut q = lock();
    let target = q.queued;
    while q.written < target && q.writer {
        let now = Instant::now();
        if now >= end || q.writing_since.is_some_and(|t| now - t >= STALLED) {
            return;
        }
        let wait = (end - now).min(Duration::from_millis(20));
        q = PROGRESS
            .wait_timeout(q, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Runs `fork`, a function that forks (and returns in both processes, or in
/// one), so that logging survives it. Only the forking thread lives on in a
/// child: holding the queue's lock across the fork guarantees that the dead
/// writer did not leave it locked, and the child starts a writer of its own.
/// What the parent had queued is flushed first and is the parent's to write.
pub fn around_fork<T>(fork: impl FnOnce() -> T) -> T {
    flush(FORK_FLUSH);
    let parent = std::process::id();
    let mut q = lock();
    let out = fork();
    if std::process::id() != parent {
        q.buf.clear();
        q.lines = 0;
        q.dropped = 0;
        q.written = q.queued;
        q.writer_idle = false;
        q.writing_since = None;
        q.writer = false;
        PID.store(std::process::id(), Ordering::Relaxed);
        drop(q);
        start_writer();
    }
    out
}

struct Logger {
    filter: env_logger::Logger,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        LINE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                format_line(&mut line, record.level(), record.args());
                push(line.as_bytes(), false);
            }
            // A Display impl that logs while being formatted: rare, so a
            // fresh buffer will do.
            Err(_) => {
                let mut line = String::new();
                format_line(&mut line, record.level(), record.args());
                push(line.as_bytes(), false);
            }
        });
    }

    fn flush(&self) {}
}

fn lock() -> MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn push(line: &[u8], always: bool) {
    let mut q = lock();
    if !q.writer {
        // No writer thread could be started: write as env_logger did.
        drop(q);
        write_stderr(line);
        return;
    }
    if !always && (q.buf.len() + line.len() > QUEUE_BYTES || q.lines >= QUEUE_LINES) {
        q.dropped += 1;
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    q.buf.extend_from_slice(line);
    q.lines += 1;
    q.queued += line.len() as u64;
    if q.writer_idle {
        q.writer_idle = false;
        WORK.notify_one();
    }
}

fn start_writer() {
    let mut q = lock();
    if q.writer {
        return;
    }
    q.writer = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(writer)
        .is_ok();
}

/// The writer thread: takes the whole queue at once, writes it, and after it
/// says how many records were dropped meanwhile.
fn writer() {
    let mut spare = Vec::new();
    loop {
        let (batch, dropped) = {
            let mut q = lock();
            while q.buf.is_empty() && q.dropped == 0 {
                q.writer_idle = true;
                q = WORK.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            q.writer_idle = false;
            q.lines = 0;
            let batch = std::mem::replace(&mut q.buf, std::mem::take(&mut spare));
            (batch, std::mem::take(&mut q.dropped))
        };
        for chunk in batch.chunks(WRITE_CHUNK) {
            write_tracked(chunk, true);
        }
        if dropped > 0 {
            let mut notice = String::new();
            format_line(
                &mut notice,
                Level::Warn,
                &format_args!("{dropped} log lines dropped: stderr was not being read"),
            );
            write_tracked(notice.as_bytes(), false);
        }
        spare = batch;
        spare.clear();
        // A burst's buffer need not stay allocated for ever.
        spare.shrink_to(WRITE_CHUNK);
    }
}

/// One blocking write, visible to `flush` while it lasts.
fn write_tracked(bytes: &[u8], counted: bool) {
    lock().writing_since = Some(Instant::now());
    write_stderr(bytes);
    let mut q = lock();
    q.writing_since = None;
    if counted {
        q.written += bytes.len() as u64;
    }
    PROGRESS.notify_all();
}

/// Writes all of `bytes` to descriptor 2, whatever it is now. A closed or
/// broken stderr loses the line: there is nowhere else to say so.
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice; fd 2 is used by number, never owned.
        let n = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[(n as usize).min(bytes.len())..];
    }
}

/// `2024-05-01T12:00:00.123Z dbgproxy[42] INFO  message`: the line format
/// dbgproxy has always had (env_logger's millisecond timestamps).
fn format_line(out: &mut String, level: Level, args: &fmt::Arguments<'_>) {
    write_timestamp(out, SystemTime::now());
    let pid = PID.load(Ordering::Relaxed);
    let _ = writeln!(out, " dbgproxy[{pid}] {level:<5} {args}");
}

/// RFC 3339 in UTC with milliseconds.
fn write_timestamp(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    );
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(secs: u64, millis: u64) -> String {
        let mut s = String::new();
        let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        write_timestamp(&mut s, t);
        s
    }

    #[test]
    fn timestamps_match_env_loggers() {
        assert_eq!(stamp(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(stamp(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(stamp(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(stamp(1_735_689_600, 120), "2025-01-01T00:00:00.120Z");
        assert_eq!(stamp(4_102_444_799, 0), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn lines_keep_the_old_format() {
        PID.store(42, Ordering::Relaxed);
        let mut line = String::new();
        format_line(&mut line, Level::Info, &format_args!("hello {}", 1));
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert_eq!(stamp.len(), "1970-01-01T00:00:00.000Z".len());
        assert_eq!(rest, "dbgproxy[42] INFO  hello 1\n");
        line.clear();
        format_line(&mut line, Level::Debug, &format_args!("x"));
        assert!(line.ends_with(" dbgproxy[42] DEBUG x\n"), "{line}");
    }
}
