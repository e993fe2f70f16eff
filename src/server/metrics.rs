//! [`Metrics`]: the counters and latency histograms that the admin listener's `/metrics` shows
//! in the Prometheus text format, and the wrappers that feed them.
//!
//! Histograms are fixed buckets of atomics: no lock, no allocation per observation.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::{Request, Response};

use crate::auth::LayerMetrics;
use crate::limit::FailedAuthLimiter;
use crate::model::TokenInfo;
use crate::proxy::UpstreamFailure;
use crate::resolve::CachedToken;
use crate::resolve::{LimitedResolver, LocalResolver, Resolve, TokenCache};
use crate::striped::Striped;
use crate::Error;

use super::upstream_outcome::{AccessNote, UpstreamStats};

/// Upper bounds of the latency buckets, in seconds.
const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with the fixed [`BOUNDS`] (plus `+Inf`), counted per thread
/// ([`Striped`]: the upstream histogram is observed on every request).
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    cells: Striped<Cells>,
}

/// One thread's histogram counts.
#[derive(Debug, Default)]
struct Cells {
    /// Per-bucket counts (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let i = BOUNDS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BOUNDS.len());
        let cells = self.cells.local();
        cells.buckets[i].fetch_add(1, Ordering::Relaxed);
        cells.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        cells.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        self.render_series(out, name, "");
    }

    /// The samples without `# HELP`/`# TYPE`; `labels` (such as `route="a",`) go before `le`.
    fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        for i in 0..=BOUNDS.len() {
            cumulative += self.cells.sum(|c| &c.buckets[i]);
            match BOUNDS.get(i) {
                Some(bound) => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let labels = labels.trim_end_matches(',');
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.cells.sum(|c| &c.sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braced} {sum}");
        // The count is at least the buckets' total read above, so `+Inf` never exceeds it.
        let count = self.cells.sum(|c| &c.count).max(cumulative);
        let _ = writeln!(out, "{name}_count{braced} {count}");
    }
}

/// Tokens issued and revoked through the store, and token lookups in it (see
/// `CountingStore`).
#[derive(Debug, Default)]
pub(crate) struct TokenCounters {
    pub(crate) issued: AtomicU64,
    pub(crate) revoked: AtomicU64,
    pub(crate) lookups: AtomicU64,
}

/// One route's metrics: its layer's outcomes (none for a public route) and its upstream
/// latency. The name comes from the configuration, never from a request.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    pub(crate) name: String,
    pub(crate) layer: Option<Arc<LayerMetrics>>,
    pub(crate) upstream: Arc<UpstreamStats>,
}

/// What `/metrics` on the admin listener shows, in the Prometheus text format (version 0.0.4):
///
/// | metric | type | what |
/// |---|---|---|
/// | `tokengate_requests_total{outcome}` | counter | requests through the OAuth layer: `allowed`, `no_token`, `invalid_token`, `insufficient_scope`, `invalid_request`, `unavailable` |
/// | `tokengate_cache_hits_total` | counter | tokens answered from the cache |
/// | `tokengate_cache_negative_hits_total` | counter | unknown tokens answered from the negative cache |
/// | `tokengate_cache_misses_total` | counter | lookups that went to the store |
/// | `tokengate_cache_coalesced_total` | counter | lookups that waited for another request's lookup of the same token |
/// | `tokengate_cache_errors_total` | counter | store failures during lookups |
/// | `tokengate_cache_forged_total` | counter | tokens refused without a lookup: not of the issued form (length, alphabet or integrity tag) |
/// | `tokengate_resolve_duration_seconds` | histogram | time of one store lookup (cache misses only) |
/// | `tokengate_upstream_duration_seconds` | histogram | time until the upstream's (or echo's) response head |
/// | `tokengate_route_requests_total{route,outcome}` | counter | with `[[routes]]`: `tokengate_requests_total` by route (routes with `auth = "oauth"`) |
/// | `tokengate_route_upstream_duration_seconds{route}` | histogram | with `[[routes]]`: the upstream time by route |
/// | `tokengate_upstream_failures_total{kind}` | counter | proxied requests without an upstream response: `connect`, `timeout`, `reset`, `tls`, `other` |
/// | `tokengate_tokens_issued_total` | counter | access tokens stored by this process |
/// | `tokengate_tokens_revoked_total` | counter | access tokens revoked by this process |
/// | `tokengate_limited_total{limit}` | counter | requests refused by a limit: `issue` (a client over its `issue_rate`), `failed_auth_public` / `failed_auth_admin` (an address over its `failed_auth_limit` on that listener), `lookups` (cache misses that found every lookup turn taken for `lookup_wait_ms`: answered 503) |
/// | `tokengate_store_token_lookups_total` | counter | queries for token records (by access token, refresh token or list) sent to the store, from every API |
/// | `tokengate_config_reloads_total{result}` | counter | configuration reloads (SIGHUP, [`super::ConfigReloader`]): `ok` (in force), `error` (refused: the previous configuration stays) |
///
/// With a PostgreSQL store (feature `postgres`), also
/// `tokengate_revocation_delay_seconds` (histogram: from a revocation's commit on any node to
/// its eviction here) and `tokengate_revocation_feed_connections_total` /
/// `tokengate_revocation_feed_flushes_total` (counters: the feed's (re)connections and whole-cache
/// flushes). With a SQLite store, `tokengate_change_feed_evicted_total` and
/// `tokengate_change_feed_flushes_total` (counters: tokens the change feed evicted, whole-cache
/// flushes).
///
/// With TLS on a listener, `tokengate_tls_handshakes_total{listener,result}` (counter:
/// `ok` or `failed`) and `tokengate_tls_certificate_expiry_seconds{listener}` (gauge: the
/// served certificate's `notAfter`, Unix seconds; alert on it minus `time()`).
///
/// The request and cache metrics are absent when the public listener is disabled.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The public listener's parts, replaced with its snapshot at each configuration reload.
    pub(crate) public: ArcSwap<PublicMetrics>,
    pub(crate) resolve: Arc<Histogram>,
    pub(crate) upstream: Arc<UpstreamStats>,
    pub(crate) tokens: Arc<TokenCounters>,
    /// The token service, for its issuance limits in force (replaced at reload).
    pub(crate) issue_limits: Option<Arc<crate::oauth::TokenService>>,
    pub(crate) admin_failed_auth: Option<FailedAuthLimiter>,
    /// Configuration reloads that took effect (`ok`) and that were refused (`error`).
    pub(crate) reloads: ReloadCounters,
    /// The TLS listeners, by name (`public`, `admin`).
    pub(crate) tls: Vec<(&'static str, super::listener::ListenerTls)>,
}

/// Configuration reloads by result (`tokengate_config_reloads_total{result}`).
#[derive(Debug, Default)]
pub(crate) struct ReloadCounters {
    pub(crate) ok: AtomicU64,
    pub(crate) error: AtomicU64,
}

/// What `/metrics` shows of the public listener as one configuration built it: its layer
/// (single upstream) or routes, the token cache and lookup limit of the first service, the
/// failed-authentication limiter. A reload swaps in a new one with the new snapshot (the
/// counters of what the reload kept, such as a route's, carry on).
#[derive(Debug, Default)]
pub(crate) struct PublicMetrics {
    pub(crate) layer: Option<Arc<LayerMetrics>>,
    pub(crate) cache: Option<TokenCache>,
    /// With `[[routes]]`: each route's, in the table's order.
    pub(crate) routes: Vec<RouteMetrics>,
    pub(crate) public_failed_auth: Option<FailedAuthLimiter>,
    pub(crate) lookups: Option<LimitedResolver<TimedResolver<LocalResolver>>>,
    /// The store's feed into `cache`.
    pub(crate) feed: super::feed::Feed,
}

impl PublicMetrics {
    /// `tokengate_route_*`: the per-route series, when there are routes.
    fn render_routes(&self, out: &mut String) {
        if self.routes.is_empty() {
            return;
        }
        let name = "tokengate_route_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests through the OAuth layer, by route and outcome."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for route in &self.routes {
            for (outcome, count) in route.layer.iter().flat_map(|l| l.outcomes()) {
                let route = &route.name;
                let _ = writeln!(
                    out,
                    "{name}{{route=\"{route}\",outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        let name = "tokengate_route_upstream_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time until the upstream's response head, by route."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for route in &self.routes {
            route
                .upstream
                .duration
                .render_series(out, name, &format!("route=\"{}\",", route.name));
        }
    }
}

impl Metrics {
    /// The metrics as Prometheus text.
    ///
    /// ```
    /// let text = tokengate::server::Metrics::default().render();
    /// assert!(text.contains("tokengate_tokens_issued_total 0"));
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let public = self.public.load();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        };
        let route_layers: Vec<&Arc<LayerMetrics>> = public
            .routes
            .iter()
            .filter_map(|r| r.layer.as_ref())
            .collect();
        let totals = match &public.layer {
            Some(layer) => Some(layer.outcomes()),
            None => route_layers.first().map(|first| {
                let mut totals = first.outcomes();
                for layer in &route_layers[1..] {
                    for (total, (_, count)) in totals.iter_mut().zip(layer.outcomes()) {
                        total.1 += count;
                    }
                }
                totals
            }),
        };
        if let Some(outcomes) = totals {
            let name = "tokengate_requests_total";
            let _ = writeln!(
                out,
                "# HELP {name} Requests through the OAuth layer, by outcome."
            );
            let _ = writeln!(out, "# TYPE {name} counter");
            for (outcome, count) in outcomes {
                let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {count}");
            }
        }
        public.render_routes(&mut out);
        if let Some(cache) = &public.cache {
            let (valid, unknown) = cache.entries();
            let name = "tokengate_cache_entries";
            let _ = writeln!(out, "# HELP {name} Tokens held by the cache now, by kind.");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name}{{kind=\"valid\"}} {valid}");
            let _ = writeln!(out, "{name}{{kind=\"unknown\"}} {unknown}");
            let stats = cache.stats();
            for (name, help, value) in [
                (
                    "tokengate_cache_hits_total",
                    "Tokens answered from the cache.",
                    stats.hits,
                ),
                (
                    "tokengate_cache_negative_hits_total",
                    "Unknown tokens answered from the negative cache.",
                    stats.negative_hits,
                ),
                (
                    "tokengate_cache_misses_total",
                    "Token lookups that went to the store.",
                    stats.misses,
                ),
                (
                    "tokengate_cache_coalesced_total",
                    "Token lookups that waited for a concurrent lookup of the same token.",
                    stats.coalesced,
                ),
                (
                    "tokengate_cache_errors_total",
                    "Token lookups that failed (store errors).",
                    stats.errors,
                ),
                (
                    "tokengate_cache_forged_total",
                    "Tokens refused without a lookup: not of the issued form (length, alphabet or tag).",
                    stats.forged,
                ),
            ] {
                counter(&mut out, name, help, value);
            }
        }
        self.resolve.render(
            &mut out,
            "tokengate_resolve_duration_seconds",
            "Time of one token lookup in the store (cache misses only).",
        );
        self.upstream.render(&mut out);
        counter(
            &mut out,
            "tokengate_tokens_issued_total",
            "Access tokens stored by this process.",
            self.tokens.issued.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "tokengate_tokens_revoked_total",
            "Access tokens revoked by this process.",
            self.tokens.revoked.load(Ordering::Relaxed),
        );
        let name = "tokengate_limited_total";
        let _ = writeln!(out, "# HELP {name} Requests refused by a limit.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (limit, count) in [
            (
                "issue",
                self.issue_limits
                    .as_ref()
                    .map(|t| t.issue_limits().refused()),
            ),
            (
                "failed_auth_public",
                public.public_failed_auth.as_ref().map(|l| l.refused()),
            ),
            (
                "failed_auth_admin",
                self.admin_failed_auth.as_ref().map(|l| l.refused()),
            ),
            ("lookups", public.lookups.as_ref().map(|l| l.shed())),
        ] {
            let _ = writeln!(out, "{name}{{limit=\"{limit}\"}} {}", count.unwrap_or(0));
        }
        counter(
            &mut out,
            "tokengate_store_token_lookups_total",
            "Queries for token records (by access token, refresh token or list) sent to the store.",
            self.tokens.lookups.load(Ordering::Relaxed),
        );
        #[cfg(feature = "postgres")]
        if let Some(feed) = &public.feed.revocations {
            let name = "tokengate_revocation_delay_seconds";
            let latency = feed.latency();
            let _ = writeln!(
                out,
                "# HELP {name} From a revocation's commit on any node to its eviction here."
            );
            let _ = writeln!(out, "# TYPE {name} histogram");
            for bucket in &latency.buckets {
                let le = bucket
                    .le
                    .map_or_else(|| "+Inf".to_owned(), |d| d.as_secs_f64().to_string());
                let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", bucket.count);
            }
            let _ = writeln!(out, "{name}_sum {}", latency.sum.as_secs_f64());
            let _ = writeln!(out, "{name}_count {}", latency.count);
            let stats = feed.stats();
            counter(
                &mut out,
                "tokengate_revocation_feed_connections_total",
                "Times the revocation feed started listening.",
                stats.connections,
            );
            counter(
                &mut out,
                "tokengate_revocation_feed_flushes_total",
                "Whole-cache flushes by the revocation feed (connection lost or regained).",
                stats.flushes,
            );
        }
        #[cfg(feature = "sqlite")]
        if let Some(feed) = &public.feed.changes {
            let stats = feed.stats();
            counter(
                &mut out,
                "tokengate_change_feed_evicted_total",
                "Tokens evicted by the SQLite change feed (changed by any process on the file).",
                stats.evicted,
            );
            counter(
                &mut out,
                "tokengate_change_feed_flushes_total",
                "Whole-cache flushes by the SQLite change feed (start, unread changes gone).",
                stats.flushes,
            );
        }
        let name = "tokengate_config_reloads_total";
        let _ = writeln!(
            out,
            "# HELP {name} Configuration reloads (SIGHUP or ConfigReloader), by result."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (result, count) in [("ok", &self.reloads.ok), ("error", &self.reloads.error)] {
            let _ = writeln!(
                out,
                "{name}{{result=\"{result}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        super::tls_metrics::render(&self.tls, &mut out);
        super::process_metrics::render(&mut out);
        out
    }
}

/// A [`Resolve`] that times every lookup of the resolver it wraps.
pub(crate) struct TimedResolver<R> {
    pub(crate) inner: R,
    pub(crate) histogram: Arc<Histogram>,
}

#[async_trait]
impl<R: Resolve> Resolve for TimedResolver<R> {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        let started = Instant::now();
        let outcome = self.inner.resolve(token).await;
        self.histogram.observe(started.elapsed());
        outcome
    }

    fn may_know(&self, token: &str) -> bool {
        self.inner.may_know(token)
    }
}

/// A service that times its inner service's (the upstream's) response heads, counts the
/// proxy's failures by kind, and with `access` puts an [`AccessNote`] on the response.
#[derive(Debug, Clone)]
pub(crate) struct TimedService<S> {
    pub(crate) inner: S,
    pub(crate) stats: Arc<UpstreamStats>,
    /// Whether the access log is on.
    pub(crate) access: bool,
}

impl<S, B, ResBody> tower::Service<Request<B>> for TimedService<S>
where
    S: tower::Service<Request<B>, Response = Response<ResBody>, Error = Infallible>,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let client_id = self.access.then(|| {
            req.extensions()
                .get::<CachedToken>()
                .map(|token| token.client_id().to_owned())
        });
        TimedFuture {
            started: Instant::now(),
            stats: self.stats.clone(),
            client_id,
            inner: self.inner.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`TimedService`]: the inner future, observed into the stats when it
    /// completes. Not boxed.
    pub(crate) struct TimedFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        stats: Arc<UpstreamStats>,
        // With the access log on: the token's client, if the request had one.
        client_id: Option<Option<String>>,
    }
}

impl<F, B> Future for TimedFuture<F>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        this.stats.duration.observe(this.started.elapsed());
        let failure = response.extensions().get::<UpstreamFailure>().copied();
        if let Some(kind) = failure {
            this.stats.failed(kind);
        }
        if let Some(client_id) = this.client_id.take() {
            let upstream_status = failure.is_none().then(|| response.status().as_u16());
            response.extensions_mut().insert(AccessNote {
                client_id,
                upstream_status,
            });
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert!(out.contains("x_sum 20.0033\n"), "{out}");
        assert!(
            out.starts_with("# HELP x help\n# TYPE x histogram\n"),
            "{out}"
        );
    }
}
