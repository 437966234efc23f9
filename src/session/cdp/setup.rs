//! What one CDP client has set up in the debuggee, remembered so that it can
//! be applied again to the next process after a restart (issue #20 point 4):
//! the domains it enabled, the settings it chose, its breakpoints by URL.
//!
//! Everything is recorded from a command's *successful* answer, never from
//! the command: a refused `setBreakpointByUrl` (a duplicate) must not come
//! back after a restart as a breakpoint the client never got. Breakpoints by
//! URL replay well because node's ids for them are deterministic
//! (`1:line:col:url`, `2:…:regex`, `3:…:hash`), so the client's ids stay
//! valid in the next process; one set by script id (`Debugger.setBreakpoint`)
//! names a script of the old process and is not replayed.

use std::collections::BTreeSet;

use serde_json::Value;

/// Settings replayed as the client last set them. `setBlackboxedRanges`
/// is not one: its ranges belong to a script of the old process; nor
/// `NodeRuntime.notifyWhenWaitingForDisconnect`, which dbgproxy sets itself.
const SETTINGS: &[&str] = &[
    "Debugger.setPauseOnExceptions",
    "Debugger.setAsyncCallStackDepth",
    "Debugger.setBlackboxPatterns",
    "Debugger.setSkipAllPauses",
    "Debugger.setBreakpointsActive",
    "Runtime.setAsyncCallStackDepth",
    "Runtime.setCustomObjectFormatterEnabled",
    "Runtime.setMaxCallStackSizeToCapture",
];

/// Node has about twenty domains: a client enabling more is not one to
/// follow.
const MAX_ENABLES: usize = 32;

/// Whether a successful answer to `method` changes the setup.
pub fn matters(method: &str) -> bool {
    method.ends_with(".enable")
        || method.ends_with(".disable")
        || SETTINGS.contains(&method)
        || matches!(
            method,
            "Debugger.setBreakpointByUrl" | "Debugger.setBreakpoint" | "Debugger.removeBreakpoint"
        )
}

#[derive(Debug, Clone, PartialEq)]
pub struct Breakpoint {
    /// The id node gave it, which the client knows it by.
    pub id: String,
    pub params: Value,
}

/// One command to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub method: String,
    pub params: Option<Value>,
    /// For a breakpoint: the id the client knows it by.
    pub breakpoint: Option<String>,
}

/// What recording a command's success did, beyond the obvious.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Done,
    Ignored,
    /// A bound was reached: not remembered.
    Refused,
}

#[derive(Debug, Default)]
pub struct Setup {
    /// `Domain.enable` commands in the order the client first sent them.
    enables: Vec<(String, Option<Value>)>,
    /// Setting commands in the order the client first sent them, with the
    /// last params.
    settings: Vec<(String, Option<Value>)>,
    breakpoints: Vec<Breakpoint>,
    /// Ids of breakpoints set by script id in the current process.
    by_script: BTreeSet<String>,
    max_breakpoints: usize,
}

impl Setup {
    pub fn new(max_breakpoints: usize) -> Setup {
        Setup {
            max_breakpoints,
            ..Setup::default()
        }
    }

    /// The client's `method` with `params` was answered with `result`.
    pub fn record(&mut self, method: &str, params: Option<Value>, result: &Value) -> Recorded {
        if let Some(domain) = method.strip_suffix(".disable") {
            self.disable(domain);
            return Recorded::Done;
        }
        if method.ends_with(".enable") {
            return upsert(&mut self.enables, method, params, MAX_ENABLES);
        }
        if SETTINGS.contains(&method) {
            return upsert(&mut self.settings, method, params, SETTINGS.len());
        }
        let Some(id) = result["breakpointId"]
            .as_str()
            .or_else(|| params.as_ref()?["breakpointId"].as_str())
        else {
            return Recorded::Ignored;
        };
        let id = id.to_owned();
        match method {
            "Debugger.setBreakpointByUrl" => {
                if self.breakpoints.len() >= self.max_breakpoints {
                    return Recorded::Refused;
                }
                let params = params.unwrap_or(Value::Null);
                self.breakpoints.push(Breakpoint { id, params });
            }
            "Debugger.setBreakpoint" => {
                if self.by_script.len() >= self.max_breakpoints {
                    return Recorded::Refused;
                }
                self.by_script.insert(id);
            }
            "Debugger.removeBreakpoint" => {
                self.breakpoints.retain(|b| b.id != id);
                self.by_script.remove(&id);
            }
            _ => return Recorded::Ignored,
        }
        Recorded::Done
    }

    /// `Debugger.disable` also drops the session's breakpoints and resets its
    /// settings in V8 (`V8DebuggerAgentImpl::disable`): so here too.
    fn disable(&mut self, domain: &str) {
        let enable = format!("{domain}.enable");
        self.enables.retain(|(m, _)| *m != enable);
        if domain == "Debugger" {
            self.settings.retain(|(m, _)| !m.starts_with("Debugger."));
            self.breakpoints.clear();
            self.by_script.clear();
        }
    }

    /// What to send a new process, in order: enables, then settings, then
    /// breakpoints. Breakpoints set by script id are forgotten (their
    /// scripts are gone); how many, for the log.
    pub fn replay(&mut self) -> (Vec<Step>, usize) {
        let plain = |(method, params): &(String, Option<Value>)| Step {
            method: method.clone(),
            params: params.clone(),
            breakpoint: None,
        };
        let mut steps: Vec<Step> = self
            .enables
            .iter()
            .chain(&self.settings)
            .map(plain)
            .collect();
        steps.extend(self.breakpoints.iter().map(|b| Step {
            method: "Debugger.setBreakpointByUrl".into(),
            params: Some(b.params.clone()),
            breakpoint: Some(b.id.clone()),
        }));
        let dropped = std::mem::take(&mut self.by_script).len();
        (steps, dropped)
    }

    /// The enabled domains, for `status`.
    pub fn domains(&self) -> Vec<&str> {
        self.enables
            .iter()
            .map(|(m, _)| m.strip_suffix(".enable").unwrap_or(m))
            .collect()
    }

    pub fn breakpoints(&self) -> &[Breakpoint] {
        &self.breakpoints
    }

    pub fn by_script(&self) -> usize {
        self.by_script.len()
    }
}

fn upsert(
    list: &mut Vec<(String, Option<Value>)>,
    method: &str,
    params: Option<Value>,
    max: usize,
) -> Recorded {
    if let Some(entry) = list.iter_mut().find(|(m, _)| m == method) {
        entry.1 = params;
        return Recorded::Done;
    }
    if list.len() >= max {
        return Recorded::Refused;
    }
    list.push((method.to_owned(), params));
    Recorded::Done
}
