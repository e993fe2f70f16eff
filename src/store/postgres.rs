//! The PostgreSQL [`Store`]: one database shared by several tokengate nodes, with revocations
//! pushed to every node's cache (LISTEN/NOTIFY, see [`RevocationListener`]).

use std::fmt;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::sql;
#[cfg(doc)]
use super::{Redemption, Store};
use crate::resolve::TokenCache;
use crate::secret::TokenHash;
use crate::Error;

mod latency;
mod listen;
mod operations;
mod options;
mod statements;

pub use latency::{LatencyBucket, LatencyHistogram, LatencySnapshot};
pub use listen::{ListenerStats, RevocationListener};
pub use options::PostgresOptions;

/// The schema migrations, in order; the `tokengate_schema` table records those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres/0001_init.sql"),
    include_str!("postgres/0002_token_listing.sql"),
    include_str!("postgres/0003_token_validity.sql"),
    include_str!("postgres/0004_issuance_policy.sql"),
    include_str!("postgres/0005_meta.sql"),
    include_str!("postgres/0006_previous_secrets.sql"),
];

/// The key of the transaction-scoped advisory lock that serializes migrations, so nodes starting
/// at once take turns (`'tokengate'` in ASCII).
const MIGRATION_LOCK: i64 = 0x746f_6b65_6e67_6174;

/// The default NOTIFY channel for revocations.
pub const DEFAULT_CHANNEL: &str = "tokengate_revocations";

/// The PostgreSQL store, for several tokengate nodes sharing one database;
/// [`PostgresStore::connect`] has an example.
///
/// * A connection pool ([`PostgresOptions`]: size, acquire timeout, statement timeout).
/// * Migrations run at connect, in one transaction holding a transaction-scoped advisory lock,
///   so nodes starting together take turns; `tokengate_schema` records the version.
/// * Single-use operations are conditional `UPDATE`s: under PostgreSQL's row locks a concurrent
///   second `UPDATE` waits for the first to commit, then finds the row no longer matching. Two
///   nodes redeeming one code get one [`Redemption::Fresh`].
/// * Every revoke and update, and every client change that ends tokens
///   ([`Store::put_client`], [`Store::delete_client`]), publishes the affected token hashes
///   with `NOTIFY` in the same transaction, so they are delivered when (and only if) it commits;
///   [`PostgresStore::subscribe`] evicts them from a [`TokenCache`] on every node.
/// * The schema is SQLite's with PostgreSQL types (`BIGINT` millis, `TEXT` hex hashes,
///   `BOOLEAN`); see `src/store/postgres/0001_init.sql`.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    connect: PgConnectOptions,
    options: PostgresOptions,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connect options: they hold the password.
        f.debug_struct("PostgresStore")
            .field("options", &self.options)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// The size of the connection pool.
    #[cfg(feature = "cli")]
    pub(crate) fn max_connections(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) with
    /// the default [`PostgresOptions`] and brings its schema up to date.
    ///
    /// The URL takes PostgreSQL's usual parameters (`sslmode`, `application_name`, `options`,
    /// …) and tokengate's own, which override the options: `max_connections=20`,
    /// `acquire_timeout=5s`, `statement_timeout=500ms` (`0` for none), `schema=tokengate`,
    /// `channel=tokengate_revocations`. So one `store.url` configures a node.
    ///
    /// A malformed URL is a configuration error ([`Error::is_config`]); a database that cannot
    /// be reached in time or migrated is a store error, as is one whose schema is newer than
    /// this version of tokengate.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tokengate::model::Service;
    /// use tokengate::store::{PostgresStore, Store};
    ///
    /// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
    /// store.put_service(&Service::new("svc-key", "API")).await?;
    /// assert_eq!(store.service("svc-key").await?.unwrap().name, "API");
    /// store.close().await;
    /// # Ok::<_, tokengate::Error>(()) }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with options.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tokengate::store::{PostgresOptions, PostgresStore};
    ///
    /// let options = PostgresOptions::new().max_connections(32).schema("tokengate");
    /// let store = PostgresStore::connect_with("postgres://postgres@db/tokens", options).await?;
    /// # Ok::<_, tokengate::Error>(()) }).unwrap();
    /// ```
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, Error> {
        let (options, connect) = options.for_url(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(Error::store)?;
        migrate(&pool, options.schema.as_deref()).await?;
        Ok(PostgresStore {
            pool,
            connect,
            options,
        })
    }

    /// Starts pushing revocations into `cache`: a task listens on the store's channel and evicts
    /// every token hash published by any node's revoke or update as it arrives. When the
    /// listening connection is lost it flushes the whole cache, reconnects with backoff, and
    /// flushes again once listening, so a notification missed meanwhile never leaves a revoked
    /// token served. The task stops when the returned listener is dropped.
    ///
    /// Needs a Tokio runtime.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use tokengate::oauth::TokenService;
    /// use tokengate::resolve::{LocalResolver, TokenCache};
    /// use tokengate::secret::Pepper;
    /// use tokengate::store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
    /// let tokens = Arc::new(TokenService::new(Arc::new(store.clone()), Pepper::new(b"pepper".to_vec())));
    /// let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), "svc-key")).build();
    /// cache.listen_to(&tokens); // this node's own revocations, before they return
    /// let listener = store.subscribe(&cache); // every node's, pushed
    /// listener.ready().await;
    /// println!("revoke→evict: {:?}", listener.latency().quantile(0.99));
    /// # Ok::<_, tokengate::Error>(()) }).unwrap();
    /// ```
    pub fn subscribe(&self, cache: &TokenCache) -> RevocationListener {
        RevocationListener::spawn(
            self.connect.clone(),
            self.options.channel.clone(),
            self.options.acquire_timeout,
            cache.clone(),
        )
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs `operation` in a transaction, committed if it succeeds (rolled back on drop if
    /// not).
    async fn in_transaction<T>(
        &self,
        operation: impl AsyncFnOnce(&mut PgConnection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut tx = self.pool.begin().await.map_err(Error::store)?;
        let value = operation(&mut tx).await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(value)
    }

    /// Publishes `hashes` on the channel; delivered when the transaction `conn` is in commits.
    async fn publish(
        &self,
        conn: &mut PgConnection,
        published_micros: i64,
        hashes: &[TokenHash],
    ) -> Result<(), Error> {
        for payload in listen::payloads(published_micros, hashes) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&self.options.channel)
                .bind(payload)
                .execute(&mut *conn)
                .await
                .map_err(Error::store)?;
        }
        Ok(())
    }
}

/// Applies the migrations the database has not seen yet, in one transaction, holding the
/// migration lock so that concurrent nodes apply each one once.
async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<(), Error> {
    let mut tx = pool.begin().await.map_err(Error::store)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(Error::store)?;
    if let Some(schema) = schema {
        // Checked by `is_plain_identifier`: no quoting needed.
        let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS tokengate_schema (\
         version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(Error::store)?;
    let version: i64 = sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM tokengate_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::store)?;
    sql::migrate::apply::<Postgres>(&mut tx, version, MIGRATIONS, async |conn, version| {
        sqlx::query("INSERT INTO tokengate_schema (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(listen::now_micros() / 1000)
            .execute(conn)
            .await
            .map_err(Error::store)?;
        Ok(())
    })
    .await?;
    tx.commit().await.map_err(Error::store)
}
