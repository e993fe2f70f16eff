//! An in-memory [`Store`] for tests and benches. Nothing survives the process.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Redemption, Revocation, Rotation, Store, TokenCursor};
use crate::model::{
    AuthorizationCode, Client, PreviousSecret, Service, TokenRecord, TokenUpdate, UnixMillis,
};
use crate::secret::TokenHash;
use crate::Error;

/// An in-memory store. For tests and benches only: it is not durable.
///
/// ```
/// # tokio_test_block_on(async {
/// use tokengate::model::Service;
/// use tokengate::store::{MemoryStore, Store};
/// let store = MemoryStore::new();
/// store.put_service(&Service::new("svc-key", "API")).await?;
/// assert_eq!(store.service("svc-key").await?.unwrap().name, "API");
/// # Ok::<_, tokengate::Error>(()) }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    services: HashMap<String, Service>,
    clients: HashMap<i64, Client>,
    codes: HashMap<TokenHash, AuthorizationCode>,
    tokens: HashMap<TokenHash, TokenRecord>,
    by_refresh: HashMap<TokenHash, TokenHash>,
    meta: HashMap<String, String>,
    previous_secrets: HashMap<String, PreviousSecret>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written map entry (every write is a
        // single insert), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn client_by_key(&self, client_id: &str) -> Option<&Client> {
        self.clients.values().find(|c| c.client_id == client_id)
    }

    /// Whether the token's client still holds it (see [`Store::token`]).
    fn held(&self, token: &TokenRecord) -> bool {
        self.client_by_key(&token.client_id)
            .is_some_and(|c| c.may_use(&token.service_key))
    }

    /// The record of an access token, if its client holds it.
    fn held_token(&self, token_hash: &TokenHash) -> Option<TokenRecord> {
        self.tokens
            .get(token_hash)
            .filter(|t| self.held(t))
            .cloned()
    }

    /// Revokes the live tokens of `client_id` on `services`; returns their hashes.
    fn end_tokens(&mut self, client_id: &str, services: &[String]) -> Vec<TokenHash> {
        let mut ended = Vec::new();
        for token in self.tokens.values_mut() {
            if !token.revoked
                && token.client_id == client_id
                && services.contains(&token.service_key)
            {
                token.revoked = true;
                ended.push(token.token_hash);
            }
        }
        ended
    }

    fn insert_token(&mut self, token: &TokenRecord) -> Result<(), Error> {
        let duplicate_refresh = token
            .refresh
            .as_ref()
            .is_some_and(|r| self.by_refresh.contains_key(&r.hash));
        if self.tokens.contains_key(&token.token_hash) || duplicate_refresh {
            return Err(Error::store("duplicate token"));
        }
        if let Some(refresh) = &token.refresh {
            self.by_refresh.insert(refresh.hash, token.token_hash);
        }
        self.tokens.insert(token.token_hash, token.clone());
        Ok(())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self.lock().meta.get(key).cloned())
    }
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), Error> {
        self.lock().meta.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
    async fn previous_secret(&self, client_id: &str) -> Result<Option<PreviousSecret>, Error> {
        Ok(self.lock().previous_secrets.get(client_id).cloned())
    }
    async fn put_previous_secret(
        &self,
        client_id: &str,
        previous: &PreviousSecret,
    ) -> Result<(), Error> {
        let mut state = self.lock();
        state
            .previous_secrets
            .insert(client_id.to_owned(), previous.clone());
        Ok(())
    }
    async fn claim_meta(&self, key: &str, value: &str) -> Result<String, Error> {
        let mut state = self.lock();
        let stored = state
            .meta
            .entry(key.to_owned())
            .or_insert_with(|| value.to_owned());
        Ok(stored.clone())
    }
    async fn delete_service(&self, key: &str) -> Result<bool, Error> {
        Ok(self.lock().services.remove(key).is_some())
    }
    async fn put_service(&self, service: &Service) -> Result<(), Error> {
        self.lock()
            .services
            .insert(service.key.clone(), service.clone());
        Ok(())
    }

    async fn service(&self, key: &str) -> Result<Option<Service>, Error> {
        Ok(self.lock().services.get(key).cloned())
    }

    async fn services(&self) -> Result<Vec<Service>, Error> {
        let mut all: Vec<_> = self.lock().services.values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }

    async fn put_client(&self, client: &Client) -> Result<Vec<TokenHash>, Error> {
        let mut inner = self.lock();
        if inner
            .clients
            .values()
            .any(|c| c.client_id == client.client_id && c.id != client.id)
        {
            return Err(Error::store(format!(
                "client_id {} already belongs to another client",
                client.client_id
            )));
        }
        let ended = match inner.clients.insert(client.id, client.clone()) {
            Some(before) => inner.end_tokens(&before.client_id, &before.ended_services(client)),
            None => Vec::new(),
        };
        Ok(ended)
    }

    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error> {
        let mut inner = self.lock();
        let Some(id) = inner.client_by_key(client_id).map(|c| c.id) else {
            return Ok(None);
        };
        let Some(before) = inner.clients.remove(&id) else {
            return Ok(None);
        };
        inner.previous_secrets.remove(client_id);
        Ok(Some(inner.end_tokens(&before.client_id, &before.services)))
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        Ok(self.lock().client_by_key(client_id).cloned())
    }

    async fn clients(&self) -> Result<Vec<Client>, Error> {
        let mut all: Vec<_> = self.lock().clients.values().cloned().collect();
        all.sort_by_key(|c| c.id);
        Ok(all)
    }

    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        let mut inner = self.lock();
        if inner.codes.contains_key(&code.code_hash) {
            return Err(Error::store("duplicate authorization code"));
        }
        inner.codes.insert(code.code_hash, code.clone());
        Ok(())
    }

    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error> {
        Ok(self.lock().codes.get(code_hash).cloned())
    }

    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error> {
        let mut inner = self.lock();
        Ok(match inner.codes.get_mut(code_hash) {
            None => Redemption::Unknown,
            Some(code) if code.used => Redemption::Replayed(code.clone()),
            Some(code) => {
                let before = code.clone();
                code.used = true;
                Redemption::Fresh(before)
            }
        })
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        self.lock().insert_token(token)
    }

    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error> {
        Ok(self.lock().held_token(token_hash))
    }

    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        let inner = self.lock();
        let mut seen = HashSet::with_capacity(token_hashes.len());
        Ok(token_hashes
            .iter()
            .filter(|hash| seen.insert(*hash))
            .filter_map(|hash| inner.held_token(hash))
            .collect())
    }

    async fn token_by_refresh(
        &self,
        refresh_hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, Error> {
        let inner = self.lock();
        Ok(inner
            .by_refresh
            .get(refresh_hash)
            .and_then(|h| inner.held_token(h)))
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error> {
        let mut inner = self.lock();
        let Some(owner) = inner.by_refresh.get(refresh_hash).copied() else {
            return Ok(Rotation::Unknown);
        };
        match inner.tokens.get(&owner).and_then(|t| t.refresh.as_ref()) {
            None => return Ok(Rotation::Unknown),
            Some(refresh) if refresh.used => return Ok(Rotation::Reused),
            Some(_) => {}
        }
        // Insert first: if it fails, nothing is marked used.
        inner.insert_token(next)?;
        if let Some(refresh) = inner
            .tokens
            .get_mut(&owner)
            .and_then(|t| t.refresh.as_mut())
        {
            refresh.used = true;
        }
        Ok(Rotation::Rotated)
    }

    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        let mut inner = self.lock();
        let mut revoked = Vec::new();
        for token in inner.tokens.values_mut() {
            let selected = match which {
                Revocation::Token(h) => token.token_hash == *h,
                Revocation::Family(f) => token.family_id == f,
                Revocation::Code(c) => token.code_hash.as_ref() == Some(c),
                Revocation::UserApplication {
                    service_key,
                    client_id,
                    user_context,
                } => {
                    token.service_key == service_key
                        && token.client_id == client_id
                        && token.user_context.as_deref() == user_context
                }
            };
            if selected && !token.revoked {
                token.revoked = true;
                revoked.push(token.token_hash);
            }
        }
        Ok(revoked)
    }

    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error> {
        let mut inner = self.lock();
        let Some(token) = inner.tokens.get_mut(token_hash) else {
            return Ok(false);
        };
        if let Some(scope) = &update.scope {
            token.scope = Some(scope.clone());
        }
        if let Some(expires_at) = update.expires_at {
            token.expires_at = expires_at;
        }
        if let Some(user_context) = &update.user_context {
            token.user_context = Some(user_context.clone());
        }
        Ok(true)
    }

    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error> {
        let mut found: Vec<_> = self
            .lock()
            .tokens
            .values()
            .filter(|t| {
                t.service_key == service_key && t.user_context.as_deref() == Some(user_context)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(found)
    }

    async fn list_tokens(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error> {
        let mut found: Vec<_> = self
            .lock()
            .tokens
            .values()
            .filter(|t| owner.is_none_or(|o| t.owner() == o))
            .filter(|t| after.is_none_or(|c| c.precedes(t)))
            .cloned()
            .collect();
        found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error> {
        let mut inner = self.lock();
        let mut left = limit as usize;
        let doomed: Vec<TokenHash> = inner
            .tokens
            .values()
            .filter(|t| {
                t.expires_at < before && t.refresh.as_ref().is_none_or(|r| r.expires_at < before)
            })
            .map(|t| t.token_hash)
            .take(left)
            .collect();
        for hash in &doomed {
            if let Some(t) = inner.tokens.remove(hash) {
                if let Some(r) = t.refresh {
                    inner.by_refresh.remove(&r.hash);
                }
            }
        }
        left -= doomed.len();
        let codes: Vec<TokenHash> = inner
            .codes
            .values()
            .filter(|c| c.expires_at < before)
            .map(|c| c.code_hash)
            .take(left)
            .collect();
        for hash in &codes {
            inner.codes.remove(hash);
        }
        Ok((doomed.len() + codes.len()) as u64)
    }
}
