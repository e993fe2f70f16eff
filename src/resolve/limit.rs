//! [`LimitedResolver`]: a cap on concurrent lookups of any [`Resolve`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::Resolve;
use crate::model::TokenInfo;
use crate::Error;

/// Lets at most `max` lookups of the resolver it wraps run at once; a lookup that finds them
/// all busy waits at most `wait` for a turn and then fails as a store failure, so the
/// [`OAuthLayer`](crate::auth::OAuthLayer) answers `503` with `Retry-After` instead of queueing
/// without end (and nothing is forwarded or cached).
///
/// Put it between the [`TokenCache`](super::TokenCache) and the resolver: the cache already
/// makes one lookup for any number of concurrent requests with the same token, so the cap
/// bounds how many *distinct* unknown tokens hit the store at once, and a flood of made-up
/// tokens cannot take every connection of the store's pool from issuance and revocation.
///
/// Clones share the permits and the counter.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tokengate::resolve::{LimitedResolver, LocalResolver, TokenCache};
/// use tokengate::{oauth::TokenService, secret::Pepper, store::MemoryStore};
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let resolver = LimitedResolver::new(LocalResolver::new(tokens, "svc"), 8, Duration::from_secs(1));
/// let shed = resolver.clone(); // read `shed.shed()` for metrics
/// let cache = TokenCache::builder(resolver).build();
/// # let _ = (cache, shed);
/// ```
pub struct LimitedResolver<R> {
    inner: Arc<R>,
    shared: Arc<Shared>,
}

impl<R> Clone for LimitedResolver<R> {
    fn clone(&self) -> Self {
        LimitedResolver {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

struct Shared {
    permits: Semaphore,
    max: usize,
    wait: Duration,
    shed: AtomicU64,
}

impl<R> fmt::Debug for LimitedResolver<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedResolver")
            .field("max", &self.shared.max)
            .field("wait", &self.shared.wait)
            .field("shed", &self.shed())
            .finish_non_exhaustive()
    }
}

impl<R: Resolve> LimitedResolver<R> {
    /// At most `max` (at least 1) lookups of `inner` at once, each waiting at most `wait` for a
    /// turn.
    pub fn new(inner: R, max: usize, wait: Duration) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        LimitedResolver {
            inner: Arc::new(inner),
            shared: Arc::new(Shared {
                permits: Semaphore::new(max),
                max,
                wait,
                shed: AtomicU64::new(0),
            }),
        }
    }
}

impl<R> LimitedResolver<R> {
    /// How many lookups gave up waiting for a turn so far.
    pub fn shed(&self) -> u64 {
        self.shared.shed.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl<R: Resolve> Resolve for LimitedResolver<R> {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        let shared = &self.shared;
        let _permit = match tokio::time::timeout(shared.wait, shared.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            // Timed out (the semaphore is never closed).
            Ok(Err(_)) | Err(_) => {
                shared.shed.fetch_add(1, Ordering::Relaxed);
                return Err(Error::store(format!(
                    "{} token lookups already running for {:?}",
                    shared.max, shared.wait
                )));
            }
        };
        self.inner.resolve(token).await
    }

    /// The inner resolver's check: a forged token takes no lookup turn.
    fn may_know(&self, token: &str) -> bool {
        self.inner.may_know(token)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    use tokio::sync::Notify;

    use super::*;

    /// A resolver whose lookups block until released, counting how many run at once.
    #[derive(Default)]
    struct Blocking {
        running: AtomicUsize,
        most: AtomicUsize,
        release: Notify,
    }

    #[async_trait]
    impl Resolve for Blocking {
        async fn resolve(&self, _token: &str) -> Result<Option<TokenInfo>, Error> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let released = self.release.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            released.await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(None)
        }
    }

    #[tokio::test]
    async fn at_most_n_lookups_run_and_the_rest_fail_after_the_wait() {
        let store = Arc::new(Blocking::default());
        let wait = Duration::from_millis(300);
        let limited = LimitedResolver::new(store.clone(), 3, wait);
        let started = Instant::now();
        let lookups: Vec<_> = (0..8)
            .map(|i| {
                let limited = limited.clone();
                tokio::spawn(async move {
                    let outcome = limited.resolve(&format!("token-{i}")).await;
                    (outcome, started.elapsed())
                })
            })
            .collect();

        // The five beyond the cap give up after the wait, as store failures.
        let deadline = Instant::now() + Duration::from_secs(10);
        while limited.shed() < 5 {
            assert!(
                Instant::now() < deadline,
                "the excess lookups never gave up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(store.running.load(Ordering::SeqCst), 3);
        store.release.notify_waiters();

        let mut failed = 0;
        for lookup in lookups {
            let (outcome, elapsed) = lookup.await.unwrap();
            match outcome {
                Ok(found) => assert!(found.is_none()),
                Err(e) => {
                    assert!(e.is_store(), "{e}");
                    assert!(elapsed >= wait, "gave up after {elapsed:?}");
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 5);
        assert_eq!(
            store.most.load(Ordering::SeqCst),
            3,
            "never more than the cap"
        );
        assert_eq!(limited.shed(), 5);

        // The permits came back.
        let again = tokio::spawn({
            let limited = limited.clone();
            async move { limited.resolve("later").await }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.running.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the lookup never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        store.release.notify_waiters();
        assert!(again.await.unwrap().unwrap().is_none());
    }
}
