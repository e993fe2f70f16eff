//! [`TokenCache`]: a cache in front of a [`Resolve`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{Lifecycle, UnitWeighter};
use tokio::sync::OnceCell;

use super::by_hash::{ByHash, Fresh, Positive, RecordEvictions};
use super::cached::{CachedToken, Interner};
use super::key::{CacheKey, HashedKey, Keyer};
use super::Resolve;
use crate::model::UnixMillis;
use crate::oauth::{InvalidationListener, TokenService};
use crate::secret::TokenHash;
use crate::striped::Striped;
use crate::Error;

/// The answer for a presented token.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The token is valid.
    Valid(CachedToken),
    /// The token is unknown, expired, revoked or another service's.
    Invalid,
}

/// Counters of a [`TokenCache`], for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from a valid cached entry.
    pub hits: u64,
    /// Lookups answered from the negative cache (known-unknown tokens).
    pub negative_hits: u64,
    /// Lookups that went to the resolver.
    pub misses: u64,
    /// Lookups that waited for another caller's resolve of the same token.
    pub coalesced: u64,
    /// Resolver failures (not cached).
    pub errors: u64,
    /// Misses refused without a resolve because the resolver cannot know the token
    /// ([`Resolve::may_know`]: wrong length, alphabet or integrity tag).
    pub forged: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    negative_hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    errors: AtomicU64,
    forged: AtomicU64,
}

/// A cache of resolved tokens in front of any [`Resolve`], built on `quick_cache`'s sharded
/// S3-FIFO cache.
///
/// - Keyed by a keyed 128-bit SipHash-2-4 of the token under a secret drawn for each cache,
///   never by the token itself; the token's SHA-256 ([`TokenHash`]) is computed on a miss
///   only, for the resolver and for [`TokenCache::invalidate_hashes`] (each valid entry
///   carries it, and an index finds the entry of a hash).
/// - A valid token is kept for `min(ttl, expires − now)` (default TTL 30 s), and its expiry is
///   checked again on every hit, so an entry is never served past the token's `expires`.
/// - Unknown tokens go to a separate, smaller negative cache (default 5 s), so a flood of junk
///   cannot evict valid entries. Tokens the resolver cannot know ([`Resolve::may_know`]: not
///   of the issued form, e.g. a forged integrity tag) are refused on a miss without a resolve
///   and are not remembered at all.
/// - Concurrent misses on one token make one resolve; the others wait for it and share its
///   answer, a failure included.
/// - Resolver errors are not cached.
/// - [`TokenCache::invalidate`] and [`TokenCache::invalidate_all`] drop entries;
///   [`TokenCache::listen_to`] makes a [`TokenService`] call them on every revoke and update
///   before those return.
///
/// A hit takes one SipHash of the token, one shard's read lock, one table probe and a few
/// reference-count increments: no allocation, no task, no clock other than the expiry check.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::{sync::Arc, time::Duration};
/// use tokengate::{oauth::TokenService, resolve::{LocalResolver, Lookup, TokenCache}};
/// use tokengate::{secret::Pepper, store::MemoryStore};
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), "svc"))
///     .ttl(Duration::from_secs(30))
///     .negative_ttl(Duration::from_secs(5))
///     .max_capacity(100_000)
///     .build();
/// cache.listen_to(&tokens);
/// assert!(matches!(cache.lookup("no-such-token").await?, Lookup::Invalid));
/// # Ok::<_, tokengate::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

/// Unknown tokens, each with the time it is forgotten.
type Negative =
    Cache<CacheKey, UnixMillis, UnitWeighter, HashedKey, DefaultLifecycle<CacheKey, UnixMillis>>;

struct Inner {
    resolver: Arc<dyn Resolve>,
    /// Turns presented tokens into the keys of both caches.
    keyer: Keyer,
    /// Valid tokens, each with the time it stops being served from here.
    positive: Positive,
    /// Which entry of `positive` holds the token of a hash.
    by_hash: ByHash,
    /// Unknown tokens, each with the time it is forgotten.
    negative: Negative,
    ttl: UnixMillis,
    negative_ttl: UnixMillis,
    /// Shares what tokens of one client and scope have in common.
    interner: Interner,
    /// One resolve per token at a time; later callers wait on the same cell.
    in_flight: Mutex<HashMap<CacheKey, Arc<OnceCell<Outcome>>, HashedKey>>,
    /// Bumped by every invalidation; a resolve that straddles one is not trusted.
    epoch: AtomicU64,
    /// Per-thread counters: a hit on each core must not bounce one shared cache line.
    counters: Striped<Counters>,
}

/// What one resolve found, shared by every caller that waited for it.
#[derive(Clone)]
enum Outcome {
    Valid(CachedToken),
    Unknown,
    Failed,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.inner.positive.len())
            .field("negative_entries", &self.inner.negative.len())
            .finish()
    }
}

/// Builds a [`TokenCache`].
#[derive(Debug)]
pub struct TokenCacheBuilder<R> {
    resolver: R,
    ttl: Duration,
    negative_ttl: Duration,
    max_capacity: u64,
    negative_capacity: u64,
}

impl<R: Resolve> TokenCacheBuilder<R> {
    /// The longest a valid token is cached (default 30 s): the bound on serving a revocation
    /// this process did not see.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an unknown token is remembered as unknown (default 5 s).
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Most valid tokens kept (default 1,000,000; approximately: the capacity is split among
    /// the cache's shards, and a shard that is full evicts before the whole is).
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.max_capacity = entries;
        self
    }

    /// Most unknown tokens kept (default 100,000).
    pub fn negative_capacity(mut self, entries: u64) -> Self {
        self.negative_capacity = entries;
        self
    }

    /// The cache. Its memory grows with the entries kept, not with the capacity.
    pub fn build(self) -> TokenCache {
        TokenCache {
            inner: Arc::new(Inner {
                resolver: Arc::new(self.resolver),
                keyer: Keyer::random(),
                positive: token_map(self.max_capacity, RecordEvictions),
                by_hash: ByHash::default(),
                negative: token_map(self.negative_capacity, DefaultLifecycle::default()),
                ttl: millis(self.ttl),
                negative_ttl: millis(self.negative_ttl),
                interner: Interner::default(),
                in_flight: Mutex::default(),
                epoch: AtomicU64::new(0),
                counters: Striped::default(),
            }),
        }
    }
}

fn token_map<V: Clone, L: Lifecycle<CacheKey, V> + Clone>(
    capacity: u64,
    lifecycle: L,
) -> Cache<CacheKey, V, UnitWeighter, HashedKey, L> {
    // The estimate only sizes the shards; tables grow as entries arrive.
    let estimate = capacity.clamp(1, 1 << 16) as usize;
    Cache::with(
        estimate,
        capacity.max(1),
        UnitWeighter,
        HashedKey,
        lifecycle,
    )
}

fn millis(duration: Duration) -> UnixMillis {
    UnixMillis::try_from(duration.as_millis()).unwrap_or(UnixMillis::MAX)
}

impl TokenCache {
    /// A builder around `resolver`.
    pub fn builder<R: Resolve>(resolver: R) -> TokenCacheBuilder<R> {
        TokenCacheBuilder {
            resolver,
            ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            max_capacity: 1_000_000,
            negative_capacity: 100_000,
        }
    }

    /// Subscribes to `tokens`' revocations and updates (held weakly).
    pub fn listen_to(&self, tokens: &TokenService) {
        let inner: Arc<dyn InvalidationListener> = self.inner.clone();
        tokens.subscribe(Arc::downgrade(&inner));
    }

    /// The cached answer for a token hash, without waiting: `None` when the cache cannot say
    /// at once (a miss, or a token known unknown: the negative cache is keyed by the token
    /// only).
    pub fn cached(&self, hash: &TokenHash) -> Option<Lookup> {
        let key = self.inner.by_hash.key(hash)?;
        self.inner
            .positive
            .peek(&key)
            .filter(|fresh| fresh.hash == *hash)?;
        self.cached_key(&key)
    }

    /// The key of `token` in this cache.
    pub(crate) fn key(&self, token: &str) -> CacheKey {
        self.inner.keyer.key(token)
    }

    /// The cached answer for a token's key, without waiting: `None` when the cache cannot say
    /// at once (a miss). The gateway's hit path.
    pub(crate) fn cached_key(&self, key: &CacheKey) -> Option<Lookup> {
        let inner = &self.inner;
        let now = now_millis();
        if let Some(fresh) = inner.positive.get(key) {
            if fresh.token.expires_at() <= now {
                return Some(Lookup::Invalid);
            }
            if now < fresh.until {
                inner.counters.local().hits.fetch_add(1, Ordering::Relaxed);
                return Some(Lookup::Valid(fresh.token));
            }
            return None;
        }
        match inner.negative.get(key) {
            Some(until) if now < until => {
                inner
                    .counters
                    .local()
                    .negative_hits
                    .fetch_add(1, Ordering::Relaxed);
                Some(Lookup::Invalid)
            }
            _ => None,
        }
    }

    /// The answer for a token: from the cache, or from the resolver (one resolve for any
    /// number of concurrent callers). An error means the resolver failed.
    pub async fn lookup(&self, token: &str) -> Result<Lookup, Error> {
        let key = self.key(token);
        if let Some(answer) = self.cached_key(&key) {
            return Ok(answer);
        }
        if self.refuse_forged(token) {
            return Ok(Lookup::Invalid);
        }
        self.resolve(key, token.to_owned()).await
    }

    /// Refuses `token` when the resolver cannot know it ([`Resolve::may_know`]): counts it in
    /// [`CacheStats::forged`] and says `true`, so that the answer is [`Lookup::Invalid`]
    /// without a resolve. The first step of the miss path, without waiting.
    pub(crate) fn refuse_forged(&self, token: &str) -> bool {
        let refused = !self.inner.resolver.may_know(token);
        if refused {
            self.inner
                .counters
                .local()
                .forged
                .fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    /// The miss path of [`TokenCache::lookup`], for a key the caller already computed and a
    /// token it has already passed through [`TokenCache::refuse_forged`].
    pub(crate) async fn resolve(&self, key: CacheKey, token: String) -> Result<Lookup, Error> {
        let inner = &self.inner;
        let flight = Flight {
            inner,
            key,
            cell: Some(
                inner
                    .flights()
                    .entry(key)
                    .or_insert_with(|| Arc::new(OnceCell::new()))
                    .clone(),
            ),
        };
        let mut ran = false;
        let outcome = flight
            .cell()
            .get_or_init(|| {
                ran = true;
                inner.resolve(key, &token)
            })
            .await
            .clone();
        drop(flight);
        let c = inner.counters.local();
        if !ran {
            c.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        match outcome {
            Outcome::Valid(token) if token.expires_at() > now_millis() => Ok(Lookup::Valid(token)),
            Outcome::Valid(_) | Outcome::Unknown => Ok(Lookup::Invalid),
            Outcome::Failed => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                Err(Error::store("token lookup failed"))
            }
        }
    }

    /// Drops a token from the cache.
    pub fn invalidate(&self, token: &str) {
        self.inner.invalidate_hashes(&[TokenHash::of(token)]);
    }

    /// Drops the tokens with these hashes (e.g. revocations pushed by another node).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use tokengate::{oauth::TokenService, resolve::{LocalResolver, TokenCache}};
    /// use tokengate::{secret::{Pepper, TokenHash}, store::MemoryStore};
    ///
    /// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
    /// let cache = TokenCache::builder(LocalResolver::new(tokens, "svc")).build();
    /// cache.invalidate_hashes(&[TokenHash::of("revoked-elsewhere")]);
    /// # });
    /// ```
    pub fn invalidate_hashes(&self, hashes: &[TokenHash]) {
        self.inner.invalidate_hashes(hashes);
    }

    /// Drops every entry (e.g. when a revocation feed was interrupted).
    pub fn invalidate_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.positive.clear();
        self.inner.by_hash.clear();
        self.inner.negative.clear();
    }

    /// How many tokens are held now: `(valid, unknown)` entries (the negative cache's are
    /// unknown tokens remembered as such). Entries past their time still count until they are
    /// looked up or evicted.
    pub fn entries(&self) -> (u64, u64) {
        (
            self.inner.positive.len() as u64,
            self.inner.negative.len() as u64,
        )
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        CacheStats {
            hits: c.sum(|s| &s.hits),
            negative_hits: c.sum(|s| &s.negative_hits),
            misses: c.sum(|s| &s.misses),
            coalesced: c.sum(|s| &s.coalesced),
            errors: c.sum(|s| &s.errors),
            forged: c.sum(|s| &s.forged),
        }
    }
}

impl Inner {
    /// One resolve through the resolver, its answer cached.
    async fn resolve(&self, key: CacheKey, token: &str) -> Outcome {
        self.counters.local().misses.fetch_add(1, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Acquire);
        // The store's name for the token, and how invalidations name it.
        let hash = TokenHash::of(token);
        let found = match self.resolver.resolve(token).await {
            Ok(found) => found.and_then(|info| self.interner.token(info).ok()),
            Err(e) => {
                tracing::warn!(error = %e, "token lookup failed");
                return Outcome::Failed;
            }
        };
        let now = now_millis();
        let Some(token) = found else {
            self.negative
                .insert(key, now.saturating_add(self.negative_ttl));
            return Outcome::Unknown;
        };
        let until = now.saturating_add(self.ttl).min(token.expires_at());
        self.by_hash.insert(
            &self.positive,
            key,
            Fresh {
                token: token.clone(),
                until,
                hash,
            },
        );
        if self.epoch.load(Ordering::Acquire) != epoch {
            // An invalidation ran while this was resolving: the entry may predate it.
            self.by_hash.remove(&self.positive, &[hash]);
        }
        Outcome::Valid(token)
    }

    fn flights(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<OnceCell<Outcome>>, HashedKey>> {
        // A panic while the map is held cannot leave it inconsistent: take it back.
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn invalidate_hashes(&self, hashes: &[TokenHash]) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.by_hash.remove(&self.positive, hashes);
    }
}

/// A caller's hold on the in-flight resolve of one token. Dropped when the caller is done or
/// cancelled (a client that went away): the map's entry goes with the last holder of an
/// unfinished resolve, or at once when the resolve has finished (later callers must read the
/// cache, which an invalidation may have changed since), so nothing is left behind.
struct Flight<'a> {
    inner: &'a Inner,
    key: CacheKey,
    /// `Some` until dropped.
    cell: Option<Arc<OnceCell<Outcome>>>,
}

impl Flight<'_> {
    fn cell(&self) -> &OnceCell<Outcome> {
        self.cell.as_ref().expect("held until dropped")
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.inner.flights();
        let Some(cell) = self.cell.take() else {
            return;
        };
        let finished = cell.initialized();
        let ours = flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &cell));
        // Every clone is made and dropped under the lock: after ours, a count of one is the
        // map's own.
        drop(cell);
        let last = flights
            .get(&self.key)
            .is_some_and(|f| Arc::strong_count(f) == 1);
        if ours && (finished || last) {
            flights.remove(&self.key);
        }
    }
}

#[async_trait]
impl InvalidationListener for Inner {
    async fn invalidated(&self, hashes: &[TokenHash]) {
        self.invalidate_hashes(hashes);
    }
}

pub(crate) fn now_millis() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as UnixMillis)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::model::{GrantType, TokenInfo, TokenType};

    /// Answers after `delay`: a valid token, or an error when `fail` is set; counts its calls.
    struct Slow {
        calls: Arc<AtomicUsize>,
        delay: Duration,
        fail: bool,
    }

    #[async_trait]
    impl Resolve for Slow {
        async fn resolve(&self, _token: &str) -> Result<Option<TokenInfo>, Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.fail {
                return Err(Error::store("down"));
            }
            Ok(Some(TokenInfo {
                service_key: "svc".into(),
                client_id: "app".into(),
                token_type: TokenType::Bearer,
                grant_type: GrantType::ClientCredentials,
                scope: None,
                user_context: None,
                expires_at: now_millis() + 3_600_000,
                mac_secret: None,
            }))
        }
    }

    fn cache(delay_ms: u64, fail: bool, ttl: Duration) -> (TokenCache, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let resolver = Slow {
            calls: calls.clone(),
            delay: Duration::from_millis(delay_ms),
            fail,
        };
        (TokenCache::builder(resolver).ttl(ttl).build(), calls)
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_failure() {
        let (cache, calls) = cache(100, true, Duration::from_secs(30));
        let lookups: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.lookup("tok").await })
            })
            .collect();
        for lookup in lookups {
            assert!(lookup.await.unwrap().is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one resolve for all");
        let stats = cache.stats();
        assert_eq!((stats.misses, stats.coalesced, stats.errors), (1, 19, 20));
        // Failures are not cached: the next lookup resolves again.
        assert!(cache.lookup("tok").await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_resolve_is_taken_over_by_a_waiter() {
        let (cache, calls) = cache(200, false, Duration::from_secs(30));
        let first = tokio::spawn({
            let cache = cache.clone();
            async move { cache.lookup("tok").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = tokio::spawn({
            let cache = cache.clone();
            async move { cache.lookup("tok").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.abort();
        let answer = second.await.unwrap().unwrap();
        assert!(matches!(answer, Lookup::Valid(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(matches!(
            cache.cached(&TokenHash::of("tok")),
            Some(Lookup::Valid(_))
        ));
    }

    #[tokio::test]
    async fn entries_count_valid_and_unknown_tokens() {
        let (cache, _) = cache(0, false, Duration::from_secs(30));
        assert_eq!(cache.entries(), (0, 0));
        assert!(matches!(cache.lookup("tok").await, Ok(Lookup::Valid(_))));
        assert!(matches!(cache.lookup("tok2").await, Ok(Lookup::Valid(_))));
        assert_eq!(cache.entries(), (2, 0));
        cache.invalidate("tok");
        assert_eq!(cache.entries(), (1, 0));
    }

    #[tokio::test]
    async fn cancelled_lookups_leave_no_resolve_in_flight() {
        let (cache, calls) = cache(200, false, Duration::from_secs(30));
        let in_flight = || cache.inner.flights().len();
        // Every caller of one token goes away mid-lookup: nothing stays behind.
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.lookup("tok").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(in_flight(), 1, "one resolve for the three callers");
        for caller in &callers {
            caller.abort();
        }
        for caller in callers {
            assert!(caller.await.unwrap_err().is_cancelled());
        }
        assert_eq!(in_flight(), 0, "a cancelled resolve was left in flight");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // One of two waiters goes away: the other keeps the resolve (no second one), and the
        // entry goes when it is done.
        let first = tokio::spawn({
            let cache = cache.clone();
            async move { cache.lookup("tok2").await }
        });
        let second = tokio::spawn({
            let cache = cache.clone();
            async move { cache.lookup("tok2").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        second.abort();
        assert!(second.await.unwrap_err().is_cancelled());
        assert_eq!(
            in_flight(),
            1,
            "the remaining waiter's resolve is still shared"
        );
        assert!(matches!(first.await.unwrap(), Ok(Lookup::Valid(_))));
        assert_eq!(in_flight(), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_entry_past_its_ttl_is_resolved_again() {
        let (cache, calls) = cache(0, false, Duration::from_millis(50));
        assert!(matches!(cache.lookup("tok").await, Ok(Lookup::Valid(_))));
        assert!(cache.cached(&TokenHash::of("tok")).is_some());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(cache.cached(&TokenHash::of("tok")).is_none(), "a miss");
        assert!(matches!(cache.lookup("tok").await, Ok(Lookup::Valid(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_resolve_that_straddles_an_invalidation_is_not_kept() {
        let (cache, calls) = cache(100, false, Duration::from_secs(30));
        let lookup = tokio::spawn({
            let cache = cache.clone();
            async move { cache.lookup("tok").await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Revoked elsewhere while the store was being asked.
        cache.invalidate("tok");
        assert!(matches!(lookup.await.unwrap(), Ok(Lookup::Valid(_))));
        assert!(
            cache.cached(&TokenHash::of("tok")).is_none(),
            "the answer may predate the revocation: not cached"
        );
        assert!(matches!(cache.lookup("tok").await, Ok(Lookup::Valid(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(cache.cached(&TokenHash::of("tok")).is_some());
    }

    #[tokio::test]
    async fn the_hash_index_holds_exactly_what_the_cache_holds_through_evictions() {
        let calls = Arc::new(AtomicUsize::new(0));
        let resolver = Slow {
            calls: calls.clone(),
            delay: Duration::ZERO,
            fail: false,
        };
        let cache = TokenCache::builder(resolver).max_capacity(16).build();
        let tokens: Vec<String> = (0..300).map(|i| format!("tok-{i}")).collect();
        // Twice over: the second round inserts again tokens evicted in the first.
        for token in tokens.iter().chain(&tokens) {
            assert!(matches!(cache.lookup(token).await, Ok(Lookup::Valid(_))));
        }
        let inner = &cache.inner;
        let held: Vec<&String> = tokens
            .iter()
            .filter(|t| cache.cached_key(&cache.key(t)).is_some())
            .collect();
        assert!(!held.is_empty() && held.len() < 300, "{} held", held.len());
        assert_eq!(inner.by_hash.len(), inner.positive.len());
        assert_eq!(inner.by_hash.len(), held.len());
        for token in &tokens {
            let by_key = cache.cached_key(&cache.key(token)).is_some();
            let by_hash = cache.cached(&TokenHash::of(token)).is_some();
            assert_eq!(by_key, by_hash, "{token}");
        }
        // Every held token is found by its hash, and goes.
        let hashes: Vec<TokenHash> = held.iter().map(|t| TokenHash::of(t)).collect();
        cache.invalidate_hashes(&hashes);
        assert_eq!(inner.positive.len(), 0);
        assert_eq!(inner.by_hash.len(), 0);
        // A token evicted, then cached again, is still invalidated by hash.
        let again = &tokens[0];
        assert!(matches!(cache.lookup(again).await, Ok(Lookup::Valid(_))));
        cache.invalidate_hashes(&[TokenHash::of(again)]);
        assert!(cache.cached_key(&cache.key(again)).is_none());
    }

    #[tokio::test]
    async fn invalidating_one_hash_leaves_the_others() {
        let (cache, _) = cache(0, false, Duration::from_secs(30));
        for token in ["a", "b", "c"] {
            assert!(matches!(cache.lookup(token).await, Ok(Lookup::Valid(_))));
        }
        cache.invalidate_hashes(&[TokenHash::of("b"), TokenHash::of("never-cached")]);
        let held = |t: &str| cache.cached_key(&cache.key(t)).is_some();
        assert_eq!((held("a"), held("b"), held("c")), (true, false, true));
        cache.invalidate_all();
        assert_eq!(cache.inner.by_hash.len(), 0);
        assert!(cache.cached(&TokenHash::of("a")).is_none());
    }
}
