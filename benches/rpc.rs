//! The JSON-RPC API in process, through its tower service (no socket): the envelope
//! (authentication, body read, parse, dispatch, serialize) around a cheap call, around
//! `createAccessToken`, and the `fetchAccessToken` list form with 100 tokens, on the memory
//! and SQLite stores.
//!
//! Run: `cargo bench --bench rpc`.

mod common;

use base64::Engine as _;
use bytes::Bytes;
use common::{issue, runtime, stores, token_service, CLIENT, SECRET, SERVICE};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tokengate::rpc::{Credentials, JsonRpcService};
use tower::ServiceExt;

const KEY: &str = "ops";
const KEY_SECRET: &str = "s3cret";

fn request(auth: &HeaderValue, body: &Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = http::Uri::from_static("/v2/json-rpc");
    req.headers_mut()
        .insert(http::header::AUTHORIZATION, auth.clone());
    req.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    req
}

async fn call(rpc: &JsonRpcService, auth: &HeaderValue, body: &Bytes) -> Bytes {
    let res = rpc.clone().oneshot(request(auth, body)).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    debug_assert!(!body.windows(8).any(|w| w == b"\"error\":"), "{body:?}");
    body
}

fn rpc(c: &mut Criterion) {
    let rt = runtime(2);
    let auth = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{KEY_SECRET}"))
    ))
    .unwrap();
    let mut group = c.benchmark_group("jsonrpc");
    group.throughput(Throughput::Elements(1));
    for (name, store, _dir) in rt.block_on(stores()) {
        let tokens = rt.block_on(token_service(store));
        let rpc = JsonRpcService::new(
            tokens.clone(),
            Credentials::new(vec![(KEY.into(), KEY_SECRET.into())]),
        );
        let list: Vec<String> = rt.block_on(async {
            let mut list = Vec::new();
            for _ in 0..100 {
                list.push(issue(&tokens, "password").await.0);
            }
            list
        });
        let one = Bytes::from(
            json!({"jsonrpc":"2.0","method":"oauth2.fetchAccessToken","params":[SERVICE, list[0]],"id":1})
                .to_string(),
        );
        let hundred = Bytes::from(
            json!({"jsonrpc":"2.0","method":"oauth2.fetchAccessToken","params":[SERVICE, list],"id":1})
                .to_string(),
        );
        let create = Bytes::from(
            json!({"jsonrpc":"2.0","method":"oauth2.createAccessToken","params":{
                "service_key": SERVICE,
                "client": {"client_id": CLIENT, "client_secret": SECRET},
                "token_data": {"grant_type": "client_credentials"},
            },"id":1})
            .to_string(),
        );
        rt.block_on(async {
            for body in [&one, &hundred, &create] {
                let res = call(&rpc, &auth, body).await;
                assert!(
                    !String::from_utf8_lossy(&res).contains("\"error\""),
                    "{}",
                    String::from_utf8_lossy(&res)
                );
            }
        });
        group.bench_function(BenchmarkId::new("fetchAccessToken", name), |b| {
            b.to_async(&rt).iter(|| call(&rpc, &auth, &one))
        });
        group.bench_function(BenchmarkId::new("fetchAccessToken_list_100", name), |b| {
            b.to_async(&rt).iter(|| call(&rpc, &auth, &hundred))
        });
        group.bench_function(BenchmarkId::new("createAccessToken", name), |b| {
            b.to_async(&rt).iter(|| call(&rpc, &auth, &create))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = rpc
}
criterion_main!(benches);
