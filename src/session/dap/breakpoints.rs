//! Breakpoints per client, merged (SESSIONS.md rule 4).
//!
//! DAP's `setBreakpoints` replaces every breakpoint of one source, so one
//! client's request would wipe another's. The proxy keeps each client's list
//! per source (and its function breakpoints and exception filters), sends the
//! debugger the union, de-duplicated, and remembers where each of the
//! requester's breakpoints sits in the union: the debugger answers in the
//! union's order, and the requester's answer is those positions, in its
//! order. A client that drops without a goodbye keeps its lists until some
//! client next sets the same source (or kind), which is how a returning IDE
//! finds the session as it left it; a goodbye drops them at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::session::ClientId;

/// Sources with breakpoints, all clients together.
const MAX_SOURCES: usize = 4096;

/// A request to send the debugger, and where the requester's entries are in it.
pub struct Plan {
    pub arguments: Value,
    pub mine: Vec<usize>,
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
    functions: BTreeMap<ClientId, Vec<Value>>,
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
        self.functions.clear();
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
        let (union, mut index) = union(&entry.lists, line_key);
        if entry.lists.is_empty() {
            self.sources.remove(&key);
        }
        self.tidy_departed();
        let mut arguments = args.clone();
        if let Some(a) = arguments.as_object_mut() {
            a.remove("lines");
            a.insert("breakpoints".into(), Value::Array(union));
        }
        let mine = index.remove(&client).unwrap_or_default();
        Ok(Plan { arguments, mine })
    }

    /// A client's `setFunctionBreakpoints` arguments: the union by name.
    pub fn set_functions(&mut self, client: ClientId, args: &Value) -> Result<Plan, String> {
        let list = match args.get("breakpoints") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Err("arguments.breakpoints is not an array".into()),
        };
        let departed = &self.departed;
        self.functions.retain(|c, _| !departed.contains(c));
        replace(&mut self.functions, client, list);
        let (union, mut index) = union(&self.functions, |b| b.get("name").cloned());
        self.tidy_departed();
        let mut arguments = args.clone();
        arguments["breakpoints"] = Value::Array(union);
        let mine = index.remove(&client).unwrap_or_default();
        Ok(Plan { arguments, mine })
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
        let (arguments, mut index) = exceptions_union(&self.exceptions, args);
        let mine = index.remove(&client).unwrap_or_default();
        Ok(Plan { arguments, mine })
    }

    /// `client` dropped without a goodbye: its lists stay until replaced.
    pub fn departed(&mut self, client: ClientId) {
        if self.has(client) {
            self.departed.insert(client);
        }
    }

    /// Drops everything of `client`'s; returns the requests (command,
    /// arguments) that bring the debugger to the reduced unions.
    pub fn forget(&mut self, client: ClientId) -> Vec<(&'static str, Value)> {
        let mut requests = Vec::new();
        let mut emptied = Vec::new();
        for (key, s) in &mut self.sources {
            if !s.lists.contains_key(&client) {
                continue;
            }
            let before = union(&s.lists, line_key).0;
            s.lists.remove(&client);
            let after = union(&s.lists, line_key).0;
            if before != after {
                requests.push((
                    "setBreakpoints",
                    json!({"source": s.source, "breakpoints": after}),
                ));
            }
            if s.lists.is_empty() {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.sources.remove(&key);
        }
        if self.functions.contains_key(&client) {
            let name = |b: &Value| b.get("name").cloned();
            let before = union(&self.functions, name).0;
            self.functions.remove(&client);
            let after = union(&self.functions, name).0;
            if before != after {
                requests.push(("setFunctionBreakpoints", json!({"breakpoints": after})));
            }
        }
        if self.exceptions.contains_key(&client) {
            let none = Value::Object(Map::new());
            let before = exceptions_union(&self.exceptions, &none).0;
            self.exceptions.remove(&client);
            let after = exceptions_union(&self.exceptions, &none).0;
            if before != after {
                requests.push(("setExceptionBreakpoints", after));
            }
        }
        self.departed.remove(&client);
        requests
    }

    /// The requests (command, arguments) that give a new debugger every
    /// union there is.
    pub fn all(&self) -> Vec<(&'static str, Value)> {
        let mut requests: Vec<(&'static str, Value)> = self
            .sources
            .values()
            .map(|s| {
                let union = union(&s.lists, line_key).0;
                (
                    "setBreakpoints",
                    json!({"source": s.source, "breakpoints": union}),
                )
            })
            .collect();
        if !self.functions.is_empty() {
            let union = union(&self.functions, |b| b.get("name").cloned()).0;
            requests.push(("setFunctionBreakpoints", json!({"breakpoints": union})));
        }
        if !self.exceptions.is_empty() {
            let none = Value::Object(Map::new());
            requests.push((
                "setExceptionBreakpoints",
                exceptions_union(&self.exceptions, &none).0,
            ));
        }
        requests
    }

    fn has(&self, client: ClientId) -> bool {
        self.sources.values().any(|s| s.lists.contains_key(&client))
            || self.functions.contains_key(&client)
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
fn exceptions_union(
    sets: &BTreeMap<ClientId, Exceptions>,
    args: &Value,
) -> (Value, BTreeMap<ClientId, Vec<usize>>) {
    let pick = |f: fn(&Exceptions) -> &Vec<Value>| -> BTreeMap<ClientId, Vec<Value>> {
        sets.iter().map(|(&c, e)| (c, f(e).clone())).collect()
    };
    let (filters, fi) = union(&pick(|e| &e.filters), |v| Some(v.clone()));
    let (options, oi) = union(&pick(|e| &e.options), |v| v.get("filterId").cloned());
    let (exception_options, xi) = union(&pick(|e| &e.exception_options), |v| Some(v.clone()));
    let mut index = BTreeMap::new();
    for &client in sets.keys() {
        let at = |m: &BTreeMap<ClientId, Vec<usize>>, offset: usize| -> Vec<usize> {
            m.get(&client)
                .map(|v| v.iter().map(|i| i + offset).collect())
                .unwrap_or_default()
        };
        let mut mine = at(&fi, 0);
        mine.extend(at(&oi, filters.len()));
        mine.extend(at(&xi, filters.len() + options.len()));
        index.insert(client, mine);
    }
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
    (Value::Object(arguments), index)
}
