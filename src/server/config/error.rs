//! [`ConfigError`]: which file, which key and what is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem: which file, which key and what is wrong.
///
/// Displays as `FILE[:LINE:COLUMN]: KEY: MESSAGE`, leaving out what is not known; a value from
/// an environment override as `$VARIABLE: KEY: MESSAGE`.
#[derive(Debug)]
pub struct ConfigError {
    pub(super) file: Option<PathBuf>,
    pub(super) key: Option<String>,
    pub(super) position: Option<(usize, usize)>,
    pub(super) message: String,
    pub(super) io: Option<std::io::Error>,
    /// Boxed: the error stays small enough to return by value everywhere.
    pub(super) variable: Option<Box<str>>,
}

impl ConfigError {
    /// A problem with the value at `key` (a path such as `services[0].grants`).
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            key: Some(key.into()),
            position: None,
            message: message.into(),
            io: None,
            variable: None,
        }
    }

    /// Says that the value at fault came from the environment variable `name`.
    pub fn from_variable(mut self, name: &str) -> Self {
        self.variable = Some(name.into());
        self
    }

    /// The environment variable the value at fault came from (an override), when it did.
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }

    /// Names the file the problem is in, unless one is named already.
    pub fn in_file(mut self, file: Option<&Path>) -> Self {
        if self.file.is_none() {
            self.file = file.map(Path::to_path_buf);
        }
        self
    }

    /// The file, when known.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The key path, such as `services[0].grants`, when the problem is with one value.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The line and column (both from 1) in the file, when known.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(variable) = &self.variable {
            write!(f, "${variable}: ")?;
        } else if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some((line, column)) = self.position {
                write!(f, ":{line}:{column}")?;
            }
            f.write_str(": ")?;
        } else if let Some((line, column)) = self.position {
            write!(f, "line {line}, column {column}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ConfigError> for crate::Error {
    fn from(e: ConfigError) -> Self {
        crate::Error::config(e.to_string())
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
