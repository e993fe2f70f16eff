//! What a SQLite failure says beyond its statement: whether the connection can still be
//! trusted, and whether every other statement would fail the same way right now.

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow};
use sqlx::Sqlite;

use crate::Error;

// SQLite's primary result codes (https://sqlite.org/rescode.html).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;
const SQLITE_NOTADB: i64 = 26;

/// The primary result code of a database error (the low byte of the extended code sqlx
/// reports).
fn primary_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db) => db.code()?.parse::<i64>().ok().map(|code| code & 0xff),
        _ => None,
    }
}

/// Whether the failure may have left the connection unusable: SQLite could not read the
/// file, or read something that is not a database. What it read stays in the connection's
/// page cache, which in WAL mode is only invalidated when some connection writes, so the
/// connection could keep failing after the file is readable again. Such a connection is
/// closed rather than returned to the pool; a new one reads the file afresh.
pub(super) fn poisons_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        _ => matches!(
            primary_code(e),
            Some(SQLITE_IOERR | SQLITE_CORRUPT | SQLITE_CANTOPEN | SQLITE_PROTOCOL | SQLITE_NOTADB)
        ),
    }
}

/// Whether the failure is the database's rather than the statement's (locked by another
/// connection past the busy timeout, unreadable, read-only, full, or no connection to be
/// had): every other write would fail the same way now.
pub(super) fn is_database_wide(e: &sqlx::Error) -> bool {
    poisons_connection(e)
        || matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        || matches!(
            primary_code(e),
            Some(SQLITE_BUSY | SQLITE_LOCKED | SQLITE_READONLY | SQLITE_FULL)
        )
}

/// `result`, after closing `conn` (instead of returning it to the pool) when the failure may
/// have poisoned it.
pub(super) fn retire_if_poisoned<T>(
    conn: &mut PoolConnection<Sqlite>,
    result: Result<T, Error>,
) -> Result<T, Error> {
    if let Err(e) = &result {
        let cause = std::error::Error::source(e).and_then(|s| s.downcast_ref::<sqlx::Error>());
        if cause.is_some_and(poisons_connection) {
            conn.close_on_drop();
        }
    }
    result
}

/// Reads on a pool that close a connection a failure may have poisoned.
pub(super) trait Read {
    /// At most one row.
    fn read_optional(
        self,
        pool: &SqlitePool,
    ) -> impl Future<Output = Result<Option<SqliteRow>, Error>> + Send;
    /// Every row.
    fn read_all(
        self,
        pool: &SqlitePool,
    ) -> impl Future<Output = Result<Vec<SqliteRow>, Error>> + Send;
}

impl Read for Query<'_, Sqlite, SqliteArguments> {
    async fn read_optional(self, pool: &SqlitePool) -> Result<Option<SqliteRow>, Error> {
        let mut conn = pool.acquire().await.map_err(Error::store)?;
        let row = self.fetch_optional(&mut *conn).await.map_err(Error::store);
        retire_if_poisoned(&mut conn, row)
    }

    async fn read_all(self, pool: &SqlitePool) -> Result<Vec<SqliteRow>, Error> {
        let mut conn = pool.acquire().await.map_err(Error::store)?;
        let rows = self.fetch_all(&mut *conn).await.map_err(Error::store);
        retire_if_poisoned(&mut conn, rows)
    }
}
