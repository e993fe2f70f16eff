//! The embedded SQLite [`Store`]: the durable default.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{parse_duration, Redemption, Revocation, Rotation, Store, TokenCursor};
use crate::model::{
    AuthorizationCode, Client, ClientStatus, PkceChallenge, RefreshState, Service, TokenRecord,
    TokenType, TokenUpdate, UnixMillis,
};
use crate::resolve::TokenCache;
use crate::secret::TokenHash;
use crate::Error;
use failure::{is_database_wide, poisons_connection, retire_if_poisoned, Read};

mod failure;
mod feed;
mod meta_ops;
mod registry_ops;

pub use feed::{ChangeFeed, ChangeFeedStats};

/// The schema migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_init.sql"),
    include_str!("sqlite/0002_token_listing.sql"),
    include_str!("sqlite/0003_token_validity.sql"),
    include_str!("sqlite/0004_issuance_policy.sql"),
    include_str!("sqlite/0005_meta.sql"),
];

/// How long a statement waits for another process's lock, and an operation for one of the
/// store's connections, before failing; unless the URL's `busy_timeout` parameter says
/// otherwise.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader connections; writes go through a single connection of their own.
const READERS: u32 = 4;

#[cfg(feature = "cli")]
impl SqliteStore {
    /// The connections that serve reads, token lookups among them.
    pub(crate) const READERS: u32 = READERS;
}

/// Most single-statement writes committed together by the group-commit writer.
const MAX_BATCH: usize = 256;

/// Writes waiting for the group-commit writer before callers wait to enqueue.
const QUEUE: usize = 4 * MAX_BATCH;

/// The embedded SQLite store, the durable default; [`SqliteStore::open`] has an example.
///
/// * WAL journal, `synchronous=FULL` on every connection: an acknowledged write has been fsynced
///   to the WAL, so it survives a crash or power loss.
/// * One writer connection and a small pool of readers. SQLite lets one writer in at a time
///   anyway; queueing writers on the pool instead of on the file lock avoids busy-waiting, and
///   WAL lets the readers run alongside it. The busy timeout covers other processes.
/// * Every multi-statement write runs in a `BEGIN IMMEDIATE` transaction; single-use operations
///   are conditional `UPDATE`s whose affected rows say who won.
/// * Group commit: single-statement writes (inserting tokens, codes, services and clients,
///   updates, revocations) go to a writer task, which takes everything queued (up to 256),
///   runs it in one `BEGIN IMMEDIATE … COMMIT` (one fsync for the lot) and only then answers
///   each caller. A batch of token inserts alone (the usual case, up to 64) is one multi-row
///   `INSERT`, its own transaction: one round trip to the connection's thread. A statement
///   that fails a constraint (a duplicate hash) fails alone: SQLite backs out only that
///   statement and the rest of the batch commits. A failure of the database itself (locked
///   past the busy timeout, unreadable, full) or of `COMMIT` fails the whole batch; any other
///   failure rolls the batch back and runs each write again on its own. Each batch is logged
///   at trace level (`writes`, `micros`).
/// * Enums are stored by name, lists as JSON, hashes as hex and times as unix millis; see
///   `src/store/sqlite/0001_init.sql`. Migrations are numbered by `PRAGMA user_version` and run at open.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    batched: mpsc::Sender<Job>,
    /// How the pools connect: the change feed opens its own connection the same way.
    options: SqliteConnectOptions,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `url_or_path` and brings its schema up to
    /// date.
    ///
    /// Accepts `sqlite://path`, `sqlite:path` (both may carry SQLite URI parameters such as
    /// `?mode=rw`) or a bare file path. One parameter is tokengate's own: `busy_timeout`
    /// (`250ms`, `2s`; default 5 s), how long a statement waits for a lock held by another
    /// connection (another process writing the file), and an operation for one of the store's
    /// pooled connections, before it fails with a store error.
    ///
    /// A malformed URL is a configuration error ([`Error::is_config`]); a file that cannot be
    /// opened or migrated is a store error, as is a database whose schema is newer than this
    /// version of tokengate.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tokengate::model::Service;
    /// use tokengate::store::{SqliteStore, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("tokengate.db");
    /// let store = SqliteStore::open(path.to_str().unwrap()).await?;
    /// store.put_service(&Service::new("svc-key", "API")).await?;
    /// store.close().await;
    ///
    /// let store = SqliteStore::open(&format!("sqlite://{}", path.display())).await?;
    /// assert_eq!(store.service("svc-key").await?.unwrap().name, "API");
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn open(url_or_path: &str) -> Result<Self, Error> {
        let (options, busy_timeout) = if url_or_path.starts_with("sqlite:") {
            let (url, busy_timeout) = split_busy_timeout(url_or_path)?;
            let options = url
                .parse::<SqliteConnectOptions>()
                .map_err(|e| Error::config(format!("invalid SQLite URL {url_or_path:?}: {e}")))?;
            (options, busy_timeout)
        } else {
            (
                SqliteConnectOptions::new().filename(url_or_path),
                BUSY_TIMEOUT,
            )
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(busy_timeout);

        // The writer connects first: it switches the file to WAL and migrates it before any
        // reader looks at it. Waiting for a pooled connection is waiting for a lock too (the
        // one writer connection is held for as long as its statement waits for another
        // process's lock): both pools wait the busy timeout at most, not sqlx's 30 s.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(busy_timeout)
            .connect_with(options.clone())
            .await
            .map_err(Error::store)?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(busy_timeout)
            .connect_with(options.clone())
            .await
            .map_err(Error::store)?;
        let (batched, queue) = mpsc::channel(QUEUE);
        tokio::spawn(group_commit(writer.clone(), queue));
        Ok(SqliteStore {
            writer,
            reader,
            batched,
            options,
        })
    }

    /// Starts the change feed into `cache` ([`ChangeFeed`]): every revocation and update of a
    /// token, by any process or connection writing this file (another `tokengate serve`, the
    /// `client` commands), is evicted from `cache` within about 100 ms of its commit. The
    /// cache is flushed when the feed starts. The feed stops when it is dropped.
    ///
    /// Needs a Tokio runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use tokengate::oauth::TokenService;
    /// use tokengate::resolve::{LocalResolver, TokenCache};
    /// use tokengate::secret::Pepper;
    /// use tokengate::store::SqliteStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).await?;
    /// let tokens = Arc::new(TokenService::new(Arc::new(store.clone()), Pepper::new(b"pepper".to_vec())));
    /// let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), "svc-key")).build();
    /// cache.listen_to(&tokens); // this process's own changes, before they return
    /// let feed = store.subscribe(&cache); // every process's, polled
    /// feed.ready().await;
    /// assert_eq!(feed.stats().flushes, 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub fn subscribe(&self, cache: &TokenCache) -> ChangeFeed {
        ChangeFeed::spawn(self.options.clone(), cache.clone())
    }

    /// Closes every connection, waiting for those in use to be returned. SQLite checkpoints the
    /// WAL into the main file when the last connection closes.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Runs one single-statement write through the group-commit writer; answers once the
    /// transaction that carried it has committed.
    async fn batched(&self, op: Op) -> Result<Written, Error> {
        let (ack, answer) = oneshot::channel();
        self.batched
            .send(Job { op, ack })
            .await
            .map_err(|_| Error::store("the SQLite writer has stopped"))?;
        answer
            .await
            .map_err(|_| Error::store("the SQLite writer has stopped"))?
    }
}

/// A `BEGIN IMMEDIATE` transaction on `conn` (a writer connection), for multi-statement writes.
async fn begin_immediate(conn: &mut SqliteConnection) -> Result<Transaction<'_, Sqlite>, Error> {
    sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE")
        .await
        .map_err(Error::store)
}

/// Takes tokengate's own `busy_timeout` parameter out of a `sqlite:` URL: the URL for SQLite
/// (which refuses parameters it does not know) and the timeout ([`BUSY_TIMEOUT`] without one).
fn split_busy_timeout(url: &str) -> Result<(String, Duration), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), BUSY_TIMEOUT));
    };
    let mut busy_timeout = BUSY_TIMEOUT;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "busy_timeout" {
            busy_timeout = parse_duration(&value).ok_or_else(|| {
                Error::config(format!(
                    "invalid SQLite URL {url:?}: `busy_timeout` must be like 250ms or 5s"
                ))
            })?;
        } else {
            rest.append_pair(&key, &value);
        }
    }
    let rest = rest.finish();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{rest}")
    };
    Ok((url, busy_timeout))
}

// ---- group commit ---------------------------------------------------------------------------

/// Builds a single-statement write; called again if its batch has to be rerun item by item.
type WriteQuery = Box<dyn Fn() -> Query<'static, Sqlite, SqliteArguments> + Send + Sync>;

/// One single-statement write waiting for the group-commit writer.
struct Job {
    op: Op,
    ack: oneshot::Sender<Result<Written, Error>>,
}

/// A batched write.
enum Op {
    /// A token insert: consecutive ones in a batch go in multi-row `INSERT`s.
    Token(Box<TokenRecord>),
    /// Any other statement; `true` when it returns `token_hash` rows (`RETURNING token_hash`).
    Query(WriteQuery, bool),
}

/// What a batched statement did.
enum Written {
    Rows(u64),
    Hashes(Vec<TokenHash>),
}

impl Written {
    fn rows(self) -> u64 {
        match self {
            Written::Rows(n) => n,
            Written::Hashes(h) => h.len() as u64,
        }
    }

    fn hashes(self) -> Vec<TokenHash> {
        match self {
            Written::Rows(_) => Vec::new(),
            Written::Hashes(h) => h,
        }
    }
}

/// The group-commit writer: takes every queued write (up to [`MAX_BATCH`]), commits them in
/// one transaction, then answers each caller. Ends when every [`SqliteStore`] clone is gone.
async fn group_commit(pool: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (writes, started) = (jobs.len(), std::time::Instant::now());
        commit_batch(&pool, &mut jobs).await;
        tracing::trace!(
            writes,
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        jobs.clear();
    }
}

async fn run_write(conn: &mut sqlx::SqliteConnection, job: &Job) -> Result<Written, sqlx::Error> {
    let (query, returning) = match &job.op {
        Op::Token(token) => (insert_token_query(token), false),
        Op::Query(query, returning) => (query(), *returning),
    };
    if returning {
        let rows = query.fetch_all(&mut *conn).await?;
        let mut hashes = Vec::with_capacity(rows.len());
        for row in &rows {
            let hex: String = row.try_get("token_hash")?;
            let hash = TokenHash::from_hex(&hex).ok_or_else(|| {
                sqlx::Error::Decode(format!("corrupt hash in the database: {hex:?}").into())
            })?;
            hashes.push(hash);
        }
        Ok(Written::Hashes(hashes))
    } else {
        Ok(Written::Rows(
            query.execute(&mut *conn).await?.rows_affected(),
        ))
    }
}

/// A constraint failure: SQLite backs out that statement alone and the transaction goes on
/// (the default `ON CONFLICT ABORT`).
fn is_constraint(e: &sqlx::Error) -> bool {
    use sqlx::error::ErrorKind;
    matches!(e, sqlx::Error::Database(db) if matches!(db.kind(),
        ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation
        | ErrorKind::NotNullViolation | ErrorKind::CheckViolation))
}

/// How a grouped transaction failed.
enum Grouped {
    /// A statement, before `COMMIT`: nothing is written; each job can run again on its own.
    Rerun(sqlx::Error),
    /// `BEGIN`, `COMMIT` (what is on disk is unknown), or the database itself (locked past the
    /// busy timeout, unreadable, full: each job alone would fail the same way, one busy
    /// timeout after the other): every job fails.
    Failed(sqlx::Error),
}

/// A statement of a grouped transaction failed: [`Grouped::Rerun`], unless the failure is the
/// database's.
fn statement_failed(e: sqlx::Error) -> Grouped {
    if is_database_wide(&e) {
        Grouped::Failed(e)
    } else {
        Grouped::Rerun(e)
    }
}

fn answer(job: Job, result: Result<Written, Error>) {
    // A caller that stopped waiting no longer needs the answer.
    let _ = job.ack.send(result);
}

/// Answers every job with the failure `e`.
fn fail_every(jobs: impl IntoIterator<Item = Job>, e: &sqlx::Error) {
    let e = e.to_string();
    for job in jobs {
        answer(job, Err(Error::store(e.clone())));
    }
}

/// Commits `jobs` together and answers every caller, never before the commit.
async fn commit_batch(pool: &SqlitePool, jobs: &mut Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            fail_every(jobs.drain(..), &e);
            return;
        }
    };
    // Only token inserts, the common case: one statement, which in autocommit mode is its own
    // transaction (one round trip to the connection's thread, one fsync). If it fails, nothing
    // of it is written: a failure of the database fails every job, as below; any other (a
    // duplicate) leaves the batch to the general path, which finds the culprit.
    if jobs.len() <= TOKENS_PER_INSERT && jobs.iter().all(|job| matches!(job.op, Op::Token(_))) {
        match insert_tokens_query(jobs).execute(&mut *conn).await {
            Ok(_) => {
                for job in jobs.drain(..) {
                    answer(job, Ok(Written::Rows(1)));
                }
                return;
            }
            Err(e) if is_database_wide(&e) => {
                if poisons_connection(&e) {
                    conn.close_on_drop();
                }
                fail_every(jobs.drain(..), &e);
                return;
            }
            Err(e) => tracing::debug!(error = %e, "batched token insert failed; retrying"),
        }
    }
    if jobs.len() > 1 {
        let mut results = Vec::with_capacity(jobs.len());
        let grouped = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(Grouped::Failed)?;
            let mut next = 0;
            while next < jobs.len() {
                // A run of token inserts: one statement.
                let run = jobs[next..]
                    .iter()
                    .take(TOKENS_PER_INSERT)
                    .take_while(|job| matches!(job.op, Op::Token(_)))
                    .count();
                if run > 1 {
                    let chunk = &jobs[next..next + run];
                    match insert_tokens_query(chunk).execute(&mut *tx).await {
                        Ok(_) => results.extend(chunk.iter().map(|_| Ok(Written::Rows(1)))),
                        // The statement was backed out whole: find the culprit row by row.
                        Err(e) if is_constraint(&e) => {
                            for job in chunk {
                                match run_write(&mut tx, job).await {
                                    Ok(written) => results.push(Ok(written)),
                                    Err(e) if is_constraint(&e) => {
                                        results.push(Err(Error::store(e)))
                                    }
                                    Err(e) => return Err(statement_failed(e)),
                                }
                            }
                        }
                        Err(e) => return Err(statement_failed(e)),
                    }
                    next += run;
                    continue;
                }
                match run_write(&mut tx, &jobs[next]).await {
                    Ok(written) => results.push(Ok(written)),
                    Err(e) if is_constraint(&e) => results.push(Err(Error::store(e))),
                    // The transaction may be gone: roll back (on drop) and rerun one by one.
                    Err(e) => return Err(statement_failed(e)),
                }
                next += 1;
            }
            tx.commit().await.map_err(Grouped::Failed)
        }
        .await;
        match grouped {
            Ok(()) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    answer(job, result);
                }
                return;
            }
            Err(Grouped::Failed(e)) => {
                if poisons_connection(&e) {
                    conn.close_on_drop();
                }
                fail_every(jobs.drain(..), &e);
                return;
            }
            Err(Grouped::Rerun(e)) => {
                tracing::debug!(error = %e, "group commit failed; writing one by one");
            }
        }
    }
    let mut jobs = jobs.drain(..);
    while let Some(job) = jobs.next() {
        match run_write(&mut conn, &job).await {
            Ok(written) => answer(job, Ok(written)),
            // The rest would fail the same way, each after its own busy timeout.
            Err(e) if is_database_wide(&e) => {
                if poisons_connection(&e) {
                    conn.close_on_drop();
                }
                fail_every(jobs, &e);
                answer(job, Err(Error::store(e)));
                return;
            }
            Err(e) => answer(job, Err(Error::store(e))),
        }
    }
}

/// Applies the migrations the database has not seen yet, in one transaction.
async fn migrate(pool: &SqlitePool) -> Result<(), Error> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::store)?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
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
        // PRAGMA takes no bound parameters; the value is our own integer.
        let set_version = format!("PRAGMA user_version = {}", index + 1);
        sqlx::query(sqlx::AssertSqlSafe(set_version))
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

fn insert_token_query(t: &TokenRecord) -> Query<'static, Sqlite, SqliteArguments> {
    bind_token(
        sqlx::query(
            "INSERT INTO tokens (token_hash, id, service_key, client_id, token_type, grant_type, \
             scope, user_context, created_at, expires_at, revoked, refresh_hash, \
             refresh_expires_at, refresh_used, family_id, code_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ),
        t,
    )
}

/// Most rows in one token `INSERT`: a statement is prepared (and cached on the writer's
/// connection) for each row count up to this, so the cache holds at most this many of them.
const TOKENS_PER_INSERT: usize = 64;

/// One `INSERT` of every token in `jobs` (each [`Op::Token`]; at most [`TOKENS_PER_INSERT`]).
fn insert_tokens_query(jobs: &[Job]) -> Query<'static, Sqlite, SqliteArguments> {
    const COLUMNS: &str = "INSERT INTO tokens (token_hash, id, service_key, client_id, \
         token_type, grant_type, scope, user_context, created_at, expires_at, revoked, \
         refresh_hash, refresh_expires_at, refresh_used, family_id, code_hash) VALUES ";
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    debug_assert!(jobs.len() <= TOKENS_PER_INSERT);
    let mut sql = String::with_capacity(COLUMNS.len() + jobs.len() * (ROW.len() + 2));
    sql.push_str(COLUMNS);
    for i in 0..jobs.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(ROW);
    }
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for job in jobs {
        if let Op::Token(token) = &job.op {
            query = bind_token(query, token);
        }
    }
    query
}

fn bind_token(
    query: Query<'static, Sqlite, SqliteArguments>,
    t: &TokenRecord,
) -> Query<'static, Sqlite, SqliteArguments> {
    query
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

/// Column `column` of `row`, by name or by position.
fn get<'r, T, I>(row: &'r SqliteRow, column: I) -> Result<T, Error>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    I: sqlx::ColumnIndex<SqliteRow>,
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

fn seconds_from_db(row: &SqliteRow, column: usize) -> Result<u64, Error> {
    u64::try_from(get::<i64, _>(row, column)?).map_err(Error::store)
}

/// The `services` columns [`service_from_row`] reads, in its order, each after `$table`
/// (`""` or a table alias such as `"s."`).
macro_rules! service_columns {
    ($table:literal) => {
        concat!(
            $table,
            "key, ",
            $table,
            "name, ",
            $table,
            "access_token_ttl, ",
            $table,
            "refresh_tokens, ",
            $table,
            "refresh_token_ttl, ",
            $table,
            "authorization_code_ttl, ",
            $table,
            "token_type, ",
            $table,
            "grants, ",
            $table,
            "force_redirect_validation, ",
            $table,
            "allow_multiple_tokens, ",
            $table,
            "allow_query_tokens, ",
            $table,
            "scopes, ",
            $table,
            "any_scope, ",
            $table,
            "require_pkce"
        )
    };
}

/// How many columns [`service_columns!`] names.
const SERVICE_COLUMNS: usize = 14;

/// The `clients` columns [`client_from_row`] reads, in its order, each after `$table`.
macro_rules! client_columns {
    ($table:literal) => {
        concat!(
            $table,
            "id, ",
            $table,
            "external_id, ",
            $table,
            "name, ",
            $table,
            "attributes, ",
            $table,
            "client_id, ",
            $table,
            "secret_hash, ",
            $table,
            "redirect_uris, ",
            $table,
            "services, ",
            $table,
            "status, ",
            $table,
            "allowed_scopes"
        )
    };
}

/// The service whose [`service_columns!`] start at column `first` of `row`.
fn service_from_row(row: &SqliteRow, first: usize) -> Result<Service, Error> {
    let grants: Vec<String> = from_json(&get::<String, _>(row, first + 7)?)?;
    Ok(Service {
        key: get(row, first)?,
        name: get(row, first + 1)?,
        access_token_ttl: seconds_from_db(row, first + 2)?,
        refresh_tokens: get(row, first + 3)?,
        refresh_token_ttl: seconds_from_db(row, first + 4)?,
        authorization_code_ttl: seconds_from_db(row, first + 5)?,
        token_type: TokenType::from_storage_name(&get::<String, _>(row, first + 6)?)
            .map_err(Error::store)?,
        grants: grants
            .iter()
            .map(|g| g.parse().map_err(Error::store))
            .collect::<Result<_, _>>()?,
        force_redirect_validation: get(row, first + 8)?,
        allow_multiple_tokens: get(row, first + 9)?,
        allow_query_tokens: get(row, first + 10)?,
        scopes: get::<Option<String>, _>(row, first + 11)?
            .map(|json| from_json(&json))
            .transpose()?,
        any_scope: get(row, first + 12)?,
        require_pkce: get::<String, _>(row, first + 13)?
            .parse()
            .map_err(Error::store)?,
    })
}

/// The client whose [`client_columns!`] start at column `first` of `row`.
fn client_from_row(row: &SqliteRow, first: usize) -> Result<Client, Error> {
    let status: String = get(row, first + 8)?;
    Ok(Client {
        id: get(row, first)?,
        external_id: get(row, first + 1)?,
        name: get(row, first + 2)?,
        attributes: get(row, first + 3)?,
        client_id: get(row, first + 4)?,
        secret_hash: get(row, first + 5)?,
        redirect_uris: from_json(&get::<String, _>(row, first + 6)?)?,
        services: from_json(&get::<String, _>(row, first + 7)?)?,
        status: ClientStatus::parse(&status).ok_or_else(|| corrupt("client status", &status))?,
        allowed_scopes: get::<Option<String>, _>(row, first + 9)?
            .map(|json| from_json(&json))
            .transpose()?,
    })
}

fn code_from_row(row: &SqliteRow) -> Result<AuthorizationCode, Error> {
    Ok(AuthorizationCode {
        code_hash: hash_from_db(&get::<String, _>(row, "code_hash")?)?,
        service_key: get(row, "service_key")?,
        client_id: get(row, "client_id")?,
        redirect_uri: get(row, "redirect_uri")?,
        scope: get(row, "scope")?,
        user_context: get(row, "user_context")?,
        pkce: get::<Option<String>, _>(row, "pkce_challenge")?
            .map(|challenge| PkceChallenge { challenge }),
        expires_at: get(row, "expires_at")?,
        used: get(row, "used")?,
    })
}

fn token_from_row(row: &SqliteRow) -> Result<TokenRecord, Error> {
    let refresh = match get::<Option<String>, _>(row, "refresh_hash")? {
        None => None,
        Some(hex) => Some(RefreshState {
            hash: hash_from_db(&hex)?,
            expires_at: get(row, "refresh_expires_at")?,
            used: get(row, "refresh_used")?,
        }),
    };
    Ok(TokenRecord {
        id: get(row, "id")?,
        token_hash: hash_from_db(&get::<String, _>(row, "token_hash")?)?,
        service_key: get(row, "service_key")?,
        client_id: get(row, "client_id")?,
        token_type: TokenType::from_storage_name(&get::<String, _>(row, "token_type")?)
            .map_err(Error::store)?,
        grant_type: get::<String, _>(row, "grant_type")?
            .parse()
            .map_err(Error::store)?,
        scope: get(row, "scope")?,
        user_context: get(row, "user_context")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked: get(row, "revoked")?,
        refresh,
        family_id: get(row, "family_id")?,
        code_hash: get::<Option<String>, _>(row, "code_hash")?
            .map(|hex| hash_from_db(&hex))
            .transpose()?,
    })
}

// `list_tokens`, in four spellings rather than `?n IS NULL OR ...` so that each can use its index
// (`tokens_listing` or `tokens_listing_owner`, see 0002_token_listing.sql). The owner expression
// is spelled exactly as in the index.
const LIST_ALL: &str = "SELECT * FROM tokens ORDER BY created_at DESC, id DESC LIMIT ?1";
const LIST_ALL_AFTER: &str = "SELECT * FROM tokens WHERE (created_at, id) < (?2, ?3) \
     ORDER BY created_at DESC, id DESC LIMIT ?1";
const LIST_OWNER: &str = "SELECT * FROM tokens WHERE coalesce(user_context, client_id) = ?2 \
     ORDER BY created_at DESC, id DESC LIMIT ?1";
const LIST_OWNER_AFTER: &str = "SELECT * FROM tokens \
     WHERE coalesce(user_context, client_id) = ?2 AND (created_at, id) < (?3, ?4) \
     ORDER BY created_at DESC, id DESC LIMIT ?1";

/// `UPDATE` that revokes the still-active tokens matching `$condition` and returns their hashes.
macro_rules! revoke_where {
    ($condition:literal) => {
        concat!(
            "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND ",
            $condition,
            " RETURNING token_hash"
        )
    };
}

/// An authorization code by its hash.
const SELECT_CODE: &str = "SELECT * FROM authorization_codes WHERE code_hash = ?1";

/// `SELECT` of the token records matching `$condition` (on `tokens t`) whose client still holds
/// them: it exists, is active and lists the token's service (see [`Store::token`]).
macro_rules! select_held_tokens {
    ($condition:literal) => {
        concat!(
            "SELECT t.* FROM tokens t JOIN clients c ON c.client_id = t.client_id WHERE ",
            $condition,
            " AND c.status = 'active' \
             AND EXISTS (SELECT 1 FROM json_each(c.services) WHERE value = t.service_key)"
        )
    };
}

/// Revokes the live tokens of client `?1` on the services in the JSON array `?2`.
const END_TOKENS: &str = "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND client_id = ?1 \
     AND service_key IN (SELECT value FROM json_each(?2)) RETURNING token_hash";

/// Revokes the live tokens of `client_id` on `services` in `tx`; returns their hashes.
async fn end_tokens(
    tx: &mut SqliteConnection,
    client_id: &str,
    services: &[String],
) -> Result<Vec<TokenHash>, Error> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(END_TOKENS)
        .bind(client_id)
        .bind(to_json(&services)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::store)?
        .iter()
        .map(|row| hash_from_db(&get::<String, _>(row, "token_hash")?))
        .collect()
}

#[async_trait]
impl Store for SqliteStore {
    async fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        meta_ops::meta(&self.reader, key).await
    }
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), Error> {
        meta_ops::set_meta(&self.writer, key, value).await
    }
    async fn delete_service(&self, key: &str) -> Result<bool, Error> {
        registry_ops::delete_service(&self.writer, key).await
    }
    async fn put_service(&self, s: &Service) -> Result<(), Error> {
        let grants: Vec<&str> = s.grants.iter().map(|g| g.as_str()).collect();
        let grants = to_json(&grants)?;
        let access_token_ttl = seconds_to_db(s.access_token_ttl)?;
        let refresh_token_ttl = seconds_to_db(s.refresh_token_ttl)?;
        let authorization_code_ttl = seconds_to_db(s.authorization_code_ttl)?;
        let scopes = s.scopes.as_ref().map(to_json).transpose()?;
        let s = s.clone();
        // `services` has no other unique column, so replacing the row is an upsert.
        let query = move || {
            sqlx::query(
                "INSERT OR REPLACE INTO services (key, name, access_token_ttl, refresh_tokens, \
                 refresh_token_ttl, authorization_code_ttl, token_type, grants, \
                 force_redirect_validation, allow_multiple_tokens, allow_query_tokens, \
                 scopes, any_scope, require_pkce) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .bind(s.key.clone())
            .bind(s.name.clone())
            .bind(access_token_ttl)
            .bind(s.refresh_tokens)
            .bind(refresh_token_ttl)
            .bind(authorization_code_ttl)
            .bind(s.token_type.storage_name())
            .bind(grants.clone())
            .bind(s.force_redirect_validation)
            .bind(s.allow_multiple_tokens)
            .bind(s.allow_query_tokens)
            .bind(scopes.clone())
            .bind(s.any_scope)
            .bind(s.require_pkce.as_str())
        };
        self.batched(Op::Query(Box::new(query), false)).await?;
        Ok(())
    }

    async fn service(&self, key: &str) -> Result<Option<Service>, Error> {
        sqlx::query(concat!(
            "SELECT ",
            service_columns!(""),
            " FROM services WHERE key = ?1"
        ))
        .bind(key)
        .read_optional(&self.reader)
        .await?
        .map(|row| service_from_row(&row, 0))
        .transpose()
    }

    async fn services(&self) -> Result<Vec<Service>, Error> {
        sqlx::query(concat!(
            "SELECT ",
            service_columns!(""),
            " FROM services ORDER BY key"
        ))
        .read_all(&self.reader)
        .await?
        .iter()
        .map(|row| service_from_row(row, 0))
        .collect()
    }

    async fn put_client(&self, c: &Client) -> Result<Vec<TokenHash>, Error> {
        let redirect_uris = to_json(&c.redirect_uris)?;
        let services = to_json(&c.services)?;
        let allowed_scopes = c.allowed_scopes.as_ref().map(to_json).transpose()?;
        // Not batched: the client as it was, the upsert and the tokens it ends are one
        // transaction (client changes are rare).
        let mut conn = self.writer.acquire().await.map_err(Error::store)?;
        let outcome = async {
            let mut tx = begin_immediate(&mut conn).await?;
            let before = sqlx::query(concat!(
                "SELECT ",
                client_columns!(""),
                " FROM clients WHERE id = ?1"
            ))
            .bind(c.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::store)?
            .map(|row| client_from_row(&row, 0))
            .transpose()?;
            // Upsert by id only: a `client_id` owned by another id violates its UNIQUE
            // constraint and fails (`INSERT OR REPLACE` would silently delete the other client).
            sqlx::query(
                "INSERT INTO clients (id, external_id, name, attributes, client_id, secret_hash, \
                 redirect_uris, services, status, allowed_scopes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, \
                 name = excluded.name, attributes = excluded.attributes, \
                 client_id = excluded.client_id, secret_hash = excluded.secret_hash, \
                 redirect_uris = excluded.redirect_uris, services = excluded.services, \
                 status = excluded.status, allowed_scopes = excluded.allowed_scopes",
            )
            .bind(c.id)
            .bind(c.external_id)
            .bind(&c.name)
            .bind(&c.attributes)
            .bind(&c.client_id)
            .bind(&c.secret_hash)
            .bind(redirect_uris)
            .bind(services)
            .bind(c.status.as_str())
            .bind(allowed_scopes)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?;
            let ended = match &before {
                Some(before) => {
                    end_tokens(&mut tx, &before.client_id, &before.ended_services(c)).await?
                }
                None => Vec::new(),
            };
            tx.commit().await.map_err(Error::store)?;
            Ok(ended)
        }
        .await;
        retire_if_poisoned(&mut conn, outcome)
    }

    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error> {
        let mut conn = self.writer.acquire().await.map_err(Error::store)?;
        let outcome = async {
            let mut tx = begin_immediate(&mut conn).await?;
            let Some(row) =
                sqlx::query("DELETE FROM clients WHERE client_id = ?1 RETURNING services")
                    .bind(client_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(Error::store)?
            else {
                return Ok(None);
            };
            let services: Vec<String> = from_json(&get::<String, _>(&row, "services")?)?;
            let ended = end_tokens(&mut tx, client_id, &services).await?;
            tx.commit().await.map_err(Error::store)?;
            Ok(Some(ended))
        }
        .await;
        retire_if_poisoned(&mut conn, outcome)
    }

    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        sqlx::query(concat!(
            "SELECT ",
            client_columns!(""),
            " FROM clients WHERE client_id = ?1"
        ))
        .bind(client_id)
        .read_optional(&self.reader)
        .await?
        .map(|row| client_from_row(&row, 0))
        .transpose()
    }

    async fn clients(&self) -> Result<Vec<Client>, Error> {
        sqlx::query(concat!(
            "SELECT ",
            client_columns!(""),
            " FROM clients ORDER BY id"
        ))
        .read_all(&self.reader)
        .await?
        .iter()
        .map(|row| client_from_row(row, 0))
        .collect()
    }

    async fn service_and_client(
        &self,
        key: &str,
        client_id: &str,
    ) -> Result<(Option<Service>, Option<Client>), Error> {
        // One row whatever exists: each side is all NULL when its record is missing (`key`
        // and `client_id` are never NULL in a stored record).
        let row = sqlx::query(concat!(
            "SELECT ",
            service_columns!("s."),
            ", ",
            client_columns!("c."),
            " FROM (SELECT 1) LEFT JOIN services s ON s.key = ?1 \
             LEFT JOIN clients c ON c.client_id = ?2"
        ))
        .bind(key)
        .bind(client_id)
        .read_optional(&self.reader)
        .await?
        .ok_or_else(|| Error::store("no row from the service and client lookup"))?;
        let service = match get::<Option<String>, _>(&row, 0)? {
            Some(_) => Some(service_from_row(&row, 0)?),
            None => None,
        };
        let client = match get::<Option<i64>, _>(&row, SERVICE_COLUMNS)? {
            Some(_) => Some(client_from_row(&row, SERVICE_COLUMNS)?),
            None => None,
        };
        Ok((service, client))
    }

    async fn insert_code(&self, c: &AuthorizationCode) -> Result<(), Error> {
        let c = c.clone();
        let query = move || {
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, service_key, client_id, \
                 redirect_uri, scope, user_context, pkce_challenge, expires_at, used) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
        };
        self.batched(Op::Query(Box::new(query), false)).await?;
        Ok(())
    }

    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error> {
        sqlx::query(SELECT_CODE)
            .bind(code_hash.to_hex())
            .fetch_optional(&self.reader)
            .await
            .map_err(Error::store)?
            .map(|row| code_from_row(&row))
            .transpose()
    }

    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error> {
        let hex = code_hash.to_hex();
        let mut conn = self.writer.acquire().await.map_err(Error::store)?;
        let outcome = async {
            let mut tx = begin_immediate(&mut conn).await?;
            // Only the caller whose UPDATE flips `used` gets the row back.
            let won = sqlx::query(
                "UPDATE authorization_codes SET used = 1 WHERE code_hash = ?1 AND used = 0 \
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
        .await;
        retire_if_poisoned(&mut conn, outcome)
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        self.batched(Op::Token(Box::new(token.clone()))).await?;
        Ok(())
    }

    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error> {
        sqlx::query(select_held_tokens!("t.token_hash = ?1"))
            .bind(token_hash.to_hex())
            .read_optional(&self.reader)
            .await?
            .map(|row| token_from_row(&row))
            .transpose()
    }

    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        if token_hashes.is_empty() {
            return Ok(Vec::new());
        }
        // The hashes travel as one JSON array: one statement in the cache whatever the list's
        // length, and no limit on bound variables to chunk at. `IN` probes the primary key
        // once per distinct hash.
        let hexes: Vec<String> = token_hashes.iter().map(TokenHash::to_hex).collect();
        let list = serde_json::to_string(&hexes).map_err(Error::store)?;
        sqlx::query(select_held_tokens!(
            "t.token_hash IN (SELECT value FROM json_each(?1))"
        ))
        .bind(list)
        .fetch_all(&self.reader)
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
        sqlx::query(select_held_tokens!("t.refresh_hash = ?1"))
            .bind(refresh_hash.to_hex())
            .read_optional(&self.reader)
            .await?
            .map(|row| token_from_row(&row))
            .transpose()
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error> {
        let hex = refresh_hash.to_hex();
        let mut conn = self.writer.acquire().await.map_err(Error::store)?;
        let outcome = async {
            let mut tx = begin_immediate(&mut conn).await?;
            let marked = sqlx::query(
                "UPDATE tokens SET refresh_used = 1 WHERE refresh_hash = ?1 AND refresh_used = 0",
            )
            .bind(&hex)
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?
            .rows_affected();
            if marked == 0 {
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM tokens WHERE refresh_hash = ?1)",
                )
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
        .await;
        retire_if_poisoned(&mut conn, outcome)
    }

    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        // One statement, so one implicit transaction (or one savepoint-free part of a batch).
        let query: WriteQuery = match which {
            Revocation::Token(hash) => {
                let hex = hash.to_hex();
                Box::new(move || sqlx::query(revoke_where!("token_hash = ?1")).bind(hex.clone()))
            }
            Revocation::Family(family_id) => {
                let family_id = family_id.to_owned();
                Box::new(move || {
                    sqlx::query(revoke_where!("family_id = ?1")).bind(family_id.clone())
                })
            }
            Revocation::Code(hash) => {
                let hex = hash.to_hex();
                Box::new(move || sqlx::query(revoke_where!("code_hash = ?1")).bind(hex.clone()))
            }
            Revocation::UserApplication {
                service_key,
                client_id,
                user_context,
            } => {
                let (service_key, client_id) = (service_key.to_owned(), client_id.to_owned());
                let user_context = user_context.map(str::to_owned);
                Box::new(move || {
                    sqlx::query(revoke_where!(
                        "service_key = ?1 AND client_id = ?2 AND user_context IS ?3"
                    ))
                    .bind(service_key.clone())
                    .bind(client_id.clone())
                    .bind(user_context.clone())
                })
            }
        };
        Ok(self.batched(Op::Query(query, true)).await?.hashes())
    }

    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error> {
        let hex = token_hash.to_hex();
        let update = update.clone();
        let query = move || {
            sqlx::query(
                "UPDATE tokens SET scope = coalesce(?2, scope), \
                 expires_at = coalesce(?3, expires_at), \
                 user_context = coalesce(?4, user_context) WHERE token_hash = ?1",
            )
            .bind(hex.clone())
            .bind(update.scope.clone())
            .bind(update.expires_at)
            .bind(update.user_context.clone())
        };
        Ok(self
            .batched(Op::Query(Box::new(query), false))
            .await?
            .rows()
            > 0)
    }

    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error> {
        sqlx::query(
            "SELECT * FROM tokens WHERE service_key = ?1 AND user_context = ?2 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(service_key)
        .bind(user_context)
        .read_all(&self.reader)
        .await?
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
            .read_all(&self.reader)
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error> {
        let mut conn = self.writer.acquire().await.map_err(Error::store)?;
        let outcome = async {
            let mut tx = begin_immediate(&mut conn).await?;
            // The expression matches the `tokens_purge` index.
            let tokens = sqlx::query(
                "DELETE FROM tokens WHERE rowid IN (SELECT rowid FROM tokens \
                 WHERE max(expires_at, coalesce(refresh_expires_at, expires_at)) < ?1 LIMIT ?2)",
            )
            .bind(before)
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await
            .map_err(Error::store)?
            .rows_affected();
            let codes = sqlx::query(
                "DELETE FROM authorization_codes WHERE rowid IN (SELECT rowid \
                 FROM authorization_codes WHERE expires_at < ?1 LIMIT ?2)",
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
        .await;
        retire_if_poisoned(&mut conn, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `synchronous` is per connection, so check it on connections of both pools.
    #[tokio::test]
    async fn every_pooled_connection_is_wal_and_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        for pool in [&store.writer, &store.reader] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(sync, 2, "synchronous=FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(fk, 1);
        }
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// `busy_timeout` is taken out of the URL (SQLite refuses parameters it does not know)
    /// and set on every connection and as the pools' acquire timeout; SQLite's own
    /// parameters stay.
    #[tokio::test]
    async fn the_busy_timeout_comes_from_the_url() {
        assert_eq!(
            split_busy_timeout("sqlite://t.db").unwrap(),
            ("sqlite://t.db".to_owned(), BUSY_TIMEOUT)
        );
        assert_eq!(
            split_busy_timeout("sqlite://t.db?mode=rwc&busy_timeout=250ms").unwrap(),
            (
                "sqlite://t.db?mode=rwc".to_owned(),
                Duration::from_millis(250)
            )
        );
        assert_eq!(
            split_busy_timeout("sqlite:t.db?busy_timeout=2").unwrap(),
            ("sqlite:t.db".to_owned(), Duration::from_secs(2))
        );
        let err = split_busy_timeout("sqlite://t.db?busy_timeout=soon").unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("busy_timeout"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc&busy_timeout=250ms",
            dir.path().join("t.db").display()
        );
        let store = SqliteStore::open(&url).await.unwrap();
        for pool in [&store.writer, &store.reader] {
            let millis: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(millis, 250);
            assert_eq!(
                pool.options().get_acquire_timeout(),
                Duration::from_millis(250)
            );
        }
    }

    fn record(n: u8) -> TokenRecord {
        TokenRecord {
            id: format!("id-{n}"),
            token_hash: TokenHash::of(&format!("token-{n}")),
            service_key: "svc".into(),
            client_id: "app".into(),
            token_type: TokenType::Bearer,
            grant_type: crate::model::GrantType::ClientCredentials,
            scope: None,
            user_context: None,
            created_at: 1,
            expires_at: i64::MAX,
            revoked: false,
            refresh: None,
            family_id: format!("id-{n}"),
            code_hash: None,
        }
    }

    /// A store in a temporary directory (kept as long as the guard) with the client that holds
    /// every `record(n)` (a token is only found while its client holds it).
    async fn store_with_client() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        let client = Client {
            id: 1,
            external_id: None,
            name: "App".into(),
            attributes: None,
            client_id: "app".into(),
            secret_hash: None,
            redirect_uris: vec![],
            services: vec!["svc".into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        };
        store.put_client(&client).await.unwrap();
        (dir, store)
    }

    /// [`store_with_client`] holding `record(0)`.
    async fn store_holding_record_0() -> (tempfile::TempDir, SqliteStore) {
        let (dir, store) = store_with_client().await;
        store.insert_token(&record(0)).await.unwrap();
        (dir, store)
    }

    type Answer = oneshot::Receiver<Result<Written, Error>>;

    /// A token-insert job for each record, and where each one's answer arrives.
    fn token_jobs<'a>(
        records: impl IntoIterator<Item = &'a TokenRecord>,
    ) -> (Vec<Job>, Vec<Answer>) {
        records
            .into_iter()
            .map(|record| {
                let (ack, answer) = oneshot::channel();
                let op = Op::Token(Box::new(record.clone()));
                (Job { op, ack }, answer)
            })
            .unzip()
    }

    /// One batch with a duplicate in the middle: the duplicate fails, the others commit, and
    /// every answer is sent only after the commit.
    #[tokio::test]
    async fn a_failing_statement_fails_alone_in_its_batch() {
        let (_dir, store) = store_holding_record_0().await;
        let records = [1, 2, 0, 3].map(record);
        let (mut jobs, answers) = token_jobs(&records);
        let (ack, answer) = oneshot::channel();
        let hex = record(1).token_hash.to_hex();
        jobs.push(Job {
            op: Op::Query(
                Box::new(move || sqlx::query(revoke_where!("token_hash = ?1")).bind(hex.clone())),
                true,
            ),
            ack,
        });
        commit_batch(&store.writer, &mut jobs).await;
        assert!(jobs.is_empty());
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap().map(Written::rows));
        }
        assert!(matches!(results[0], Ok(1)));
        assert!(matches!(results[1], Ok(1)));
        assert!(results[2].as_ref().unwrap_err().is_store());
        assert!(matches!(results[3], Ok(1)));
        let revoked = answer.await.unwrap().unwrap().hashes();
        assert_eq!(revoked, vec![record(1).token_hash]);
        for n in 0..4 {
            let stored = store.token(&record(n).token_hash).await.unwrap().unwrap();
            assert_eq!(stored.revoked, n == 1);
        }
    }

    /// A batch of token inserts alone goes in one statement; a duplicate among them fails that
    /// statement, and then only the duplicate fails: the others are committed and say so.
    #[tokio::test]
    async fn a_duplicate_in_a_batch_of_token_inserts_fails_alone() {
        let (_dir, store) = store_holding_record_0().await;
        let records = [1, 2, 0, 3].map(record);
        let (mut jobs, answers) = token_jobs(&records);
        commit_batch(&store.writer, &mut jobs).await;
        assert!(jobs.is_empty());
        for (answer, n) in answers.into_iter().zip([1, 2, 0, 3]) {
            let result = answer.await.unwrap();
            if n == 0 {
                assert!(matches!(result, Err(e) if e.is_store()));
            } else {
                assert!(matches!(result, Ok(Written::Rows(1))), "token {n}");
            }
        }
        for n in 0..4 {
            assert_eq!(
                store.token(&record(n).token_hash).await.unwrap(),
                Some(record(n))
            );
        }
    }

    /// A batch of more token inserts than one statement takes is committed whole.
    #[tokio::test]
    async fn a_batch_larger_than_one_insert_statement_is_committed_whole() {
        let (_dir, store) = store_with_client().await;
        let count = TOKENS_PER_INSERT * 2 + 3;
        let records: Vec<TokenRecord> = (0..count)
            .map(|n| TokenRecord {
                id: format!("id-{n}"),
                token_hash: TokenHash::of(&format!("many-{n}")),
                scope: Some("read write".into()),
                user_context: (n % 2 == 0).then(|| format!("user-{n}")),
                refresh: (n % 3 == 0).then(|| RefreshState {
                    hash: TokenHash::of(&format!("refresh-{n}")),
                    expires_at: 5,
                    used: false,
                }),
                code_hash: (n % 5 == 0).then(|| TokenHash::of(&format!("code-{n}"))),
                ..record(0)
            })
            .collect();
        let (mut jobs, answers) = token_jobs(&records);
        commit_batch(&store.writer, &mut jobs).await;
        for answer in answers {
            assert!(matches!(answer.await.unwrap(), Ok(Written::Rows(1))));
        }
        for r in &records {
            assert_eq!(store.token(&r.token_hash).await.unwrap().as_ref(), Some(r));
        }
    }

    /// The listing queries walk an index in order: no full scan, no sort of the whole table.
    #[tokio::test]
    async fn listing_queries_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        for (sql, index) in [
            (LIST_ALL, "tokens_listing"),
            (LIST_ALL_AFTER, "tokens_listing"),
            (LIST_OWNER, "tokens_listing_owner"),
            (LIST_OWNER_AFTER, "tokens_listing_owner"),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(explain))
                .bind(10_i64)
                .bind("alice")
                .bind(0_i64)
                .bind("id")
                .fetch_all(&store.reader)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect();
            let plan = plan.join("; ");
            let uses = plan.split("; ").any(|step| {
                step.contains(&format!("USING INDEX {index} "))
                    || step.ends_with(&format!("USING INDEX {index}"))
            });
            assert!(uses, "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }
}
