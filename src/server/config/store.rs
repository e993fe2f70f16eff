//! `[store]`: where tokens, services and clients live (`store.url`), and the pepper.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::secret::Pepper;

/// The store used when the configuration names none.
pub const DEFAULT_STORE_URL: &str = "sqlite://tokengate.db";

/// `[store]`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (or a bare path), `postgres://user:password@host:port/database`
    /// (feature `postgres`; see [`crate::store::PostgresStore::connect`] for its parameters),
    /// or `memory:` (not durable). Default [`DEFAULT_STORE_URL`].
    #[serde(serialize_with = "super::masked::store_url")]
    pub url: String,
    /// The pepper as hex (at least 16 bytes). When absent: `$TOKENGATE_PEPPER`, else the file
    /// `<db path>.pepper` next to a SQLite database (created with mode 0600 at first start),
    /// else (memory store) a random one. Required (here or in the environment) for PostgreSQL,
    /// whose nodes must all use the same.
    #[serde(serialize_with = "super::masked::optional_secret")]
    pub pepper: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: DEFAULT_STORE_URL.to_owned(),
            pepper: None,
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("pepper", &self.pepper.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl StoreConfig {
    /// Checks `store.url` and `store.pepper`.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        StoreLocation::parse(&self.url)?;
        if let Some(pepper) = &self.pepper {
            parse_pepper(pepper).map_err(|m| ConfigError::at("store.pepper", m))?;
        }
        Ok(())
    }
}

/// The shortest pepper accepted, in bytes.
pub const MIN_PEPPER_BYTES: usize = 16;

/// Where the store is, as parsed from `store.url`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `memory:`: a [`MemoryStore`](crate::store::MemoryStore). Not durable: everything is lost when the process exits.
    /// For tests and demos.
    Memory,
    /// `sqlite://PATH`, `sqlite:PATH` or a bare path: the embedded SQLite store.
    Sqlite {
        /// The URL (or path) as configured, handed to the SQLite store.
        url: String,
        /// The database file; `None` for SQLite's own `:memory:` database.
        path: Option<PathBuf>,
    },
    /// `postgres://…` or `postgresql://…`: the PostgreSQL store (feature `postgres`), shared
    /// by several nodes. Displayed (and debug-printed) without its password.
    Postgres {
        /// The URL as configured, handed to the PostgreSQL store. May hold a password.
        url: String,
    },
}

impl StoreLocation {
    /// Parses `store.url`.
    ///
    /// ```
    /// use tokengate::server::StoreLocation;
    /// assert_eq!(StoreLocation::parse("memory:").unwrap(), StoreLocation::Memory);
    /// let sqlite = StoreLocation::parse("sqlite:///var/lib/tokengate/tokens.db").unwrap();
    /// assert_eq!(
    ///     sqlite.pepper_file().unwrap(),
    ///     std::path::Path::new("/var/lib/tokengate/tokens.db.pepper"),
    /// );
    /// assert!(StoreLocation::parse("redis://cache").is_err());
    /// # #[cfg(feature = "postgres")]
    /// assert_eq!(
    ///     StoreLocation::parse("postgres://tokengate:s3cret@db/tokens").unwrap().to_string(),
    ///     "postgres://tokengate:***@db/tokens",
    /// );
    /// ```
    pub fn parse(url: &str) -> Result<StoreLocation, ConfigError> {
        let url = url.trim();
        if url == "memory:" || url == "memory://" {
            return Ok(StoreLocation::Memory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if !cfg!(feature = "postgres") {
                return Err(ConfigError::at(
                    "store.url",
                    "this build has no PostgreSQL store: rebuild tokengate with the cargo \
                     feature `postgres` (or `full`)",
                ));
            }
            // Checked here so a typo is a configuration error, not a failure to connect.
            url::Url::parse(url).map_err(|e| {
                ConfigError::at("store.url", format!("not a valid PostgreSQL URL: {e}"))
            })?;
            return Ok(StoreLocation::Postgres {
                url: url.to_owned(),
            });
        }
        let path = if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            rest.split_once('?').map_or(rest, |(path, _query)| path)
        } else if let Some((scheme, _)) = url.split_once(':').filter(|(scheme, _)| {
            scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+')
        }) {
            return Err(ConfigError::at(
                "store.url",
                format!(
                    "unsupported store `{scheme}:` (expected \"sqlite://PATH\", \
                     \"postgres://…\" or \"memory:\")"
                ),
            ));
        } else {
            url
        };
        if path.is_empty() {
            return Err(ConfigError::at(
                "store.url",
                "names no database file (expected \"sqlite://PATH\" or \"memory:\")",
            ));
        }
        Ok(StoreLocation::Sqlite {
            url: url.to_owned(),
            path: (path != ":memory:").then(|| PathBuf::from(path)),
        })
    }

    /// The file the pepper is kept in when neither the configuration nor the environment give
    /// one: `<database path>.pepper`. `None` for stores that are not durable.
    pub fn pepper_file(&self) -> Option<PathBuf> {
        match self {
            StoreLocation::Sqlite {
                path: Some(path), ..
            } => {
                let mut name = path.clone().into_os_string();
                name.push(".pepper");
                Some(PathBuf::from(name))
            }
            _ => None,
        }
    }

    /// Whether what is written survives the process.
    pub fn is_durable(&self) -> bool {
        matches!(
            self,
            StoreLocation::Sqlite { path: Some(_), .. } | StoreLocation::Postgres { .. }
        )
    }

    /// Whether several nodes share the store, so they must share the pepper too (it has to be
    /// configured: there is no file next to the database to keep it in).
    pub fn is_shared(&self) -> bool {
        matches!(self, StoreLocation::Postgres { .. })
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Memory => f.write_str("memory:"),
            StoreLocation::Sqlite { url, .. } => f.write_str(url),
            StoreLocation::Postgres { url } => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Memory => f.write_str("Memory"),
            StoreLocation::Sqlite { url, path } => f
                .debug_struct("Sqlite")
                .field("url", url)
                .field("path", path)
                .finish(),
            StoreLocation::Postgres { url } => f
                .debug_struct("Postgres")
                .field("url", &redact_password(url))
                .finish(),
        }
    }
}

/// `url` with its password (if any: the user info's, or a `password` query parameter)
/// replaced by `***`.
pub(super) fn redact_password(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<invalid URL>".to_owned();
    };
    let in_query = parsed.query_pairs().any(|(key, _)| key == "password");
    if parsed.password().is_none() && !in_query {
        return url.to_owned();
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if in_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" {
                    "***".into()
                } else {
                    value
                };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Parses a pepper given as hex (at least [`MIN_PEPPER_BYTES`] bytes). The error message never
/// repeats the value.
pub fn parse_pepper(hex_text: &str) -> Result<Pepper, String> {
    let bytes = hex::decode(hex_text.trim())
        .map_err(|_| "must be hexadecimal (as made by `openssl rand -hex 32`)".to_owned())?;
    if bytes.len() < MIN_PEPPER_BYTES {
        return Err(format!(
            "must be at least {MIN_PEPPER_BYTES} bytes ({} hex characters)",
            2 * MIN_PEPPER_BYTES
        ));
    }
    Ok(Pepper::new(bytes))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            StoreLocation::parse("memory:").unwrap(),
            StoreLocation::Memory
        );
        let cases = [
            ("sqlite://tokengate.db", Some("tokengate.db")),
            ("sqlite:tokengate.db", Some("tokengate.db")),
            ("sqlite:///var/lib/t.db?mode=rwc", Some("/var/lib/t.db")),
            ("/srv/t.db", Some("/srv/t.db")),
            ("data/t.db", Some("data/t.db")),
            ("sqlite::memory:", None),
        ];
        for (url, path) in cases {
            match StoreLocation::parse(url).unwrap() {
                StoreLocation::Sqlite { url: u, path: p } => {
                    assert_eq!(u, url);
                    assert_eq!(p.as_deref(), path.map(Path::new), "{url}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        for bad in ["sqlite://", "", "mysql:x"] {
            let err = StoreLocation::parse(bad).unwrap_err();
            assert_eq!(err.key(), Some("store.url"), "{bad}");
        }
        assert_eq!(
            StoreLocation::parse("sqlite://x.db").unwrap().pepper_file(),
            Some(PathBuf::from("x.db.pepper"))
        );
        assert_eq!(StoreLocation::Memory.pepper_file(), None);
        assert!(!StoreLocation::parse("sqlite::memory:")
            .unwrap()
            .is_durable());
    }
}
