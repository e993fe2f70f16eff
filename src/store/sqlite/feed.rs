//! [`ChangeFeed`]: the SQLite change feed. Every change to a token that a cache may hold is
//! written to the `token_changes` table by a trigger, in the transaction that makes it, whichever
//! process makes it (see `0003_token_validity.sql`); every process's feed polls the table and
//! evicts those tokens from its [`TokenCache`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::resolve::TokenCache;
use crate::secret::TokenHash;

/// How often the feed asks `PRAGMA data_version` whether another connection committed.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Changes read per query.
const PAGE: i64 = 1000;

/// Wait before reopening the feed's connection after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Counters of a [`ChangeFeed`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeFeedStats {
    /// Polls that found another connection had committed, and read the table.
    pub reads: u64,
    /// Token hashes read from the table and evicted.
    pub evicted: u64,
    /// Whole-cache flushes: at start, and when changes this feed had not read could no longer
    /// be read (pruned, or the file replaced).
    pub flushes: u64,
}

#[derive(Default)]
struct Shared {
    reads: AtomicU64,
    evicted: AtomicU64,
    flushes: AtomicU64,
}

/// Polls a SQLite file's change feed and evicts every changed token from a [`TokenCache`].
///
/// * One connection of its own. Every 100 ms it runs `PRAGMA data_version`,
///   which changes only when another connection (any process) has committed: when nothing
///   changes, a poll is that one pragma, answered from memory.
/// * When it changes, the feed reads the `token_changes` rows after the last one it saw and
///   evicts their tokens. A change is therefore evicted at most one poll interval plus one
///   read after its commit.
/// * The table keeps the last 100 000 changes. When changes this feed has not read can no
///   longer be read (pruned because it fell that far behind, or the file was replaced by
///   another), the whole cache is flushed, as it is when the feed starts: a change is never
///   missed silently.
/// * When its connection fails (the file unreadable), the feed reopens it every second and then
///   catches up from the last change it read; the cache keeps serving meanwhile, so during such
///   an outage the bound is the cache's TTL, as for any store outage.
/// * Dropping the feed stops it.
///
/// Started by [`crate::store::SqliteStore::subscribe`].
pub struct ChangeFeed {
    shared: Arc<Shared>,
    ready: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChangeFeed {
    pub(super) fn spawn(options: SqliteConnectOptions, cache: TokenCache) -> Self {
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready) = watch::channel(false);
        let run = Run {
            options,
            cache,
            shared: shared.clone(),
            ready: ready_tx,
        };
        ChangeFeed {
            shared,
            ready,
            task: tokio::spawn(run.run()),
        }
    }

    /// Waits until the feed is polling (returns at once if it is).
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        // The sender lives as long as the task, which runs until this feed is dropped.
        let _ = ready.wait_for(|up| *up).await;
    }

    /// The counters so far.
    pub fn stats(&self) -> ChangeFeedStats {
        let s = &self.shared;
        ChangeFeedStats {
            reads: s.reads.load(Ordering::Relaxed),
            evicted: s.evicted.load(Ordering::Relaxed),
            flushes: s.flushes.load(Ordering::Relaxed),
        }
    }
}

/// The polling task.
struct Run {
    options: SqliteConnectOptions,
    cache: TokenCache,
    shared: Arc<Shared>,
    ready: watch::Sender<bool>,
}

/// Where the feed is: the connection's last `data_version` and the last change read.
struct Position {
    data_version: i64,
    seq: i64,
}

impl Run {
    async fn run(self) {
        // The last change read, once the feed has started.
        let mut read_up_to: Option<i64> = None;
        loop {
            let failure = match self.open(read_up_to).await {
                Ok((mut conn, mut at)) => {
                    self.ready.send_replace(true);
                    loop {
                        tokio::time::sleep(POLL_INTERVAL).await;
                        let polled = self.poll(&mut conn, &mut at).await;
                        read_up_to = Some(at.seq);
                        if let Err(e) = polled {
                            break e;
                        }
                    }
                }
                Err(e) => e,
            };
            self.ready.send_replace(false);
            tracing::warn!(error = %failure, "SQLite change feed failed; reopening, then catching up");
            tokio::time::sleep(RETRY).await;
        }
    }

    fn flush(&self) {
        self.cache.invalidate_all();
        self.shared.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// Opens the feed's connection. The first time, the cache is flushed (entries cached before
    /// may predate a change this feed did not see) and reading starts after the last change;
    /// after a failure, it catches up from `read_up_to`.
    async fn open(
        &self,
        read_up_to: Option<i64>,
    ) -> Result<(SqliteConnection, Position), sqlx::Error> {
        let mut conn = SqliteConnection::connect_with(&self.options).await?;
        let data_version = data_version(&mut conn).await?;
        let mut at = Position {
            data_version,
            seq: 0,
        };
        match read_up_to {
            Some(seq) => {
                at.seq = seq;
                self.read(&mut conn, &mut at).await?;
            }
            None => {
                at.seq = last_seq(&mut conn).await?;
                self.flush();
            }
        }
        Ok((conn, at))
    }

    /// One poll: nothing unless another connection committed since the last one.
    async fn poll(
        &self,
        conn: &mut SqliteConnection,
        at: &mut Position,
    ) -> Result<(), sqlx::Error> {
        let version = data_version(conn).await?;
        if version == at.data_version {
            return Ok(());
        }
        at.data_version = version;
        self.read(conn, at).await
    }

    /// Evicts every change after `at.seq`, or flushes the cache when some can no longer be
    /// read: pruned (this feed fell too far behind) or never there (the file was replaced by
    /// another, whose changes end before the last one read).
    async fn read(
        &self,
        conn: &mut SqliteConnection,
        at: &mut Position,
    ) -> Result<(), sqlx::Error> {
        self.shared.reads.fetch_add(1, Ordering::Relaxed);
        let (oldest, newest): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT min(seq), max(seq) FROM token_changes")
                .fetch_one(&mut *conn)
                .await?;
        let newest = newest.unwrap_or(0);
        if oldest.is_some_and(|oldest| oldest > at.seq + 1) || newest < at.seq {
            // Whatever the changes this feed cannot read were, drop it all.
            at.seq = newest;
            self.flush();
            return Ok(());
        }
        loop {
            let rows = sqlx::query(
                "SELECT seq, token_hash FROM token_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .bind(at.seq)
            .bind(PAGE)
            .fetch_all(&mut *conn)
            .await?;
            let mut hashes = Vec::with_capacity(rows.len());
            for row in &rows {
                at.seq = row.try_get("seq")?;
                let hex: String = row.try_get("token_hash")?;
                match TokenHash::from_hex(&hex) {
                    Some(hash) => hashes.push(hash),
                    // Not written by tokengate: whatever it meant, drop it all.
                    None => self.flush(),
                }
            }
            self.cache.invalidate_hashes(&hashes);
            self.shared
                .evicted
                .fetch_add(hashes.len() as u64, Ordering::Relaxed);
            if (rows.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }
}

async fn last_seq(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM token_changes")
        .fetch_one(conn)
        .await
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}
