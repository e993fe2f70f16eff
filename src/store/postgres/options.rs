//! [`PostgresOptions`]: the pool, timeouts, schema and channel of a
//! [`PostgresStore`](super::PostgresStore), from code or from `store.url` parameters.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use super::DEFAULT_CHANNEL;
#[cfg(doc)]
use super::{PostgresStore, RevocationListener};
use crate::store::parse_duration;
use crate::Error;

/// Options of a [`PostgresStore`] (and of a [`RevocationListener`] started on its own).
///
/// ```
/// use std::time::Duration;
/// use tokengate::store::PostgresOptions;
///
/// let options = PostgresOptions::new()
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2))
///     .statement_timeout(Duration::from_secs(10))
///     .schema("tokengate")
///     .channel("tokengate_revocations");
/// assert_eq!(options.get_max_connections(), 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    pub(super) max_connections: u32,
    pub(super) acquire_timeout: Duration,
    pub(super) statement_timeout: Duration,
    pub(super) schema: Option<String>,
    pub(super) channel: String,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            schema: None,
            channel: DEFAULT_CHANNEL.to_owned(),
        }
    }
}

impl PostgresOptions {
    /// The defaults: 10 connections, 5 s to get one, statements cancelled after 5 s, the
    /// connection's default schema, channel [`DEFAULT_CHANNEL`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Most connections in the pool (default 10; at least 1).
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The configured pool size.
    pub fn get_max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long an operation waits for a pooled connection (or a new one) before failing with
    /// a store error (default 5 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// PostgreSQL's `statement_timeout` on every connection (default 5 s; zero for none).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Keeps the tables in this schema (created if missing) instead of the connection's default
    /// search path. A lowercase SQL identifier: `[a-z_][a-z0-9_]*`, at most 63 bytes.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The NOTIFY channel revocations are published on and listened to (default
    /// [`DEFAULT_CHANNEL`]). Every node of one deployment must use the same; at most 63 bytes.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// The configured channel.
    pub fn get_channel(&self) -> &str {
        &self.channel
    }

    /// These options with tokengate's own parameters of `url` applied on top (see
    /// [`PostgresStore::connect`]), checked, and the connection options for the rest of the URL;
    /// a configuration error when the URL or a setting is malformed. Never repeats the URL: it
    /// may hold a password.
    pub(super) fn for_url(&self, url: &str) -> Result<(PostgresOptions, PgConnectOptions), Error> {
        let invalid = |what: &str| Error::config(format!("invalid PostgreSQL URL: {what}"));
        let mut url = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid("the scheme must be postgres:// or postgresql://"));
        }
        let mut options = self.clone();
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            let bad = || invalid(&format!("parameter `{key}` has an invalid value"));
            match &*key {
                "max_connections" => {
                    options = options.max_connections(value.parse().map_err(|_| bad())?)
                }
                "acquire_timeout" => {
                    options.acquire_timeout = parse_duration(&value).ok_or_else(bad)?
                }
                "statement_timeout" => {
                    options.statement_timeout = parse_duration(&value).ok_or_else(bad)?
                }
                "schema" => options.schema = Some(value.into_owned()),
                "channel" => options.channel = value.into_owned(),
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        url.set_query(None);
        if !rest.is_empty() {
            url.query_pairs_mut().extend_pairs(rest);
        }
        if options.channel.is_empty() || options.channel.len() > 63 {
            return Err(Error::config(format!(
                "PostgreSQL channel {:?} must be 1 to 63 bytes",
                options.channel
            )));
        }
        let mut connect =
            PgConnectOptions::from_str(url.as_str()).map_err(|e| invalid(&e.to_string()))?;
        if connect.get_application_name().is_none() {
            connect = connect.application_name("tokengate");
        }
        if !options.statement_timeout.is_zero() {
            connect = connect.options([(
                "statement_timeout",
                format!("{}ms", options.statement_timeout.as_millis()),
            )]);
        }
        if let Some(schema) = &options.schema {
            if !is_plain_identifier(schema) {
                return Err(Error::config(format!(
                    "PostgreSQL schema {schema:?} must match [a-z_][a-z0-9_]* (at most 63 bytes)"
                )));
            }
            connect = connect.options([("search_path", schema)]);
        }
        Ok((options, connect))
    }
}

/// Whether `name` can be used unquoted as an SQL identifier (and so in `search_path`).
fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_without_a_database() {
        let url = "postgres://postgres:hunter2@127.0.0.1:5432/test";
        assert!(PostgresOptions::new().for_url(url).is_ok());
        assert!(PostgresOptions::new()
            .schema("tg_test_1")
            .for_url(url)
            .is_ok());
        for bad in ["", "1abc", "Upper", "semi;colon", "a b", &"x".repeat(64)] {
            let err = PostgresOptions::new().schema(bad).for_url(url).unwrap_err();
            assert!(err.is_config(), "{bad:?}: {err:?}");
        }
        for bad in ["", &"c".repeat(64)] {
            let err = PostgresOptions::new()
                .channel(bad)
                .for_url(url)
                .unwrap_err();
            assert!(err.is_config(), "{bad:?}");
        }
        for bad in [
            "postgres://u:hunter2@host:notaport/db",
            "mysql://u:hunter2@host/db",
            "postgres://u:hunter2@host/db?max_connections=many",
            "postgres://u:hunter2@host/db?statement_timeout=5h",
            "postgres://u:hunter2@host/db?schema=Bad%20Name",
            "not a url hunter2",
        ] {
            let err = PostgresOptions::new().for_url(bad).unwrap_err();
            assert!(err.is_config(), "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert_eq!(PostgresOptions::new().max_connections(0).max_connections, 1);
    }

    #[test]
    fn url_parameters_override_options_and_the_rest_reach_postgres() {
        let (options, connect) = PostgresOptions::new()
            .max_connections(3)
            .for_url(
                "postgresql://u@db:6543/tokens?max_connections=20&acquire_timeout=2s\
                 &statement_timeout=250ms&schema=tg&channel=revocations&application_name=node-a",
            )
            .unwrap();
        assert_eq!(
            options,
            PostgresOptions::new()
                .max_connections(20)
                .acquire_timeout(Duration::from_secs(2))
                .statement_timeout(Duration::from_millis(250))
                .schema("tg")
                .channel("revocations")
        );
        assert_eq!(connect.get_host(), "db");
        assert_eq!(connect.get_port(), 6543);
        assert_eq!(connect.get_database(), Some("tokens"));
        assert_eq!(connect.get_application_name(), Some("node-a"));
        let pg_options = connect.get_options().unwrap();
        assert!(
            pg_options.contains("statement_timeout=250ms"),
            "{pg_options}"
        );
        assert!(pg_options.contains("search_path=tg"), "{pg_options}");
        let (options, _) = PostgresOptions::new()
            .for_url("postgres://u@db/t?statement_timeout=0")
            .unwrap();
        assert_eq!(options.statement_timeout, Duration::ZERO);
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
    }
}
