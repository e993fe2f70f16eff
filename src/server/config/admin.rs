//! `[admin]`: the admin listener (JSON-RPC API, health, metrics) and its callers.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, LimitSetting, DEFAULT_FAILED_AUTH_LIMIT};

/// The admin listener's address when the configuration names none.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);

/// The largest admin request body accepted when the configuration names no limit (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The environment variable that adds one admin credential key (with [`ENV_ADMIN_SECRET`]).
pub const ENV_ADMIN_KEY: &str = "TOKENGATE_ADMIN_KEY";

/// The environment variable that adds one admin credential secret (with [`ENV_ADMIN_KEY`]).
pub const ENV_ADMIN_SECRET: &str = "TOKENGATE_ADMIN_SECRET";

/// `[admin]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The caller's key (the Basic user name or the `api_key` parameter).
    pub key: String,
    /// The caller's secret.
    #[serde(serialize_with = "super::masked::secret")]
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

impl AdminConfig {
    /// Checks the `[admin]` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "admin.max_body_bytes",
                "must be greater than 0",
            ));
        }
        self.failed_auth_limit
            .rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "admin.failed_auth_limit")?;
        let mut keys = HashSet::new();
        for (i, credential) in self.credentials.iter().enumerate() {
            let path = format!("admin.credentials[{i}]");
            check_credential(&credential.key, &credential.secret, &path)?;
            if !keys.insert(credential.key.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.key"),
                    format!("duplicate credential key `{}`", credential.key),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The admin API callers: `[admin] credentials` plus the pair from `$TOKENGATE_ADMIN_KEY`
    /// and `$TOKENGATE_ADMIN_SECRET` when both are set.
    pub fn admin_credentials(&self) -> Result<Vec<(String, String)>, ConfigError> {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        self.admin_credentials_with(env(ENV_ADMIN_KEY), env(ENV_ADMIN_SECRET))
    }

    pub(super) fn admin_credentials_with(
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
