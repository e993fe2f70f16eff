//! Registry operations for operators, beside Mashery's `oauth2.*`: a client's secret, and the
//! tokens of a client or a user across services (a client's status and removal are
//! [`TokenService::put_client`] and [`TokenService::delete_client`]). The CLI (`tokengate
//! client …`, `tokengate token …`) and the admin JSON-RPC methods `tokengate.*` both call these;
//! invalidation listeners (this process's caches) hear of every token they end before they
//! return.

use std::fmt;
use std::time::Duration;

use super::TokenService;
use crate::model::{Client, PreviousSecret, TokenRecord, UnixMillis};
use crate::secret::{generate_token, TokenHash};
use crate::store::{Revocation, TokenCursor};
use crate::Error;

/// Records read per page when tokens are searched.
const PAGE: u32 = 500;

/// The longest grace period of [`TokenService::rotate_client_secret`], in seconds: 30 days. A
/// rollover that takes longer is no rotation.
pub const MAX_SECRET_GRACE_SECS: u64 = 30 * 24 * 3600;

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
    /// Until when the old secret is still accepted (milliseconds since the epoch); `None`: it
    /// was refused at once.
    pub old_valid_until: Option<UnixMillis>,
}

impl fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client", &self.client)
            .field("secret", &"<redacted>")
            .field("tokens_revoked", &self.tokens_revoked)
            .field("old_valid_until", &self.old_valid_until)
            .finish()
    }
}

impl TokenService {
    /// Gives a confidential client a new generated secret. The old one is refused from the
    /// moment this returns when `grace` is zero; else it is still accepted beside the new one
    /// for `grace` (kept hashed, as a [`PreviousSecret`]), until then or until the secret
    /// changes again. Its tokens stay valid unless `revoke_tokens`. `None` when there is no
    /// such client or it is public (it has no secret to rotate); an error for a grace period
    /// over [`MAX_SECRET_GRACE_SECS`].
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        grace: Duration,
        revoke_tokens: bool,
    ) -> Result<Option<RotatedSecret>, Error> {
        if grace > Duration::from_secs(MAX_SECRET_GRACE_SECS) {
            return Err(Error::config(format!(
                "the grace period is at most {MAX_SECRET_GRACE_SECS} seconds (30 days)"
            )));
        }
        let Some(mut client) = self.store.client(client_id).await? else {
            return Ok(None);
        };
        let Some(old_hash) = client.secret_hash.take() else {
            return Ok(None);
        };
        let secret = generate_token();
        let new_hash = self.pepper.hash_secret(&secret);
        let grace_ms = UnixMillis::try_from(grace.as_millis()).unwrap_or(UnixMillis::MAX);
        let old_valid_until = (!grace.is_zero()).then(|| self.now().saturating_add(grace_ms));
        if let Some(valid_until) = old_valid_until {
            // Before the new secret: a failure in between leaves a row that never counts.
            let previous = PreviousSecret {
                secret_hash: old_hash,
                successor_hash: new_hash.clone(),
                valid_until,
            };
            self.store.put_previous_secret(client_id, &previous).await?;
        }
        client.secret_hash = Some(new_hash);
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
            old_valid_until,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::model::{ClientStatus, Service};
    use crate::oauth::ClientCredentials;
    use crate::secret::Pepper;
    use crate::store::{MemoryStore, Store};

    const T0: UnixMillis = 1_700_000_000_000;

    /// A token service on a store with client `app` (secret `first`), and its clock.
    async fn service() -> (TokenService, Arc<AtomicI64>) {
        let pepper = Pepper::new(vec![7; 32]);
        let store = Arc::new(MemoryStore::new());
        store
            .put_service(&Service::new("svc", "API"))
            .await
            .unwrap();
        let app = Client {
            id: 1,
            external_id: None,
            name: "App".into(),
            attributes: None,
            client_id: "app".into(),
            secret_hash: Some(pepper.hash_secret("first")),
            redirect_uris: Vec::new(),
            services: vec!["svc".into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        };
        store.put_client(&app).await.unwrap();
        let clock = Arc::new(AtomicI64::new(T0));
        let now = clock.clone();
        let tokens =
            TokenService::new(store, pepper).with_clock(move || now.load(Ordering::SeqCst));
        (tokens, clock)
    }

    async fn accepted(tokens: &TokenService, secret: &str) -> bool {
        let creds = ClientCredentials::new("app", secret);
        tokens
            .fetch_application("svc", &creds, None, None)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_old_secret_is_accepted_for_the_grace_period_only() {
        let (tokens, clock) = service().await;
        let grace = Duration::from_secs(10);
        let rotated = tokens
            .rotate_client_secret("app", grace, false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rotated.old_valid_until, Some(T0 + 10_000));
        assert!(!format!("{rotated:?}").contains(&rotated.secret));
        let second = rotated.secret;
        let previous = tokens
            .store()
            .previous_secret("app")
            .await
            .unwrap()
            .unwrap();
        assert!(!previous.secret_hash.contains("first"), "stored hashed");

        for at in [T0, T0 + 9_999] {
            clock.store(at, Ordering::SeqCst);
            assert!(accepted(&tokens, "first").await, "old secret at {at}");
            assert!(accepted(&tokens, &second).await, "new secret at {at}");
            assert!(!accepted(&tokens, "other").await);
        }
        clock.store(T0 + 10_000, Ordering::SeqCst);
        assert!(!accepted(&tokens, "first").await, "past the grace period");
        assert!(accepted(&tokens, &second).await);

        // Another change of the secret ends a grace period at once.
        clock.store(T0, Ordering::SeqCst);
        tokens
            .rotate_client_secret("app", grace, false)
            .await
            .unwrap()
            .unwrap();
        assert!(accepted(&tokens, &second).await, "in its own grace period");
        assert!(
            !accepted(&tokens, "first").await,
            "the grace of a former secret"
        );
        let third = tokens
            .rotate_client_secret("app", Duration::ZERO, false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.old_valid_until, None);
        assert!(
            !accepted(&tokens, &second).await,
            "no grace: refused at once"
        );
        assert!(accepted(&tokens, &third.secret).await);

        // Over 30 days: refused, nothing changed.
        let too_long = Duration::from_secs(MAX_SECRET_GRACE_SECS + 1);
        let err = tokens
            .rotate_client_secret("app", too_long, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("at most 2592000 seconds"), "{err}");
        assert!(accepted(&tokens, &third.secret).await);
    }
}
