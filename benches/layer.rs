//! The gateway's hot path: a request with a cached token through `OAuthLayer` around a no-op
//! service, against the same no-op service bare, in the same run. Also prints allocations per
//! request for both (a counting global allocator).
//!
//! Run: `cargo bench --bench layer`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use tokengate::auth::OAuthLayer;
use tokengate::model::{Client, ClientStatus, Service};
use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
use tokengate::resolve::{LocalResolver, TokenCache};
use tokengate::secret::Pepper;
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

const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";

async fn setup() -> (OAuthLayer, String) {
    let store = Arc::new(MemoryStore::new());
    let pepper = Pepper::new(b"bench pepper 0123456789abcdef".to_vec());
    store
        .put_service(&Service::new(SERVICE, "Bench API"))
        .await
        .unwrap();
    store
        .put_client(&Client {
            id: 1,
            external_id: None,
            name: "bench".into(),
            attributes: None,
            client_id: "bench-client".into(),
            secret_hash: Some(pepper.hash_secret("bench-secret")),
            redirect_uris: vec![],
            services: vec![SERVICE.into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        })
        .await
        .unwrap();
    let tokens = Arc::new(TokenService::new(store, pepper));
    let token = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new("bench-client", "bench-secret"),
            &TokenRequest {
                scope: Some("read write".into()),
                ..TokenRequest::grant("password")
            },
            None,
            Some("user12345"),
        )
        .await
        .unwrap()
        .access_token;
    let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), SERVICE)).build();
    cache.listen_to(&tokens);
    let layer = OAuthLayer::new(cache);
    (layer, token)
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

fn layer_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (layer, token) = rt.block_on(setup());
    let auth = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
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
    group.finish();

    let bare_allocs = allocations_per_request(&rt, &mut bare, &auth);
    let layer_allocs = allocations_per_request(&rt, &mut layered, &auth);
    println!(
        "allocations per request: bare {bare_allocs:.2}, with layer {layer_allocs:.2} (+{:.2})",
        layer_allocs - bare_allocs
    );
}

criterion_group!(benches, layer_hit);
criterion_main!(benches);
