//! Several tokengate nodes on one PostgreSQL database: each node is a `PostgresStore` with a
//! pool of its own. Single-use operations have one winner across nodes; a revocation on one node
//! is pushed to the others' caches; a lost notification connection flushes the cache.
//!
//! Needs the test database of `tests/support/postgres.rs` (fails, naming it, when it does not answer).
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokengate::model::{
    AuthorizationCode, Client, ClientStatus, GrantType, RefreshState, TokenRecord, TokenType,
    TokenUpdate,
};
use tokengate::oauth::TokenService;
use tokengate::resolve::{LocalResolver, Lookup, TokenCache};
use tokengate::secret::{generate_id, generate_token, Pepper, TokenHash};
use tokengate::store::{
    PostgresStore, Redemption, Revocation, RevocationListener, Rotation, Store,
};
use tokio::sync::Barrier;

#[path = "support/postgres.rs"]
mod pg;

const SERVICE: &str = "svc";
const HOUR: i64 = 3_600_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A live bearer token of `SERVICE`, valid for an hour, with its refresh token.
fn record(token: &str) -> TokenRecord {
    let id = generate_id();
    TokenRecord {
        id: id.clone(),
        token_hash: TokenHash::of(token),
        service_key: SERVICE.into(),
        client_id: "app".into(),
        token_type: TokenType::Bearer,
        grant_type: GrantType::Password,
        scope: Some("read".into()),
        user_context: Some("alice".into()),
        created_at: now(),
        expires_at: now() + HOUR,
        revoked: false,
        refresh: Some(RefreshState {
            hash: TokenHash::of(&generate_token()),
            expires_at: now() + 2 * HOUR,
            used: false,
        }),
        family_id: id,
        code_hash: None,
    }
}

/// A node: a store of its own on the test database, where the client that holds every
/// `record` is registered (a token is only valid while its client holds it).
async fn node(db: &pg::TestDb) -> PostgresStore {
    let store = db.store().await;
    store.put_client(&holder()).await.unwrap();
    store
}

/// The active client `app`, registered for `SERVICE`.
fn holder() -> Client {
    Client {
        id: 1,
        external_id: None,
        name: "App".into(),
        attributes: None,
        client_id: "app".into(),
        secret_hash: None,
        redirect_uris: vec![],
        services: vec![SERVICE.into()],
        status: ClientStatus::Active,
        allowed_scopes: None,
    }
}

/// The nodes' pepper.
fn pepper() -> Pepper {
    Pepper::new(b"test pepper".to_vec())
}

/// A new token as the nodes issue it (tagged with their pepper's key), not stored.
fn new_token() -> String {
    pepper().tag_key().issue()
}

/// A gateway node's cache over `store`, as the server builds it.
fn cache_over(store: &PostgresStore) -> TokenCache {
    let tokens = Arc::new(TokenService::new(Arc::new(store.clone()), pepper()));
    TokenCache::builder(LocalResolver::new(tokens, SERVICE))
        .ttl(Duration::from_secs(60))
        .build()
}

/// A node with its cache subscribed to revocations, listening.
async fn subscribed_node(db: &pg::TestDb) -> (PostgresStore, TokenCache, RevocationListener) {
    let store = node(db).await;
    let cache = cache_over(&store);
    let listener = store.subscribe(&cache);
    tokio::time::timeout(Duration::from_secs(10), listener.ready())
        .await
        .expect("the listener connects");
    (store, cache, listener)
}

/// Issues a token (through `store`) and makes `cache` hold it.
async fn cached_token(store: &PostgresStore, cache: &TokenCache) -> (String, TokenHash) {
    let token = new_token();
    store.insert_token(&record(&token)).await.unwrap();
    assert!(matches!(
        cache.lookup(&token).await.unwrap(),
        Lookup::Valid(_)
    ));
    let hash = TokenHash::of(&token);
    assert!(matches!(cache.cached(&hash), Some(Lookup::Valid(_))));
    (token, hash)
}

/// Whether `cache` would still serve the token without asking the store.
fn serves(cache: &TokenCache, hash: &TokenHash) -> bool {
    matches!(cache.cached(hash), Some(Lookup::Valid(_)))
}

/// Waits (spinning, for precision) until `cache` no longer serves the token; the time taken, or
/// `None` after `limit`.
async fn until_evicted(cache: &TokenCache, hash: &TokenHash, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while serves(cache, hash) {
        if start.elapsed() > limit {
            return None;
        }
        tokio::task::yield_now().await;
    }
    Some(start.elapsed())
}

async fn terminate(db: &pg::TestDb, pid: u32) {
    let mut conn = db.connection().await;
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid as i32)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(done, "backend {pid} terminated");
}

async fn until_reconnected(listener: &RevocationListener, connections: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener.stats().connections < connections || !listener.is_listening() {
        assert!(Instant::now() < deadline, "reconnected: {listener:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let db = pg::TestDb::new();
    let db = Arc::new(db);
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.store().await })
        })
        .collect();
    for start in starts {
        start.await.unwrap();
    }
    let mut conn = db.connection().await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM tokengate_schema ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![1, 2, 3, 4, 5, 6],
        "each migration applied exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_redemptions_across_two_nodes_have_one_winner() {
    let db = pg::TestDb::new();
    let nodes: [Arc<dyn Store>; 2] = [Arc::new(node(&db).await), Arc::new(node(&db).await)];
    for round in 0..5 {
        let code = AuthorizationCode {
            code_hash: TokenHash::of(&generate_token()),
            service_key: SERVICE.into(),
            client_id: "app".into(),
            redirect_uri: None,
            scope: None,
            user_context: Some("alice".into()),
            pkce: None,
            expires_at: now() + 300_000,
            used: false,
        };
        nodes[round % 2].insert_code(&code).await.unwrap();
        let start = Arc::new(Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let node = nodes[i % 2].clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    node.redeem_code(&code.code_hash).await.unwrap()
                })
            })
            .collect();
        let (mut fresh, mut replayed) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Redemption::Fresh(c) => {
                    assert!(!c.used);
                    fresh += 1
                }
                Redemption::Replayed(c) => {
                    assert!(c.used);
                    replayed += 1
                }
                Redemption::Unknown => panic!("the code exists"),
            }
        }
        assert_eq!((fresh, replayed), (1, 19), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_rotations_across_two_nodes_have_one_winner() {
    let db = pg::TestDb::new();
    let nodes: [Arc<dyn Store>; 2] = [Arc::new(node(&db).await), Arc::new(node(&db).await)];
    for round in 0..5 {
        let first = record(&generate_token());
        nodes[round % 2].insert_token(&first).await.unwrap();
        let old = first.refresh.as_ref().unwrap().hash;
        let nexts: Vec<TokenRecord> = (0..20)
            .map(|_| TokenRecord {
                grant_type: GrantType::RefreshToken,
                family_id: first.family_id.clone(),
                ..record(&generate_token())
            })
            .collect();
        let start = Arc::new(Barrier::new(20));
        let tasks: Vec<_> = nexts
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, next)| {
                let node = nodes[i % 2].clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    node.rotate_refresh(&old, &next).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let rotated = outcomes.iter().filter(|o| **o == Rotation::Rotated).count();
        let reused = outcomes.iter().filter(|o| **o == Rotation::Reused).count();
        assert_eq!((rotated, reused), (1, 19), "round {round}");
        let mut stored = 0;
        for next in &nexts {
            stored += usize::from(nodes[0].token(&next.token_hash).await.unwrap().is_some());
        }
        assert_eq!(stored, 1, "exactly one successor is stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_and_update_on_one_node_evict_from_the_other_within_a_second() {
    let db = pg::TestDb::new();
    let a = node(&db).await;
    let (b, cache_b, listener_b) = subscribed_node(&db).await;

    // Revoke on A, once the token is cached on B.
    let (token, hash) = cached_token(&b, &cache_b).await;
    let revoked_at = Instant::now();
    assert_eq!(
        a.revoke(Revocation::Token(&hash)).await.unwrap(),
        vec![hash]
    );
    let after_return = until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("B drops the revoked token within 1 s");
    eprintln!(
        "revoke on A → evicted on B: {:?} after the revoke started, {after_return:?} after it \
         returned",
        revoked_at.elapsed()
    );
    assert!(matches!(
        cache_b.lookup(&token).await.unwrap(),
        Lookup::Invalid
    ));

    // A family revocation pushes every token of the family.
    let (_, first) = cached_token(&b, &cache_b).await;
    let family = b.token(&first).await.unwrap().unwrap().family_id;
    let sibling_token = new_token();
    let sibling = TokenRecord {
        family_id: family.clone(),
        ..record(&sibling_token)
    };
    b.insert_token(&sibling).await.unwrap();
    cache_b.lookup(&sibling_token).await.unwrap();
    assert!(serves(&cache_b, &sibling.token_hash));
    a.revoke(Revocation::Family(&family)).await.unwrap();
    for hash in [first, sibling.token_hash] {
        until_evicted(&cache_b, &hash, Duration::from_secs(1))
            .await
            .expect("every token of the family is evicted");
    }

    // An update on A evicts too, and B then serves the new scope.
    let (token, hash) = cached_token(&b, &cache_b).await;
    let update = TokenUpdate {
        scope: Some("read write".into()),
        ..TokenUpdate::default()
    };
    assert!(a.update_token(&hash, &update).await.unwrap());
    until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("B drops the updated token within 1 s");
    match cache_b.lookup(&token).await.unwrap() {
        Lookup::Valid(entry) => assert_eq!(entry.scope(), Some("read write")),
        Lookup::Invalid => panic!("still valid"),
    }

    let stats = listener_b.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.malformed, 0);
    assert!(stats.evicted >= 4, "{stats:?}");
    assert_eq!(listener_b.latency().count, stats.notifications);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_revocations_are_not_published() {
    let db = pg::TestDb::new();
    let (b, cache_b, listener_b) = subscribed_node(&db).await;
    let (_, hash) = cached_token(&b, &cache_b).await;
    let mut conn = db.connection().await;
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(db.schema())
        .bind(format!("1;{}", hash.to_hex()))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    // Published and committed afterwards: B sees that one only.
    let other = TokenHash::of(&generate_token());
    b.insert_token(&TokenRecord {
        token_hash: other,
        ..record("x")
    })
    .await
    .unwrap();
    b.revoke(Revocation::Token(&other)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener_b.stats().notifications < 1 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(listener_b.stats().notifications, 1);
    assert!(
        serves(&cache_b, &hash),
        "the rolled-back NOTIFY was never delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_listener_connection_then_revoke_still_drops_the_token() {
    let db = pg::TestDb::new();
    let a = node(&db).await;
    let (b, cache_b, listener_b) = subscribed_node(&db).await;
    let (token, hash) = cached_token(&b, &cache_b).await;

    terminate(&db, listener_b.backend_pid().unwrap()).await;
    a.revoke(Revocation::Token(&hash)).await.unwrap();
    until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("B drops the token within 1 s");
    until_reconnected(&listener_b, 2).await;
    assert!(matches!(
        cache_b.lookup(&token).await.unwrap(),
        Lookup::Invalid
    ));
    // And the new connection receives pushes again.
    let (_, hash) = cached_token(&b, &cache_b).await;
    a.revoke(Revocation::Token(&hash)).await.unwrap();
    until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("pushed over the new connection");
}

/// A revocation whose notification is lost (here: made with plain SQL, which publishes nothing)
/// is stale in B's cache until B's listener loses its connection; the flush then drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connection_flushes_what_a_missed_notification_left() {
    let db = pg::TestDb::new();
    let (b, cache_b, listener_b) = subscribed_node(&db).await;
    let (token, hash) = cached_token(&b, &cache_b).await;
    let mut conn = db.connection().await;
    sqlx::query("UPDATE tokens SET revoked = TRUE WHERE token_hash = $1")
        .bind(hash.to_hex())
        .execute(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(serves(&cache_b, &hash), "no notification: still cached");

    let flushes = listener_b.stats().flushes;
    terminate(&db, listener_b.backend_pid().unwrap()).await;
    until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("the lost connection flushes the cache within 1 s");
    until_reconnected(&listener_b, 2).await;
    assert!(
        listener_b.stats().flushes >= flushes + 2,
        "on loss and on reconnect"
    );
    assert!(matches!(
        cache_b.lookup(&token).await.unwrap(),
        Lookup::Invalid
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_without_database_flushes_and_keeps_trying() {
    // A port nothing listens on: every attempt fails, and each failure flushes. No test
    // database needed.
    let store = tokengate::store::MemoryStore::new();
    let tokens = Arc::new(TokenService::new(
        Arc::new(store),
        Pepper::new(b"p".to_vec()),
    ));
    let cache = TokenCache::builder(LocalResolver::new(tokens, SERVICE)).build();
    let listener = RevocationListener::start(
        "postgres://postgres@127.0.0.1:1/test",
        &tokengate::store::PostgresOptions::new().acquire_timeout(Duration::from_millis(200)),
        &cache,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let stats = listener.stats();
    assert!(!listener.is_listening());
    assert_eq!(stats.connections, 0);
    assert!(stats.flushes >= 2, "{stats:?}");
    assert!(
        RevocationListener::start("mysql://db/x", &Default::default(), &cache)
            .unwrap_err()
            .is_config()
    );
}

/// Revoke on A → evicted from B's cache, 1,000 times: the end-to-end time (from the start of
/// A's revoke call until B's cache stops serving the token, polled) and the listener's own
/// histogram (publisher's timestamp → eviction). Printed; the bound asserted is generous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_to_evict_latency_over_1000_revocations() {
    let db = pg::TestDb::new();
    let a = node(&db).await;
    let (b, cache_b, listener_b) = subscribed_node(&db).await;
    const N: usize = 1000;
    let (mut end_to_end, mut revoke_calls) = (Vec::with_capacity(N), Vec::with_capacity(N));
    for _ in 0..N {
        let (_, hash) = cached_token(&b, &cache_b).await;
        let start = Instant::now();
        a.revoke(Revocation::Token(&hash)).await.unwrap();
        revoke_calls.push(start.elapsed());
        until_evicted(&cache_b, &hash, Duration::from_secs(5))
            .await
            .expect("evicted");
        end_to_end.push(start.elapsed());
    }
    let quantiles = |samples: &mut Vec<Duration>| {
        samples.sort();
        let at = |q: f64| samples[((q * N as f64).ceil() as usize).clamp(1, N) - 1];
        (at(0.5), at(0.99), samples[N - 1])
    };
    let (p50, p99, max) = quantiles(&mut end_to_end);
    let (call_p50, call_p99, _) = quantiles(&mut revoke_calls);
    // The listener records a revocation just after it invalidates: the last one may be seen
    // evicted a moment before it is counted.
    let counted = Instant::now();
    while listener_b.latency().count < N as u64 && counted.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let histogram = listener_b.latency();
    eprintln!(
        "revoke→evict over {N} revocations, end to end: p50 {p50:?}, p99 {p99:?}, max {max:?} \
         (the revoke call alone: p50 {call_p50:?}, p99 {call_p99:?}); listener histogram: \
         count {}, mean {:?}, p50 ≤ {:?}, p99 ≤ {:?}",
        histogram.count,
        histogram.mean(),
        histogram.quantile(0.5),
        histogram.quantile(0.99),
    );
    assert_eq!(histogram.count, N as u64);
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_client_on_one_node_evicts_its_tokens_from_the_other() {
    let db = pg::TestDb::new();
    let a = node(&db).await;
    let (b, cache_b, _listener_b) = subscribed_node(&db).await;
    let (token, hash) = cached_token(&b, &cache_b).await;

    let disabled = Client {
        status: ClientStatus::Disabled,
        ..holder()
    };
    assert_eq!(a.put_client(&disabled).await.unwrap(), vec![hash]);
    until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("pushed to B and evicted within a second");
    assert!(matches!(
        cache_b.lookup(&token).await.unwrap(),
        Lookup::Invalid
    ));

    // Enabled again on A: the token stays refused, on a cache that never saw it too.
    assert!(a.put_client(&holder()).await.unwrap().is_empty());
    assert!(matches!(
        cache_over(&b).lookup(&token).await.unwrap(),
        Lookup::Invalid
    ));

    // Deleting the client ends a token issued after that, pushed the same way.
    let (_, hash) = cached_token(&b, &cache_b).await;
    assert_eq!(a.delete_client("app").await.unwrap(), Some(vec![hash]));
    until_evicted(&cache_b, &hash, Duration::from_secs(1))
        .await
        .expect("deletion pushed to B");
}
