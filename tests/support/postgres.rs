//! The PostgreSQL test database, shared by the test files that need one (`#[path]`-included).
//!
//! The database is named by `TOKENGATE_TEST_POSTGRES_URL` (`.ci/run` sets it). Without it each
//! PostgreSQL test says `skipped: TOKENGATE_TEST_POSTGRES_URL not set` on stderr and passes.
//! Each [`TestDb`] is a fresh, uniquely named schema with a NOTIFY channel of its own, dropped
//! when the `TestDb` is; schemas left by killed runs are dropped after an hour.
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

impl TestDb {
    /// A new schema name, or `None` (test skipped) without a test database. The schema is
    /// created by the first store that connects.
    pub fn new() -> Option<TestDb> {
        let url = url_or_skip()?;
        let schema = format!(
            "tg_test_{}_{}_{}",
            unix_secs(),
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
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
        let cutoff = unix_secs().saturating_sub(STALE_SECS);
        for name in names {
            let created = name
                .strip_prefix("tg_test_")
                .and_then(|rest| rest.split('_').next())
                .and_then(|secs| secs.parse::<u64>().ok());
            if created.is_some_and(|secs| secs < cutoff) {
                let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

impl Drop for TestDb {
    /// Drops the schema, on a thread of its own: `drop` cannot await, and may run inside the
    /// test's runtime.
    fn drop(&mut self) {
        let url = self.url.clone();
        let schema = self.schema.clone();
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let options = PgConnectOptions::from_str(&url).unwrap();
                if let Ok(mut conn) = PgConnection::connect_with(&options).await {
                    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropping.join();
    }
}
