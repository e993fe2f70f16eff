//! A gateway node without a database: tokens are resolved by calling
//! `oauth2.fetchAccessToken` on a tokengate (or Mashery-compatible) JSON-RPC endpoint, and
//! cached. Revocations made at the token service reach this node when the cache entry ends
//! (at most the cache TTL, 10 s here).
//!
//! ```sh
//! # 1. The token service (its admin API on 127.0.0.1:8081):
//! cargo run -- serve --config tokengate.example.toml &
//! # 2. An upstream, and this node on 127.0.0.1:8090:
//! python3 -m http.server 9000 &
//! cargo run --example remote_gateway -- http://127.0.0.1:8081/v2/json-rpc \
//!     rmeqcgpw3zu2y47y9bs8vs2h http://127.0.0.1:9000
//! # 3. A token from the token service, then a call through this node:
//! curl -s -u ops:change-me http://127.0.0.1:8081/v2/json-rpc -d '{"jsonrpc":"2.0","id":1,
//!   "method":"oauth2.createAccessToken","params":["rmeqcgpw3zu2y47y9bs8vs2h",
//!   {"client_id":"tkr7f25gd6452zy8rjsf7bwd","client_secret":"q13rupuifd"},
//!   {"grant_type":"password","scope":"read"},null,"user12345"]}'
//! curl -i -H "Authorization: Bearer <access_token>" http://127.0.0.1:8090/
//! ```
//!
//! The admin credentials come from `TOKENGATE_ADMIN_KEY` and `TOKENGATE_ADMIN_SECRET`
//! (default `ops` / `change-me`, as in `tokengate.example.toml`). With `TOKENGATE_TAG_KEY`
//! (the token service's `Pepper::tag_key_hex()`), tokens with a wrong integrity tag are
//! refused here without a call to the token service.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokengate::auth::OAuthLayer;
use tokengate::proxy::{ClientAddr, ReverseProxy};
use tokengate::resolve::{RemoteResolver, TokenCache};
use tokengate::secret::TagKey;
use tower::{Layer, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8081/v2/json-rpc".into());
    let service_key = args
        .next()
        .unwrap_or_else(|| "rmeqcgpw3zu2y47y9bs8vs2h".into());
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let key = env("TOKENGATE_ADMIN_KEY", "ops");
    let secret = env("TOKENGATE_ADMIN_SECRET", "change-me");

    // No store here: every cache miss is one JSON-RPC call (concurrent misses on one token
    // share it). When the token service cannot be reached, uncached tokens get 503.
    let mut resolver = RemoteResolver::new(endpoint.parse()?, service_key, &key, &secret)
        .timeout(Duration::from_secs(2));
    if let Ok(hex) = std::env::var("TOKENGATE_TAG_KEY") {
        let tags = TagKey::from_hex(&hex).ok_or("TOKENGATE_TAG_KEY: at least 16 bytes of hex")?;
        resolver = resolver.tag_key(tags);
    }
    let cache = TokenCache::builder(resolver)
        .ttl(Duration::from_secs(10))
        .negative_ttl(Duration::from_secs(2))
        .build();
    let gateway = OAuthLayer::new(cache).layer(ReverseProxy::new(upstream.parse()?)?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
    println!("gateway on http://127.0.0.1:8090 → {upstream}, tokens checked at {endpoint}");
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let http = Arc::new(http);
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = gateway
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ClientAddr(peer));
                req
            });
        let http = http.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
