//! Client applications (a developer's key registered for one or more services).

/// Whether a client may obtain and use tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientStatus {
    /// The client works (the default).
    #[default]
    Active,
    /// The client is refused everywhere.
    Disabled,
}

impl ClientStatus {
    /// `active` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Disabled => "disabled",
        }
    }

    /// Parses [`ClientStatus::as_str`]; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ClientStatus::Active),
            "disabled" => Some(ClientStatus::Disabled),
            _ => None,
        }
    }
}

/// A client application.
///
/// The secret is only ever held as the hash made by [`crate::secret::Pepper::hash_secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Numeric application id (Mashery's `id`).
    pub id: i64,
    /// Optional external application id.
    pub external_id: Option<i64>,
    /// Application name.
    pub name: String,
    /// Extended attributes, free text.
    pub attributes: Option<String>,
    /// The developer's key, presented as `client_id`.
    pub client_id: String,
    /// Hash of the client secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Keys of the services the client may use.
    pub services: Vec<String>,
    /// Active or disabled.
    pub status: ClientStatus,
    /// Scopes the client may be granted. `None`: at the token endpoint, those its service
    /// declares ([`Service::scopes`](crate::model::Service::scopes)), or none unless the
    /// service allows any ([`Service::any_scope`](crate::model::Service::any_scope)); through
    /// the provider's JSON-RPC calls, any.
    pub allowed_scopes: Option<Vec<String>>,
}

impl Client {
    /// Whether the client is public (has no secret, RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Whether the client is active and registered for `service_key`.
    pub fn may_use(&self, service_key: &str) -> bool {
        self.status == ClientStatus::Active && self.services.iter().any(|s| s == service_key)
    }

    /// The services whose tokens end when this client is stored as `next`: every service it
    /// could use when `next` is disabled or has another `client_id`, else those `next` no
    /// longer lists. Every store revokes those tokens in the same transaction as the change, so
    /// re-enabling a client or listing a service again does not bring them back.
    ///
    /// ```
    /// use tokengate::model::{Client, ClientStatus};
    /// let before = Client {
    ///     id: 1, external_id: None, name: "App".into(), attributes: None,
    ///     client_id: "app".into(), secret_hash: None, redirect_uris: vec![],
    ///     services: vec!["a".into(), "b".into()], status: ClientStatus::Active,
    ///     allowed_scopes: None,
    /// };
    /// let fewer = Client { services: vec!["b".into()], ..before.clone() };
    /// assert_eq!(before.ended_services(&fewer), vec!["a".to_owned()]);
    /// let disabled = Client { status: ClientStatus::Disabled, ..before.clone() };
    /// assert_eq!(before.ended_services(&disabled), before.services);
    /// assert!(disabled.ended_services(&before).is_empty()); // re-enabling ends nothing
    /// ```
    pub fn ended_services(&self, next: &Client) -> Vec<String> {
        if self.status != ClientStatus::Active {
            // Its tokens ended when it was disabled.
            return Vec::new();
        }
        let all = next.status != ClientStatus::Active || next.client_id != self.client_id;
        self.services
            .iter()
            .filter(|s| all || !next.services.contains(s))
            .cloned()
            .collect()
    }
}
