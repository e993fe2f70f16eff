//! Stored token records and the view of a valid token that callers get.

use super::{GrantType, TokenType};
use crate::secret::TokenHash;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = i64;

/// The refresh half of a token record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshState {
    /// Hash of the refresh token.
    pub hash: TokenHash,
    /// When the refresh token stops working.
    pub expires_at: UnixMillis,
    /// Set once the refresh token has been rotated; presenting it again revokes the family.
    pub used: bool,
}

/// A stored access token. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public record id (32 hex characters), safe to show in listings.
    pub id: String,
    /// Hash of the access token.
    pub token_hash: TokenHash,
    /// The service the token is for.
    pub service_key: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Bearer or MAC.
    pub token_type: TokenType,
    /// The grant it came from.
    pub grant_type: GrantType,
    /// Space separated scope, if any.
    pub scope: Option<String>,
    /// The provider's user identifier, if any.
    pub user_context: Option<String>,
    /// Issue time.
    pub created_at: UnixMillis,
    /// Expiry time.
    pub expires_at: UnixMillis,
    /// Set when revoked.
    pub revoked: bool,
    /// The refresh token issued with it, if any.
    pub refresh: Option<RefreshState>,
    /// Id of the first record of the refresh chain (its own id for a fresh grant).
    pub family_id: String,
    /// Hash of the authorization code the token was redeemed from, if any.
    pub code_hash: Option<TokenHash>,
}

impl TokenRecord {
    /// Whether the access token works at `now`: not revoked and not expired.
    pub fn is_active(&self, now: UnixMillis) -> bool {
        !self.revoked && now < self.expires_at
    }

    /// The subject: the user context, or the client for tokens without one.
    pub fn owner(&self) -> &str {
        self.user_context.as_deref().unwrap_or(&self.client_id)
    }
}

/// Changes applied by `updateAccessToken`; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenUpdate {
    /// New scope.
    pub scope: Option<String>,
    /// New expiry.
    pub expires_at: Option<UnixMillis>,
    /// New user context.
    pub user_context: Option<String>,
}

/// What a valid access token grants: the answer of `fetchAccessToken` and what the gateway
/// injects into requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The service the token is for.
    pub service_key: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Bearer or MAC.
    pub token_type: TokenType,
    /// The grant it came from.
    pub grant_type: GrantType,
    /// Space separated scope, if any.
    pub scope: Option<String>,
    /// The provider's user identifier, if any.
    pub user_context: Option<String>,
    /// Expiry time.
    pub expires_at: UnixMillis,
    /// The MAC key for MAC tokens.
    pub mac_secret: Option<String>,
}

impl TokenInfo {
    /// Whether the scope contains every space separated entry of `required`.
    ///
    /// ```
    /// # use tokengate::model::{GrantType, TokenInfo, TokenType};
    /// let info = TokenInfo {
    ///     service_key: "svc".into(), client_id: "app".into(), token_type: TokenType::Bearer,
    ///     grant_type: GrantType::Password, scope: Some("read write".into()),
    ///     user_context: None, expires_at: 0, mac_secret: None,
    /// };
    /// assert!(info.has_scope("write read"));
    /// assert!(!info.has_scope("admin"));
    /// ```
    pub fn has_scope(&self, required: &str) -> bool {
        super::scope::is_subset(required, self.scope.as_deref().unwrap_or(""))
    }
}
