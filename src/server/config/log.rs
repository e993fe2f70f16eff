//! `[log]`: the format of the log lines on stderr, and the access log.

use serde::{Deserialize, Serialize};

/// `[log]`.
///
/// ```
/// use tokengate::server::config::{Config, LogFormat};
/// let config = Config::from_toml("[log]\nformat = \"json\"\naccess = true\n", None).unwrap();
/// assert_eq!(config.log.format, LogFormat::Json);
/// assert!(config.log.access);
/// assert!(Config::from_toml("[log]\nformat = \"xml\"\n", None).is_err());
/// ```
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// How log lines are written. Default [`LogFormat::Text`].
    pub format: LogFormat,
    /// One `info` line per request on both listeners (target `tokengate::access`): method,
    /// canonical path, status, client id, latency, upstream status, trace id; never a token,
    /// a secret or the query. Default false.
    pub access: bool,
}

/// The format of the log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `tracing-subscriber`'s human-readable lines.
    #[default]
    Text,
    /// One JSON object a line (`tracing-subscriber`'s JSON format).
    Json,
}
