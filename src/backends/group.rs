//! A spawned debugger's process group: how the spawn backend ends the
//! debugger together with whatever it started.
//!
//! The debugger runs as the leader of its own process group (its pid is the
//! group id), and what it starts — a debuggee, helpers, the `x` of
//! `sh -c 'x & exec y'` — stays in that group unless it moves. Signalling the
//! pid alone would leave those running, reparented to init, after the proxy
//! exits. So every stop signal goes to the whole group. When the debugger
//! exits on its own, its group is told to go *before* the debugger is reaped:
//! until then its zombie keeps the pid, and so the group id, from being
//! reused. A group that outlives its leader is watched (`Leftovers`) and
//! killed after a grace period; a group id stays reserved while any member
//! lives, so signalling it stays safe.

use std::io;
use std::time::{Duration, Instant};

/// How often groups left behind are checked for having gone.
const CHECK: Duration = Duration::from_millis(100);

/// Sends `sig` to the group led by `pid`, and to `pid` itself if it has left
/// that group. `pid` must be our child, not yet reaped.
pub fn signal_leader(pid: u32, sig: i32) {
    let pid = pid as libc::pid_t;
    signal(pid, sig);
    // SAFETY: getpgid and kill on our own unreaped child: its pid is ours.
    unsafe {
        if libc::getpgid(pid) != pid {
            libc::kill(pid, sig);
        }
    }
}

/// Sends `sig` to every process in group `pgid`.
pub fn signal(pgid: libc::pid_t, sig: i32) {
    // SAFETY: kill(2) touches no memory; callers only name groups whose id
    // is still reserved (see the module comment).
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Whether any process (a zombie included) is still in group `pgid`.
pub fn alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether our child `pid` has exited, without reaping it.
pub fn exited(pid: u32) -> bool {
    // SAFETY: siginfo_t is plain data, zeroed is a valid value; waitid fills
    // it. WNOWAIT leaves the child waitable.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        rc == 0 && info.si_pid() != 0
    }
}

/// Groups whose leader has gone, told to go (SIGTERM) and killed if still
/// there after the grace period.
#[derive(Default)]
pub struct Leftovers {
    groups: Vec<(libc::pid_t, Instant)>,
    next_check: Option<Instant>,
}

impl Leftovers {
    /// Watches group `pgid` (already sent SIGTERM) if anything is left in it.
    pub fn watch(&mut self, pgid: libc::pid_t, now: Instant, grace: Duration) {
        if alive(pgid) {
            log::debug!("processes the debugger started (group {pgid}) are still running");
            self.groups.push((pgid, now + grace));
            self.next_check = Some(now + CHECK);
        }
    }

    pub fn pgids(&self) -> impl Iterator<Item = libc::pid_t> + '_ {
        self.groups.iter().map(|&(pgid, _)| pgid)
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.next_check
    }

    pub fn on_timer(&mut self, now: Instant) {
        if self.next_check.is_none_or(|t| t > now) {
            return;
        }
        self.groups.retain(|&(pgid, kill_at)| {
            if !alive(pgid) {
                return false;
            }
            if now < kill_at {
                return true;
            }
            log::warn!(
                "processes the debugger started (group {pgid}) ignored SIGTERM: killing them"
            );
            signal(pgid, libc::SIGKILL);
            false
        });
        self.next_check = (!self.groups.is_empty()).then_some(now + CHECK);
    }
}
