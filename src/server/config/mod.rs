//! The TOML configuration of `tokengate serve` and of the management commands.
//!
//! Every section is optional; an empty file (or [`Config::default`]) is the zero-config setup: a
//! SQLite store in `tokengate.db`, the admin listener on `127.0.0.1:8081` and the public listener
//! on `127.0.0.1:8080` (with the built-in echo behind the OAuth layer). Unknown keys are
//! errors that name the key, and every validation error names the file, the key path (such as
//! `services[0].grants`) and the problem.
//!
//! ```toml
//! [store]
//! url = "sqlite://tokengate.db"   # or "postgres://user:pw@host/db" (feature `postgres`), or
//!                                 # "memory:" (not durable: tests and demos only)
//! # pepper = "<64 hex chars>"     # else $TOKENGATE_PEPPER, else `<db path>.pepper` (created 0600);
//!                                 # PostgreSQL: this or $TOKENGATE_PEPPER, the same on every node
//!
//! [admin]
//! listen = "127.0.0.1:8081"
//! credentials = [{ key = "ops", secret = "change-me" }]  # $TOKENGATE_ADMIN_KEY/_SECRET add one
//! max_body_bytes = 1048576
//! failed_auth_limit = { per_minute = 30, burst = 10 }   # the default; false switches it off
//! require_json_content_type = false   # true: JSON-RPC posts must say Content-Type: application/json
//!
//! [public]                         # the public listener: see PublicConfig for every key
//! listen = "127.0.0.1:8080"
//! upstream = "http://127.0.0.1:9000"   # without it, a built-in echo answers
//! require_scopes = [{ path = "/admin", scope = "admin" }]
//!
//! [log]
//! format = "text"                  # or "json": one JSON object a line
//! access = false                   # true: one line per request (target tokengate::access)
//!
//! [[services]]
//! key = "rmeqcgpw3zu2y47y9bs8vs2h"
//! name = "Reviews API"
//! token_type = "mac"
//! mac_algorithm = "hmac-sha-256"
//! grants = ["authorization_code", "client_credentials"]
//! issue_rate = { per_second = 10, burst = 20 }   # per client; off unless set
//!
//! [[routes]]                     # several APIs: see RouteConfig
//! name = "reviews"
//! path = "/reviews"
//! service_key = "rmeqcgpw3zu2y47y9bs8vs2h"
//! upstreams = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
//!
//! [[clients]]
//! id = 12346
//! client_id = "tkr7f25gd6452zy8rjsf7bwd"
//! secret = "q13rupuifd"     # hashed with the pepper before it is stored
//! name = "Reviews Web"
//! redirect_uris = ["https://client.example.com/cb"]
//! services = ["rmeqcgpw3zu2y47y9bs8vs2h"]
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod admin;
mod clients;
mod cors;
mod env;
mod error;
mod limits;
mod log;
mod masked;
mod public;
mod routes;
mod services;
mod store;
#[cfg(test)]
mod tests;

pub use admin::{
    AdminConfig, Credential, DEFAULT_ADMIN_LISTEN, DEFAULT_MAX_BODY_BYTES, ENV_ADMIN_KEY,
    ENV_ADMIN_SECRET,
};
pub use clients::ClientConfig;
pub use cors::{CorsConfig, DEFAULT_CORS_MAX_AGE_SECS};
pub use env::{EnvOverrides, ENV_PREFIX, ENV_SEPARATOR};
pub use error::ConfigError;
pub use limits::{LimitSetting, RateConfig, DEFAULT_FAILED_AUTH_LIMIT};
pub use log::{LogConfig, LogFormat};
pub use masked::MASK;
pub use public::{
    CustomHeaders, HeadersConfig, PublicConfig, ScopeRule, DEFAULT_MAX_CONCURRENT_LOOKUPS,
    DEFAULT_PUBLIC_LISTEN,
};
pub use routes::{RouteAuth, RouteConfig};
pub use services::{ServiceConfig, MAX_TTL_SECONDS};
pub use store::{parse_pepper, StoreConfig, StoreLocation, DEFAULT_STORE_URL, MIN_PEPPER_BYTES};

use error::line_column;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[store]`: where tokens, services and clients live, and the pepper.
    pub store: StoreConfig,
    /// `[admin]`: the admin listener (JSON-RPC API, health, metrics).
    pub admin: AdminConfig,
    /// `[public]`: the public listener (the OAuth layer in front of an upstream).
    pub public: PublicConfig,
    /// `[[services]]`: services upserted into the store at start.
    pub services: Vec<ServiceConfig>,
    /// `[[clients]]`: clients upserted into the store at start.
    pub clients: Vec<ClientConfig>,
    /// `[[routes]]`: the APIs behind the public listener, by host and path. Without any,
    /// `[public] upstream` (or the echo) is the one catch-all route.
    pub routes: Vec<RouteConfig>,
    /// `[log]`: the log format and the access log.
    pub log: LogConfig,
    /// The file the configuration was read from, named in error messages.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

impl Config {
    /// Reads, parses and validates a configuration file, with the environment's overrides
    /// (`TOKENGATE_<SECTION>__<KEY>`: see [`EnvOverrides`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let env = EnvOverrides::from_env()?;
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            key: None,
            position: None,
            message: "cannot read the configuration file".to_owned(),
            io: Some(e),
            variable: None,
        })?;
        Config::from_toml_with_env(&text, Some(path), &env)
    }

    /// The configuration without a file: the defaults with the environment's overrides.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_toml_with_env("", None, &EnvOverrides::from_env()?)
    }

    /// Parses and validates configuration text; `origin` names the file in errors.
    ///
    /// ```
    /// use tokengate::server::config::Config;
    /// let err = Config::from_toml("[admin]\nlisten = \"127.0.0.1:0\"\nbogus = 1\n", None)
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("bogus"), "{err}");
    /// ```
    pub fn from_toml(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| toml_error(e, None, text, origin))?;
        let mut config = deserialize(deserializer, text, origin)?;
        config.origin = origin.map(Path::to_path_buf);
        config.validate()?;
        Ok(config)
    }

    /// [`Config::from_toml`] with `env`'s overrides set over the file's keys; an error about an
    /// overridden key names the variable.
    ///
    /// ```
    /// use tokengate::server::config::{Config, EnvOverrides};
    /// let env = EnvOverrides::from_vars([("TOKENGATE_ADMIN__MAX_BODY_BYTES", "0")]).unwrap();
    /// let err = Config::from_toml_with_env("", None, &env).unwrap_err();
    /// assert_eq!(err.variable(), Some("TOKENGATE_ADMIN__MAX_BODY_BYTES"));
    /// assert!(err.to_string().starts_with("$TOKENGATE_ADMIN__MAX_BODY_BYTES: admin.max_body_bytes: "));
    /// ```
    pub fn from_toml_with_env(
        text: &str,
        origin: Option<&Path>,
        env: &EnvOverrides,
    ) -> Result<Config, ConfigError> {
        if env.is_empty() {
            return Config::from_toml(text, origin);
        }
        let file: toml::Table = text
            .parse()
            .map_err(|e| toml_error(e, None, text, origin))?;
        let mut env = env.clone();
        loop {
            let mut table = file.clone();
            env.apply(&mut table)?;
            let (error, typed) = match deserialize(toml::Value::Table(table), text, origin) {
                Ok(mut config) => {
                    config.origin = origin.map(Path::to_path_buf);
                    match config.validate() {
                        Ok(()) => return Ok(config),
                        Err(error) => (error, false),
                    }
                }
                // A value that reads as a number (or a date, …) where a string is wanted.
                Err(error) => {
                    let typed = error.message().starts_with("invalid type:");
                    (error, typed)
                }
            };
            match error.key().and_then(|key| env.variable_for(key, &file)) {
                Some((i, true)) if typed && env.retry_as_string(i) => continue,
                Some((i, _)) => return Err(env.blame(i, error)),
                None => return Err(error),
            }
        }
    }

    /// Checks everything that can be checked without the store; errors name
    /// [`Config::origin`]. (Whether the services a client names exist is checked when the
    /// configuration is applied, since they may be in the store already.)
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_inner()
            .map_err(|e| e.in_file(self.origin.as_deref()))
    }

    fn validate_inner(&self) -> Result<(), ConfigError> {
        self.store.validate()?;
        self.admin.validate()?;
        self.public.validate()?;
        self.issue_limits()?;
        services::validate_services(&self.services)?;
        clients::validate_clients(&self.clients)?;
        routes::validate_routes(&self.routes, &self.public)?;
        Ok(())
    }
}

/// The configuration `deserializer` holds (the file's `text`, or a table built from it), not
/// yet validated; errors name `origin`, the key and (from the text) the line and column.
fn deserialize<'de, D>(
    deserializer: D,
    text: &str,
    origin: Option<&Path>,
) -> Result<Config, ConfigError>
where
    D: serde::Deserializer<'de, Error = toml::de::Error>,
{
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let key = (!path.is_empty() && path != ".").then_some(path);
        toml_error(e.into_inner(), key, text, origin)
    })
}

/// A TOML parse or type error at `key` of `text` (from `origin`), with its line and column.
fn toml_error(
    error: toml::de::Error,
    key: Option<String>,
    text: &str,
    origin: Option<&Path>,
) -> ConfigError {
    ConfigError {
        file: origin.map(Path::to_path_buf),
        key,
        position: error.span().map(|span| line_column(text, span.start)),
        message: error.message().trim_end().to_owned(),
        io: None,
        variable: None,
    }
}
