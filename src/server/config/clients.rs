//! `[[clients]]`: the clients (applications) upserted into the store at start.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::services::check_scope_tokens;
use super::{ConfigError, LimitSetting};
use crate::model::{Client, ClientStatus};

/// One `[[clients]]` entry.
#[derive(Clone, Default, Deserialize, Serialize)]
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
    #[serde(default, serialize_with = "super::masked::optional_secret")]
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
    /// `true`: a public client (no `secret`). Needed to turn a stored confidential client
    /// public: leaving out `secret` alone is refused.
    #[serde(default)]
    pub public: Option<bool>,
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
            .field("public", &self.public)
            .field("allowed_scopes", &self.allowed_scopes)
            .field("issue_rate", &self.issue_rate)
            .finish()
    }
}

/// Checks every `[[clients]]` entry, and that no `id` or `client_id` is used twice.
pub(super) fn validate_clients(clients: &[ClientConfig]) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    let mut client_ids = HashSet::new();
    for (i, client) in clients.iter().enumerate() {
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

impl ClientConfig {
    /// Validates the entry and converts it to a [`Client`] **without** its secret hash
    /// (`secret_hash` is `None`: hashing needs the pepper, see [`crate::server::apply()`]); `path` (such
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
        match (self.public, &self.secret) {
            (Some(true), Some(_)) => {
                return Err(ConfigError::at(
                    format!("{path}.public"),
                    "a public client has no secret: remove `secret` or `public = true`",
                ))
            }
            (Some(false), None) => {
                return Err(ConfigError::at(
                    format!("{path}.secret"),
                    "a confidential client (`public = false`) needs a secret",
                ))
            }
            _ => {}
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
