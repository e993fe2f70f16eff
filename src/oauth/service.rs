//! [`TokenService`]: construction and the checks every operation shares.

use std::fmt;
use std::sync::{Arc, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use super::types::ClientCredentials;
use super::{ErrorCode, OAuthError};
use crate::limit::IssueLimits;
use crate::model::{Client, Service, UnixMillis};
use crate::secret::{Pepper, TagKey, TokenHash};
use crate::store::Store;
use crate::Error;

type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;
type Listeners = Arc<RwLock<Vec<Weak<dyn InvalidationListener>>>>;

/// Something that keeps copies of token data (a cache) and must drop them when tokens are
/// revoked or changed. [`TokenService::subscribe`] registers one.
#[async_trait::async_trait]
pub trait InvalidationListener: Send + Sync + 'static {
    /// The tokens with these hashes were revoked or updated; forget them.
    async fn invalidated(&self, hashes: &[TokenHash]);
}

/// The OAuth core: Mashery's eight `oauth2.*` operations over a [`Store`], free of any
/// transport. JSON-RPC, the RFC endpoints and the gateway all call it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use tokengate::model::{Client, ClientStatus, Service};
/// use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
/// use tokengate::secret::Pepper;
/// use tokengate::store::{MemoryStore, Store};
///
/// let store = Arc::new(MemoryStore::new());
/// let pepper = Pepper::new(b"a pepper kept outside the db".to_vec());
/// store.put_service(&Service::new("rmeqcgpw3zu2y47y9bs8vs2h", "Reviews API")).await?;
/// store.put_client(&Client {
///     id: 1, external_id: None, name: "App".into(), attributes: None,
///     client_id: "app-key".into(), secret_hash: Some(pepper.hash_secret("s3cret")),
///     redirect_uris: vec![], services: vec!["rmeqcgpw3zu2y47y9bs8vs2h".into()],
///     status: ClientStatus::Active, allowed_scopes: None,
/// }).await?;
///
/// let tokens = TokenService::new(store, pepper);
/// let issued = tokens.create_access_token(
///     "rmeqcgpw3zu2y47y9bs8vs2h",
///     &ClientCredentials::new("app-key", "s3cret"),
///     &TokenRequest::grant("client_credentials"),
///     None,
///     None,
/// ).await?;
/// let info = tokens.fetch_access_token("rmeqcgpw3zu2y47y9bs8vs2h", &issued.access_token).await?;
/// assert_eq!(info.client_id, "app-key");
/// # Ok::<_, tokengate::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TokenService {
    pub(super) store: Arc<dyn Store>,
    pub(super) pepper: Pepper,
    tags: TagKey,
    clock: Clock,
    listeners: Listeners,
    /// Shared by the clones, replaced whole by [`TokenService::replace_issue_limits`].
    limits: Arc<arc_swap::ArcSwap<IssueLimits>>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService").finish_non_exhaustive()
    }
}

impl TokenService {
    /// A service over `store`, hashing client secrets and deriving MAC keys and the tag key of
    /// its tokens ([`Pepper::tag_key`]) with `pepper`.
    pub fn new(store: Arc<dyn Store>, pepper: Pepper) -> Self {
        TokenService {
            store,
            tags: pepper.tag_key(),
            pepper,
            clock: Arc::new(system_now),
            listeners: Listeners::default(),
            limits: Arc::new(arc_swap::ArcSwap::from_pointee(IssueLimits::default())),
        }
    }

    /// Limits how often each client may be issued tokens and codes (see [`IssueLimits`]): a
    /// call over the limit fails, after the client authenticated, with an error whose
    /// [`Error::retry_after`] is set. None by default.
    pub fn with_issue_limits(mut self, limits: IssueLimits) -> Self {
        self.limits = Arc::new(arc_swap::ArcSwap::from_pointee(limits));
        self
    }

    /// The issuance limits in force (read [`IssueLimits::refused`] for metrics).
    pub fn issue_limits(&self) -> Arc<IssueLimits> {
        self.limits.load_full()
    }

    /// Puts `limits` in force for this service and its clones, from the next call on (a
    /// configuration reload). The count of refused calls carries on; what each client has
    /// used of its burst starts afresh.
    pub fn replace_issue_limits(&self, limits: IssueLimits) {
        let old = self.limits.load();
        self.limits.store(Arc::new(limits.continuing(&old)));
    }

    /// Replaces the clock (milliseconds since the epoch); for tests.
    pub fn with_clock(mut self, clock: impl Fn() -> UnixMillis + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Tells `listener` about every token this service (or a clone of it) revokes or
    /// updates, before the operation returns. Held weakly: a dropped listener is forgotten.
    pub fn subscribe(&self, listener: Weak<dyn InvalidationListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The pepper used for client secrets.
    pub fn pepper(&self) -> &Pepper {
        &self.pepper
    }

    /// The key that tags the tokens, refresh tokens and codes this service issues.
    pub fn tag_key(&self) -> &TagKey {
        &self.tags
    }

    /// The hash to look a presented token, refresh token or code up by; `None` when this
    /// service cannot have issued it (wrong length, alphabet or tag): such a value is answered
    /// like an unknown one, without a store query.
    pub(super) fn lookup_hash(&self, token: &str) -> Option<TokenHash> {
        self.tags.verifies(token).then(|| TokenHash::of(token))
    }

    /// The current time.
    pub fn now(&self) -> UnixMillis {
        (self.clock)()
    }

    pub(crate) async fn invalidated(&self, hashes: &[TokenHash]) {
        if hashes.is_empty() {
            return;
        }
        let live: Vec<Arc<dyn InvalidationListener>> = {
            let mut listeners = self.listeners.write().unwrap_or_else(|p| p.into_inner());
            listeners.retain(|l| l.strong_count() > 0);
            listeners.iter().filter_map(Weak::upgrade).collect()
        };
        for listener in live {
            listener.invalidated(hashes).await;
        }
    }

    pub(super) async fn load_service(&self, key: &str) -> Result<Service, Error> {
        self.store
            .service(key)
            .await?
            .ok_or_else(invalid_service_key)
    }

    /// The service `key` and the client `presented` names, fetched together
    /// ([`Store::service_and_client`]: one query on SQLite); the client is still to be checked
    /// with [`Self::check_client`].
    pub(super) async fn load_service_and_client(
        &self,
        key: &str,
        presented: &ClientCredentials,
    ) -> Result<(Service, Option<Client>), Error> {
        let (service, client) = self
            .store
            .service_and_client(key, &presented.client_id)
            .await?;
        Ok((service.ok_or_else(invalid_service_key)?, client))
    }

    /// [`Self::load_service`] then [`Self::authenticate`], with one store lookup.
    pub(super) async fn load_authenticated(
        &self,
        key: &str,
        presented: &ClientCredentials,
        need: SecretNeed,
    ) -> Result<(Service, Client), Error> {
        let (service, client) = self.load_service_and_client(key, presented).await?;
        let client = self.check_client(&service, client, presented, need).await?;
        Ok((service, client))
    }

    /// Takes one unit of `client`'s issuance quota on `service`; an error when none is left.
    pub(super) fn check_issue_rate(&self, service: &Service, client: &Client) -> Result<(), Error> {
        self.limits
            .load()
            .check(&service.key, &client.client_id)
            .map_err(|wait| {
                tracing::debug!(service = %service.key, client = %client.client_id, "issuance rate limited");
                Error::rate_limited(wait)
            })
    }

    /// Finds the client and checks it may use the service, and its secret per `need`.
    pub(super) async fn authenticate(
        &self,
        service: &Service,
        presented: &ClientCredentials,
        need: SecretNeed,
    ) -> Result<Client, Error> {
        let client = self.store.client(&presented.client_id).await?;
        self.check_client(service, client, presented, need).await
    }

    /// Checks that `client` (the one `presented` names, if it exists) may use the service,
    /// and its secret per `need`.
    pub(super) async fn check_client(
        &self,
        service: &Service,
        client: Option<Client>,
        presented: &ClientCredentials,
        need: SecretNeed,
    ) -> Result<Client, Error> {
        let client = client.filter(|c| c.may_use(&service.key)).ok_or_else(|| {
            OAuthError::new(ErrorCode::UnauthorizedClient, "Invalid client identifier")
        })?;
        let bad_secret = || OAuthError::new(ErrorCode::InvalidClient, "Invalid client credentials");
        match (&client.secret_hash, &presented.client_secret) {
            (Some(hash), Some(secret))
                if !self.pepper.verify_secret(secret, hash)
                    && !self.previous_secret_accepts(&client, secret).await? =>
            {
                return Err(bad_secret().into())
            }
            (Some(_), Some(_)) => {}
            (Some(_), None) if need != SecretNeed::IfPresented => return Err(bad_secret().into()),
            (None, _) if need == SecretNeed::Confidential => {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    "Public clients cannot use this grant",
                )
                .into())
            }
            // A public client presenting a secret it does not have.
            (None, Some(_)) => return Err(bad_secret().into()),
            _ => {}
        }
        Ok(client)
    }
}

impl TokenService {
    /// Whether `secret` is `client`'s previous secret, still in the grace period of the
    /// rotation that replaced it
    /// ([`PreviousSecret::applies_to`](crate::model::PreviousSecret::applies_to)); read only
    /// when the presented secret is not the current one.
    async fn previous_secret_accepts(&self, client: &Client, secret: &str) -> Result<bool, Error> {
        Ok(self
            .store
            .previous_secret(&client.client_id)
            .await?
            .is_some_and(|previous| {
                previous.applies_to(client, self.now())
                    && self.pepper.verify_secret(secret, &previous.secret_hash)
            }))
    }
}

/// How much client authentication an operation requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecretNeed {
    /// Checked only when the caller supplies one (the admin API acting for a client).
    IfPresented,
    /// Required when the client has a secret; public clients pass without.
    IfConfidential,
    /// Only confidential clients, with their secret (client_credentials).
    Confidential,
}

fn invalid_service_key() -> Error {
    OAuthError::invalid_request("Invalid service key").into()
}

fn system_now() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as UnixMillis)
        .unwrap_or(0)
}
