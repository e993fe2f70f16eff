//! Inputs and outputs of the [`TokenService`](super::TokenService) operations, shaped like
//! Mashery's JSON-RPC objects so transports can (de)serialize them directly.

use serde::{Deserialize, Deserializer, Serialize};

/// Deserializes a string field where `""` means absent (Mashery sends `"refresh_token": ""`).
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// The `client` object: who is asking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ClientCredentials {
    /// The developer's key.
    pub client_id: String,
    /// The client secret, when the flow requires or the caller supplies it.
    #[serde(default, deserialize_with = "non_empty")]
    pub client_secret: Option<String>,
}

impl ClientCredentials {
    /// Credentials with a secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
        }
    }

    /// Credentials of a public client (no secret).
    pub fn public(client_id: impl Into<String>) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: None,
        }
    }
}

/// The `uri` object: the redirect URI and the state to carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RedirectTarget {
    /// The redirect URI.
    #[serde(default, deserialize_with = "non_empty")]
    pub redirect_uri: Option<String>,
    /// Opaque client state echoed back.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<String>,
}

impl RedirectTarget {
    /// A target with just a redirect URI.
    pub fn uri(redirect_uri: impl Into<String>) -> Self {
        RedirectTarget {
            redirect_uri: Some(redirect_uri.into()),
            state: None,
        }
    }
}

/// The `token_data` object: the parameters the OAuth client sent to the token endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TokenRequest {
    /// `authorization_code`, `password`, `client_credentials` or `refresh_token`.
    #[serde(default, deserialize_with = "non_empty")]
    pub grant_type: Option<String>,
    /// `token` for the implicit flow.
    #[serde(default, deserialize_with = "non_empty")]
    pub response_type: Option<String>,
    /// Requested scope.
    #[serde(default, deserialize_with = "non_empty")]
    pub scope: Option<String>,
    /// The authorization code (authorization_code grant).
    #[serde(default, deserialize_with = "non_empty")]
    pub code: Option<String>,
    /// The refresh token (refresh_token grant).
    #[serde(default, deserialize_with = "non_empty")]
    pub refresh_token: Option<String>,
    /// The PKCE verifier, when the code was issued with a challenge.
    #[serde(default, deserialize_with = "non_empty")]
    pub code_verifier: Option<String>,
    /// Opaque client state echoed back.
    #[serde(default, deserialize_with = "non_empty")]
    pub state: Option<String>,
}

impl TokenRequest {
    /// A request for `grant_type`.
    pub fn grant(grant_type: impl Into<String>) -> Self {
        TokenRequest {
            grant_type: Some(grant_type.into()),
            ..Default::default()
        }
    }
}

/// A PKCE challenge sent with an authorization request (RFC 7636). Only `S256` is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PkceParams {
    /// `BASE64URL(SHA256(code_verifier))`.
    pub code_challenge: String,
    /// Must be `S256`; absent means `plain`, which is refused.
    #[serde(default)]
    pub code_challenge_method: Option<String>,
}

/// The answer of `fetchApplication`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Numeric application id.
    pub id: i64,
    /// External application id.
    pub external_id: Option<i64>,
    /// Application name.
    pub name: String,
    /// Extended attributes.
    pub attributes: Option<String>,
}

/// The answer of `createAuthorizationCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationGrant {
    /// The new code (give it to the client; it is stored hashed).
    pub code: String,
    /// Where to send the user: `redirect_uri` with `code` and `state` appended.
    pub uri: RedirectTarget,
}

/// The MAC key of a MAC token (`extended`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacExtension {
    /// The MAC key.
    pub secret: String,
    /// `hmac-sha-1` or `hmac-sha-256`.
    pub algorithm: &'static str,
}

/// The answer of `createAccessToken`, member for member as Mashery documents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    /// `json`, or `redirect` for the implicit flow.
    pub return_type: &'static str,
    /// The access token.
    pub access_token: String,
    /// `bearer` or `mac`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// The granted scope.
    pub scope: Option<String>,
    /// The client's state, echoed.
    pub state: Option<String>,
    /// For `redirect`: the redirect URI with the token in its fragment.
    pub uri: Option<RedirectTarget>,
    /// MAC key and algorithm for MAC tokens.
    pub extended: Option<MacExtension>,
}

/// Which tokens `fetchUserApplications` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenStatusFilter {
    /// Tokens that work now (the default).
    #[default]
    Active,
    /// Revoked or expired tokens.
    Inactive,
    /// All tokens.
    All,
}

impl TokenStatusFilter {
    /// Parses `active`, `inactive` or `all`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(TokenStatusFilter::Active),
            "inactive" => Some(TokenStatusFilter::Inactive),
            "all" => Some(TokenStatusFilter::All),
            _ => None,
        }
    }
}

/// One entry of `fetchUserApplications`: an application and the ids of its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserApplication {
    /// Numeric application id.
    pub id: i64,
    /// Application name.
    pub name: String,
    /// The developer's key.
    pub client_id: String,
    /// Record ids of the tokens (never the tokens themselves).
    pub access_tokens: Vec<String>,
}

/// Changes requested by `updateAccessToken`; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenChanges {
    /// New scope.
    pub scope: Option<String>,
    /// New lifetime from now, in seconds.
    pub expires_in: Option<u64>,
    /// New user context.
    pub user_context: Option<String>,
}
