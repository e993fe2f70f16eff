//! `[[services]]`: the services upserted into the store at start.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{ConfigError, LimitSetting};
use crate::model::{GrantType, Service, TokenType};

/// The longest lifetime accepted for tokens and codes: ten years, in seconds.
pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// One `[[services]]` entry. Absent settings take [`Service::new`]'s defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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

/// Checks every `[[services]]` entry, and that no key is used twice.
pub(super) fn validate_services(services: &[ServiceConfig]) -> Result<(), ConfigError> {
    let mut service_keys = HashSet::new();
    for (i, service) in services.iter().enumerate() {
        let path = format!("services[{i}]");
        service.to_service(&path)?;
        if !service_keys.insert(service.key.as_str()) {
            return Err(ConfigError::at(
                format!("{path}.key"),
                format!("duplicate service key `{}`", service.key),
            ));
        }
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

impl From<&Service> for ServiceConfig {
    /// The entry that [`ServiceConfig::to_service`] turns back into `service` (every setting
    /// written out): what `tokengate service update` changes before it validates the result.
    fn from(service: &Service) -> Self {
        let (token_type, mac_algorithm) = match service.token_type {
            TokenType::Bearer => ("bearer", None),
            TokenType::Mac(alg) => ("mac", Some(alg.as_str().to_owned())),
        };
        ServiceConfig {
            key: service.key.clone(),
            name: Some(service.name.clone()),
            access_token_ttl: Some(service.access_token_ttl),
            refresh_tokens: Some(service.refresh_tokens),
            refresh_token_ttl: Some(service.refresh_token_ttl),
            authorization_code_ttl: Some(service.authorization_code_ttl),
            token_type: Some(token_type.to_owned()),
            mac_algorithm,
            grants: Some(
                service
                    .grants
                    .iter()
                    .filter(|g| **g != GrantType::RefreshToken)
                    .map(|g| g.as_str().to_owned())
                    .collect(),
            ),
            force_redirect_validation: Some(service.force_redirect_validation),
            allow_multiple_tokens: Some(service.allow_multiple_tokens),
            allow_query_tokens: Some(service.allow_query_tokens),
            scopes: service.scopes.clone(),
            any_scope: Some(service.any_scope),
            require_pkce: Some(service.require_pkce.as_str().to_owned()),
            issue_rate: None,
        }
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
pub(super) fn check_scope_tokens(scopes: &[String], key: &str) -> Result<(), ConfigError> {
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
