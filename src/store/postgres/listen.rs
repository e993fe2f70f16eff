//! [`RevocationListener`]: pushed revocations. Every node publishes the hashes it revokes or
//! updates with `NOTIFY`; every node's listener evicts them from its [`TokenCache`], and flushes
//! the cache whenever it may have missed a notification.
//!
//! The payload is `<unix micros>;<hex>,<hex>,…`: the publisher's clock when the revoke started,
//! then the 64-char hex SHA-256 of each token, at most [`HASHES_PER_NOTIFICATION`] per
//! notification to stay well under PostgreSQL's 8000-byte payload limit.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::latency::{LatencyHistogram, LatencySnapshot};
use super::PostgresOptions;
use crate::resolve::TokenCache;
use crate::secret::TokenHash;
use crate::Error;

/// Hashes per notification: 100 × 65 bytes plus the timestamp is about 6.5 kB.
pub(crate) const HASHES_PER_NOTIFICATION: usize = 100;

/// How long the channel may stay silent before the listener checks its connection.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Backoff between reconnection attempts: doubles from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The notification payloads announcing `hashes`, published at `micros`.
pub(crate) fn payloads(micros: i64, hashes: &[TokenHash]) -> Vec<String> {
    hashes
        .chunks(HASHES_PER_NOTIFICATION)
        .map(|chunk| {
            let mut payload = String::with_capacity(21 + chunk.len() * 65);
            payload.push_str(&micros.to_string());
            payload.push(';');
            for (i, hash) in chunk.iter().enumerate() {
                if i > 0 {
                    payload.push(',');
                }
                payload.push_str(&hash.to_hex());
            }
            payload
        })
        .collect()
}

/// Parses a payload made by [`payloads`]; `None` if it is not one.
fn parse_payload(payload: &str) -> Option<(i64, Vec<TokenHash>)> {
    let (micros, hashes) = payload.split_once(';')?;
    let micros = micros.parse().ok()?;
    let hashes = hashes
        .split(',')
        .map(TokenHash::from_hex)
        .collect::<Option<Vec<_>>>()?;
    Some((micros, hashes))
}

/// Counters of a [`RevocationListener`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Times the listener started listening (1 after the first connection; each reconnection
    /// adds one).
    pub connections: u64,
    /// Whole-cache flushes: on every start of listening, loss of the connection, failed
    /// reconnection and malformed notification.
    pub flushes: u64,
    /// Notifications received.
    pub notifications: u64,
    /// Token hashes evicted on notification.
    pub evicted: u64,
    /// Notifications that could not be parsed (each flushed the cache).
    pub malformed: u64,
}

#[derive(Default)]
struct Shared {
    latency: LatencyHistogram,
    connections: AtomicU64,
    flushes: AtomicU64,
    notifications: AtomicU64,
    evicted: AtomicU64,
    malformed: AtomicU64,
    /// The backend process id of the listening connection; 0 while not listening.
    backend_pid: AtomicU32,
}

/// Listens for revocations published by any node (see [`crate::store::PostgresStore`]) and
/// evicts them from a [`TokenCache`] at once.
///
/// * On each notification, its hashes are evicted and the time since the publisher's revoke
///   started is recorded in [`RevocationListener::latency`] (across machines this includes
///   their clock difference).
/// * The connection is checked after 10 s of silence. When it is lost (or a payload is not
///   understood), the whole cache is flushed and the listener reconnects with backoff (50 ms
///   doubling to 5 s), flushing again on every failed attempt and once listening again: a
///   notification missed meanwhile never leaves a revoked token served.
/// * Dropping the listener stops it.
///
/// Started by [`crate::store::PostgresStore::subscribe`], or with
/// [`RevocationListener::start`] by a node that resolves tokens remotely but can reach the
/// database.
pub struct RevocationListener {
    shared: Arc<Shared>,
    listening: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl fmt::Debug for RevocationListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationListener")
            .field("listening", &self.is_listening())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for RevocationListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RevocationListener {
    /// Listens on the database at `url` with `options` (their channel and acquire timeout; the
    /// URL's parameters apply as for [`crate::store::PostgresStore::connect`]) and evicts into
    /// `cache`. Returns at once; [`RevocationListener::ready`] waits for
    /// the first connection. A malformed URL or option is a configuration error. Needs a Tokio
    /// runtime.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use tokengate::resolve::{RemoteResolver, TokenCache};
    /// use tokengate::store::{PostgresOptions, RevocationListener};
    ///
    /// let resolver = RemoteResolver::new(
    ///     "http://tokengate-admin:8081/v2/json-rpc".parse().unwrap(), "svc-key", "key", "secret");
    /// let cache = TokenCache::builder(resolver).build();
    /// let listener = RevocationListener::start(
    ///     "postgres://postgres@db:5432/tokens", &PostgresOptions::new(), &cache)?;
    /// listener.ready().await;
    /// # Ok::<_, tokengate::Error>(()) }).unwrap();
    /// ```
    pub fn start(url: &str, options: &PostgresOptions, cache: &TokenCache) -> Result<Self, Error> {
        let (options, connect) = options.for_url(url)?;
        Ok(Self::spawn(
            connect,
            options.channel.clone(),
            options.acquire_timeout,
            cache.clone(),
        ))
    }

    pub(super) fn spawn(
        connect: PgConnectOptions,
        channel: String,
        connect_timeout: Duration,
        cache: TokenCache,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        let (listening_tx, listening) = watch::channel(false);
        let run = Run {
            connect: connect.application_name("tokengate-listener"),
            channel,
            connect_timeout,
            cache,
            shared: shared.clone(),
            listening: listening_tx,
        };
        RevocationListener {
            shared,
            listening,
            task: tokio::spawn(run.run()),
        }
    }

    /// Waits until the listener is listening (returns at once if it is).
    pub async fn ready(&self) {
        let mut listening = self.listening.clone();
        // The sender lives as long as the task, which runs until this listener is dropped.
        let _ = listening.wait_for(|up| *up).await;
    }

    /// Whether the listening connection is up.
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// The PostgreSQL backend process id of the listening connection, while listening: what
    /// `pg_stat_activity.pid` shows, and `pg_terminate_backend` takes.
    pub fn backend_pid(&self) -> Option<u32> {
        Some(self.shared.backend_pid.load(Ordering::Acquire)).filter(|&pid| pid != 0)
    }

    /// The revoke→evict latencies so far: from the start of the revoke on the publishing node
    /// to the eviction here.
    pub fn latency(&self) -> LatencySnapshot {
        self.shared.latency.snapshot()
    }

    /// The counters so far.
    pub fn stats(&self) -> ListenerStats {
        let s = &self.shared;
        ListenerStats {
            connections: s.connections.load(Ordering::Relaxed),
            flushes: s.flushes.load(Ordering::Relaxed),
            notifications: s.notifications.load(Ordering::Relaxed),
            evicted: s.evicted.load(Ordering::Relaxed),
            malformed: s.malformed.load(Ordering::Relaxed),
        }
    }
}

/// The listening task.
struct Run {
    connect: PgConnectOptions,
    channel: String,
    connect_timeout: Duration,
    cache: TokenCache,
    shared: Arc<Shared>,
    listening: watch::Sender<bool>,
}

impl Run {
    async fn run(self) {
        let mut backoff = BACKOFF_FIRST;
        loop {
            match self.listen().await {
                Ok(mut listener) => {
                    // Entries cached before now may predate a notification this listener could
                    // not see; from now on every notification arrives.
                    self.flush();
                    self.shared.connections.fetch_add(1, Ordering::Relaxed);
                    self.listening.send_replace(true);
                    backoff = BACKOFF_FIRST;
                    let lost = self.receive(&mut listener).await;
                    self.listening.send_replace(false);
                    self.shared.backend_pid.store(0, Ordering::Release);
                    self.flush();
                    tracing::warn!(error = %lost, "revocation channel lost; cache flushed, reconnecting");
                    // Reconnect at once the first time: a dropped connection is usually a
                    // restart or a reaper, not an outage.
                    continue;
                }
                Err(e) => {
                    self.flush();
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for revocations; cache flushed");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn flush(&self) {
        self.cache.invalidate_all();
        self.shared.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// A new connection listening on the channel.
    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        // A pool of its own, of one connection, so a lost connection is simply dropped along
        // with it and the next attempt starts clean.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.connect_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(self.connect.clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.eager_reconnect(false);
        listener.listen(&self.channel).await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut listener)
            .await?;
        self.shared
            .backend_pid
            .store(u32::try_from(pid).unwrap_or(0), Ordering::Release);
        Ok(listener)
    }

    /// Handles notifications until the connection is lost; returns why.
    async fn receive(&self, listener: &mut PgListener) -> String {
        loop {
            // `try_recv` is cancel-safe: a timeout loses nothing.
            match tokio::time::timeout(HEARTBEAT, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => self.handle(notification.payload()).await,
                Ok(Ok(None)) => return "connection closed".into(),
                Ok(Err(e)) => return e.to_string(),
                Err(_silence) => {
                    // Notifications that arrive meanwhile are buffered for `try_recv`.
                    let check = sqlx::query("SELECT 1").execute(&mut *listener);
                    match tokio::time::timeout(self.connect_timeout, check).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return e.to_string(),
                        Err(_) => return "connection check timed out".into(),
                    }
                }
            }
        }
    }

    async fn handle(&self, payload: &str) {
        let s = &self.shared;
        s.notifications.fetch_add(1, Ordering::Relaxed);
        match parse_payload(payload) {
            Some((published, hashes)) => {
                self.cache.invalidate_hashes(&hashes);
                let micros = now_micros().saturating_sub(published).max(0);
                s.latency
                    .record(Duration::from_micros(u64::try_from(micros).unwrap_or(0)));
                s.evicted.fetch_add(hashes.len() as u64, Ordering::Relaxed);
            }
            None => {
                // Another tokengate version, or someone else on the channel: whatever it was
                // meant to revoke, drop it all.
                s.malformed.fetch_add(1, Ordering::Relaxed);
                self.flush();
                tracing::warn!(
                    len = payload.len(),
                    "malformed revocation notification; cache flushed"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::generate_token;

    #[test]
    fn payloads_round_trip_in_chunks_under_the_limit() {
        let hashes: Vec<TokenHash> = (0..250).map(|_| TokenHash::of(&generate_token())).collect();
        let micros = now_micros();
        let sent = payloads(micros, &hashes);
        assert_eq!(sent.len(), 3);
        let mut received = Vec::new();
        for payload in &sent {
            assert!(payload.len() < 8000, "{}", payload.len());
            let (at, chunk) = parse_payload(payload).unwrap();
            assert_eq!(at, micros);
            received.extend(chunk);
        }
        assert_eq!(received, hashes);
        assert!(payloads(micros, &[]).is_empty());
        let one = payloads(7, &hashes[..1]);
        assert_eq!(one, vec![format!("7;{}", hashes[0].to_hex())]);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let hex = TokenHash::of("t").to_hex();
        for bad in [
            "",
            "hello",
            &hex,
            &format!("x;{hex}"),
            &format!("1;{hex},"),
            &format!("1;{}", &hex[1..]),
            "1;",
        ] {
            assert!(parse_payload(bad).is_none(), "{bad:?}");
        }
    }
}
