//! The PostgreSQL test database, shared by the test files that need one (`#[path]`-included).
//!
//! The database is named by `TOKENGATE_TEST_POSTGRES_URL`, or is the local default
//! [`DEFAULT_URL`] (PostgreSQL on 127.0.0.1:5432, database `test`, created there when it is
//! missing). A PostgreSQL test never passes without its database: when the database does not
//! answer, every PostgreSQL test **fails**, naming the URL and how to run without them (the
//! tests are part of the `postgres` feature: `cargo test` without `--all-features` leaves them
//! out, and they are then not counted at all). libtest has no way to mark a test skipped at
//! run time, and counting a test that asserted nothing as passed is what this module refuses.
//!
//! Each [`TestDb`] is a fresh, uniquely named schema with a NOTIFY channel of its own, dropped
//! when the `TestDb` is; a [`TestDatabase`] is a whole database, for tests that act on every
//! connection to it. Schemas and databases left by killed runs are dropped after an hour.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokengate::store::{PostgresOptions, PostgresStore};

/// The environment variable naming the test database.
pub const ENV: &str = "TOKENGATE_TEST_POSTGRES_URL";

/// The test database when [`ENV`] is not set: the local server these machines run.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long the first connection may take before the database counts as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The test database's URL, after checking (once per test process) that it answers. Panics,
/// failing the calling test with the reason, when it does not.
pub fn url() -> String {
    static PROBED: OnceLock<Result<String, String>> = OnceLock::new();
    match PROBED.get_or_init(probe) {
        Ok(url) => url.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// The configured URL, connected to once; with the default URL a missing database is created.
fn probe() -> Result<String, String> {
    let (url, configured) = match std::env::var(ENV) {
        Ok(url) if !url.trim().is_empty() => (url, true),
        _ => (DEFAULT_URL.to_owned(), false),
    };
    let shown = without_password(&url);
    let checked = url.clone();
    let outcome = on_the_side(async move {
        let options = PgConnectOptions::from_str(&checked).map_err(|e| e.to_string())?;
        let connect = |options: PgConnectOptions| async move {
            match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&options)).await {
                Ok(connected) => connected,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            }
        };
        match connect(options.clone()).await {
            Ok(conn) => conn.close().await.map_err(|e| e.to_string()),
            Err(e) if !configured && is_missing_database(&e) => {
                let database = options.get_database().unwrap_or("test").to_owned();
                let mut admin = connect(options.database("postgres"))
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
                    .execute(&mut admin)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    });
    match outcome {
        Ok(()) => Ok(url),
        Err(reason) => {
            let source = if configured {
                format!("{ENV}={shown}")
            } else {
                format!("{shown} (the default; {ENV} is not set)")
            };
            Err(format!(
                "PostgreSQL test database {source} does not answer: {reason}. \
                 This is a PostgreSQL test: it fails rather than pass without its database. \
                 Start PostgreSQL there, point {ENV} at one, or run the tests without the \
                 `postgres` feature (`cargo test`), which leaves these tests out."
            ))
        }
    }
}

/// Whether `error` is PostgreSQL's "database does not exist" (SQLSTATE 3D000).
fn is_missing_database(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "3D000")
}

/// `url` with its password, if any, replaced by `***`, for messages.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A fresh schema (and NOTIFY channel) in the test database.
pub struct TestDb {
    url: String,
    schema: String,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);
static SWEPT: AtomicBool = AtomicBool::new(false);

/// Schemas of earlier runs older than this are dropped.
const STALE_SECS: u64 = 3600;

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A name no other test (of this run or another) uses: `{prefix}{unix secs}_{pid}_{n}`.
fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}_{}_{}",
        unix_secs(),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether `name` (made by [`unique_name`] with `prefix`) is older than [`STALE_SECS`].
fn is_stale(name: &str, prefix: &str) -> bool {
    let cutoff = unix_secs().saturating_sub(STALE_SECS);
    name.strip_prefix(prefix)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|secs| secs < cutoff)
}

/// Runs `work` to completion on a thread and runtime of its own: for code that cannot await
/// (`drop`, the probe), which may be called inside the test's runtime.
fn on_the_side<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
    .expect("the side thread panicked")
}

/// Runs `sql` on the test database at `url`, ignoring failures: for `drop`.
fn execute_on_the_side(url: &str, sql: String) {
    let url = url.to_owned();
    on_the_side(async move {
        let options = PgConnectOptions::from_str(&url).unwrap();
        if let Ok(mut conn) = PgConnection::connect_with(&options).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    });
}

impl TestDb {
    /// A new schema name in the test database (the test fails if [`url`] does). The schema
    /// is created by the first store that connects.
    pub fn new() -> TestDb {
        TestDb {
            url: url(),
            schema: unique_name("tg_test_"),
        }
    }

    /// The options every node of this test uses: its schema and its channel.
    pub fn options(&self) -> PostgresOptions {
        PostgresOptions::new()
            .schema(&self.schema)
            .channel(&self.schema)
    }

    /// A new node: a store with a pool of its own.
    pub async fn store(&self) -> PostgresStore {
        self.sweep_stale_schemas().await;
        PostgresStore::connect_with(&self.url, self.options())
            .await
            .expect("connect to the test database")
    }

    /// A plain connection to the test database, searching this test's schema.
    pub async fn connection(&self) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", &self.schema)]);
        PgConnection::connect_with(&options)
            .await
            .expect("connect to the test database")
    }

    /// The test database's URL naming this test's schema and channel, as `store.url` of a
    /// `tokengate serve` configuration.
    pub fn store_url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let schema = &self.schema;
        format!("{}{separator}schema={schema}&channel={schema}", self.url)
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the `tg_test_*` schemas of runs older than [`STALE_SECS`] (once per process).
    async fn sweep_stale_schemas(&self) {
        if SWEPT.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut conn = self.connection().await;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tg\\_test\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        for name in names {
            if is_stale(&name, "tg_test_") {
                let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

impl Drop for TestDb {
    /// Drops the schema.
    fn drop(&mut self) {
        let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        execute_on_the_side(&self.url, drop);
    }
}

/// A fresh database on the test server (`tg_testdb_<time>_<pid>_<n>`), for a test that acts
/// on every connection to it (refuses them, kills their backends) without touching anyone
/// else's. Dropped, with whatever is still connected, when the `TestDatabase` is.
pub struct TestDatabase {
    /// The test database's URL: where this one is created and dropped from.
    url: String,
    name: String,
}

const DATABASE_PREFIX: &str = "tg_testdb_";

impl TestDatabase {
    /// Creates one (the test fails if [`url`] does).
    pub async fn create() -> TestDatabase {
        let database = TestDatabase {
            url: url(),
            name: unique_name(DATABASE_PREFIX),
        };
        let mut admin = database.admin().await;
        database.sweep_stale_databases(&mut admin).await;
        let create = format!("CREATE DATABASE {}", database.name);
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        database
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database: the test database's, with this one's name.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.url).expect("a valid test database URL");
        url.set_path(&self.name);
        url.to_string()
    }

    /// A connection to the test database (not this one), to act on this one from outside.
    pub async fn admin(&self) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.url).unwrap();
        PgConnection::connect_with(&options)
            .await
            .expect("connect to the test database")
    }

    /// Drops the `tg_testdb_*` databases of runs older than [`STALE_SECS`] (once per process).
    async fn sweep_stale_databases(&self, admin: &mut PgConnection) {
        static SWEPT: AtomicBool = AtomicBool::new(false);
        if SWEPT.swap(true, Ordering::Relaxed) {
            return;
        }
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'tg\\_testdb\\_%'",
        )
        .fetch_all(&mut *admin)
        .await
        .unwrap_or_default();
        for name in names.iter().filter(|name| is_stale(name, DATABASE_PREFIX)) {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut *admin)
                .await;
        }
    }
}

impl Drop for TestDatabase {
    /// Drops the database, closing what is still connected to it.
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        execute_on_the_side(&self.url, drop);
    }
}
