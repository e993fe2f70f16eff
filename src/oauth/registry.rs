//! Registry operations for operators, beside Mashery's `oauth2.*`: a client's secret, and the
//! tokens of a client or a user across services (a client's status and removal are
//! [`TokenService::put_client`] and [`TokenService::delete_client`]). The CLI (`tokengate
//! client …`, `tokengate token …`) and the admin JSON-RPC methods `tokengate.*` both call these;
//! invalidation listeners (this process's caches) hear of every token they end before they
//! return.

use std::fmt;

use super::TokenService;
use crate::model::{Client, TokenRecord};
use crate::secret::{generate_token, TokenHash};
use crate::store::{Revocation, TokenCursor};
use crate::Error;

/// Records read per page when tokens are searched.
const PAGE: u32 = 500;

/// Whose tokens [`TokenService::find_tokens`] selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// Every token issued to the client with this developer key.
    Client(String),
    /// Every token issued for this user context, to any client.
    User(String),
}

/// A client with a new secret, from [`TokenService::rotate_client_secret`].
pub struct RotatedSecret {
    /// The client as stored (the secret only as a hash).
    pub client: Client,
    /// The new secret in clear: the only time it is known.
    pub secret: String,
    /// How many live tokens of the client were revoked with it.
    pub tokens_revoked: usize,
}

impl fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client", &self.client)
            .field("secret", &"<redacted>")
            .field("tokens_revoked", &self.tokens_revoked)
            .finish()
    }
}

impl TokenService {
    /// Gives a confidential client a new generated secret; the old one is refused from the
    /// moment this returns (no grace period). Its tokens stay valid unless `revoke_tokens`.
    /// `None` when there is no such client or it is public (it has no secret to rotate).
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        revoke_tokens: bool,
    ) -> Result<Option<RotatedSecret>, Error> {
        let Some(mut client) = self.store.client(client_id).await? else {
            return Ok(None);
        };
        if client.is_public() {
            return Ok(None);
        }
        let secret = generate_token();
        client.secret_hash = Some(self.pepper.hash_secret(&secret));
        self.store.put_client(&client).await?;
        let tokens_revoked = if revoke_tokens {
            let owner = TokenOwner::Client(client_id.to_owned());
            self.revoke_tokens_of(&owner, None).await?
        } else {
            0
        };
        Ok(Some(RotatedSecret {
            client,
            secret,
            tokens_revoked,
        }))
    }

    /// Every token record (any state) of `owner`, newest first, on `service` only when given.
    /// By client, this reads every record page by page.
    pub async fn find_tokens(
        &self,
        owner: &TokenOwner,
        service: Option<&str>,
    ) -> Result<Vec<TokenRecord>, Error> {
        let listed_owner = match owner {
            TokenOwner::User(user) => Some(user.as_str()),
            TokenOwner::Client(_) => None,
        };
        let mine = |t: &TokenRecord| {
            let owned = match owner {
                TokenOwner::Client(id) => &t.client_id == id,
                TokenOwner::User(user) => t.user_context.as_deref() == Some(user.as_str()),
            };
            owned && service.is_none_or(|s| t.service_key == s)
        };
        let mut found = Vec::new();
        let mut after: Option<TokenCursor> = None;
        loop {
            let page = self
                .store
                .list_tokens(listed_owner, after.as_ref(), PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(TokenCursor::after(last));
            let full = page.len() == PAGE as usize;
            found.extend(page.into_iter().filter(|t| mine(t)));
            if !full {
                break;
            }
        }
        Ok(found)
    }

    /// Revokes every live token of `owner` (on `service` only, when given); how many.
    pub async fn revoke_tokens_of(
        &self,
        owner: &TokenOwner,
        service: Option<&str>,
    ) -> Result<usize, Error> {
        let records = self.find_tokens(owner, service).await?;
        let hashes: Vec<&TokenHash> = records
            .iter()
            .filter(|t| !t.revoked)
            .map(|t| &t.token_hash)
            .collect();
        self.revoke_hashes(&hashes).await
    }

    /// Revokes the tokens with these hashes; how many were live.
    pub(crate) async fn revoke_hashes(&self, hashes: &[&TokenHash]) -> Result<usize, Error> {
        let mut ended = Vec::new();
        for hash in hashes {
            ended.extend(self.store.revoke(Revocation::Token(hash)).await?);
        }
        self.invalidated(&ended).await;
        Ok(ended.len())
    }
}
