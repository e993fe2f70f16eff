//! Resolving presented tokens: the [`Resolve`] trait, the in-process [`LocalResolver`], the
//! [`RemoteResolver`] that asks a tokengate (or Mashery-compatible) JSON-RPC endpoint, the
//! [`LimitedResolver`] that caps concurrent lookups, and the [`TokenCache`] that fronts any of
//! them.

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::TokenInfo;
use crate::oauth::{ErrorCode, TokenService};
use crate::Error;

mod by_hash;
mod cache;
mod cached;
mod key;
mod limit;
mod remote;

pub use cache::{CacheStats, Lookup, TokenCache, TokenCacheBuilder};
pub use cached::{CachedToken, NotAHeaderValue};
pub use limit::LimitedResolver;
pub use remote::RemoteResolver;

/// Turns a presented access token into what it grants: Mashery's `fetchAccessToken`.
///
/// `Ok(None)` means the token is not valid for the resolver's service (unknown, expired,
/// revoked or another service's); `Err` means the answer is not known (the store or remote
/// service failed) and must not be cached.
#[async_trait]
pub trait Resolve: Send + Sync + 'static {
    /// Looks the token up.
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, Error>;

    /// Whether `token` can be one this resolver knows, decided at once and without I/O (its
    /// length, alphabet and integrity tag, see [`TagKey`](crate::secret::TagKey)). On `false`
    /// the [`TokenCache`] answers [`Lookup::Invalid`] without calling
    /// [`resolve`](Resolve::resolve) and without remembering the token, so a flood of forged
    /// tokens reaches neither the store nor the negative cache. The default admits every token.
    fn may_know(&self, token: &str) -> bool {
        let _ = token;
        true
    }
}

/// A shared resolver resolves as the one it points at.
#[async_trait]
impl<R: Resolve + ?Sized> Resolve for Arc<R> {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        (**self).resolve(token).await
    }

    fn may_know(&self, token: &str) -> bool {
        (**self).may_know(token)
    }
}

/// Resolves tokens of one service in-process, through a [`TokenService`].
///
/// ```
/// use std::sync::Arc;
/// use tokengate::{oauth::TokenService, resolve::LocalResolver, secret::Pepper, store::MemoryStore};
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let resolver = LocalResolver::new(tokens, "rmeqcgpw3zu2y47y9bs8vs2h");
/// # let _ = resolver;
/// ```
#[derive(Debug, Clone)]
pub struct LocalResolver {
    tokens: Arc<TokenService>,
    service_key: String,
}

impl LocalResolver {
    /// A resolver for the tokens of `service_key`.
    pub fn new(tokens: Arc<TokenService>, service_key: impl Into<String>) -> Self {
        LocalResolver {
            tokens,
            service_key: service_key.into(),
        }
    }

    /// The token service behind it.
    pub fn tokens(&self) -> &Arc<TokenService> {
        &self.tokens
    }
}

#[async_trait]
impl Resolve for LocalResolver {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        match self
            .tokens
            .fetch_access_token(&self.service_key, token)
            .await
        {
            Ok(info) => Ok(Some(info)),
            Err(e)
                if e.oauth()
                    .is_some_and(|o| o.code() == ErrorCode::InvalidToken) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Only the tokens its token service could have issued (their tag verifies).
    fn may_know(&self, token: &str) -> bool {
        self.tokens.tag_key().verifies(token)
    }
}
