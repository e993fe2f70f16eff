//! The PostgreSQL test database, shared by the test files that need one (`#[path]`-included).
//!
//! The database is named by `TOKENGATE_TEST_POSTGRES_URL` (`.ci/run` sets it). Without it each
//! PostgreSQL test says `skipped: TOKENGATE_TEST_POSTGRES_URL not set` on stderr and passes.
//! Each [`TestDb`] is a fresh, uniquely named schema with a NOTIFY channel of its own, dropped
//! when the `TestDb` is; a [`TestDatabase`] is a whole database, for tests that act on every
//! connection to it. Schemas and databases left by killed runs are dropped after an hour.
#![allow(dead_code)]

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokengate::store::{PostgresOptions, PostgresStore};

/// The environment variable naming the test database.
pub const ENV: &str = "TOKENGATE_TEST_POSTGRES_URL";

/// The test database's URL; `None` when `TOKENGATE_TEST_POSTGRES_URL` is not set, after saying
/// that the calling test is skipped. Written straight to stderr, past the test harness's output
/// capture, so the skip shows in every run.
pub fn url_or_skip() -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let thread = std::thread::current();
            let test = thread.name().unwrap_or("a PostgreSQL test");
            let _ = writeln!(std::io::stderr(), "skipped: {ENV} not set ({test})");
            None
        }
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

/// Runs `sql` on the test database at `url` from a thread of its own, ignoring failures: for
/// `drop`, which cannot await and may run inside the test's runtime.
fn execute_on_the_side(url: &str, sql: String) {
    let url = url.to_owned();
    let running = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let options = PgConnectOptions::from_str(&url).unwrap();
            if let Ok(mut conn) = PgConnection::connect_with(&options).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        });
    });
    let _ = running.join();
}

impl TestDb {
    /// A new schema name, or `None` (test skipped) without a test database. The schema is
    /// created by the first store that connects.
    pub fn new() -> Option<TestDb> {
        let url = url_or_skip()?;
        let schema = unique_name("tg_test_");
        Some(TestDb { url, schema })
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
    /// Creates one, or returns `None` (test skipped) without a test database.
    pub async fn create() -> Option<TestDatabase> {
        let url = url_or_skip()?;
        let database = TestDatabase {
            url,
            name: unique_name(DATABASE_PREFIX),
        };
        let mut admin = database.admin().await;
        database.sweep_stale_databases(&mut admin).await;
        let create = format!("CREATE DATABASE {}", database.name);
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        Some(database)
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
