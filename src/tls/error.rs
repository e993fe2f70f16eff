//! The error of loading TLS material.

use std::fmt;
use std::path::{Path, PathBuf};

/// A certificate, key or CA file that cannot be used, naming the file and the reason; never
/// the key's content.
#[derive(Debug)]
pub struct TlsError {
    file: Option<PathBuf>,
    reason: String,
}

impl TlsError {
    pub(crate) fn in_file(file: &Path, reason: impl fmt::Display) -> TlsError {
        TlsError {
            file: Some(file.to_path_buf()),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn new(reason: impl fmt::Display) -> TlsError {
        TlsError {
            file: None,
            reason: reason.to_string(),
        }
    }

    /// The file at fault, when one is.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}", file.display(), self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for crate::Error {
    fn from(e: TlsError) -> Self {
        crate::Error::config(e.to_string())
    }
}
