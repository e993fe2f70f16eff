//! [`TokenCache`]: a moka cache in front of a [`Resolve`].

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::HeaderValue;
use moka::future::Cache;
use moka::Expiry;

use super::Resolve;
use crate::model::{TokenInfo, UnixMillis};
use crate::oauth::{InvalidationListener, TokenService};
use crate::secret::TokenHash;
use crate::Error;

/// A valid token as the cache keeps it: its data, and the identity header values prebuilt so a
/// cache hit copies reference-counted bytes instead of formatting strings.
#[derive(Debug)]
pub struct CachedToken {
    info: Arc<TokenInfo>,
    pub(crate) client_id: HeaderValue,
    pub(crate) scope: Option<HeaderValue>,
    pub(crate) user_context: Option<HeaderValue>,
}

impl CachedToken {
    /// Builds the entry; `None` when a value cannot be a header value (never issued so).
    fn new(info: TokenInfo) -> Option<Self> {
        let header = |v: &str| HeaderValue::from_str(v).ok();
        Some(CachedToken {
            client_id: header(&info.client_id)?,
            scope: match &info.scope {
                Some(s) => Some(header(s)?),
                None => None,
            },
            user_context: match &info.user_context {
                Some(u) => Some(header(u)?),
                None => None,
            },
            info: Arc::new(info),
        })
    }

    /// What the token grants.
    pub fn info(&self) -> &Arc<TokenInfo> {
        &self.info
    }
}

/// The answer for a presented token.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The token is valid.
    Valid(Arc<CachedToken>),
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

/// A cache of resolved tokens in front of any [`Resolve`], built on moka's `future::Cache`.
///
/// - Keyed by the token's SHA-256 ([`TokenHash`]), never by the token itself.
/// - A valid token is kept for `min(ttl, expires − now)` (default TTL 30 s), and its expiry is
///   checked again on every hit, so an entry is never served past the token's `expires`.
/// - Unknown tokens go to a separate, smaller negative cache (default 5 s), so a flood of junk
///   cannot evict valid entries. Tokens the resolver cannot know ([`Resolve::may_know`]: not
///   of the issued form, e.g. a forged integrity tag) are refused on a miss without a resolve
///   and are not remembered at all.
/// - Concurrent misses on one token make one resolve (`try_get_with`); the others wait for it.
/// - Resolver errors are not cached.
/// - [`TokenCache::invalidate`] and [`TokenCache::invalidate_all`] drop entries;
///   [`TokenCache::listen_to`] makes a [`TokenService`] call them on every revoke and update
///   before those return.
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

struct Inner {
    resolver: Arc<dyn Resolve>,
    positive: Cache<TokenHash, Arc<CachedToken>>,
    negative: Cache<TokenHash, ()>,
    /// Bumped by every invalidation; a resolve that straddles one is not trusted.
    epoch: AtomicU64,
    counters: Counters,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.inner.positive.entry_count())
            .field("negative_entries", &self.inner.negative.entry_count())
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

    /// Most valid tokens kept (default 1,000,000).
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.max_capacity = entries;
        self
    }

    /// Most unknown tokens kept (default 100,000).
    pub fn negative_capacity(mut self, entries: u64) -> Self {
        self.negative_capacity = entries;
        self
    }

    /// The cache.
    pub fn build(self) -> TokenCache {
        TokenCache {
            inner: Arc::new(Inner {
                resolver: Arc::new(self.resolver),
                positive: Cache::builder()
                    .max_capacity(self.max_capacity)
                    .expire_after(UntilExpiry { ttl: self.ttl })
                    .build(),
                negative: Cache::builder()
                    .max_capacity(self.negative_capacity)
                    .time_to_live(self.negative_ttl)
                    .build(),
                epoch: AtomicU64::new(0),
                counters: Counters::default(),
            }),
        }
    }
}

/// Why a resolve put nothing in the positive cache.
enum Miss {
    Unknown,
    Failed,
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
    /// at once (a miss). The gateway's hit path.
    pub fn cached(&self, hash: &TokenHash) -> Option<Lookup> {
        let c = &self.inner.counters;
        if let Some(entry) = now_or_never(self.inner.positive.get(hash)).flatten() {
            if entry.info.expires_at > now_millis() {
                c.hits.fetch_add(1, Ordering::Relaxed);
                return Some(Lookup::Valid(entry));
            }
            return Some(Lookup::Invalid);
        }
        if now_or_never(self.inner.negative.get(hash))
            .flatten()
            .is_some()
        {
            c.negative_hits.fetch_add(1, Ordering::Relaxed);
            return Some(Lookup::Invalid);
        }
        None
    }

    /// The answer for a token: from the cache, or from the resolver (one resolve for any
    /// number of concurrent callers). An error means the resolver failed.
    pub async fn lookup(&self, token: &str) -> Result<Lookup, Error> {
        let hash = TokenHash::of(token);
        if let Some(answer) = self.cached(&hash) {
            return Ok(answer);
        }
        if self.refuses(token) {
            return Ok(Lookup::Invalid);
        }
        self.resolve(hash, token.to_owned()).await
    }

    /// Whether the resolver cannot know `token` ([`Resolve::may_know`]), so that the answer is
    /// [`Lookup::Invalid`] without a resolve; counted in [`CacheStats::forged`]. The first
    /// step of the miss path, without waiting.
    pub(crate) fn refuses(&self, token: &str) -> bool {
        let refused = !self.inner.resolver.may_know(token);
        if refused {
            self.inner.counters.forged.fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    /// The miss path of [`TokenCache::lookup`], for a hash the caller already computed and a
    /// token it has already passed through [`TokenCache::refuses`].
    pub(crate) async fn resolve(&self, hash: TokenHash, token: String) -> Result<Lookup, Error> {
        let inner = &self.inner;
        let c = &inner.counters;
        let epoch = inner.epoch.load(Ordering::Acquire);
        let mut ran = false;
        let init = async {
            ran = true;
            c.misses.fetch_add(1, Ordering::Relaxed);
            match inner.resolver.resolve(&token).await {
                Ok(Some(info)) => CachedToken::new(info).map(Arc::new).ok_or(Miss::Unknown),
                Ok(None) => Err(Miss::Unknown),
                Err(e) => {
                    tracing::warn!(error = %e, "token lookup failed");
                    Err(Miss::Failed)
                }
            }
        };
        let outcome = inner.positive.try_get_with(hash, init).await;
        if !ran {
            c.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        match outcome {
            Ok(entry) => {
                if inner.epoch.load(Ordering::Acquire) != epoch {
                    // An invalidation ran while this was resolving: the entry may predate it.
                    inner.positive.invalidate(&hash).await;
                }
                if entry.info.expires_at > now_millis() {
                    Ok(Lookup::Valid(entry))
                } else {
                    Ok(Lookup::Invalid)
                }
            }
            Err(miss) => match *miss {
                Miss::Unknown => {
                    if ran {
                        inner.negative.insert(hash, ()).await;
                    }
                    Ok(Lookup::Invalid)
                }
                Miss::Failed => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    Err(Error::store("token lookup failed"))
                }
            },
        }
    }

    /// Drops a token from the cache.
    pub async fn invalidate(&self, token: &str) {
        self.inner.invalidate_hashes(&[TokenHash::of(token)]).await;
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
    /// cache.invalidate_hashes(&[TokenHash::of("revoked-elsewhere")]).await;
    /// # });
    /// ```
    pub async fn invalidate_hashes(&self, hashes: &[TokenHash]) {
        self.inner.invalidate_hashes(hashes).await;
    }

    /// Drops every entry (e.g. when a revocation feed was interrupted).
    pub fn invalidate_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.positive.invalidate_all();
        self.inner.negative.invalidate_all();
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            negative_hits: c.negative_hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            coalesced: c.coalesced.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            forged: c.forged.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    async fn invalidate_hashes(&self, hashes: &[TokenHash]) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for hash in hashes {
            self.positive.invalidate(hash).await;
        }
    }
}

#[async_trait]
impl InvalidationListener for Inner {
    async fn invalidated(&self, hashes: &[TokenHash]) {
        self.invalidate_hashes(hashes).await;
    }
}

/// Per-entry lifetime: the TTL, or less when the token expires sooner.
struct UntilExpiry {
    ttl: Duration,
}

impl Expiry<TokenHash, Arc<CachedToken>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenHash,
        value: &Arc<CachedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = value.info.expires_at.saturating_sub(now_millis()).max(0) as u64;
        Some(self.ttl.min(Duration::from_millis(left)))
    }
}

pub(crate) fn now_millis() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as UnixMillis)
        .unwrap_or(0)
}

/// Polls a future once; `None` if it is not ready at once. moka answers hits without waiting,
/// so the hit path needs no task, box or waker.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let future = pin!(future);
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
