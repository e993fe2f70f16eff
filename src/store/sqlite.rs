//! The embedded SQLite [`Store`]: the durable default.

use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Sqlite;
use tokio::sync::{mpsc, oneshot};

#[cfg(doc)]
use super::Store;
use super::{parse_duration, sql};
use crate::resolve::TokenCache;
use crate::Error;
use group_commit::{group_commit, Job, Op, Written, QUEUE};

mod failure;
mod feed;
mod group_commit;
mod operations;
mod statements;

pub use feed::{ChangeFeed, ChangeFeedStats};

/// The schema migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_init.sql"),
    include_str!("sqlite/0002_token_listing.sql"),
    include_str!("sqlite/0003_token_validity.sql"),
    include_str!("sqlite/0004_issuance_policy.sql"),
    include_str!("sqlite/0005_meta.sql"),
    include_str!("sqlite/0006_previous_secrets.sql"),
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
        let writer = open_writer(&options, busy_timeout).await?;
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

/// The writer pool, connected (the file switched to WAL) and migrated. Several processes
/// opening one new file at once can be told `SQLITE_BUSY` at once, without the busy timeout
/// (the switch to WAL, or a lock upgrade SQLite refuses rather than risk a deadlock): such an
/// open is tried again until the busy timeout has passed.
async fn open_writer(
    options: &SqliteConnectOptions,
    busy_timeout: Duration,
) -> Result<SqlitePool, Error> {
    let started = std::time::Instant::now();
    loop {
        let opened = async {
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(busy_timeout)
                .connect_with(options.clone())
                .await
                .map_err(Error::store)?;
            migrate(&writer).await?;
            Ok::<_, Error>(writer)
        }
        .await;
        match opened {
            Err(e) if is_busy(&e) && started.elapsed() < busy_timeout => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            opened => return opened,
        }
    }
}

/// Whether `e` is SQLite's `SQLITE_BUSY` (5) or `SQLITE_LOCKED` (6), primary or extended.
fn is_busy(e: &Error) -> bool {
    let Some(sqlx::Error::Database(db)) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<sqlx::Error>())
    else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xFF, 5 | 6))
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
    sql::migrate::apply::<Sqlite>(&mut tx, version, MIGRATIONS, async |conn, version| {
        // PRAGMA takes no bound parameters; the value is our own integer.
        let set_version = format!("PRAGMA user_version = {version}");
        sqlx::query(sqlx::AssertSqlSafe(set_version))
            .execute(conn)
            .await
            .map_err(Error::store)?;
        Ok(())
    })
    .await?;
    tx.commit().await.map_err(Error::store)
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
}
