//! Authorization codes.

use super::UnixMillis;
use crate::secret::TokenHash;

/// A PKCE (RFC 7636) challenge recorded with a code. Only `S256` is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkceChallenge {
    /// `BASE64URL(SHA256(code_verifier))`, unpadded.
    pub challenge: String,
}

/// A single-use authorization code. Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// Hash of the code.
    pub code_hash: TokenHash,
    /// The service the code is for.
    pub service_key: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was issued for; redemption must present the same one.
    pub redirect_uri: Option<String>,
    /// Scope the resulting token will carry.
    pub scope: Option<String>,
    /// User context the resulting token will carry.
    pub user_context: Option<String>,
    /// PKCE challenge, if the authorization request carried one.
    pub pkce: Option<PkceChallenge>,
    /// Expiry time.
    pub expires_at: UnixMillis,
    /// Set by the first redemption.
    pub used: bool,
}
