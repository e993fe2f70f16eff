//! Environment overrides: `TOKENGATE_<SECTION>__<KEY>` sets any key of the file.
//!
//! The name after `TOKENGATE_` is the key's path, its parts joined by `__` (two underscores),
//! in any case: `TOKENGATE_ADMIN__LISTEN` is `admin.listen`, `TOKENGATE_PUBLIC__CORS__ORIGINS`
//! is `public.cors.origins`, and an array entry is named by its index:
//! `TOKENGATE_ROUTES__0__UPSTREAM` is `routes[0].upstream` (the next free index adds an entry).
//! The value is a TOML value when it reads as one (`30`, `true`, `["a", "b"]`,
//! `{ per_minute = 5 }`), else a string; a value that the key takes only as a string (such as a
//! numeric secret) is read as the string it is written as. Variables without `__`
//! (`TOKENGATE_PEPPER`, `TOKENGATE_ADMIN_KEY`, `TOKENGATE_CONFIG`, …) are not overrides.

use std::ffi::OsString;
use std::fmt;

use toml::{Table, Value};

use super::ConfigError;

/// The prefix of every override variable.
pub const ENV_PREFIX: &str = "TOKENGATE_";

/// What joins the parts of an override's key path.
pub const ENV_SEPARATOR: &str = "__";

/// One part of an override's key path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Key(String),
    Index(usize),
}

/// One `TOKENGATE_<SECTION>__<KEY>` variable.
#[derive(Debug, Clone)]
struct Override {
    variable: String,
    path: Vec<Part>,
    raw: String,
}

impl Override {
    /// The key path as errors name it: `routes[0].upstream`.
    fn key(&self) -> String {
        let mut key = String::new();
        for part in &self.path {
            match part {
                Part::Key(name) if key.is_empty() => key.push_str(name),
                Part::Key(name) => {
                    key.push('.');
                    key.push_str(name);
                }
                Part::Index(i) => key.push_str(&format!("[{i}]")),
            }
        }
        key
    }

    /// The value: a TOML value when `raw` reads as one, else (or `as_string`) a string.
    fn value(&self, as_string: bool) -> Value {
        let typed = (!as_string && !self.raw.contains(['\n', '\r']))
            .then(|| format!("v = {}", self.raw).parse::<Table>().ok())
            .flatten()
            .filter(|table| table.len() == 1)
            .and_then(|mut table| table.remove("v"));
        typed.unwrap_or_else(|| Value::String(self.raw.clone()))
    }

    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.key(), message).from_variable(&self.variable)
    }
}

/// The overrides found in an environment, applied by
/// [`Config::from_toml_with_env`](super::Config::from_toml_with_env).
#[derive(Debug, Clone, Default)]
pub struct EnvOverrides {
    overrides: Vec<Override>,
    /// The overrides (by position) read as strings, whatever they look like.
    as_string: Vec<bool>,
}

impl EnvOverrides {
    /// The overrides in the process environment.
    ///
    /// # Errors
    /// A malformed override name (an empty part, an index first) or a value that is not UTF-8,
    /// naming the variable.
    pub fn from_env() -> Result<EnvOverrides, ConfigError> {
        EnvOverrides::from_vars(std::env::vars_os())
    }

    /// The overrides among `vars` (name, value): those named `TOKENGATE_…__…`.
    ///
    /// ```
    /// use tokengate::server::config::{Config, EnvOverrides};
    /// let env = EnvOverrides::from_vars([
    ///     ("TOKENGATE_PUBLIC__CACHE_TTL_SECS", "7"),
    ///     ("TOKENGATE_LOG__FORMAT", "json"),
    ///     ("TOKENGATE_PEPPER", "not an override"),
    /// ])
    /// .unwrap();
    /// let config = Config::from_toml_with_env("[store]\nurl = \"memory:\"\n", None, &env).unwrap();
    /// assert_eq!(config.public.cache_ttl_secs, 7);
    /// ```
    ///
    /// # Errors
    /// As [`EnvOverrides::from_env`].
    pub fn from_vars<I, K, V>(vars: I) -> Result<EnvOverrides, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut overrides = Vec::new();
        for (name, value) in vars {
            let (name, value) = (name.into(), value.into());
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains(ENV_SEPARATOR) {
                continue;
            }
            let path = parse_path(name, rest)?;
            let raw = value.into_string().map_err(|_| {
                ConfigError::at(render(&path), "the value is not UTF-8").from_variable(name)
            })?;
            overrides.push(Override {
                variable: name.to_owned(),
                path,
                raw,
            });
        }
        // Index 0 before index 1 (and before 10), whatever order the environment lists them.
        overrides.sort_by(|a, b| a.path.cmp(&b.path));
        let as_string = vec![false; overrides.len()];
        Ok(EnvOverrides {
            overrides,
            as_string,
        })
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.overrides.is_empty()
    }

    /// The variables, in the order they are applied.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.overrides.iter().map(|o| o.variable.as_str())
    }

    /// Sets every override's key in `root`.
    pub(super) fn apply(&self, root: &mut Table) -> Result<(), ConfigError> {
        for (o, &as_string) in self.overrides.iter().zip(&self.as_string) {
            set(root, o, o.value(as_string))?;
        }
        Ok(())
    }

    /// The override an error about `key` is due to, if any: the one that set `key` or a key
    /// above it (the deepest), else one that made the entry `key` is in, where the `file`
    /// has no such entry (a route added by variables that lacks a key, an unknown section).
    /// Also says whether that override set the key (or one above it).
    pub(super) fn variable_for(&self, key: &str, file: &Table) -> Option<(usize, bool)> {
        let set_above = self
            .overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| within(key, &o.key()))
            .max_by_key(|(_, o)| o.path.len())
            .map(|(i, _)| (i, true));
        set_above.or_else(|| {
            ancestors(key)
                .filter(|entry| !in_file(file, entry))
                .find_map(|entry| self.overrides.iter().position(|o| within(&o.key(), entry)))
                .map(|i| (i, false))
        })
    }

    /// Names the variable of override `i` in `error`.
    pub(super) fn blame(&self, i: usize, error: ConfigError) -> ConfigError {
        error.from_variable(&self.overrides[i].variable)
    }

    /// Reads override `i` as a string from now on, when it was not one already and its value
    /// reads as something else: whether there is anything to retry.
    pub(super) fn retry_as_string(&mut self, i: usize) -> bool {
        let retry = !self.as_string[i] && !self.overrides[i].value(false).is_str();
        self.as_string[i] = true;
        retry
    }
}

/// Whether `key` is `prefix` or a key below it.
fn within(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// `key` and the keys above it, the longest first: `routes[1].name`, `routes[1]`, `routes`.
fn ancestors(key: &str) -> impl Iterator<Item = &str> {
    let cuts = key.match_indices(['.', '[']).map(|(at, _)| at);
    std::iter::once(key).chain(
        cuts.collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|at| &key[..at]),
    )
}

/// Whether the file has the key `key` (such as `routes[1]`).
fn in_file(file: &Table, key: &str) -> bool {
    let mut at: Option<&Value> = None;
    for part in key.split('.') {
        let (name, indices) = part
            .split_once('[')
            .map_or((part, ""), |(n, rest)| (n, rest));
        at = match at {
            None => file.get(name),
            Some(Value::Table(table)) => table.get(name),
            Some(_) => None,
        };
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let index = index.trim_end_matches(']').parse::<usize>().ok();
            at = match (at, index) {
                (Some(Value::Array(entries)), Some(i)) => entries.get(i),
                _ => None,
            };
        }
        if at.is_none() {
            return false;
        }
    }
    true
}

fn parse_path(variable: &str, rest: &str) -> Result<Vec<Part>, ConfigError> {
    let mut path = Vec::new();
    for part in rest.split(ENV_SEPARATOR) {
        let bad =
            |message: &str| ConfigError::at(rest.to_lowercase(), message).from_variable(variable);
        if part.is_empty() || part.starts_with('_') || part.ends_with('_') {
            return Err(bad(
                "an empty part in the key path (parts are joined by `__`)",
            ));
        }
        match part.parse::<usize>() {
            Ok(_) if path.is_empty() => {
                return Err(bad("the key path starts with a section name, not an index"))
            }
            Ok(index) => path.push(Part::Index(index)),
            Err(_) => path.push(Part::Key(part.to_lowercase())),
        }
    }
    Ok(path)
}

fn render(path: &[Part]) -> String {
    Override {
        variable: String::new(),
        path: path.to_vec(),
        raw: String::new(),
    }
    .key()
}

/// An empty container for the part after `next`.
fn container(next: Option<&Part>) -> Value {
    match next {
        Some(Part::Index(_)) => Value::Array(Vec::new()),
        _ => Value::Table(Table::new()),
    }
}

fn set(root: &mut Table, o: &Override, value: Value) -> Result<(), ConfigError> {
    let (first, rest) = match o.path.split_first() {
        Some((Part::Key(first), rest)) => (first, rest),
        _ => return Err(o.error("the key path starts with a section name")),
    };
    if rest.is_empty() {
        root.insert(first.clone(), value);
        return Ok(());
    }
    let mut at = root
        .entry(first.clone())
        .or_insert_with(|| container(rest.first()));
    let mut walked = vec![o.path[0].clone()];
    for (n, part) in rest.iter().enumerate() {
        let last = n + 1 == rest.len();
        let next = rest.get(n + 1);
        let here = render(&walked);
        at = match (part, at) {
            (Part::Key(name), Value::Table(table)) => {
                if last {
                    table.insert(name.clone(), value);
                    return Ok(());
                }
                table.entry(name.clone()).or_insert_with(|| container(next))
            }
            (Part::Index(i), Value::Array(entries)) => {
                if *i > entries.len() {
                    return Err(o.error(format!(
                        "`{here}` has {} entries: the next index is {} (indices are consecutive \
                         from 0)",
                        entries.len(),
                        entries.len()
                    )));
                }
                if *i == entries.len() {
                    entries.push(container(next));
                }
                if last {
                    entries[*i] = value;
                    return Ok(());
                }
                &mut entries[*i]
            }
            (Part::Key(_), other) => {
                return Err(o.error(format!("`{here}` is {}, not a table", Kind(other))))
            }
            (Part::Index(_), other) => {
                return Err(o.error(format!("`{here}` is {}, not an array", Kind(other))))
            }
        };
        walked.push(part.clone());
    }
    Ok(())
}

/// A value's kind, for errors.
struct Kind<'a>(&'a Value);

impl fmt::Display for Kind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        })
    }
}

#[cfg(test)]
mod tests;
