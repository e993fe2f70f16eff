//! Finding a token by its value whatever its kind, and RFC 7662 introspection.

use super::service::SecretNeed;
use super::types::ClientCredentials;
use super::{ErrorCode, OAuthError, TokenService};
use crate::model::{TokenRecord, UnixMillis};
use crate::Error;

/// The kind of a token presented to introspection or revocation; the values of RFC 7009/7662
/// `token_type_hint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An access token (`access_token`).
    AccessToken,
    /// A refresh token (`refresh_token`).
    RefreshToken,
}

impl TokenKind {
    /// The `token_type_hint` spelling: `access_token` or `refresh_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "access_token",
            TokenKind::RefreshToken => "refresh_token",
        }
    }

    /// Parses a `token_type_hint`; unknown hints are `None` (RFC 7009 §2.1 and RFC 7662 §2.1:
    /// the server then searches every kind).
    pub fn from_hint(hint: &str) -> Option<Self> {
        match hint {
            "access_token" => Some(TokenKind::AccessToken),
            "refresh_token" => Some(TokenKind::RefreshToken),
            _ => None,
        }
    }

    /// The search order for a hint: the hinted kind first, then the other.
    fn search_order(hint: Option<TokenKind>) -> [TokenKind; 2] {
        match hint {
            Some(TokenKind::RefreshToken) => [TokenKind::RefreshToken, TokenKind::AccessToken],
            _ => [TokenKind::AccessToken, TokenKind::RefreshToken],
        }
    }
}

/// Who asks [`TokenService::introspect`].
#[derive(Debug, Clone, Copy)]
pub enum Introspector<'a> {
    /// An administrator the transport has authenticated already (admin credentials).
    Admin,
    /// A client of the service, typically a resource server. It must be a confidential client
    /// registered for the service and present its secret.
    Client(&'a ClientCredentials),
}

/// An active token found by [`TokenService::introspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// What the presented token is.
    pub kind: TokenKind,
    /// The record the token belongs to (for a refresh token: the record it was issued with).
    pub record: TokenRecord,
    /// When the presented token stops working: the access token's expiry, or the refresh
    /// token's.
    pub expires_at: UnixMillis,
}

impl TokenService {
    /// RFC 7662 introspection: the token, access or refresh, if it is active for the service.
    ///
    /// `hint` only decides which kind is looked up first (it is not trusted). Unknown, expired,
    /// revoked, used (rotated) refresh tokens and other services' tokens are all `None`. Fails
    /// with an OAuth error when a [`Introspector::Client`] does not authenticate: an unknown
    /// client (or one not registered for the service) is `unauthorized_client` "Invalid client
    /// identifier", as everywhere in the core; a wrong or missing secret, or a public client, is
    /// `invalid_client`.
    pub async fn introspect(
        &self,
        service_key: &str,
        caller: Introspector<'_>,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<Option<Introspection>, Error> {
        let service = self.load_service(service_key).await?;
        if let Introspector::Client(presented) = caller {
            let client = self
                .authenticate(&service, presented, SecretNeed::IfConfidential)
                .await?;
            if client.secret_hash.is_none() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidClient,
                    "Public clients cannot introspect tokens",
                )
                .into());
            }
        }
        let now = self.now();
        let Some((kind, record)) = self.find_token(token, hint).await? else {
            return Ok(None);
        };
        if record.service_key != service.key || record.revoked {
            return Ok(None);
        }
        let expires_at = match kind {
            TokenKind::AccessToken => record.expires_at,
            TokenKind::RefreshToken => match &record.refresh {
                Some(refresh) if !refresh.used => refresh.expires_at,
                _ => return Ok(None),
            },
        };
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(Introspection {
            kind,
            record,
            expires_at,
        }))
    }

    /// The record a token value belongs to, as an access token or a refresh token, looking up
    /// the hinted kind first. Any service, any status; none, without a store query, for a value
    /// this service cannot have issued.
    pub(super) async fn find_token(
        &self,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<Option<(TokenKind, TokenRecord)>, Error> {
        let Some(hash) = self.lookup_hash(token) else {
            return Ok(None);
        };
        for kind in TokenKind::search_order(hint) {
            let found = match kind {
                TokenKind::AccessToken => self.store.token(&hash).await?,
                TokenKind::RefreshToken => self.store.token_by_refresh(&hash).await?,
            };
            if let Some(record) = found {
                return Ok(Some((kind, record)));
            }
        }
        Ok(None)
    }
}
