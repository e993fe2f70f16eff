//! [`Carry`]: what a configuration reload keeps of the public listener's previous snapshot:
//! the token caches of the services still served (with the same cache settings), the request
//! counters, upstream statistics and marked-out upstreams of the routes still configured (by
//! name), and the failed-authentication limiter when its rate did not change.

use std::collections::HashMap;
use std::sync::Arc;

use super::feed::{Feed, Subscribe};
use super::metrics::{PublicMetrics, TimedResolver};
use super::upstream_outcome::UpstreamStats;
use crate::auth::LayerMetrics;
use crate::limit::{FailedAuthLimiter, Rate};
use crate::resolve::{LimitedResolver, LocalResolver, TokenCache};
use crate::route::UpstreamPool;

/// The cache settings of `[public]` a token cache is built with: a cache survives a reload
/// only when they are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheKnobs {
    pub(crate) ttl_secs: u64,
    pub(crate) negative_ttl_secs: u64,
    pub(crate) capacity: u64,
    pub(crate) max_concurrent_lookups: usize,
    pub(crate) lookup_wait_ms: u64,
}

/// A service's token cache, the lookup limit in front of its store lookups and the store's
/// feed into it.
#[derive(Clone)]
pub(crate) struct CarriedCache {
    pub(crate) knobs: CacheKnobs,
    pub(crate) cache: TokenCache,
    pub(crate) lookups: LimitedResolver<TimedResolver<LocalResolver>>,
    pub(crate) feed: Feed,
}

/// The parts of one snapshot that the next may take over.
#[derive(Clone, Default)]
pub(crate) struct Carried {
    caches: HashMap<String, CarriedCache>,
    layers: HashMap<String, Arc<LayerMetrics>>,
    upstreams: HashMap<String, Arc<UpstreamStats>>,
    pools: HashMap<String, UpstreamPool>,
    failed_auth: Option<(Rate, FailedAuthLimiter)>,
}

/// Building a snapshot: what the previous one had (`from`), and what this one uses (`into`,
/// which the next reload starts from).
#[derive(Default)]
pub(crate) struct Carry {
    from: Carried,
    into: Carried,
    /// Starts the store's feed into each new cache (none: no feed).
    subscribe: Option<Subscribe>,
    /// What `/metrics` shows of the snapshot being built.
    pub(crate) metrics: PublicMetrics,
}

impl Carry {
    /// Building over what `previous` had (nothing at start), each new cache fed by
    /// `subscribe`.
    pub(crate) fn new(previous: Carried, subscribe: Option<Subscribe>) -> Carry {
        Carry {
            from: previous,
            subscribe,
            ..Carry::default()
        }
    }

    /// What the built snapshot uses, and its metrics.
    pub(crate) fn finish(self) -> (Carried, PublicMetrics) {
        (self.into, self.metrics)
    }

    /// The token cache of `service`: the previous snapshot's when it had one with the same
    /// `knobs` (its tokens stay cached), else a new one from `make` (with its feed).
    pub(crate) fn cache(
        &mut self,
        service: &str,
        knobs: CacheKnobs,
        make: impl FnOnce() -> CarriedCache,
    ) -> CarriedCache {
        if let Some(built) = self.into.caches.get(service) {
            return built.clone();
        }
        let carried = match self.from.caches.remove(service) {
            Some(old) if old.knobs == knobs => old,
            old => {
                if old.is_some() {
                    tracing::info!(
                        service,
                        "the token cache settings changed: the service's cache starts empty"
                    );
                }
                let mut made = make();
                if let Some(subscribe) = &self.subscribe {
                    made.feed = subscribe(&made.cache);
                }
                made
            }
        };
        self.into.caches.insert(service.to_owned(), carried.clone());
        carried
    }

    /// The request counters of the layer of route `name` (`public` for the single stack).
    pub(crate) fn layer_metrics(&mut self, name: &str) -> Arc<LayerMetrics> {
        let metrics = self.from.layers.remove(name).unwrap_or_default();
        self.into.layers.insert(name.to_owned(), metrics.clone());
        metrics
    }

    /// The upstream statistics of route `name`.
    pub(crate) fn upstream_stats(&mut self, name: &str) -> Arc<UpstreamStats> {
        let stats = self.from.upstreams.remove(name).unwrap_or_default();
        self.into.upstreams.insert(name.to_owned(), stats.clone());
        stats
    }

    /// Route `name`'s `pool`, with the previous snapshot's knowledge of which of its
    /// upstreams are marked out.
    pub(crate) fn upstream_pool(&mut self, name: &str, pool: UpstreamPool) -> UpstreamPool {
        let pool = match self.from.pools.remove(name) {
            Some(previous) => pool.keep_health_of(&previous),
            None => pool,
        };
        self.into.pools.insert(name.to_owned(), pool.clone());
        pool
    }

    /// The failed-authentication limiter for `rate`: the previous one (and what it counts of
    /// each address) when the rate is the same.
    pub(crate) fn failed_auth(&mut self, rate: Option<Rate>) -> Option<FailedAuthLimiter> {
        let rate = rate?;
        let limiter = match self.from.failed_auth.take() {
            Some((old, limiter)) if old == rate => limiter,
            _ => FailedAuthLimiter::new(rate),
        };
        self.into.failed_auth = Some((rate, limiter.clone()));
        Some(limiter)
    }
}
