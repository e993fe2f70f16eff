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

use serde::Deserialize;

mod admin;
mod clients;
mod error;
mod limits;
mod log;
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
pub use error::ConfigError;
pub use limits::{LimitSetting, RateConfig, DEFAULT_FAILED_AUTH_LIMIT};
pub use log::{LogConfig, LogFormat};
pub use public::{
    CustomHeaders, HeadersConfig, PublicConfig, ScopeRule, DEFAULT_MAX_CONCURRENT_LOOKUPS,
    DEFAULT_PUBLIC_LISTEN,
};
pub use routes::{RouteAuth, RouteConfig};
pub use services::{ServiceConfig, MAX_TTL_SECONDS};
pub use store::{parse_pepper, StoreConfig, StoreLocation, DEFAULT_STORE_URL, MIN_PEPPER_BYTES};

use error::line_column;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Reads, parses and validates a configuration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            key: None,
            position: None,
            message: "cannot read the configuration file".to_owned(),
            io: Some(e),
        })?;
        Config::from_toml(&text, Some(path))
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
        let deserializer = toml::Deserializer::new(text);
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ConfigError {
                file: origin.map(Path::to_path_buf),
                key: (!path.is_empty() && path != ".").then_some(path),
                position: inner.span().map(|span| line_column(text, span.start)),
                message: inner.message().trim_end().to_owned(),
                io: None,
            }
        })?;
        config.origin = origin.map(Path::to_path_buf);
        config.validate()?;
        Ok(config)
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
