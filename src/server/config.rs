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
//! [[services]]
//! key = "rmeqcgpw3zu2y47y9bs8vs2h"
//! name = "Reviews API"
//! token_type = "mac"
//! mac_algorithm = "hmac-sha-256"
//! grants = ["authorization_code", "client_credentials"]
//! issue_rate = { per_second = 10, burst = 20 }   # per client; off unless set
//!
//! [[clients]]
//! id = 12346
//! client_id = "tkr7f25gd6452zy8rjsf7bwd"
//! secret = "q13rupuifd"     # hashed with the pepper before it is stored
//! name = "Reviews Web"
//! redirect_uris = ["https://client.example.com/cb"]
//! services = ["rmeqcgpw3zu2y47y9bs8vs2h"]
//! ```

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::storage::{parse_pepper, StoreLocation};
use crate::limit::IssueLimits;
use crate::model::{Client, ClientStatus, GrantType, Service, TokenType};

mod limits;
mod public;

pub use limits::{LimitSetting, RateConfig, DEFAULT_FAILED_AUTH_LIMIT};
pub use public::{
    CustomHeaders, HeadersConfig, PublicConfig, ScopeRule, DEFAULT_MAX_CONCURRENT_LOOKUPS,
    DEFAULT_PUBLIC_LISTEN,
};

/// The store used when the configuration names none.
pub const DEFAULT_STORE_URL: &str = "sqlite://tokengate.db";

/// The admin listener's address when the configuration names none.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);

/// The largest admin request body accepted when the configuration names no limit (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The longest lifetime accepted for tokens and codes: ten years, in seconds.
pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The environment variable that adds one admin credential key (with [`ENV_ADMIN_SECRET`]).
pub const ENV_ADMIN_KEY: &str = "TOKENGATE_ADMIN_KEY";

/// The environment variable that adds one admin credential secret (with [`ENV_ADMIN_KEY`]).
pub const ENV_ADMIN_SECRET: &str = "TOKENGATE_ADMIN_SECRET";

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
    /// The file the configuration was read from, named in error messages.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
}

/// `[store]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (or a bare path), `postgres://user:password@host:port/database`
    /// (feature `postgres`; see [`crate::store::PostgresStore::connect`] for its parameters),
    /// or `memory:` (not durable). Default [`DEFAULT_STORE_URL`].
    pub url: String,
    /// The pepper as hex (at least 16 bytes). When absent: `$TOKENGATE_PEPPER`, else the file
    /// `<db path>.pepper` next to a SQLite database (created with mode 0600 at first start),
    /// else (memory store) a random one. Required (here or in the environment) for PostgreSQL,
    /// whose nodes must all use the same.
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

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The address to listen on (an IP address and a port; port 0 picks a free one). Default
    /// [`DEFAULT_ADMIN_LISTEN`].
    pub listen: SocketAddr,
    /// The callers allowed to use the admin API. [`Config::admin_credentials`] adds the pair
    /// from the environment.
    pub credentials: Vec<Credential>,
    /// The largest request body accepted, in bytes. Default [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// Failed admin authentications (`401`/`403` of the JSON-RPC API and the TIBCO routes)
    /// allowed per client address before its calls are refused with `429`: a rate table,
    /// `true` for [`DEFAULT_FAILED_AUTH_LIMIT`] (the default), or `false`.
    pub failed_auth_limit: LimitSetting,
    /// Whether JSON-RPC posts must say `Content-Type: application/json` (415 otherwise; see
    /// [`crate::rpc::JsonRpcService::require_json_content_type`]). Default false: posts from web
    /// pages are refused by their `Origin` either way.
    pub require_json_content_type: bool,
    /// TLS on the listener: `{ cert = "chain.pem", key = "key.pem" }`, and `client_ca` to
    /// require client certificates signed by that CA (mTLS); plain HTTP without it.
    pub tls: Option<crate::tls::TlsFiles>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: DEFAULT_ADMIN_LISTEN,
            credentials: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            failed_auth_limit: LimitSetting::Default,
            require_json_content_type: false,
            tls: None,
        }
    }
}

/// One admin API caller: `{ key = "...", secret = "..." }`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The caller's key (the Basic user name or the `api_key` parameter).
    pub key: String,
    /// The caller's secret.
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One `[[services]]` entry. Absent settings take [`Service::new`]'s defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service key (any non-empty string).
    pub key: String,
    /// A human readable name; defaults to the key.
    #[serde(default)]
    pub name: Option<String>,
    /// Lifetime of access tokens, in seconds.
    #[serde(default)]
    pub access_token_ttl: Option<u64>,
    /// Whether refresh tokens are issued.
    #[serde(default)]
    pub refresh_tokens: Option<bool>,
    /// Lifetime of refresh tokens, in seconds.
    #[serde(default)]
    pub refresh_token_ttl: Option<u64>,
    /// Lifetime of authorization codes, in seconds.
    #[serde(default)]
    pub authorization_code_ttl: Option<u64>,
    /// `bearer` (default) or `mac`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// With `token_type = "mac"` (and only then): `hmac-sha-256` or `hmac-sha-1`.
    #[serde(default)]
    pub mac_algorithm: Option<String>,
    /// The enabled grants among `authorization_code`, `implicit`, `password`,
    /// `client_credentials` (refresh follows `refresh_tokens`).
    #[serde(default)]
    pub grants: Option<Vec<String>>,
    /// Whether a presented redirect URI must equal a registered one.
    #[serde(default)]
    pub force_redirect_validation: Option<bool>,
    /// Whether every request makes a new token.
    #[serde(default)]
    pub allow_multiple_tokens: Option<bool>,
    /// Whether the gateway accepts tokens in the `access_token` query or form parameter.
    #[serde(default)]
    pub allow_query_tokens: Option<bool>,
    /// The scopes the service declares: at `/oauth2/token`, no token carries another, and a
    /// client without `allowed_scopes` may ask for any of them. Absent: none declared.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// With no `scopes` declared: whether a client without `allowed_scopes` may ask for any
    /// scope at `/oauth2/token` (default false: for none). Risky: every scope rule of the
    /// gateway then rests on the clients' restraint.
    #[serde(default)]
    pub any_scope: Option<bool>,
    /// Which clients must use PKCE for codes: `"public"` (default), `"all"` or `"off"`.
    #[serde(default)]
    pub require_pkce: Option<String>,
    /// How often each client of the service may be issued tokens and codes, e.g.
    /// `{ per_second = 10, burst = 20 }` (see [`crate::limit::IssueLimits`]); absent or `false`:
    /// no limit. Not stored: it applies to the processes that read this file.
    #[serde(default)]
    pub issue_rate: Option<LimitSetting>,
}

/// One `[[clients]]` entry.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Numeric application id (positive).
    pub id: i64,
    /// Optional external application id.
    #[serde(default)]
    pub external_id: Option<i64>,
    /// The developer's key, presented as `client_id`.
    pub client_id: String,
    /// The client secret in clear; hashed with the pepper before it is stored. Absent for a
    /// public client.
    #[serde(default)]
    pub secret: Option<String>,
    /// Application name.
    pub name: String,
    /// Extended attributes, free text.
    #[serde(default)]
    pub attributes: Option<String>,
    /// Registered redirect URIs (absolute, without fragment).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Keys of the services the client may use: declared in this file or already in the store.
    #[serde(default)]
    pub services: Vec<String>,
    /// `active` (default) or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Scopes the client may be granted. Absent: at `/oauth2/token`, the service's declared
    /// `scopes` (none unless the service sets `any_scope`); through JSON-RPC, any.
    #[serde(default)]
    pub allowed_scopes: Option<Vec<String>>,
    /// How often the client may be issued tokens and codes on each of its services, overriding
    /// the services' `issue_rate`; `false` exempts it from them. Not stored.
    #[serde(default)]
    pub issue_rate: Option<LimitSetting>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("id", &self.id)
            .field("external_id", &self.external_id)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("name", &self.name)
            .field("attributes", &self.attributes)
            .field("redirect_uris", &self.redirect_uris)
            .field("services", &self.services)
            .field("status", &self.status)
            .field("allowed_scopes", &self.allowed_scopes)
            .field("issue_rate", &self.issue_rate)
            .finish()
    }
}

/// A configuration problem: which file, which key and what is wrong.
///
/// Displays as `FILE[:LINE:COLUMN]: KEY: MESSAGE`, leaving out what is not known.
#[derive(Debug)]
pub struct ConfigError {
    file: Option<PathBuf>,
    key: Option<String>,
    position: Option<(usize, usize)>,
    message: String,
    io: Option<std::io::Error>,
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
        }
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
        if let Some(file) = &self.file {
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
        StoreLocation::parse(&self.store.url)?;
        if let Some(pepper) = &self.store.pepper {
            parse_pepper(pepper).map_err(|m| ConfigError::at("store.pepper", m))?;
        }
        if self.admin.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "admin.max_body_bytes",
                "must be greater than 0",
            ));
        }
        self.public.validate()?;
        self.admin
            .failed_auth_limit
            .rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "admin.failed_auth_limit")?;
        self.issue_limits()?;
        let mut keys = HashSet::new();
        for (i, credential) in self.admin.credentials.iter().enumerate() {
            let path = format!("admin.credentials[{i}]");
            check_credential(&credential.key, &credential.secret, &path)?;
            if !keys.insert(credential.key.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.key"),
                    format!("duplicate credential key `{}`", credential.key),
                ));
            }
        }

        let mut service_keys = HashSet::new();
        for (i, service) in self.services.iter().enumerate() {
            let path = format!("services[{i}]");
            service.to_service(&path)?;
            if !service_keys.insert(service.key.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.key"),
                    format!("duplicate service key `{}`", service.key),
                ));
            }
        }

        let mut ids = HashSet::new();
        let mut client_ids = HashSet::new();
        for (i, client) in self.clients.iter().enumerate() {
            let path = format!("clients[{i}]");
            client.to_client(&path)?;
            if !ids.insert(client.id) {
                return Err(ConfigError::at(
                    format!("{path}.id"),
                    format!("duplicate client id {}", client.id),
                ));
            }
            if !client_ids.insert(client.client_id.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.client_id"),
                    format!("duplicate client_id `{}`", client.client_id),
                ));
            }
        }
        Ok(())
    }

    /// The issuance limits the services' and clients' `issue_rate` settings make.
    pub fn issue_limits(&self) -> Result<IssueLimits, ConfigError> {
        let mut limits = IssueLimits::new();
        for (i, service) in self.services.iter().enumerate() {
            let key = format!("services[{i}].issue_rate");
            if let Some(rate) = service
                .issue_rate
                .map(|s| s.rate(None, &key))
                .transpose()?
                .flatten()
            {
                limits = limits.service(service.key.clone(), rate);
            }
        }
        for (i, client) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}].issue_rate");
            limits = match client.issue_rate.map(|s| s.rate(None, &key)).transpose()? {
                None => limits,
                Some(None) => limits.exempt(client.client_id.clone()),
                Some(Some(rate)) => limits.client(client.client_id.clone(), rate),
            };
        }
        Ok(limits)
    }

    /// The admin API callers: `[admin] credentials` plus the pair from `$TOKENGATE_ADMIN_KEY`
    /// and `$TOKENGATE_ADMIN_SECRET` when both are set.
    pub fn admin_credentials(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        self.admin_credentials_with(env(ENV_ADMIN_KEY), env(ENV_ADMIN_SECRET))
    }

    fn admin_credentials_with(
        &self,
        env_key: Option<String>,
        env_secret: Option<String>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let mut pairs: Vec<(String, String)> = self
            .admin
            .credentials
            .iter()
            .map(|c| (c.key.clone(), c.secret.clone()))
            .collect();
        match (env_key, env_secret) {
            (None, None) => {}
            (Some(key), Some(secret)) => {
                check_credential(&key, &secret, "$TOKENGATE_ADMIN_KEY/_SECRET")?;
                if pairs.iter().any(|(k, _)| *k == key) {
                    return Err(ConfigError::at(
                        ENV_ADMIN_KEY,
                        format!("credential key `{key}` is also in admin.credentials"),
                    )
                    .in_file(self.origin.as_deref()));
                }
                pairs.push((key, secret));
            }
            (Some(_), None) => {
                return Err(ConfigError::at(
                    ENV_ADMIN_SECRET,
                    format!("must be set when {ENV_ADMIN_KEY} is"),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    ENV_ADMIN_KEY,
                    format!("must be set when {ENV_ADMIN_SECRET} is"),
                ))
            }
        }
        Ok(pairs)
    }
}

fn check_credential(key: &str, secret: &str, path: &str) -> Result<(), ConfigError> {
    if key.is_empty() {
        return Err(ConfigError::at(format!("{path}.key"), "must not be empty"));
    }
    if key.contains(':') {
        return Err(ConfigError::at(
            format!("{path}.key"),
            "must not contain `:` (it is a Basic authentication user name)",
        ));
    }
    if secret.is_empty() {
        return Err(ConfigError::at(
            format!("{path}.secret"),
            "must not be empty",
        ));
    }
    Ok(())
}

fn check_ttl(value: Option<u64>, default: u64, path: &str) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(ConfigError::at(path, "must be at least 1 second")),
        Some(s) if s > MAX_TTL_SECONDS => Err(ConfigError::at(
            path,
            format!("must be at most {MAX_TTL_SECONDS} seconds (ten years)"),
        )),
        Some(s) => Ok(s),
    }
}

const CONFIGURABLE_GRANTS: [GrantType; 4] = [
    GrantType::AuthorizationCode,
    GrantType::Implicit,
    GrantType::Password,
    GrantType::ClientCredentials,
];

fn grant_list() -> String {
    CONFIGURABLE_GRANTS
        .iter()
        .map(|g| format!("`{g}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ServiceConfig {
    /// Validates the entry and converts it to a [`Service`]; `path` (such as `services[0]`)
    /// prefixes the key paths of errors.
    pub fn to_service(&self, path: &str) -> Result<Service, ConfigError> {
        if self.key.is_empty() {
            return Err(ConfigError::at(format!("{path}.key"), "must not be empty"));
        }
        if self
            .key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::at(
                format!("{path}.key"),
                "must not contain spaces or control characters",
            ));
        }
        let name = self.name.clone().unwrap_or_else(|| self.key.clone());
        let mut service = Service::new(self.key.clone(), name);

        service.access_token_ttl = check_ttl(
            self.access_token_ttl,
            service.access_token_ttl,
            &format!("{path}.access_token_ttl"),
        )?;
        service.refresh_token_ttl = check_ttl(
            self.refresh_token_ttl,
            service.refresh_token_ttl,
            &format!("{path}.refresh_token_ttl"),
        )?;
        service.authorization_code_ttl = check_ttl(
            self.authorization_code_ttl,
            service.authorization_code_ttl,
            &format!("{path}.authorization_code_ttl"),
        )?;
        if let Some(on) = self.refresh_tokens {
            service.refresh_tokens = on;
        }

        service.token_type = match (self.token_type.as_deref(), self.mac_algorithm.as_deref()) {
            (None | Some("bearer"), None) => TokenType::Bearer,
            (None | Some("bearer"), Some(_)) => {
                return Err(ConfigError::at(
                    format!("{path}.mac_algorithm"),
                    "only allowed with token_type = \"mac\"",
                ))
            }
            (Some("mac"), None) => {
                return Err(ConfigError::at(
                    format!("{path}.mac_algorithm"),
                    "required with token_type = \"mac\": \"hmac-sha-256\" or \"hmac-sha-1\"",
                ))
            }
            (Some("mac"), Some(alg)) => TokenType::Mac(alg.parse().map_err(|_| {
                ConfigError::at(
                    format!("{path}.mac_algorithm"),
                    format!(
                        "unknown MAC algorithm `{alg}` (expected \"hmac-sha-256\" or \"hmac-sha-1\")"
                    ),
                )
            })?),
            (Some(other), _) => {
                return Err(ConfigError::at(
                    format!("{path}.token_type"),
                    format!("unknown token type `{other}` (expected \"bearer\" or \"mac\")"),
                ))
            }
        };

        if let Some(names) = &self.grants {
            let mut grants = Vec::with_capacity(names.len());
            for (j, name) in names.iter().enumerate() {
                let grant = match name.parse::<GrantType>() {
                    Ok(GrantType::RefreshToken) => return Err(ConfigError::at(
                        format!("{path}.grants"),
                        "`refresh_token` is not listed here: set refresh_tokens = true or false",
                    )),
                    Ok(grant) => grant,
                    Err(_) => {
                        return Err(ConfigError::at(
                            format!("{path}.grants"),
                            format!(
                                "unknown grant `{name}` (entry {j}); expected one of {}",
                                grant_list()
                            ),
                        ))
                    }
                };
                if grants.contains(&grant) {
                    return Err(ConfigError::at(
                        format!("{path}.grants"),
                        format!("grant `{name}` is listed twice"),
                    ));
                }
                grants.push(grant);
            }
            service.grants = grants;
        }

        if let Some(on) = self.force_redirect_validation {
            service.force_redirect_validation = on;
        }
        if let Some(on) = self.allow_multiple_tokens {
            service.allow_multiple_tokens = on;
        }
        if let Some(on) = self.allow_query_tokens {
            service.allow_query_tokens = on;
        }
        if let Some(scopes) = &self.scopes {
            check_scope_tokens(scopes, &format!("{path}.scopes"))?;
            service.scopes = Some(scopes.clone());
        }
        if let Some(on) = self.any_scope {
            if on && self.scopes.is_some() {
                return Err(ConfigError::at(
                    format!("{path}.any_scope"),
                    "has no effect when `scopes` are declared: leave one of them out",
                ));
            }
            service.any_scope = on;
        }
        if let Some(name) = &self.require_pkce {
            service.require_pkce = name.parse().map_err(|_| {
                ConfigError::at(
                    format!("{path}.require_pkce"),
                    format!("unknown value `{name}` (expected \"public\", \"all\" or \"off\")"),
                )
            })?;
        }
        Ok(service)
    }
}

/// Whether `scope` is one RFC 6749 §3.3 scope token (`%x21 / %x23-5B / %x5D-7E`, non-empty).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Checks that every entry of `scopes` (the list at `key`) is one scope token.
fn check_scope_tokens(scopes: &[String], key: &str) -> Result<(), ConfigError> {
    match scopes.iter().position(|scope| !is_scope_token(scope)) {
        Some(j) => Err(ConfigError::at(
            format!("{key}[{j}]"),
            format!(
                "`{}` is not a scope token (no spaces, quotes or backslashes)",
                scopes[j]
            ),
        )),
        None => Ok(()),
    }
}

impl ClientConfig {
    /// Validates the entry and converts it to a [`Client`] **without** its secret hash
    /// (`secret_hash` is `None`: hashing needs the pepper, see [`super::apply`]); `path` (such
    /// as `clients[0]`) prefixes the key paths of errors.
    pub fn to_client(&self, path: &str) -> Result<Client, ConfigError> {
        if self.id <= 0 {
            return Err(ConfigError::at(format!("{path}.id"), "must be positive"));
        }
        if self.client_id.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.client_id"),
                "must not be empty",
            ));
        }
        if self
            .client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            return Err(ConfigError::at(
                format!("{path}.client_id"),
                "must not contain spaces, control characters or `:`",
            ));
        }
        if self.secret.as_deref() == Some("") {
            return Err(ConfigError::at(
                format!("{path}.secret"),
                "must not be empty (leave it out for a public client)",
            ));
        }
        if self.name.is_empty() {
            return Err(ConfigError::at(format!("{path}.name"), "must not be empty"));
        }
        for (j, uri) in self.redirect_uris.iter().enumerate() {
            let key = format!("{path}.redirect_uris[{j}]");
            let parsed = url::Url::parse(uri)
                .map_err(|e| ConfigError::at(&key, format!("not an absolute URI: {e}")))?;
            if parsed.fragment().is_some() {
                return Err(ConfigError::at(
                    key,
                    "must not contain a fragment (RFC 6749 §3.1.2)",
                ));
            }
        }
        for (j, service) in self.services.iter().enumerate() {
            if service.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.services[{j}]"),
                    "must not be empty",
                ));
            }
            if self.services[..j].contains(service) {
                return Err(ConfigError::at(
                    format!("{path}.services[{j}]"),
                    format!("service `{service}` is listed twice"),
                ));
            }
        }
        let status = match self.status.as_deref() {
            None => ClientStatus::Active,
            Some(s) => ClientStatus::parse(s).ok_or_else(|| {
                ConfigError::at(
                    format!("{path}.status"),
                    format!("unknown status `{s}` (expected \"active\" or \"disabled\")"),
                )
            })?,
        };
        if let Some(scopes) = &self.allowed_scopes {
            check_scope_tokens(scopes, &format!("{path}.allowed_scopes"))?;
        }
        Ok(Client {
            id: self.id,
            external_id: self.external_id,
            name: self.name.clone(),
            attributes: self.attributes.clone(),
            client_id: self.client_id.clone(),
            secret_hash: None,
            redirect_uris: self.redirect_uris.clone(),
            services: self.services.clone(),
            status,
            allowed_scopes: self.allowed_scopes.clone(),
        })
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MacAlgorithm, PkceRequirement};

    const EXAMPLE: &str = r#"
[store]
url = "memory:"
pepper = "00112233445566778899aabbccddeeff"

[admin]
listen = "127.0.0.1:0"
credentials = [{ key = "ops", secret = "change-me" }]
max_body_bytes = 4096

[[services]]
key = "rmeqcgpw3zu2y47y9bs8vs2h"
name = "Reviews API"
access_token_ttl = 60
refresh_tokens = false
refresh_token_ttl = 120
authorization_code_ttl = 30
token_type = "mac"
mac_algorithm = "hmac-sha-1"
grants = ["password", "client_credentials"]
force_redirect_validation = false
allow_multiple_tokens = false
allow_query_tokens = true
scopes = ["read", "write"]
require_pkce = "all"

[[services]]
key = "second-service"

[[clients]]
id = 12346
external_id = 7
client_id = "tkr7f25gd6452zy8rjsf7bwd"
secret = "q13rupuifd"
name = "Reviews Web"
attributes = "tier=gold"
redirect_uris = ["https://client.example.com/cb"]
services = ["rmeqcgpw3zu2y47y9bs8vs2h", "second-service"]
status = "disabled"
allowed_scopes = ["a", "b"]

[[clients]]
id = 1
client_id = "public-app"
name = "Public"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Some(Path::new("tokengate.toml")))
    }

    fn service_with(extra: &str) -> String {
        format!("[[services]]\nkey = \"svc\"\n{extra}\n")
    }

    #[test]
    fn empty_file_is_the_zero_config_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.store.url, DEFAULT_STORE_URL);
        assert_eq!(config.store.url, "sqlite://tokengate.db");
        assert!(config.store.pepper.is_none());
        assert_eq!(config.admin.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(config.admin.max_body_bytes, 1_048_576);
        assert!(config.admin.credentials.is_empty());
        assert!(config.services.is_empty() && config.clients.is_empty());
        let default = Config::default();
        assert_eq!(default.store.url, config.store.url);
        assert_eq!(default.admin.listen, config.admin.listen);
        default.validate().unwrap();
    }

    #[test]
    fn full_example_converts_to_the_model() {
        let config = parse(EXAMPLE).unwrap();
        assert_eq!(config.origin.as_deref(), Some(Path::new("tokengate.toml")));
        assert_eq!(config.admin.max_body_bytes, 4096);
        let s = config.services[0].to_service("services[0]").unwrap();
        assert_eq!(s.key, "rmeqcgpw3zu2y47y9bs8vs2h");
        assert_eq!(s.name, "Reviews API");
        assert_eq!(s.access_token_ttl, 60);
        assert!(!s.refresh_tokens);
        assert_eq!(s.refresh_token_ttl, 120);
        assert_eq!(s.authorization_code_ttl, 30);
        assert_eq!(s.token_type, TokenType::Mac(MacAlgorithm::HmacSha1));
        assert_eq!(
            s.grants,
            vec![GrantType::Password, GrantType::ClientCredentials]
        );
        assert!(!s.force_redirect_validation);
        assert!(!s.allow_multiple_tokens);
        assert!(s.allow_query_tokens);
        assert_eq!(s.scopes, Some(vec!["read".into(), "write".into()]));
        assert!(!s.any_scope);
        assert_eq!(s.require_pkce, PkceRequirement::AllClients);

        // Absent settings are Service::new's defaults; the name defaults to the key.
        let second = config.services[1].to_service("services[1]").unwrap();
        assert_eq!(second, Service::new("second-service", "second-service"));

        let c = config.clients[0].to_client("clients[0]").unwrap();
        assert_eq!(c.id, 12346);
        assert_eq!(c.external_id, Some(7));
        assert_eq!(c.client_id, "tkr7f25gd6452zy8rjsf7bwd");
        assert_eq!(c.name, "Reviews Web");
        assert_eq!(c.attributes.as_deref(), Some("tier=gold"));
        assert_eq!(c.redirect_uris, vec!["https://client.example.com/cb"]);
        assert_eq!(c.services.len(), 2);
        assert_eq!(c.status, ClientStatus::Disabled);
        assert_eq!(c.allowed_scopes, Some(vec!["a".into(), "b".into()]));
        assert_eq!(c.secret_hash, None, "hashing is apply's job");

        let public = config.clients[1].to_client("clients[1]").unwrap();
        assert_eq!(public.status, ClientStatus::Active);
        assert!(config.clients[1].secret.is_none());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let config = parse(EXAMPLE).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("q13rupuifd"), "{debug}");
        assert!(!debug.contains("change-me"), "{debug}");
        assert!(!debug.contains("00112233445566778899"), "{debug}");
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = parse("colour = \"blue\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("colour"), "{text}");
        assert!(text.starts_with("tokengate.toml:1:1: "), "{text}");
    }

    #[test]
    fn unknown_key_in_a_section_is_named_with_its_path() {
        let err = parse("[store]\nurl = \"memory:\"\npeper = \"00\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`peper`"), "{text}");
        assert!(err.key().unwrap().starts_with("store"), "{text}");
        assert_eq!(err.position().map(|p| p.0), Some(3), "{text}");

        let err = parse(&format!(
            "{}[[services]]\nkey = \"b\"\ngrant = []\n",
            service_with("")
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`grant`"), "{text}");
        assert!(err.key().unwrap().starts_with("services[1]"), "{text}");

        let err = parse("[admin]\ncredentials = [{ key = \"k\", secret = \"s\", role = \"x\" }]\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`role`"), "{text}");
        assert!(
            err.key().unwrap().starts_with("admin.credentials[0]"),
            "{text}"
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse(&service_with("access_token_ttl = \"long\"")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].access_token_ttl"), "{err}");
        let err = parse("[admin]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(err.key(), Some("admin.listen"), "{err}");
    }

    #[test]
    fn bad_grant_names_services_n_grants() {
        let text = format!(
            "{}{}",
            service_with(""),
            "[[services]]\nkey = \"b\"\ngrants = [\"password\", \"magic\"]\n"
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.key(), Some("services[1].grants"));
        let shown = err.to_string();
        assert!(
            shown.starts_with("tokengate.toml: services[1].grants: "),
            "{shown}"
        );
        assert!(shown.contains("magic"), "{shown}");

        let err = parse(&service_with("grants = [\"refresh_token\"]")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].grants"));
        let err = parse(&service_with("grants = [\"password\", \"password\"]")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].grants"));
        let ok = parse(&service_with("grants = []")).unwrap();
        assert!(ok.services[0].to_service("s").unwrap().grants.is_empty());
    }

    #[test]
    fn mac_algorithm_rules() {
        let config = parse(&service_with(
            "token_type = \"mac\"\nmac_algorithm = \"hmac-sha-256\"",
        ))
        .unwrap();
        assert_eq!(
            config.services[0].to_service("s").unwrap().token_type,
            TokenType::Mac(MacAlgorithm::HmacSha256)
        );

        let err = parse(&service_with("token_type = \"mac\"")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].mac_algorithm"), "{err}");
        let err = parse(&service_with(
            "token_type = \"mac\"\nmac_algorithm = \"md5\"",
        ))
        .unwrap_err();
        assert_eq!(err.key(), Some("services[0].mac_algorithm"), "{err}");
        assert!(err.message().contains("md5"));
        let err = parse(&service_with("mac_algorithm = \"hmac-sha-1\"")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].mac_algorithm"), "{err}");
        let err = parse(&service_with("token_type = \"jwt\"")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].token_type"), "{err}");
    }

    #[test]
    fn ttl_bounds() {
        let err = parse(&service_with("access_token_ttl = 0")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].access_token_ttl"));
        let err = parse(&service_with("refresh_token_ttl = 999999999999")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].refresh_token_ttl"));
        let err = parse(&service_with("authorization_code_ttl = -5")).unwrap_err();
        assert_eq!(err.key(), Some("services[0].authorization_code_ttl"));
    }

    #[test]
    fn duplicates_are_rejected() {
        let err = parse(&format!("{}{}", service_with(""), service_with(""))).unwrap_err();
        assert_eq!(err.key(), Some("services[1].key"));
        assert!(err.message().contains("duplicate"));

        let client = |id: i64, client_id: &str| {
            format!("[[clients]]\nid = {id}\nclient_id = \"{client_id}\"\nname = \"n\"\n")
        };
        let err = parse(&format!("{}{}", client(1, "a"), client(1, "b"))).unwrap_err();
        assert_eq!(err.key(), Some("clients[1].id"));
        let err = parse(&format!("{}{}", client(1, "a"), client(2, "a"))).unwrap_err();
        assert_eq!(err.key(), Some("clients[1].client_id"));
        parse(&format!("{}{}", client(1, "a"), client(2, "b"))).unwrap();

        let err = parse(
            "[admin]\ncredentials = [{ key = \"k\", secret = \"s\" }, { key = \"k\", secret = \"t\" }]\n",
        )
        .unwrap_err();
        assert_eq!(err.key(), Some("admin.credentials[1].key"));
    }

    #[test]
    fn issuance_policy_keys() {
        let s = |extra: &str| {
            parse(&service_with(extra)).and_then(|c| c.services[0].to_service("services[0]"))
        };
        let open = s("any_scope = true").unwrap();
        assert!(open.any_scope);
        assert_eq!(open.scopes, None);
        assert_eq!(open.require_pkce, PkceRequirement::PublicClients);
        assert_eq!(
            s("require_pkce = \"off\"").unwrap().require_pkce,
            PkceRequirement::Off
        );
        assert!(!s("scopes = [\"a\"]\nany_scope = false").unwrap().any_scope);
        for (extra, key) in [
            (
                "require_pkce = \"public_clients\"",
                "services[0].require_pkce",
            ),
            ("require_pkce = true", "services[0].require_pkce"),
            ("scopes = [\"a\", \"b c\"]", "services[0].scopes[1]"),
            ("scopes = [\"\"]", "services[0].scopes[0]"),
            (
                "scopes = [\"a\"]\nany_scope = true",
                "services[0].any_scope",
            ),
        ] {
            let err = s(extra).unwrap_err();
            assert_eq!(err.key(), Some(key), "{extra}: {err}");
        }
        let admin = parse("[admin]\nrequire_json_content_type = true\n").unwrap();
        assert!(admin.admin.require_json_content_type);
        assert!(!parse("").unwrap().admin.require_json_content_type);
    }

    #[test]
    fn client_values_are_checked() {
        let base = "[[clients]]\nid = 1\nclient_id = \"app\"\nname = \"n\"\n";
        let cases = [
            (
                "redirect_uris = [\"/relative\"]",
                "clients[0].redirect_uris[0]",
            ),
            (
                "redirect_uris = [\"https://a.example/cb#frag\"]",
                "clients[0].redirect_uris[0]",
            ),
            ("status = \"paused\"", "clients[0].status"),
            ("allowed_scopes = [\"a b\"]", "clients[0].allowed_scopes[0]"),
            ("secret = \"\"", "clients[0].secret"),
            ("services = [\"s\", \"s\"]", "clients[0].services[1]"),
        ];
        for (extra, key) in cases {
            let err = parse(&format!("{base}{extra}\n")).unwrap_err();
            assert_eq!(err.key(), Some(key), "{extra}: {err}");
        }
        let err = parse("[[clients]]\nid = 0\nclient_id = \"app\"\nname = \"n\"\n").unwrap_err();
        assert_eq!(err.key(), Some("clients[0].id"));
        let err = parse("[[clients]]\nid = 3\nname = \"n\"\n").unwrap_err();
        assert!(err.to_string().contains("client_id"), "{err}");
    }

    #[test]
    fn store_url_and_pepper_are_checked() {
        let err = parse("[store]\nurl = \"redis://db/tokens\"\n").unwrap_err();
        assert_eq!(err.key(), Some("store.url"), "{err}");
        let err = parse("[store]\nurl = \"memory:\"\npepper = \"xyz\"\n").unwrap_err();
        assert_eq!(err.key(), Some("store.pepper"), "{err}");
        assert!(
            !err.to_string().contains("xyz"),
            "the pepper is not echoed: {err}"
        );
        let err = parse("[store]\nurl = \"memory:\"\npepper = \"0011\"\n").unwrap_err();
        assert_eq!(err.key(), Some("store.pepper"), "{err}");
        let err = parse("[admin]\nmax_body_bytes = 0\n").unwrap_err();
        assert_eq!(err.key(), Some("admin.max_body_bytes"), "{err}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, service_with("grants = [\"nope\"]")).unwrap();
        let err = Config::load(&path).unwrap_err();
        assert_eq!(err.file(), Some(path.as_path()));
        assert!(err.to_string().contains("bad.toml"), "{err}");

        let missing = Config::load(dir.path().join("missing.toml")).unwrap_err();
        assert!(missing.to_string().contains("missing.toml"), "{missing}");
        assert!(std::error::Error::source(&missing).is_some());

        let syntax = dir.path().join("syntax.toml");
        std::fs::write(&syntax, "[store\n").unwrap();
        let err = Config::load(&syntax).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}:1:", syntax.display())),
            "{err}"
        );
    }

    #[test]
    fn admin_credentials_merge_the_environment_pair() {
        let config = parse(EXAMPLE).unwrap();
        let pairs = config.admin_credentials_with(None, None).unwrap();
        assert_eq!(pairs, vec![("ops".to_owned(), "change-me".to_owned())]);
        let pairs = config
            .admin_credentials_with(Some("ci".into()), Some("s3".into()))
            .unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1], ("ci".to_owned(), "s3".to_owned()));
        let err = config
            .admin_credentials_with(Some("ci".into()), None)
            .unwrap_err();
        assert_eq!(err.key(), Some(ENV_ADMIN_SECRET));
        let err = config
            .admin_credentials_with(None, Some("s".into()))
            .unwrap_err();
        assert_eq!(err.key(), Some(ENV_ADMIN_KEY));
        let err = config
            .admin_credentials_with(Some("ops".into()), Some("x".into()))
            .unwrap_err();
        assert_eq!(err.key(), Some(ENV_ADMIN_KEY));
    }
}
