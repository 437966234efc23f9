//! Breakpoints per client, merged (SESSIONS.md rule 4).
//!
//! DAP's `setBreakpoints` replaces every breakpoint of one source, so one
//! client's request would wipe another's. The proxy keeps each client's list
//! per source (and its function, data and instruction breakpoints and
//! exception filters), sends the debugger the union, de-duplicated, and
//! remembers where each client's breakpoints sit in the union (a `Layout`,
//! with their identities for the id spaces of `ids.rs`): the debugger
//! answers in the union's order, and the requester's answer is its
//! positions, in its order. A client that drops without a goodbye keeps its lists until some
//! client next sets the same source (or kind), which is how a returning IDE
//! finds the session as it left it; a goodbye drops them at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::ids::{Entries, Layout};
use crate::session::ClientId;

/// Sources with breakpoints, all clients together.
const MAX_SOURCES: usize = 4096;

/// A request to send the debugger, and where each client's entries are in it.
pub struct Plan {
    pub arguments: Value,
    pub layout: Layout,
}

/// The requests that replace a whole list of breakpoints of one kind, each
/// merged by its key (DAP says a function breakpoint is its name, a data
/// breakpoint its `dataId`, an instruction breakpoint its reference and
/// offset).
const NAMED: [&str; 3] = [
    "setFunctionBreakpoints",
    "setDataBreakpoints",
    "setInstructionBreakpoints",
];

/// The key that merges two breakpoints of kind `command`.
fn named_key(command: &str) -> fn(&Value) -> Option<Value> {
    match command {
        "setDataBreakpoints" => |b| b.get("dataId").cloned(),
        "setInstructionBreakpoints" => |b| {
            let offset = b.get("offset").cloned().unwrap_or(0.into());
            Some(json!([b.get("instructionReference")?, offset]))
        },
        _ => |b| b.get("name").cloned(),
    }
}

struct Source {
    /// The `source` object of the latest request, sent with the union.
    source: Value,
    lists: BTreeMap<ClientId, Vec<Value>>,
}

#[derive(Default)]
struct Exceptions {
    filters: Vec<Value>,
    options: Vec<Value>,
    exception_options: Vec<Value>,
}

#[derive(Default)]
pub struct Breakpoints {
    sources: HashMap<String, Source>,
    /// Per request of `NAMED`, each client's list.
    named: HashMap<&'static str, BTreeMap<ClientId, Vec<Value>>>,
    exceptions: BTreeMap<ClientId, Exceptions>,
    /// Clients that dropped without a goodbye and still have lists here.
    departed: BTreeSet<ClientId>,
    warned: bool,
    pub refused: u64,
}

impl Breakpoints {
    /// A new debugger session starts with none: its clients were told the
    /// old one terminated, and IDEs set their breakpoints again with the next
    /// handshake. Carrying the old ones over would stop the new program where
    /// nobody now asks it to.
    pub fn clear(&mut self) {
        self.sources.clear();
        self.named.clear();
        self.exceptions.clear();
        self.departed.clear();
    }

    /// A client's `setBreakpoints` arguments: the union request.
    pub fn set_source(&mut self, client: ClientId, args: &Value) -> Result<Plan, String> {
        let source = args.get("source").ok_or("no arguments.source")?;
        let key = source_key(source).ok_or("source has neither path nor sourceReference")?;
        let list = match (args.get("breakpoints"), args.get("lines")) {
            (Some(Value::Array(a)), _) => a.clone(),
            (Some(_), _) => return Err("arguments.breakpoints is not an array".into()),
            // The deprecated form: lines only.
            (None, Some(Value::Array(lines))) => lines.iter().map(|l| json!({"line": l})).collect(),
            (None, _) => Vec::new(),
        };
        if !self.sources.contains_key(&key) && self.sources.len() >= MAX_SOURCES {
            self.refused += 1;
            if !self.warned {
                self.warned = true;
                log::warn!("breakpoints in over {MAX_SOURCES} sources: refusing more");
            }
            return Err(format!(
                "the proxy keeps breakpoints in at most {MAX_SOURCES} sources"
            ));
        }
        let entry = self.sources.entry(key.clone()).or_insert_with(|| Source {
            source: source.clone(),
            lists: BTreeMap::new(),
        });
        entry.source = source.clone();
        entry.lists.retain(|c, _| !self.departed.contains(c));
        replace(&mut entry.lists, client, list);
        let (union, layout) = layout(&format!("src:{key}"), &entry.lists, line_key);
        if entry.lists.is_empty() {
            self.sources.remove(&key);
        }
        self.tidy_departed();
        let mut arguments = args.clone();
        if let Some(a) = arguments.as_object_mut() {
            a.remove("lines");
            a.insert("breakpoints".into(), Value::Array(union));
        }
        Ok(Plan {
            arguments,
            layout: with_asker(layout, client),
        })
    }

    /// A client's `setFunctionBreakpoints`, `setDataBreakpoints` or
    /// `setInstructionBreakpoints` arguments: the union by that kind's key.
    pub fn set_named(
        &mut self,
        client: ClientId,
        command: &str,
        args: &Value,
    ) -> Result<Plan, String> {
        let list = match args.get("breakpoints") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Err("arguments.breakpoints is not an array".into()),
        };
        let Some(&command) = NAMED.iter().find(|&&c| c == command) else {
            return Err(format!("{command} is no breakpoints request"));
        };
        let lists = self.named.entry(command).or_default();
        lists.retain(|c, _| !self.departed.contains(c));
        replace(lists, client, list);
        let (union, layout) = layout(command, lists, named_key(command));
        self.tidy_departed();
        let mut arguments = args.clone();
        arguments["breakpoints"] = Value::Array(union);
        Ok(Plan {
            arguments,
            layout: with_asker(layout, client),
        })
    }

    /// A client's `setExceptionBreakpoints` arguments: the union of filters,
    /// of filter options by `filterId`, and of exception options. Positions
    /// count through all three, as the answer's `breakpoints` do.
    pub fn set_exceptions(&mut self, client: ClientId, args: &Value) -> Result<Plan, String> {
        let array = |name: &str| -> Result<Vec<Value>, String> {
            match args.get(name) {
                Some(Value::Array(a)) => Ok(a.clone()),
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(_) => Err(format!("arguments.{name} is not an array")),
            }
        };
        let mine = Exceptions {
            filters: array("filters")?,
            options: array("filterOptions")?,
            exception_options: array("exceptionOptions")?,
        };
        let departed = &self.departed;
        self.exceptions.retain(|c, _| !departed.contains(c));
        let empty =
            mine.filters.is_empty() && mine.options.is_empty() && mine.exception_options.is_empty();
        if empty {
            self.exceptions.remove(&client);
        } else {
            self.exceptions.insert(client, mine);
        }
        self.tidy_departed();
        let (arguments, layout) = exceptions_union(&self.exceptions, args);
        Ok(Plan {
            arguments,
            layout: with_asker(layout, client),
        })
    }

    /// `client` dropped without a goodbye: its lists stay until replaced.
    pub fn departed(&mut self, client: ClientId) {
        if self.has(client) {
            self.departed.insert(client);
        }
    }

    /// Drops everything of `client`'s; returns the requests (command,
    /// arguments, the others' layout) that bring the debugger to the
    /// reduced unions.
    pub fn forget(&mut self, client: ClientId) -> Vec<(&'static str, Value, Layout)> {
        let mut requests = Vec::new();
        let mut emptied = Vec::new();
        for (key, s) in &mut self.sources {
            if !s.lists.contains_key(&client) {
                continue;
            }
            let before = union(&s.lists, line_key).0;
            s.lists.remove(&client);
            let (after, layout) = layout(&format!("src:{key}"), &s.lists, line_key);
            if before != after {
                requests.push((
                    "setBreakpoints",
                    json!({"source": s.source, "breakpoints": after}),
                    layout,
                ));
            }
            if s.lists.is_empty() {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.sources.remove(&key);
        }
        for command in NAMED {
            let Some(lists) = self.named.get_mut(command) else {
                continue;
            };
            if !lists.contains_key(&client) {
                continue;
            }
            let key = named_key(command);
            let before = union(lists, key).0;
            lists.remove(&client);
            let (after, layout) = layout(command, lists, key);
            if before != after {
                requests.push((command, json!({"breakpoints": after}), layout));
            }
        }
        if self.exceptions.contains_key(&client) {
            let none = Value::Object(Map::new());
            let before = exceptions_union(&self.exceptions, &none).0;
            self.exceptions.remove(&client);
            let (after, layout) = exceptions_union(&self.exceptions, &none);
            if before != after {
                requests.push(("setExceptionBreakpoints", after, layout));
            }
        }
        self.departed.remove(&client);
        requests
    }

    /// The requests (command, arguments, layout) that give a new debugger
    /// every union there is; the layouts map its answers onto the ids each
    /// client already holds.
    pub fn all(&self) -> Vec<(&'static str, Value, Layout)> {
        let mut requests: Vec<(&'static str, Value, Layout)> = self
            .sources
            .iter()
            .map(|(key, s)| {
                let (union, layout) = layout(&format!("src:{key}"), &s.lists, line_key);
                (
                    "setBreakpoints",
                    json!({"source": s.source, "breakpoints": union}),
                    layout,
                )
            })
            .collect();
        for command in NAMED {
            let Some(lists) = self.named.get(command).filter(|l| !l.is_empty()) else {
                continue;
            };
            let (union, layout) = layout(command, lists, named_key(command));
            requests.push((command, json!({"breakpoints": union}), layout));
        }
        if !self.exceptions.is_empty() {
            let none = Value::Object(Map::new());
            let (arguments, layout) = exceptions_union(&self.exceptions, &none);
            requests.push(("setExceptionBreakpoints", arguments, layout));
        }
        requests
    }

    fn has(&self, client: ClientId) -> bool {
        self.sources.values().any(|s| s.lists.contains_key(&client))
            || self.named.values().any(|l| l.contains_key(&client))
            || self.exceptions.contains_key(&client)
    }

    fn tidy_departed(&mut self) {
        let departed = std::mem::take(&mut self.departed);
        self.departed = departed.into_iter().filter(|&c| self.has(c)).collect();
    }
}

/// `setBreakpoints` keys sources by path, else by reference.
fn source_key(source: &Value) -> Option<String> {
    match (source.get("path"), source.get("sourceReference")) {
        (Some(Value::String(p)), _) => Some(format!("path:{p}")),
        (_, Some(Value::Number(r))) if r.as_i64().is_some_and(|r| r > 0) => {
            Some(format!("ref:{r}"))
        }
        _ => None,
    }
}

/// Two source breakpoints are one when these agree.
fn line_key(b: &Value) -> Option<Value> {
    let f = |k: &str| b.get(k).cloned().unwrap_or(Value::Null);
    Some(json!([
        f("line"),
        f("column"),
        f("condition"),
        f("hitCondition"),
        f("logMessage")
    ]))
}

/// The union of `lists` by `key`, and the layout of each client's entries
/// in it (an entry's identity is its key; one without a key, its position).
fn layout(
    scope: &str,
    lists: &BTreeMap<ClientId, Vec<Value>>,
    key: impl Fn(&Value) -> Option<Value>,
) -> (Vec<Value>, Layout) {
    let (all, index) = union(lists, &key);
    let entries = index
        .into_iter()
        .map(|(client, at)| {
            let keys = lists[&client]
                .iter()
                .enumerate()
                .map(|(i, b)| key(b).map_or_else(|| format!("#{i}"), |k| k.to_string()))
                .collect();
            (client, Entries { at, keys })
        })
        .collect();
    let scope = scope.to_string();
    (all, Layout { scope, entries })
}

/// The asker is in the layout even with no entries: its old ones go.
fn with_asker(mut layout: Layout, client: ClientId) -> Layout {
    layout.entries.entry(client).or_default();
    layout
}

fn replace(lists: &mut BTreeMap<ClientId, Vec<Value>>, client: ClientId, list: Vec<Value>) {
    if list.is_empty() {
        lists.remove(&client);
    } else {
        lists.insert(client, list);
    }
}

/// The union of `lists` by `key` (clients in id order, first wins), and each
/// client's entries' positions in it. An entry without a key is its own.
fn union(
    lists: &BTreeMap<ClientId, Vec<Value>>,
    key: impl Fn(&Value) -> Option<Value>,
) -> (Vec<Value>, BTreeMap<ClientId, Vec<usize>>) {
    let mut all = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut index = BTreeMap::new();
    for (&client, list) in lists {
        let mut mine = Vec::with_capacity(list.len());
        for b in list {
            let at = match key(b).map(|k| k.to_string()) {
                Some(k) => *seen.entry(k).or_insert_with(|| {
                    all.push(b.clone());
                    all.len() - 1
                }),
                None => {
                    all.push(b.clone());
                    all.len() - 1
                }
            };
            mine.push(at);
        }
        index.insert(client, mine);
    }
    (all, index)
}

/// The `setExceptionBreakpoints` arguments for the union of every client's
/// (on top of `args`, the requester's other arguments), and each client's
/// positions through filters, filter options and exception options.
fn exceptions_union(sets: &BTreeMap<ClientId, Exceptions>, args: &Value) -> (Value, Layout) {
    let pick = |f: fn(&Exceptions) -> &Vec<Value>| -> BTreeMap<ClientId, Vec<Value>> {
        sets.iter().map(|(&c, e)| (c, f(e).clone())).collect()
    };
    let scope = "setExceptionBreakpoints";
    let (filters, fi) = layout(scope, &pick(|e| &e.filters), |v| Some(v.clone()));
    let (options, oi) = layout(scope, &pick(|e| &e.options), |v| v.get("filterId").cloned());
    let (exception_options, xi) =
        layout(scope, &pick(|e| &e.exception_options), |v| Some(v.clone()));
    let mut entries: BTreeMap<ClientId, Entries> = BTreeMap::new();
    let offsets = [0, filters.len(), filters.len() + options.len()];
    for (part, (l, offset)) in [fi, oi, xi].into_iter().zip(offsets).enumerate() {
        for (client, e) in l.entries {
            let mine = entries.entry(client).or_default();
            mine.at.extend(e.at.iter().map(|i| i + offset));
            mine.keys
                .extend(e.keys.iter().map(|k| format!("{part}:{k}")));
        }
    }
    let layout = Layout {
        scope: scope.into(),
        entries,
    };
    let mut arguments = match args {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    arguments.insert("filters".into(), Value::Array(filters));
    for (name, list) in [
        ("filterOptions", options),
        ("exceptionOptions", exception_options),
    ] {
        if list.is_empty() {
            arguments.remove(name);
        } else {
            arguments.insert(name.into(), Value::Array(list));
        }
    }
    (Value::Object(arguments), layout)
}
