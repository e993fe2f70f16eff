//! Storage of services, clients, codes and tokens.
//!
//! [`Store`] is the one interface every backend implements: [`MemoryStore`] for tests and
//! benches, [`SqliteStore`] (feature `sqlite`, the durable default), `PostgresStore` (feature
//! `postgres`, one database for several nodes, revocations pushed to every node's cache by
//! `RevocationListener`). SQLite's `ChangeFeed` brings every process's revocations to every
//! other process using the file. A token is valid only while its client holds it
//! ([`Store::token`]). Operations that must be
//! atomic under concurrency (code redemption, refresh rotation) are single store calls.

use async_trait::async_trait;

use crate::model::{
    AuthorizationCode, Client, PreviousSecret, Service, TokenRecord, TokenUpdate, UnixMillis,
};
use crate::secret::TokenHash;
use crate::Error;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{
    LatencyBucket, LatencyHistogram, LatencySnapshot, ListenerStats, PostgresOptions,
    PostgresStore, RevocationListener, DEFAULT_CHANNEL,
};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{ChangeFeed, ChangeFeedStats, SqliteStore};

/// A duration among tokengate's own `store.url` parameters: `250ms`, `5s`, or a number of
/// seconds.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if let Some(millis) = text.strip_suffix("ms") {
        return millis.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')
        .unwrap_or(text)
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// The outcome of [`Store::redeem_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The code was unused; it is now marked used. Carries the code as it was.
    Fresh(AuthorizationCode),
    /// The code had been redeemed before.
    Replayed(AuthorizationCode),
    /// No such code.
    Unknown,
}

/// The outcome of [`Store::rotate_refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The refresh token was unused: it is now used and the new record is stored.
    Rotated,
    /// The refresh token had been rotated before; nothing was stored.
    Reused,
    /// No record has that refresh token; nothing was stored.
    Unknown,
}

/// Which tokens [`Store::revoke`] revokes.
#[derive(Debug, Clone, Copy)]
pub enum Revocation<'a> {
    /// One access token.
    Token(&'a TokenHash),
    /// Every token of a refresh family.
    Family(&'a str),
    /// Every token issued from an authorization code.
    Code(&'a TokenHash),
    /// Every token of a client for one user context on one service.
    UserApplication {
        /// Service key.
        service_key: &'a str,
        /// Client id.
        client_id: &'a str,
        /// User context; `None` matches tokens without one.
        user_context: Option<&'a str>,
    },
}

/// A position in a token listing ([`Store::list_tokens`]): the last record of the previous page.
///
/// Listings are ordered newest first by `created_at`, then by `id` (descending), so records
/// created in the same millisecond still have one stable order and a page boundary between them
/// neither repeats nor skips a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenCursor {
    /// `created_at` of the last record seen.
    pub created_at: UnixMillis,
    /// `id` of the last record seen.
    pub id: String,
}

impl TokenCursor {
    /// The cursor just after `record`.
    pub fn after(record: &TokenRecord) -> Self {
        TokenCursor {
            created_at: record.created_at,
            id: record.id.clone(),
        }
    }

    /// Whether `record` comes after this cursor in listing order (older, or as old with a
    /// smaller id).
    pub fn precedes(&self, record: &TokenRecord) -> bool {
        (record.created_at, record.id.as_str()) < (self.created_at, self.id.as_str())
    }
}

/// A storage backend. Every method is one atomic operation; a failure is an [`Error`] for which
/// [`Error::is_store`] holds, never a silent `None`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts or replaces a service (by key).
    async fn put_service(&self, service: &Service) -> Result<(), Error>;
    /// The service with `key`.
    async fn service(&self, key: &str) -> Result<Option<Service>, Error>;
    /// Every service, ordered by key.
    async fn services(&self) -> Result<Vec<Service>, Error>;
    /// Deletes the service with `key`; `false` when there is none. Its token records stay
    /// until purged; they are valid only while a client lists the service ([`Store::token`]),
    /// so take it from every client first (that revokes them).
    async fn delete_service(&self, key: &str) -> Result<bool, Error>;

    /// Inserts or replaces a client (by numeric id; `client_id` is unique too). In the same
    /// transaction, revokes the tokens the change ends ([`Client::ended_services`]: all of them
    /// when the client is disabled or its `client_id` changes, a service's when it is no longer
    /// listed) and returns their hashes, so caches can drop them.
    async fn put_client(&self, client: &Client) -> Result<Vec<TokenHash>, Error>;
    /// Deletes the client with developer key `client_id` (and its [`PreviousSecret`]) and, in
    /// the same transaction, revokes its tokens; returns their hashes, `None` when there is no
    /// such client.
    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error>;
    /// The secret the client with developer key `client_id` had before a rotation with a grace
    /// period, when one was kept ([`PreviousSecret::applies_to`] says whether it still counts).
    async fn previous_secret(&self, client_id: &str) -> Result<Option<PreviousSecret>, Error>;
    /// Keeps `previous` as the previous secret of the client with developer key `client_id`,
    /// replacing the one kept before. A rotation stores it before the client's new secret: a
    /// failure between the two leaves a row whose successor never became the secret.
    async fn put_previous_secret(
        &self,
        client_id: &str,
        previous: &PreviousSecret,
    ) -> Result<(), Error>;
    /// The client with developer key `client_id`.
    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error>;
    /// Every client, ordered by numeric id.
    async fn clients(&self) -> Result<Vec<Client>, Error>;
    /// The service with `key` and the client with developer key `client_id`, as
    /// [`Store::service`] and [`Store::client`] return them, looked up together: every
    /// `createAccessToken` needs both. SQLite answers with one query; this default (for the
    /// other stores and for wrappers) asks each of the two.
    async fn service_and_client(
        &self,
        key: &str,
        client_id: &str,
    ) -> Result<(Option<Service>, Option<Client>), Error> {
        Ok((self.service(key).await?, self.client(client_id).await?))
    }

    /// Stores a new authorization code; a code with the same hash is an error.
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), Error>;
    /// The code with `code_hash`, used or not, as it is (nothing is marked).
    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error>;
    /// Atomically marks the code used and returns it as it was; exactly one concurrent caller
    /// gets [`Redemption::Fresh`].
    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error>;

    /// Stores a new token record; a record with the same token hash is an error.
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error>;
    /// The record of an access token, in any state (revoked, expired), if its client still
    /// holds it: the client exists, is active and lists the token's service
    /// ([`Client::may_use`]). Otherwise `None`, as for an unknown token: token validity
    /// follows the registry, whatever wrote it. The same holds for [`Store::tokens`] and
    /// [`Store::token_by_refresh`].
    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error>;
    /// The records of those of these access tokens that exist and whose client holds them (see
    /// [`Store::token`]), each once, in no particular order: `fetchAccessToken` with a list. SQLite and PostgreSQL answer with one query, the
    /// memory store under one lock; this default (for wrappers) asks [`Store::token`] for each
    /// hash.
    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        let mut seen = std::collections::HashSet::with_capacity(token_hashes.len());
        let mut found = Vec::new();
        for hash in token_hashes {
            if seen.insert(hash) {
                found.extend(self.token(hash).await?);
            }
        }
        Ok(found)
    }
    /// The record that carries a refresh token, if its client still holds it (see
    /// [`Store::token`]).
    async fn token_by_refresh(
        &self,
        refresh_hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, Error>;
    /// Atomically marks the refresh token `refresh_hash` used and stores `next`; exactly one
    /// concurrent caller gets [`Rotation::Rotated`].
    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error>;
    /// Revokes the selected tokens; returns the hashes of those that were not revoked before
    /// (expired ones included, so caches can drop them).
    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error>;
    /// Applies an update to an access token's record; `false` when there is no such record.
    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error>;
    /// Every record of a service for one user context, newest first.
    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error>;
    /// Up to `limit` token records of every service, newest first (`created_at` descending,
    /// then `id` descending), starting after `after`. With `owner`, only the records whose owner
    /// is `owner`: the user context, or the client id for records without one
    /// ([`TokenRecord::owner`]).
    async fn list_tokens(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error>;
    /// The store's own metadata stored under `key` (e.g. the pepper's fingerprint, see
    /// `tokengate::server::PepperCheck`).
    async fn meta(&self, key: &str) -> Result<Option<String>, Error>;
    /// Stores `value` under `key` in the store's own metadata, replacing what was there.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), Error>;
    /// Stores `value` under `key` unless a value is there already, and returns the value
    /// stored: `value`, or the one that was there. Of several callers racing (several nodes'
    /// first starts), exactly one value is kept and every caller gets that one.
    async fn claim_meta(&self, key: &str, value: &str) -> Result<String, Error>;
    /// Deletes up to `limit` token records and codes that expired before `before`; returns how
    /// many were deleted.
    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error>;
}
