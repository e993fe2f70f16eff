//! `CountingStore`: a [`Store`] wrapper that counts tokens issued and revoked and token
//! lookups, for `/metrics`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;

use super::metrics::TokenCounters;
use crate::model::{
    AuthorizationCode, Client, PreviousSecret, Service, TokenRecord, TokenUpdate, UnixMillis,
};
use crate::secret::TokenHash;
use crate::store::{Redemption, Revocation, Rotation, Store, TokenCursor};
use crate::Error;

/// Delegates every call to the wrapped store; counts stored access tokens (new grants and
/// refresh rotations) as issued, newly revoked ones as revoked, and queries for token records
/// by token, refresh token or list as lookups.
pub(crate) struct CountingStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) counters: Arc<TokenCounters>,
}

impl CountingStore {
    fn count_revoked(&self, hashes: &[TokenHash]) {
        self.counters
            .revoked
            .fetch_add(hashes.len() as u64, Ordering::Relaxed);
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.inner.meta(key).await
    }
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), Error> {
        self.inner.set_meta(key, value).await
    }
    async fn previous_secret(&self, client_id: &str) -> Result<Option<PreviousSecret>, Error> {
        self.inner.previous_secret(client_id).await
    }
    async fn put_previous_secret(
        &self,
        client_id: &str,
        previous: &PreviousSecret,
    ) -> Result<(), Error> {
        self.inner.put_previous_secret(client_id, previous).await
    }
    async fn claim_meta(&self, key: &str, value: &str) -> Result<String, Error> {
        self.inner.claim_meta(key, value).await
    }
    async fn delete_service(&self, key: &str) -> Result<bool, Error> {
        self.inner.delete_service(key).await
    }
    async fn put_service(&self, service: &Service) -> Result<(), Error> {
        self.inner.put_service(service).await
    }
    async fn service(&self, key: &str) -> Result<Option<Service>, Error> {
        self.inner.service(key).await
    }
    async fn services(&self) -> Result<Vec<Service>, Error> {
        self.inner.services().await
    }
    async fn put_client(&self, client: &Client) -> Result<Vec<TokenHash>, Error> {
        let ended = self.inner.put_client(client).await?;
        self.count_revoked(&ended);
        Ok(ended)
    }
    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error> {
        let ended = self.inner.delete_client(client_id).await?;
        self.count_revoked(ended.as_deref().unwrap_or_default());
        Ok(ended)
    }
    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        self.inner.client(client_id).await
    }
    async fn clients(&self) -> Result<Vec<Client>, Error> {
        self.inner.clients().await
    }
    async fn service_and_client(
        &self,
        key: &str,
        client_id: &str,
    ) -> Result<(Option<Service>, Option<Client>), Error> {
        self.inner.service_and_client(key, client_id).await
    }
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        self.inner.insert_code(code).await
    }
    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error> {
        self.inner.code(code_hash).await
    }
    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error> {
        self.inner.redeem_code(code_hash).await
    }
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        self.inner.insert_token(token).await?;
        self.counters.issued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error> {
        self.counters.lookups.fetch_add(1, Ordering::Relaxed);
        self.inner.token(token_hash).await
    }
    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        self.counters.lookups.fetch_add(1, Ordering::Relaxed);
        self.inner.tokens(token_hashes).await
    }
    async fn token_by_refresh(
        &self,
        refresh_hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, Error> {
        self.counters.lookups.fetch_add(1, Ordering::Relaxed);
        self.inner.token_by_refresh(refresh_hash).await
    }
    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error> {
        let rotation = self.inner.rotate_refresh(refresh_hash, next).await?;
        if rotation == Rotation::Rotated {
            self.counters.issued.fetch_add(1, Ordering::Relaxed);
        }
        Ok(rotation)
    }
    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        let revoked = self.inner.revoke(which).await?;
        self.count_revoked(&revoked);
        Ok(revoked)
    }
    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error> {
        self.inner.update_token(token_hash, update).await
    }
    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error> {
        self.inner.tokens_by_owner(service_key, user_context).await
    }
    async fn list_tokens(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error> {
        self.inner.list_tokens(owner, after, limit).await
    }
    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error> {
        self.inner.purge_expired(before, limit).await
    }
}
