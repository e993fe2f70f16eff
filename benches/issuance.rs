//! `createAccessToken` throughput on the memory and SQLite stores: client_credentials one at a
//! time and from 64 concurrent clients, then each grant one at a time (authorization_code
//! includes creating the code; refresh_token rotates a chain of refresh tokens).
//!
//! "64 concurrent" is a closed loop: 64 tasks, each asking for its next token as soon as it has
//! the previous one, as 64 clients of a server would (not rounds of 64 that wait for the
//! slowest, where every round would start with one token committed alone).
//!
//! Run: `cargo bench --bench issuance`. The memory store is the same-run baseline; SQLite runs
//! with `synchronous=FULL`, so every token is on disk before it is returned. With group commit
//! the concurrent figure is the one that shows it: one fsync covers every write queued at once.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{issue, issue_by_code, refresh, runtime, stores, token_service};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokengate::oauth::TokenService;

const CONCURRENT: usize = 64;

fn bench_store(
    c: &mut Criterion,
    name: &str,
    tokens: Arc<TokenService>,
    rt: &tokio::runtime::Runtime,
) {
    let mut group = c.benchmark_group("create_access_token");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("sequential", name), |b| {
        b.to_async(rt).iter(|| issue(&tokens, "client_credentials"))
    });
    group.bench_function(
        BenchmarkId::new(format!("concurrent_{CONCURRENT}"), name),
        |b| {
            b.to_async(rt).iter_custom(|iters| {
                let tokens = tokens.clone();
                async move {
                    let start = Instant::now();
                    let workers: Vec<_> = (0..CONCURRENT as u64)
                        .map(|worker| {
                            let tokens = tokens.clone();
                            // `iters` tokens in all, shared out among the workers.
                            let share = iters / CONCURRENT as u64
                                + u64::from(worker < iters % CONCURRENT as u64);
                            tokio::spawn(async move {
                                for _ in 0..share {
                                    issue(&tokens, "client_credentials").await;
                                }
                            })
                        })
                        .collect();
                    for worker in workers {
                        worker.await.unwrap();
                    }
                    start.elapsed()
                }
            })
        },
    );
    group.finish();

    let mut group = c.benchmark_group("create_access_token_grant");
    group.throughput(Throughput::Elements(1));
    for grant in ["client_credentials", "password"] {
        group.bench_function(BenchmarkId::new(grant, name), |b| {
            b.to_async(rt).iter(|| issue(&tokens, grant))
        });
    }
    group.bench_function(BenchmarkId::new("authorization_code", name), |b| {
        b.to_async(rt).iter(|| issue_by_code(&tokens))
    });
    let chain = Mutex::new(rt.block_on(issue(&tokens, "password")).1.unwrap());
    group.bench_function(BenchmarkId::new("refresh_token", name), |b| {
        b.to_async(rt).iter(|| async {
            let current = chain.lock().unwrap().clone();
            let next = refresh(&tokens, current).await;
            *chain.lock().unwrap() = next;
        })
    });
    group.finish();
}

fn issuance(c: &mut Criterion) {
    let rt = runtime(2);
    for (name, store, _dir) in rt.block_on(stores()) {
        let tokens = rt.block_on(token_service(store));
        bench_store(c, name, tokens, &rt);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = issuance
}
criterion_main!(benches);
