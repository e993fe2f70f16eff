//! The gateway's hot path: a request with a cached token through `OAuthLayer` around a no-op
//! service, against the same no-op service bare, in the same run. Also prints allocations per
//! request for both (a counting global allocator).
//!
//! Every request carries one extension already (a `ClientAddr`), as requests from hyper
//! through our server do; the layer's `TokenInfo` extension is then one allocation (its box),
//! where a request without extensions would also pay for the extension map.
//!
//! `layer_hit/forged_token` is the junk-token defence: a random well-formed token (wrong
//! integrity tag) misses the cache and is refused before any lookup, on every request.
//!
//! Then the miss path (the token is dropped from the cache before each request, so each one
//! is resolved through the store; the invalidation is part of the measured time) on the memory
//! and SQLite stores, and 64 concurrent requests on one uncached token (one store lookup).
//!
//! Run: `cargo bench --bench layer`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{issue, runtime, stores, token_service, SERVICE};
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use tokengate::auth::OAuthLayer;
use tokengate::proxy::ClientAddr;
use tokengate::resolve::{LocalResolver, TokenCache};
use tokengate::secret::TokenHash;
use tokengate::store::{MemoryStore, Store};
use tower::{Service as _, ServiceExt};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A layer over a cache over `store`, and a valid token with scope and user context.
async fn setup(store: Arc<dyn Store>) -> (OAuthLayer, TokenCache, String) {
    let tokens = token_service(store).await;
    let (token, _) = issue(&tokens, "password").await;
    let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), SERVICE)).build();
    cache.listen_to(&tokens);
    let layer = OAuthLayer::new(cache.clone());
    (layer, cache, token)
}

fn request(auth: &http::HeaderValue) -> Request<String> {
    let mut req = Request::new(String::new());
    *req.uri_mut() = http::Uri::from_static("/reviews/42");
    let headers = req.headers_mut();
    headers.insert(
        http::header::HOST,
        http::HeaderValue::from_static("api.example.com"),
    );
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("bench/1.0"),
    );
    headers.insert(http::header::AUTHORIZATION, auth.clone());
    req.extensions_mut()
        .insert(ClientAddr(std::net::SocketAddr::from((
            [192, 0, 2, 7],
            50123,
        ))));
    req
}

fn noop() -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<String>, Infallible>>,
> + Clone {
    tower::service_fn(|_req: Request<String>| std::future::ready(Ok(Response::new(String::new()))))
}

fn allocations_per_request<S>(
    rt: &tokio::runtime::Runtime,
    svc: &mut S,
    auth: &http::HeaderValue,
) -> f64
where
    S: tower::Service<Request<String>, Response = Response<String>>,
    S::Error: std::fmt::Debug,
{
    const N: u64 = 10_000;
    rt.block_on(async {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..N {
            let res = svc
                .ready()
                .await
                .unwrap()
                .call(request(auth))
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        }
        (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / N as f64
    })
}

/// The fastest of many rounds of `N` requests, in ns per request: on a busy machine the
/// minimum is a steadier figure than criterion's mean.
fn min_ns_per_request<S>(rt: &tokio::runtime::Runtime, svc: &mut S, auth: &http::HeaderValue) -> f64
where
    S: tower::Service<Request<String>, Response = Response<String>>,
    S::Error: std::fmt::Debug,
{
    const N: u32 = 2_000;
    const ROUNDS: u32 = 200;
    rt.block_on(async {
        let mut best = f64::MAX;
        for _ in 0..ROUNDS {
            let start = std::time::Instant::now();
            for _ in 0..N {
                let res = svc
                    .ready()
                    .await
                    .unwrap()
                    .call(request(auth))
                    .await
                    .unwrap();
                std::hint::black_box(res);
            }
            best = best.min(start.elapsed().as_nanos() as f64 / f64::from(N));
        }
        best
    })
}

fn layer_hit(c: &mut Criterion) {
    let rt = runtime(0);
    let (layer, cache, token) = rt.block_on(setup(Arc::new(MemoryStore::new())));
    let auth = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let forged =
        http::HeaderValue::from_str(&format!("Bearer {}", tokengate::secret::junk_token()))
            .unwrap();
    let mut bare = noop();
    let mut layered = tower::ServiceBuilder::new().layer(layer).service(noop());
    // Warm the cache.
    rt.block_on(async {
        let res = layered
            .ready()
            .await
            .unwrap()
            .call(request(&auth))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    });

    let mut group = c.benchmark_group("layer_hit");
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter(|| {
            let req = request(&auth);
            let mut svc = bare.clone();
            async move { svc.ready().await.unwrap().call(req).await.unwrap() }
        })
    });
    group.bench_function("with_layer", |b| {
        b.to_async(&rt).iter(|| {
            let req = request(&auth);
            let mut svc = layered.clone();
            async move { svc.ready().await.unwrap().call(req).await.unwrap() }
        })
    });
    let misses = cache.stats().misses;
    // Whether criterion ran it: not when a filter leaves it out.
    let forged_ran = std::cell::Cell::new(false);
    group.bench_function("forged_token", |b| {
        b.to_async(&rt).iter(|| {
            forged_ran.set(true);
            let req = request(&forged);
            let mut svc = layered.clone();
            async move {
                let res = svc.ready().await.unwrap().call(req).await.unwrap();
                debug_assert_eq!(res.status(), 401);
                res
            }
        })
    });
    group.finish();
    assert_eq!(
        cache.stats().misses,
        misses,
        "forged tokens are never looked up"
    );
    assert!(!forged_ran.get() || cache.stats().forged > 0);

    let bare_allocs = allocations_per_request(&rt, &mut bare, &auth);
    let layer_allocs = allocations_per_request(&rt, &mut layered, &auth);
    println!(
        "allocations per request: bare {bare_allocs:.2}, with layer {layer_allocs:.2} (+{:.2})",
        layer_allocs - bare_allocs
    );
    let mut bare_ns = f64::MAX;
    let mut layer_ns = f64::MAX;
    // Interleaved, so both see the same machine.
    for _ in 0..3 {
        bare_ns = bare_ns.min(min_ns_per_request(&rt, &mut bare, &auth));
        layer_ns = layer_ns.min(min_ns_per_request(&rt, &mut layered, &auth));
    }
    println!(
        "fastest round, ns per request: bare {bare_ns:.0}, with layer {layer_ns:.0} (+{:.0})",
        layer_ns - bare_ns
    );
    let forged_ns = min_ns_per_request(&rt, &mut layered, &forged);
    println!("fastest round, ns per request: forged token refused {forged_ns:.0}");
}

fn layer_miss(c: &mut Criterion) {
    const CONCURRENT: usize = 64;
    let rt = runtime(2);
    let mut group = c.benchmark_group("layer_miss");
    for (name, store, _dir) in rt.block_on(stores()) {
        let (layer, cache, token) = rt.block_on(setup(store));
        let auth = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let layered = tower::ServiceBuilder::new().layer(layer).service(noop());
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                cache.invalidate(&token);
                let res = layered.clone().oneshot(request(&auth)).await.unwrap();
                assert_eq!(res.status(), 200);
            })
        });
        group.bench_function(format!("coalesced_{CONCURRENT}/{name}"), |b| {
            b.to_async(&rt).iter(|| async {
                cache.invalidate(&token);
                let tasks: Vec<_> = (0..CONCURRENT)
                    .map(|_| tokio::spawn(layered.clone().oneshot(request(&auth))))
                    .collect();
                for t in tasks {
                    assert_eq!(t.await.unwrap().unwrap().status(), 200);
                }
            })
        });
        let stats = cache.stats();
        println!(
            "{name}: misses {}, coalesced {} (coalesced requests never reach the store)",
            stats.misses, stats.coalesced
        );
    }
    group.finish();
}

/// The cache key of every request: SHA-256 of a 32-character token (one block). With the
/// SHA extensions (`sha_ni`), which `sha2` detects at run time, this is well under 100 ns.
fn token_hash(c: &mut Criterion) {
    let token = tokengate::secret::generate_token();
    c.bench_function("token_hash", |b| {
        b.iter(|| TokenHash::of(std::hint::black_box(&token)))
    });
}

criterion_group!(benches, layer_hit, layer_miss, token_hash);
criterion_main!(benches);
