//! The PostgreSQL [`Store`]: one database shared by several tokengate nodes, with revocations
//! pushed to every node's cache (LISTEN/NOTIFY, see [`RevocationListener`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row, Transaction};

use super::{parse_duration, Redemption, Revocation, Rotation, Store, TokenCursor};
use crate::model::{
    AuthorizationCode, Client, ClientStatus, PkceChallenge, RefreshState, Service, TokenRecord,
    TokenType, TokenUpdate, UnixMillis,
};
use crate::resolve::TokenCache;
use crate::secret::TokenHash;
use crate::Error;

mod latency;
mod listen;
mod meta_ops;
mod registry_ops;

pub use latency::{LatencyBucket, LatencyHistogram, LatencySnapshot};
pub use listen::{ListenerStats, RevocationListener};

/// The schema migrations, in order; the `tokengate_schema` table records those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("postgres/0001_init.sql"),
    include_str!("postgres/0002_token_listing.sql"),
    include_str!("postgres/0003_token_validity.sql"),
    include_str!("postgres/0004_issuance_policy.sql"),
    include_str!("postgres/0005_meta.sql"),
];

/// The key of the transaction-scoped advisory lock that serializes migrations, so nodes starting
/// at once take turns (`'tokengate'` in ASCII).
const MIGRATION_LOCK: i64 = 0x746f_6b65_6e67_6174;

/// The default NOTIFY channel for revocations.
pub const DEFAULT_CHANNEL: &str = "tokengate_revocations";

/// Options of a [`PostgresStore`] (and of a [`RevocationListener`] started on its own).
///
/// ```
/// use std::time::Duration;
/// use tokengate::store::PostgresOptions;
///
/// let options = PostgresOptions::new()
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2))
///     .statement_timeout(Duration::from_secs(10))
///     .schema("tokengate")
///     .channel("tokengate_revocations");
/// assert_eq!(options.get_max_connections(), 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
    schema: Option<String>,
    channel: String,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            schema: None,
            channel: DEFAULT_CHANNEL.to_owned(),
        }
    }
}

impl PostgresOptions {
    /// The defaults: 10 connections, 5 s to get one, statements cancelled after 5 s, the
    /// connection's default schema, channel [`DEFAULT_CHANNEL`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Most connections in the pool (default 10; at least 1).
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// The configured pool size.
    pub fn get_max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How long an operation waits for a pooled connection (or a new one) before failing with
    /// a store error (default 5 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// PostgreSQL's `statement_timeout` on every connection (default 5 s; zero for none).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Keeps the tables in this schema (created if missing) instead of the connection's default
    /// search path. A lowercase SQL identifier: `[a-z_][a-z0-9_]*`, at most 63 bytes.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The NOTIFY channel revocations are published on and listened to (default
    /// [`DEFAULT_CHANNEL`]). Every node of one deployment must use the same; at most 63 bytes.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// The configured channel.
    pub fn get_channel(&self) -> &str {
        &self.channel
    }

    /// These options with tokengate's own parameters of `url` applied on top (see
    /// [`PostgresStore::connect`]), checked, and the connection options for the rest of the URL;
    /// a configuration error when the URL or a setting is malformed. Never repeats the URL: it
    /// may hold a password.
    fn for_url(&self, url: &str) -> Result<(PostgresOptions, PgConnectOptions), Error> {
        let invalid = |what: &str| Error::config(format!("invalid PostgreSQL URL: {what}"));
        let mut url = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid("the scheme must be postgres:// or postgresql://"));
        }
        let mut options = self.clone();
        let mut rest = Vec::new();
        for (key, value) in url.query_pairs() {
            let bad = || invalid(&format!("parameter `{key}` has an invalid value"));
            match &*key {
                "max_connections" => {
                    options = options.max_connections(value.parse().map_err(|_| bad())?)
                }
                "acquire_timeout" => {
                    options.acquire_timeout = parse_duration(&value).ok_or_else(bad)?
                }
                "statement_timeout" => {
                    options.statement_timeout = parse_duration(&value).ok_or_else(bad)?
                }
                "schema" => options.schema = Some(value.into_owned()),
                "channel" => options.channel = value.into_owned(),
                _ => rest.push((key.into_owned(), value.into_owned())),
            }
        }
        url.set_query(None);
        if !rest.is_empty() {
            url.query_pairs_mut().extend_pairs(rest);
        }
        if options.channel.is_empty() || options.channel.len() > 63 {
            return Err(Error::config(format!(
                "PostgreSQL channel {:?} must be 1 to 63 bytes",
                options.channel
            )));
        }
        let mut connect =
            PgConnectOptions::from_str(url.as_str()).map_err(|e| invalid(&e.to_string()))?;
        if connect.get_application_name().is_none() {
            connect = connect.application_name("tokengate");
        }
        if !options.statement_timeout.is_zero() {
            connect = connect.options([(
                "statement_timeout",
                format!("{}ms", options.statement_timeout.as_millis()),
            )]);
        }
        if let Some(schema) = &options.schema {
            if !is_plain_identifier(schema) {
                return Err(Error::config(format!(
                    "PostgreSQL schema {schema:?} must match [a-z_][a-z0-9_]* (at most 63 bytes)"
                )));
            }
            connect = connect.options([("search_path", schema)]);
        }
        Ok((options, connect))
    }
}

/// Whether `name` can be used unquoted as an SQL identifier (and so in `search_path`).
fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= 63
}

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

    async fn write_tx(&self) -> Result<Transaction<'static, Postgres>, Error> {
        self.pool.begin().await.map_err(Error::store)
    }

    /// Publishes `hashes` on the channel; delivered when `tx` commits.
    async fn publish(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        published_micros: i64,
        hashes: &[TokenHash],
    ) -> Result<(), Error> {
        for payload in listen::payloads(published_micros, hashes) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(&self.options.channel)
                .bind(payload)
                .execute(&mut **tx)
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
    let applied = usize::try_from(version).map_err(Error::store)?;
    if applied > MIGRATIONS.len() {
        return Err(Error::store(format!(
            "database schema version {version} is newer than this tokengate supports ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
        sqlx::query("INSERT INTO tokengate_schema (version, applied_at) VALUES ($1, $2)")
            .bind(index as i64 + 1)
            .bind(listen::now_micros() / 1000)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
    }
    tx.commit().await.map_err(Error::store)
}

// ---- encoding -------------------------------------------------------------------------------

fn to_json(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::store)
}

fn seconds_to_db(seconds: u64) -> Result<i64, Error> {
    i64::try_from(seconds).map_err(Error::store)
}

fn insert_token_query(t: &TokenRecord) -> Query<'static, Postgres, PgArguments> {
    sqlx::query(
        "INSERT INTO tokens (token_hash, id, service_key, client_id, token_type, grant_type, \
         scope, user_context, created_at, expires_at, revoked, refresh_hash, refresh_expires_at, \
         refresh_used, family_id, code_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(t.token_hash.to_hex())
    .bind(t.id.clone())
    .bind(t.service_key.clone())
    .bind(t.client_id.clone())
    .bind(t.token_type.storage_name())
    .bind(t.grant_type.as_str())
    .bind(t.scope.clone())
    .bind(t.user_context.clone())
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.revoked)
    .bind(t.refresh.as_ref().map(|r| r.hash.to_hex()))
    .bind(t.refresh.as_ref().map(|r| r.expires_at))
    .bind(t.refresh.as_ref().map(|r| r.used))
    .bind(t.family_id.clone())
    .bind(t.code_hash.map(|h| h.to_hex()))
}

// ---- decoding: a row that does not parse is a store error, never a panic ---------------------

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, Error>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(column).map_err(Error::store)
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::store(format!("corrupt {what} in the database: {value:?}"))
}

fn hash_from_db(hex: &str) -> Result<TokenHash, Error> {
    TokenHash::from_hex(hex).ok_or_else(|| corrupt("hash", hex))
}

fn from_json<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|_| corrupt("JSON list", json))
}

fn seconds_from_db(row: &PgRow, column: &str) -> Result<u64, Error> {
    u64::try_from(get::<i64>(row, column)?).map_err(Error::store)
}

fn service_from_row(row: &PgRow) -> Result<Service, Error> {
    let grants: Vec<String> = from_json(&get::<String>(row, "grants")?)?;
    Ok(Service {
        key: get(row, "key")?,
        name: get(row, "name")?,
        access_token_ttl: seconds_from_db(row, "access_token_ttl")?,
        refresh_tokens: get(row, "refresh_tokens")?,
        refresh_token_ttl: seconds_from_db(row, "refresh_token_ttl")?,
        authorization_code_ttl: seconds_from_db(row, "authorization_code_ttl")?,
        token_type: TokenType::from_storage_name(&get::<String>(row, "token_type")?)
            .map_err(Error::store)?,
        grants: grants
            .iter()
            .map(|g| g.parse().map_err(Error::store))
            .collect::<Result<_, _>>()?,
        force_redirect_validation: get(row, "force_redirect_validation")?,
        allow_multiple_tokens: get(row, "allow_multiple_tokens")?,
        allow_query_tokens: get(row, "allow_query_tokens")?,
        scopes: get::<Option<String>>(row, "scopes")?
            .map(|json| from_json(&json))
            .transpose()?,
        any_scope: get(row, "any_scope")?,
        require_pkce: get::<String>(row, "require_pkce")?
            .parse()
            .map_err(Error::store)?,
    })
}

fn client_from_row(row: &PgRow) -> Result<Client, Error> {
    let status: String = get(row, "status")?;
    Ok(Client {
        id: get(row, "id")?,
        external_id: get(row, "external_id")?,
        name: get(row, "name")?,
        attributes: get(row, "attributes")?,
        client_id: get(row, "client_id")?,
        secret_hash: get(row, "secret_hash")?,
        redirect_uris: from_json(&get::<String>(row, "redirect_uris")?)?,
        services: from_json(&get::<String>(row, "services")?)?,
        status: ClientStatus::parse(&status).ok_or_else(|| corrupt("client status", &status))?,
        allowed_scopes: get::<Option<String>>(row, "allowed_scopes")?
            .map(|json| from_json(&json))
            .transpose()?,
    })
}

fn code_from_row(row: &PgRow) -> Result<AuthorizationCode, Error> {
    Ok(AuthorizationCode {
        code_hash: hash_from_db(&get::<String>(row, "code_hash")?)?,
        service_key: get(row, "service_key")?,
        client_id: get(row, "client_id")?,
        redirect_uri: get(row, "redirect_uri")?,
        scope: get(row, "scope")?,
        user_context: get(row, "user_context")?,
        pkce: get::<Option<String>>(row, "pkce_challenge")?
            .map(|challenge| PkceChallenge { challenge }),
        expires_at: get(row, "expires_at")?,
        used: get(row, "used")?,
    })
}

fn token_from_row(row: &PgRow) -> Result<TokenRecord, Error> {
    let refresh = match get::<Option<String>>(row, "refresh_hash")? {
        None => None,
        Some(hex) => Some(RefreshState {
            hash: hash_from_db(&hex)?,
            expires_at: get(row, "refresh_expires_at")?,
            used: get(row, "refresh_used")?,
        }),
    };
    Ok(TokenRecord {
        id: get(row, "id")?,
        token_hash: hash_from_db(&get::<String>(row, "token_hash")?)?,
        service_key: get(row, "service_key")?,
        client_id: get(row, "client_id")?,
        token_type: TokenType::from_storage_name(&get::<String>(row, "token_type")?)
            .map_err(Error::store)?,
        grant_type: get::<String>(row, "grant_type")?
            .parse()
            .map_err(Error::store)?,
        scope: get(row, "scope")?,
        user_context: get(row, "user_context")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked: get(row, "revoked")?,
        refresh,
        family_id: get(row, "family_id")?,
        code_hash: get::<Option<String>>(row, "code_hash")?
            .map(|hex| hash_from_db(&hex))
            .transpose()?,
    })
}

/// `Store::list_tokens`: newest first, ties broken by id (in the "C" collation, as the index).
const LIST_ALL: &str = "SELECT * FROM tokens \
     ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";
const LIST_ALL_AFTER: &str = "SELECT * FROM tokens \
     WHERE (created_at, id COLLATE \"C\") < ($2, $3 COLLATE \"C\") \
     ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";
const LIST_OWNER: &str = "SELECT * FROM tokens WHERE coalesce(user_context, client_id) = $2 \
     ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";
const LIST_OWNER_AFTER: &str = "SELECT * FROM tokens \
     WHERE coalesce(user_context, client_id) = $2 \
     AND (created_at, id COLLATE \"C\") < ($3, $4 COLLATE \"C\") \
     ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";

/// `UPDATE` that revokes the still-active tokens matching `$condition` and returns their hashes.
macro_rules! revoke_where {
    ($condition:literal) => {
        concat!(
            "UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE AND ",
            $condition,
            " RETURNING token_hash"
        )
    };
}

/// An authorization code by its hash.
const SELECT_CODE: &str = "SELECT * FROM authorization_codes WHERE code_hash = $1";

/// `SELECT` of the token records matching `$condition` (on `tokens t`) whose client still holds
/// them: it exists, is active and lists the token's service (see [`Store::token`]).
macro_rules! select_held_tokens {
    ($condition:literal) => {
        concat!(
            "SELECT t.* FROM tokens t JOIN clients c ON c.client_id = t.client_id WHERE ",
            $condition,
            " AND c.status = 'active' AND c.services::jsonb @> to_jsonb(t.service_key)"
        )
    };
}

/// Revokes the live tokens of `client_id` on `services` in `tx`; returns their hashes.
async fn end_tokens(
    tx: &mut Transaction<'static, Postgres>,
    client_id: &str,
    services: &[String],
) -> Result<Vec<TokenHash>, Error> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(
        "UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE AND client_id = $1 \
         AND service_key = ANY($2) RETURNING token_hash",
    )
    .bind(client_id)
    .bind(services)
    .fetch_all(&mut **tx)
    .await
    .map_err(Error::store)?
    .iter()
    .map(|row| hash_from_db(&get::<String>(row, "token_hash")?))
    .collect()
}

#[async_trait]
impl Store for PostgresStore {
    async fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        meta_ops::meta(&self.pool, key).await
    }
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), Error> {
        meta_ops::set_meta(&self.pool, key, value).await
    }
    async fn delete_service(&self, key: &str) -> Result<bool, Error> {
        registry_ops::delete_service(&self.pool, key).await
    }
    async fn put_service(&self, s: &Service) -> Result<(), Error> {
        let grants: Vec<&str> = s.grants.iter().map(|g| g.as_str()).collect();
        sqlx::query(
            "INSERT INTO services (key, name, access_token_ttl, refresh_tokens, \
             refresh_token_ttl, authorization_code_ttl, token_type, grants, \
             force_redirect_validation, allow_multiple_tokens, allow_query_tokens, \
             scopes, any_scope, require_pkce) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, \
             access_token_ttl = excluded.access_token_ttl, \
             refresh_tokens = excluded.refresh_tokens, \
             refresh_token_ttl = excluded.refresh_token_ttl, \
             authorization_code_ttl = excluded.authorization_code_ttl, \
             token_type = excluded.token_type, grants = excluded.grants, \
             force_redirect_validation = excluded.force_redirect_validation, \
             allow_multiple_tokens = excluded.allow_multiple_tokens, \
             allow_query_tokens = excluded.allow_query_tokens, \
             scopes = excluded.scopes, any_scope = excluded.any_scope, \
             require_pkce = excluded.require_pkce",
        )
        .bind(s.key.clone())
        .bind(s.name.clone())
        .bind(seconds_to_db(s.access_token_ttl)?)
        .bind(s.refresh_tokens)
        .bind(seconds_to_db(s.refresh_token_ttl)?)
        .bind(seconds_to_db(s.authorization_code_ttl)?)
        .bind(s.token_type.storage_name())
        .bind(to_json(&grants)?)
        .bind(s.force_redirect_validation)
        .bind(s.allow_multiple_tokens)
        .bind(s.allow_query_tokens)
        .bind(s.scopes.as_ref().map(to_json).transpose()?)
        .bind(s.any_scope)
        .bind(s.require_pkce.as_str())
        .execute(&self.pool)
        .await
        .map_err(Error::store)?;
        Ok(())
    }

    async fn service(&self, key: &str) -> Result<Option<Service>, Error> {
        sqlx::query("SELECT * FROM services WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?
            .map(|row| service_from_row(&row))
            .transpose()
    }

    async fn services(&self) -> Result<Vec<Service>, Error> {
        // Byte order, as the other stores, whatever the database's collation.
        sqlx::query("SELECT * FROM services ORDER BY key COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store)?
            .iter()
            .map(service_from_row)
            .collect()
    }

    async fn put_client(&self, c: &Client) -> Result<Vec<TokenHash>, Error> {
        let published = listen::now_micros();
        let mut tx = self.write_tx().await?;
        // The row lock holds off a concurrent change of the same client until this commits.
        let before = sqlx::query("SELECT * FROM clients WHERE id = $1 FOR UPDATE")
            .bind(c.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::store)?
            .map(|row| client_from_row(&row))
            .transpose()?;
        // Upsert by id only: a `client_id` owned by another id violates its UNIQUE constraint
        // and fails.
        sqlx::query(
            "INSERT INTO clients (id, external_id, name, attributes, client_id, secret_hash, \
             redirect_uris, services, status, allowed_scopes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, \
             name = excluded.name, attributes = excluded.attributes, \
             client_id = excluded.client_id, secret_hash = excluded.secret_hash, \
             redirect_uris = excluded.redirect_uris, services = excluded.services, \
             status = excluded.status, allowed_scopes = excluded.allowed_scopes",
        )
        .bind(c.id)
        .bind(c.external_id)
        .bind(c.name.clone())
        .bind(c.attributes.clone())
        .bind(c.client_id.clone())
        .bind(c.secret_hash.clone())
        .bind(to_json(&c.redirect_uris)?)
        .bind(to_json(&c.services)?)
        .bind(c.status.as_str())
        .bind(c.allowed_scopes.as_ref().map(to_json).transpose()?)
        .execute(&mut *tx)
        .await
        .map_err(Error::store)?;
        let ended = match &before {
            Some(before) => {
                end_tokens(&mut tx, &before.client_id, &before.ended_services(c)).await?
            }
            None => Vec::new(),
        };
        self.publish(&mut tx, published, &ended).await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(ended)
    }

    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error> {
        let published = listen::now_micros();
        let mut tx = self.write_tx().await?;
        let Some(row) = sqlx::query("DELETE FROM clients WHERE client_id = $1 RETURNING services")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::store)?
        else {
            return Ok(None);
        };
        let services: Vec<String> = from_json(&get::<String>(&row, "services")?)?;
        let ended = end_tokens(&mut tx, client_id, &services).await?;
        self.publish(&mut tx, published, &ended).await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(Some(ended))
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        sqlx::query("SELECT * FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?
            .map(|row| client_from_row(&row))
            .transpose()
    }

    async fn clients(&self) -> Result<Vec<Client>, Error> {
        sqlx::query("SELECT * FROM clients ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store)?
            .iter()
            .map(client_from_row)
            .collect()
    }

    async fn insert_code(&self, c: &AuthorizationCode) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, service_key, client_id, redirect_uri, \
             scope, user_context, pkce_challenge, expires_at, used) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(c.code_hash.to_hex())
        .bind(c.service_key.clone())
        .bind(c.client_id.clone())
        .bind(c.redirect_uri.clone())
        .bind(c.scope.clone())
        .bind(c.user_context.clone())
        .bind(c.pkce.as_ref().map(|p| p.challenge.clone()))
        .bind(c.expires_at)
        .bind(c.used)
        .execute(&self.pool)
        .await
        .map_err(Error::store)?;
        Ok(())
    }

    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error> {
        sqlx::query(SELECT_CODE)
            .bind(code_hash.to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?
            .map(|row| code_from_row(&row))
            .transpose()
    }

    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error> {
        let hex = code_hash.to_hex();
        let mut tx = self.write_tx().await?;
        // Only the caller whose UPDATE flips `used` gets the row back: a concurrent UPDATE
        // waits for this row lock, then re-checks `used = FALSE` against the committed row.
        let won = sqlx::query(
            "UPDATE authorization_codes SET used = TRUE WHERE code_hash = $1 AND used = FALSE \
             RETURNING *",
        )
        .bind(&hex)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::store)?;
        let outcome = match won {
            Some(row) => Redemption::Fresh(AuthorizationCode {
                used: false,
                ..code_from_row(&row)?
            }),
            // READ COMMITTED: this statement sees the winner's commit.
            None => match sqlx::query(SELECT_CODE)
                .bind(&hex)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::store)?
            {
                Some(row) => Redemption::Replayed(code_from_row(&row)?),
                None => Redemption::Unknown,
            },
        };
        tx.commit().await.map_err(Error::store)?;
        Ok(outcome)
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        insert_token_query(token)
            .execute(&self.pool)
            .await
            .map_err(Error::store)?;
        Ok(())
    }

    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error> {
        sqlx::query(select_held_tokens!("t.token_hash = $1"))
            .bind(token_hash.to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?
            .map(|row| token_from_row(&row))
            .transpose()
    }

    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        if token_hashes.is_empty() {
            return Ok(Vec::new());
        }
        let hexes: Vec<String> = token_hashes.iter().map(TokenHash::to_hex).collect();
        sqlx::query(select_held_tokens!("t.token_hash = ANY($1)"))
            .bind(hexes)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store)?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn token_by_refresh(
        &self,
        refresh_hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, Error> {
        sqlx::query(select_held_tokens!("t.refresh_hash = $1"))
            .bind(refresh_hash.to_hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?
            .map(|row| token_from_row(&row))
            .transpose()
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error> {
        let hex = refresh_hash.to_hex();
        let mut tx = self.write_tx().await?;
        // A concurrent rotation waits for this row lock until this transaction ends: if it
        // commits, the other finds the token used; if it rolls back, the other may win.
        let marked = sqlx::query(
            "UPDATE tokens SET refresh_used = TRUE \
             WHERE refresh_hash = $1 AND refresh_used = FALSE",
        )
        .bind(&hex)
        .execute(&mut *tx)
        .await
        .map_err(Error::store)?
        .rows_affected();
        if marked == 0 {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tokens WHERE refresh_hash = $1)")
                    .bind(&hex)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(Error::store)?;
            return Ok(if exists {
                Rotation::Reused
            } else {
                Rotation::Unknown
            });
        }
        // If the insert fails the transaction is dropped and rolled back: nothing is marked.
        insert_token_query(next)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
        tx.commit().await.map_err(Error::store)?;
        Ok(Rotation::Rotated)
    }

    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        let published = listen::now_micros();
        let query = match which {
            Revocation::Token(hash) => {
                sqlx::query(revoke_where!("token_hash = $1")).bind(hash.to_hex())
            }
            Revocation::Family(family_id) => {
                sqlx::query(revoke_where!("family_id = $1")).bind(family_id)
            }
            Revocation::Code(hash) => {
                sqlx::query(revoke_where!("code_hash = $1")).bind(hash.to_hex())
            }
            // `user_context = NULL` matches nothing: NULL gets its own statement (both use the
            // index, unlike `IS NOT DISTINCT FROM`).
            Revocation::UserApplication {
                service_key,
                client_id,
                user_context: Some(user_context),
            } => sqlx::query(revoke_where!(
                "service_key = $1 AND client_id = $2 AND user_context = $3"
            ))
            .bind(service_key)
            .bind(client_id)
            .bind(user_context),
            Revocation::UserApplication {
                service_key,
                client_id,
                user_context: None,
            } => sqlx::query(revoke_where!(
                "service_key = $1 AND client_id = $2 AND user_context IS NULL"
            ))
            .bind(service_key)
            .bind(client_id),
        };
        let mut tx = self.write_tx().await?;
        let revoked = query
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::store)?
            .iter()
            .map(|row| hash_from_db(&get::<String>(row, "token_hash")?))
            .collect::<Result<Vec<_>, _>>()?;
        self.publish(&mut tx, published, &revoked).await?;
        tx.commit().await.map_err(Error::store)?;
        Ok(revoked)
    }

    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error> {
        let published = listen::now_micros();
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE tokens SET scope = coalesce($2, scope), \
             expires_at = coalesce($3, expires_at), \
             user_context = coalesce($4, user_context) WHERE token_hash = $1",
        )
        .bind(token_hash.to_hex())
        .bind(update.scope.clone())
        .bind(update.expires_at)
        .bind(update.user_context.clone())
        .execute(&mut *tx)
        .await
        .map_err(Error::store)?
        .rows_affected();
        if updated > 0 {
            self.publish(&mut tx, published, &[*token_hash]).await?;
        }
        tx.commit().await.map_err(Error::store)?;
        Ok(updated > 0)
    }

    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error> {
        sqlx::query(
            "SELECT * FROM tokens WHERE service_key = $1 AND user_context = $2 \
             ORDER BY created_at DESC, id COLLATE \"C\" DESC",
        )
        .bind(service_key)
        .bind(user_context)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store)?
        .iter()
        .map(token_from_row)
        .collect()
    }

    async fn list_tokens(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error> {
        let limit = i64::from(limit);
        let query = match (owner, after) {
            (None, None) => sqlx::query(LIST_ALL).bind(limit),
            (None, Some(after)) => sqlx::query(LIST_ALL_AFTER)
                .bind(limit)
                .bind(after.created_at)
                .bind(after.id.clone()),
            (Some(owner), None) => sqlx::query(LIST_OWNER).bind(limit).bind(owner),
            (Some(owner), Some(after)) => sqlx::query(LIST_OWNER_AFTER)
                .bind(limit)
                .bind(owner)
                .bind(after.created_at)
                .bind(after.id.clone()),
        };
        query
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store)?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error> {
        let mut tx = self.write_tx().await?;
        // The expression matches the `tokens_purge` index. SKIP LOCKED: nodes purging at once
        // take different rows instead of queueing on each other's.
        let tokens = sqlx::query(
            "DELETE FROM tokens WHERE ctid = ANY(ARRAY(SELECT ctid FROM tokens \
             WHERE greatest(expires_at, coalesce(refresh_expires_at, expires_at)) < $1 \
             LIMIT $2 FOR UPDATE SKIP LOCKED))",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(Error::store)?
        .rows_affected();
        let codes = sqlx::query(
            "DELETE FROM authorization_codes WHERE ctid = ANY(ARRAY(SELECT ctid \
             FROM authorization_codes WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))",
        )
        .bind(before)
        .bind(i64::from(limit) - tokens as i64)
        .execute(&mut *tx)
        .await
        .map_err(Error::store)?
        .rows_affected();
        tx.commit().await.map_err(Error::store)?;
        Ok(tokens + codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_without_a_database() {
        let url = "postgres://postgres:hunter2@127.0.0.1:5432/test";
        assert!(PostgresOptions::new().for_url(url).is_ok());
        assert!(PostgresOptions::new()
            .schema("tg_test_1")
            .for_url(url)
            .is_ok());
        for bad in ["", "1abc", "Upper", "semi;colon", "a b", &"x".repeat(64)] {
            let err = PostgresOptions::new().schema(bad).for_url(url).unwrap_err();
            assert!(err.is_config(), "{bad:?}: {err:?}");
        }
        for bad in ["", &"c".repeat(64)] {
            let err = PostgresOptions::new()
                .channel(bad)
                .for_url(url)
                .unwrap_err();
            assert!(err.is_config(), "{bad:?}");
        }
        for bad in [
            "postgres://u:hunter2@host:notaport/db",
            "mysql://u:hunter2@host/db",
            "postgres://u:hunter2@host/db?max_connections=many",
            "postgres://u:hunter2@host/db?statement_timeout=5h",
            "postgres://u:hunter2@host/db?schema=Bad%20Name",
            "not a url hunter2",
        ] {
            let err = PostgresOptions::new().for_url(bad).unwrap_err();
            assert!(err.is_config(), "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert_eq!(PostgresOptions::new().max_connections(0).max_connections, 1);
    }

    #[test]
    fn url_parameters_override_options_and_the_rest_reach_postgres() {
        let (options, connect) = PostgresOptions::new()
            .max_connections(3)
            .for_url(
                "postgresql://u@db:6543/tokens?max_connections=20&acquire_timeout=2s\
                 &statement_timeout=250ms&schema=tg&channel=revocations&application_name=node-a",
            )
            .unwrap();
        assert_eq!(
            options,
            PostgresOptions::new()
                .max_connections(20)
                .acquire_timeout(Duration::from_secs(2))
                .statement_timeout(Duration::from_millis(250))
                .schema("tg")
                .channel("revocations")
        );
        assert_eq!(connect.get_host(), "db");
        assert_eq!(connect.get_port(), 6543);
        assert_eq!(connect.get_database(), Some("tokens"));
        assert_eq!(connect.get_application_name(), Some("node-a"));
        let pg_options = connect.get_options().unwrap();
        assert!(
            pg_options.contains("statement_timeout=250ms"),
            "{pg_options}"
        );
        assert!(pg_options.contains("search_path=tg"), "{pg_options}");
        let (options, _) = PostgresOptions::new()
            .for_url("postgres://u@db/t?statement_timeout=0")
            .unwrap();
        assert_eq!(options.statement_timeout, Duration::ZERO);
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
    }
}
