//! The protected API definition and its OAuth settings.

use std::fmt;
use std::str::FromStr;

/// An OAuth 2.0 grant (or, for [`GrantType::Implicit`], a response type) a token can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1: a code from `createAuthorizationCode` redeemed for a token.
    AuthorizationCode,
    /// RFC 6749 §4.2: `response_type=token`, the token goes back in a redirect fragment.
    Implicit,
    /// RFC 6749 §4.3: the provider authenticated the user and passes `user_context`.
    Password,
    /// RFC 6749 §4.4: the client acts on its own behalf.
    ClientCredentials,
    /// RFC 6749 §6: a refresh token exchanged for a new access token (and a rotated refresh token).
    RefreshToken,
}

impl GrantType {
    /// Every grant, in a stable order.
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::Implicit,
        GrantType::Password,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
    ];

    /// The wire name (`authorization_code`, `implicit`, `password`, `client_credentials`,
    /// `refresh_token`).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::Implicit => "implicit",
            GrantType::Password => "password",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown name into one of the model's enums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName(pub String);

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown name `{}`", self.0)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for GrantType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// The HMAC algorithm of a MAC token type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// `hmac-sha-1`.
    HmacSha1,
    /// `hmac-sha-256`.
    HmacSha256,
}

impl MacAlgorithm {
    /// The wire name (`hmac-sha-1` or `hmac-sha-256`).
    pub fn as_str(self) -> &'static str {
        match self {
            MacAlgorithm::HmacSha1 => "hmac-sha-1",
            MacAlgorithm::HmacSha256 => "hmac-sha-256",
        }
    }
}

impl FromStr for MacAlgorithm {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hmac-sha-1" => Ok(MacAlgorithm::HmacSha1),
            "hmac-sha-256" => Ok(MacAlgorithm::HmacSha256),
            _ => Err(UnknownName(s.to_owned())),
        }
    }
}

/// The type of the access tokens a service issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenType {
    /// RFC 6750 bearer tokens (the default).
    #[default]
    Bearer,
    /// MAC tokens: the response carries `extended: {secret, algorithm}`.
    Mac(MacAlgorithm),
}

impl TokenType {
    /// The wire name: `bearer` or `mac`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Bearer => "bearer",
            TokenType::Mac(_) => "mac",
        }
    }

    /// The storage spelling: `bearer`, `mac:hmac-sha-1` or `mac:hmac-sha-256`.
    pub fn storage_name(self) -> String {
        match self {
            TokenType::Bearer => "bearer".to_owned(),
            TokenType::Mac(alg) => format!("mac:{}", alg.as_str()),
        }
    }

    /// Parses [`TokenType::storage_name`].
    pub fn from_storage_name(s: &str) -> Result<Self, UnknownName> {
        match s.strip_prefix("mac:") {
            Some(alg) => Ok(TokenType::Mac(alg.parse()?)),
            None if s == "bearer" => Ok(TokenType::Bearer),
            None => Err(UnknownName(s.to_owned())),
        }
    }
}

/// A protected API definition and its OAuth settings, with Mashery's defaults.
///
/// ```
/// use tokengate::model::{GrantType, Service};
/// let service = Service::new("rmeqcgpw3zu2y47y9bs8vs2h", "Reviews API");
/// assert_eq!(service.access_token_ttl, 3600);
/// assert!(service.allows(GrantType::ClientCredentials));
/// assert!(service.allows(GrantType::RefreshToken));
/// assert_eq!(service.scopes, None);
/// assert!(!service.any_scope);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service key (Mashery's 24+ character id).
    pub key: String,
    /// A human readable name.
    pub name: String,
    /// Lifetime of access tokens, in seconds (default 3600).
    pub access_token_ttl: u64,
    /// Whether refresh tokens are issued (default on).
    pub refresh_tokens: bool,
    /// Lifetime of refresh tokens, in seconds (default 2 764 800, 32 days).
    pub refresh_token_ttl: u64,
    /// Lifetime of authorization codes, in seconds (default 300).
    pub authorization_code_ttl: u64,
    /// The type of token issued (default bearer).
    pub token_type: TokenType,
    /// The enabled grants; refresh is governed by [`Service::refresh_tokens`] instead.
    pub grants: Vec<GrantType>,
    /// Whether a presented redirect URI must equal a registered one (default on).
    pub force_redirect_validation: bool,
    /// On (default): every request makes a new token. Off: issuing a token revokes the live
    /// tokens of the same client and user context, so at most one stays live.
    pub allow_multiple_tokens: bool,
    /// Whether the gateway accepts tokens in the `access_token` query or form parameter
    /// (default off).
    pub allow_query_tokens: bool,
    /// The scopes the service declares (default none: `None`). When declared, a grant the
    /// client asks for itself (the token endpoint's `client_credentials`) carries none but
    /// these, and a client without [`Client::allowed_scopes`](crate::model::Client) may ask
    /// for any of them. See [`scope::client_may_request`](crate::model::scope::client_may_request).
    pub scopes: Option<Vec<String>>,
    /// Off (default): at the token endpoint, a client without `allowed_scopes` of a service
    /// that declares no [`Service::scopes`] may ask for no scope at all. On: it may ask for
    /// any scope, so every scope rule of the gateway is only as strong as the client's own
    /// restraint. No effect when the service declares scopes.
    pub any_scope: bool,
    /// Which clients must send a PKCE challenge for an authorization code (default:
    /// [`PkceRequirement::PublicClients`], RFC 9700 §2.1.1).
    pub require_pkce: PkceRequirement,
}

/// Which clients of a service must use PKCE (RFC 7636) in the authorization code flow.
///
/// A client that must use it gets `invalid_request` from `createAuthorizationCode` without a
/// `code_challenge`, and `invalid_grant` when it redeems a code created without one (a code
/// made before the requirement applied).
///
/// ```
/// use tokengate::model::PkceRequirement;
/// assert_eq!(PkceRequirement::default(), PkceRequirement::PublicClients);
/// assert!(PkceRequirement::PublicClients.applies(true));
/// assert!(!PkceRequirement::PublicClients.applies(false));
/// assert_eq!("all".parse(), Ok(PkceRequirement::AllClients));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PkceRequirement {
    /// PKCE is optional for every client (`off`): public clients' codes can be redeemed by
    /// whoever intercepts them.
    Off,
    /// Public clients (without a secret) must use PKCE (`public`, the default).
    #[default]
    PublicClients,
    /// Every client must use PKCE (`all`), as RFC 9700 §2.1.1 recommends.
    AllClients,
}

impl PkceRequirement {
    /// The wire and storage name: `off`, `public` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            PkceRequirement::Off => "off",
            PkceRequirement::PublicClients => "public",
            PkceRequirement::AllClients => "all",
        }
    }

    /// Whether a client (public when it has no secret) must use PKCE.
    pub fn applies(self, public_client: bool) -> bool {
        match self {
            PkceRequirement::Off => false,
            PkceRequirement::PublicClients => public_client,
            PkceRequirement::AllClients => true,
        }
    }
}

impl FromStr for PkceRequirement {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PkceRequirement::Off,
            PkceRequirement::PublicClients,
            PkceRequirement::AllClients,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

impl Service {
    /// A service with Mashery's defaults and the four grants enabled.
    pub fn new(key: impl Into<String>, name: impl Into<String>) -> Self {
        Service {
            key: key.into(),
            name: name.into(),
            access_token_ttl: 3600,
            refresh_tokens: true,
            refresh_token_ttl: 2_764_800,
            authorization_code_ttl: 300,
            token_type: TokenType::Bearer,
            grants: vec![
                GrantType::AuthorizationCode,
                GrantType::Implicit,
                GrantType::Password,
                GrantType::ClientCredentials,
            ],
            force_redirect_validation: true,
            allow_multiple_tokens: true,
            allow_query_tokens: false,
            scopes: None,
            any_scope: false,
            require_pkce: PkceRequirement::PublicClients,
        }
    }

    /// Whether the service accepts `grant` (refresh follows [`Service::refresh_tokens`]).
    pub fn allows(&self, grant: GrantType) -> bool {
        match grant {
            GrantType::RefreshToken => self.refresh_tokens,
            other => self.grants.contains(&other),
        }
    }
}
