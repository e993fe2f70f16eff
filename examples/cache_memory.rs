//! What a cached token costs in memory: fills a `TokenCache` with 1,000,000 realistic tokens
//! through its public API and prints the resident memory (`VmRSS` of `/proc/self/status`) and
//! the live heap bytes (a counting allocator) per token.
//!
//! ```sh
//! cargo run --release --example cache_memory            # 1,000,000 tokens
//! cargo run --release --example cache_memory -- 200000  # fewer
//! ```
//!
//! Each token is for one service (key of 24 characters), one of 50 clients (client ids of 24
//! characters), has one of 4 scopes of a few words and a user context of its own (20
//! characters), is a bearer token and lives an hour. The resolver makes each `TokenInfo` up
//! with fresh strings, as a store lookup does, so no store is in the figures.
//!
//! Three steps, each printed:
//! 1. `lookup` of every token: each a miss, resolved once and cached.
//! 2. every token once more through `OAuthLayer` (a cache hit that injects the identity
//!    headers, as the gateway does); any memory a hit adds to an entry shows here.
//! 3. for the split: a bare quick_cache map of the same capacity filled with the same keys and
//!    `()` values, so the map's own per-entry cost plus the key. Measured on the live heap
//!    only: the process's RSS no longer starts from empty.
//!
//! Linux only (reads `/proc/self/status`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Request, Response};
use tokengate::auth::OAuthLayer;
use tokengate::model::{GrantType, TokenInfo, TokenType};
use tokengate::resolve::{CachedToken, Lookup, Resolve, TokenCache};
use tokengate::secret::TokenHash;
use tower::{Layer, Service, ServiceExt};

/// Counts the bytes currently allocated on the heap.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
const CLIENTS: usize = 50;
const SCOPES: [&str; 4] = ["read", "read write", "read write admin", "profile email"];

/// The token number `i`: what a client would present (32 characters).
fn token(i: usize) -> String {
    format!("tok{i:029}")
}

fn client_id(n: usize) -> String {
    format!("client{n:018}")
}

/// Makes up the record of any token made by [`token`], with fresh strings every time.
struct Synthetic {
    expires_at: i64,
}

#[async_trait::async_trait]
impl Resolve for Synthetic {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, tokengate::Error> {
        let Some(i) = token
            .strip_prefix("tok")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return Ok(None);
        };
        Ok(Some(TokenInfo {
            service_key: SERVICE.to_owned(),
            client_id: client_id(i % CLIENTS),
            token_type: TokenType::Bearer,
            grant_type: GrantType::Password,
            scope: Some(SCOPES[i % SCOPES.len()].to_owned()),
            user_context: Some(format!("user-{i:015}")),
            expires_at: self.expires_at,
            mac_secret: None,
        }))
    }
}

/// Resident memory in bytes.
fn rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kb * 1024
}

/// RSS and live heap bytes at one point.
#[derive(Clone, Copy)]
struct Mark {
    rss: i64,
    heap: i64,
}

fn mark() -> Mark {
    Mark {
        rss: rss(),
        heap: LIVE_BYTES.load(Ordering::Relaxed),
    }
}

fn report(step: &str, from: Mark, to: Mark, count: usize, started: Instant) {
    let n = count as f64;
    println!(
        "{step:<44} RSS {:>8.1} MB = {:>6.1} B/token   heap {:>8.1} MB = {:>6.1} B/token   ({:.1} s)",
        (to.rss - from.rss) as f64 / 1e6,
        (to.rss - from.rss) as f64 / n,
        (to.heap - from.heap) as f64 / 1e6,
        (to.heap - from.heap) as f64 / n,
        started.elapsed().as_secs_f64(),
    );
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("COUNT: a number of tokens"))
        .unwrap_or(1_000_000);
    // One thread: no per-thread allocator arenas in the figures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Long enough that nothing expires while the cache fills, even on a slow machine.
    let ttl = Duration::from_secs(3600);
    let tokens: Vec<String> = (0..count).map(token).collect();
    // quick_cache splits its capacity among shards, and keys do not spread exactly evenly:
    // room for an eighth more keeps every token cached.
    let capacity = count + count / 8;

    rt.block_on(async {
        let overall = Instant::now();
        let start = mark();
        let cache = TokenCache::builder(Synthetic {
            expires_at: now_ms + 2 * 3_600_000,
        })
        .ttl(ttl)
        .max_capacity(capacity as u64)
        .build();

        let t = Instant::now();
        for token in &tokens {
            let found = cache.lookup(token).await.expect("resolved");
            assert!(matches!(found, Lookup::Valid(_)));
        }
        let filled = mark();
        report("1. lookup (miss, resolve, insert)", start, filled, count, t);
        let stats = cache.stats();
        assert_eq!(stats.misses, count as u64, "every token resolved once");

        let t = Instant::now();
        let noop =
            tower::service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
        let mut layered = OAuthLayer::new(cache.clone()).layer(noop);
        for token in &tokens {
            let mut req = Request::new(());
            let auth = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
            req.headers_mut().insert(http::header::AUTHORIZATION, auth);
            let res = layered.ready().await.unwrap().call(req).await.unwrap();
            assert_eq!(res.status(), 200);
        }
        let hit = mark();
        report("2. once through OAuthLayer (hit)", filled, hit, count, t);
        assert_eq!(
            cache.stats().hits,
            count as u64,
            "every token was still cached"
        );
        report("   total per cached token", start, hit, count, overall);
        drop(layered);
        drop(cache);

        let t = Instant::now();
        let before = mark();
        let bare: quick_cache::sync::Cache<TokenHash, ()> = quick_cache::sync::Cache::new(capacity);
        for token in &tokens {
            bare.insert(TokenHash::of(token), ());
        }
        let after = mark();
        let map_and_key = (after.heap - before.heap) as f64 / count as f64;
        println!(
            "3. bare quick_cache map, key + (): heap {:.1} MB = {map_and_key:.1} B/token ({:.1} s)",
            (after.heap - before.heap) as f64 / 1e6,
            t.elapsed().as_secs_f64(),
        );
        let total = (hit.heap - start.heap) as f64 / count as f64;
        println!(
            "split of the {total:.0} B of heap per cached token: the map and the key {map_and_key:.0} B; \
             the rest {:.0} B: the entry's CachedToken ({} B) and expiry (8 B) inline, and the \
             user context's header value bytes (client, service and scope are shared)",
            total - map_and_key,
            size_of::<CachedToken>(),
        );
    });
}
