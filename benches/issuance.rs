//! `createAccessToken` (client_credentials) throughput on the memory and SQLite stores, one
//! at a time and 64 at once.
//!
//! Run: `cargo bench --bench issuance`. The memory store is the baseline; SQLite runs with
//! `synchronous=FULL`, so every token is on disk before it is returned.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokengate::model::{Client, ClientStatus, Service};
use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
use tokengate::secret::Pepper;
use tokengate::store::{MemoryStore, Store};

const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
const CONCURRENT: usize = 64;

async fn token_service(store: Arc<dyn Store>) -> Arc<TokenService> {
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
    Arc::new(TokenService::new(store, pepper))
}

async fn issue(tokens: &TokenService) {
    tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new("bench-client", "bench-secret"),
            &TokenRequest::grant("client_credentials"),
            None,
            None,
        )
        .await
        .expect("issued");
}

fn bench_store(
    c: &mut Criterion,
    name: &str,
    tokens: Arc<TokenService>,
    rt: &tokio::runtime::Runtime,
) {
    let mut group = c.benchmark_group("create_access_token");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("sequential", name), |b| {
        b.to_async(rt).iter(|| issue(&tokens))
    });
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function(
        BenchmarkId::new(format!("concurrent_{CONCURRENT}"), name),
        |b| {
            b.to_async(rt).iter(|| async {
                let tasks: Vec<_> = (0..CONCURRENT)
                    .map(|_| {
                        let tokens = tokens.clone();
                        tokio::spawn(async move { issue(&tokens).await })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        },
    );
    group.finish();
}

fn issuance(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let memory = rt.block_on(token_service(Arc::new(MemoryStore::new())));
    bench_store(c, "memory", memory, &rt);
    #[cfg(feature = "sqlite")]
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.db");
        let store = rt
            .block_on(tokengate::store::SqliteStore::open(path.to_str().unwrap()))
            .unwrap();
        let sqlite = rt.block_on(token_service(Arc::new(store)));
        bench_store(c, "sqlite", sqlite, &rt);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = issuance
}
criterion_main!(benches);
