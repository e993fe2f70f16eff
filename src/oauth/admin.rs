//! Operations for administrators, across every service: looking a token up whatever its
//! status, revoking it without the client, and listing records (the TIBCO-style REST API).

use super::TokenService;
use crate::model::{Client, TokenRecord, TokenType, UnixMillis};
use crate::store::{Revocation, TokenCursor};
use crate::Error;

/// The state of a token record at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// Neither revoked nor expired.
    Active,
    /// Revoked (whether or not it has expired since).
    Revoked,
    /// Expired, not revoked.
    Expired,
}

impl TokenStatus {
    /// The status of `record` at `now`.
    pub fn of(record: &TokenRecord, now: UnixMillis) -> Self {
        if record.revoked {
            TokenStatus::Revoked
        } else if now >= record.expires_at {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// `Active`, `Revoked` or `Expired`, TIBCO's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "Active",
            TokenStatus::Revoked => "Revoked",
            TokenStatus::Expired => "Expired",
        }
    }
}

impl TokenService {
    /// The record of an access token, of any service and in any state (see [`TokenStatus`]),
    /// while its client holds it (see [`Store::token`](crate::store::Store::token)).
    /// A value this service cannot have issued (see [`TokenService::tag_key`]) is `None`
    /// without a store query.
    pub async fn token_record(&self, access_token: &str) -> Result<Option<TokenRecord>, Error> {
        match self.lookup_hash(access_token) {
            Some(hash) => self.store.token(&hash).await,
            None => Ok(None),
        }
    }

    /// Revokes an access token of any service, without its client (an administrator's act),
    /// and returns its record as it is now; `None` for an unknown token. Revoking a revoked
    /// token changes nothing. Invalidation listeners hear about it before this returns.
    pub async fn revoke_token_record(
        &self,
        access_token: &str,
    ) -> Result<Option<TokenRecord>, Error> {
        let Some(record) = self.token_record(access_token).await? else {
            return Ok(None);
        };
        let revoked = self
            .store
            .revoke(Revocation::Token(&record.token_hash))
            .await?;
        self.invalidated(&revoked).await;
        Ok(Some(TokenRecord {
            revoked: true,
            ..record
        }))
    }

    /// Stores a client ([`Store::put_client`](crate::store::Store::put_client)): when the
    /// change disables it, renames it or takes a service from it, the tokens it ends are
    /// revoked in the same transaction and invalidation listeners hear about them before this
    /// returns. Re-enabling a client does not bring them back.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use tokengate::model::{Client, ClientStatus, Service};
    /// use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
    /// use tokengate::resolve::{LocalResolver, Lookup, TokenCache};
    /// use tokengate::secret::{Pepper, TokenHash};
    /// use tokengate::store::{MemoryStore, Store};
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let pepper = Pepper::new(b"a pepper kept outside the db".to_vec());
    /// store.put_service(&Service::new("svc", "API")).await?;
    /// let app = Client {
    ///     id: 1, external_id: None, name: "App".into(), attributes: None,
    ///     client_id: "app".into(), secret_hash: Some(pepper.hash_secret("s3cret")),
    ///     redirect_uris: vec![], services: vec!["svc".into()],
    ///     status: ClientStatus::Active, allowed_scopes: None,
    /// };
    /// store.put_client(&app).await?;
    /// let tokens = Arc::new(TokenService::new(store, pepper));
    /// let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), "svc")).build();
    /// cache.listen_to(&tokens);
    /// let token = tokens.create_access_token(
    ///     "svc", &ClientCredentials::new("app", "s3cret"),
    ///     &TokenRequest::grant("client_credentials"), None, None,
    /// ).await?.access_token;
    /// assert!(matches!(cache.lookup(&token).await?, Lookup::Valid(_)));
    ///
    /// tokens.put_client(&Client { status: ClientStatus::Disabled, ..app.clone() }).await?;
    /// assert!(cache.cached(&TokenHash::of(&token)).is_none(), "evicted before put_client returned");
    /// tokens.put_client(&app).await?; // enabled again
    /// assert!(tokens.fetch_access_token("svc", &token).await.is_err(), "still ended");
    /// # Ok::<_, tokengate::Error>(()) }).unwrap();
    /// ```
    pub async fn put_client(&self, client: &Client) -> Result<(), Error> {
        let ended = self.store.put_client(client).await?;
        self.invalidated(&ended).await;
        Ok(())
    }

    /// Deletes a client and revokes its tokens
    /// ([`Store::delete_client`](crate::store::Store::delete_client)); invalidation listeners
    /// hear about them before this returns. `false` when there is no such client.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, Error> {
        let Some(ended) = self.store.delete_client(client_id).await? else {
            return Ok(false);
        };
        self.invalidated(&ended).await;
        Ok(true)
    }

    /// Up to `limit` records of every service, newest first, after `after`; with `owner`, only
    /// that owner's (the user context, or the client for tokens without one). See
    /// [`Store::list_tokens`](crate::store::Store::list_tokens).
    pub async fn list_token_records(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error> {
        self.store.list_tokens(owner, after, limit).await
    }

    /// The MAC key of `access_token` when its record is a MAC token's; `None` for bearer
    /// tokens.
    pub fn mac_key(&self, record: &TokenRecord, access_token: &str) -> Option<String> {
        match record.token_type {
            TokenType::Mac(_) => Some(self.pepper.mac_secret(access_token)),
            TokenType::Bearer => None,
        }
    }
}
