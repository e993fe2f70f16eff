//! The smallest complete gateway built from library parts: a SQLite store, the token
//! service, the token cache, the OAuth layer and the reverse proxy, served with hyper.
//!
//! ```sh
//! python3 -m http.server 9000 &                 # any HTTP server will do as the upstream
//! cargo run --example reverse_proxy -- http://127.0.0.1:9000
//! # it prints a token and a curl command to try:
//! curl -i -H "Authorization: Bearer <token>" http://127.0.0.1:8090/
//! curl -i http://127.0.0.1:8090/                # 401: no token
//! ```
//!
//! The upstream sees `X-Mashery-Oauth-Client-Id`, `-Scope` and `-User-Context`, and never the
//! client's `Authorization` header.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokengate::auth::OAuthLayer;
use tokengate::model::{Client, ClientStatus, Service};
use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
use tokengate::proxy::{ClientAddr, ReverseProxy};
use tokengate::resolve::{LocalResolver, TokenCache};
use tokengate::secret::Pepper;
use tokengate::store::{SqliteStore, Store};
use tower::{Layer, ServiceExt};

const SERVICE: &str = "reviews-api";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let upstream = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());

    // The store and the OAuth core. Keep the pepper outside the database in real life.
    let store = Arc::new(SqliteStore::open("sqlite://reverse_proxy_example.db").await?);
    let pepper = Pepper::new(b"example pepper: keep it secret!!".to_vec());
    store
        .put_service(&Service::new(SERVICE, "Reviews API"))
        .await?;
    store
        .put_client(&Client {
            id: 1,
            external_id: None,
            name: "Example App".into(),
            attributes: None,
            client_id: "example-app".into(),
            secret_hash: Some(pepper.hash_secret("example-secret")),
            redirect_uris: vec![],
            services: vec![SERVICE.into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        })
        .await?;
    let tokens = Arc::new(TokenService::new(store, pepper));

    // A token to try the gateway with (an authorization server would issue it).
    let issued = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new("example-app", "example-secret"),
            &TokenRequest {
                scope: Some("read".into()),
                ..TokenRequest::grant("password")
            },
            None,
            Some("user12345"),
        )
        .await?;

    // The gateway: cache → layer → proxy. Revocations through `tokens` evict the cache.
    let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), SERVICE))
        .ttl(Duration::from_secs(30))
        .build();
    cache.listen_to(&tokens);
    let layer = OAuthLayer::new(cache).require_scope("/admin", "admin")?;
    let proxy = ReverseProxy::new(upstream.parse()?)?.timeout(Duration::from_secs(30));
    let gateway = layer.layer(proxy);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
    println!("gateway on http://127.0.0.1:8090 in front of {upstream}");
    println!(
        "try: curl -i -H \"Authorization: Bearer {}\" http://127.0.0.1:8090/",
        issued.access_token
    );
    let mut http = auto::Builder::new(TokioExecutor::new());
    // Without a timer, hyper's header read timeout does nothing.
    http.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(16 * 1024);
    let http = Arc::new(http);
    loop {
        let (stream, peer) = listener.accept().await?;
        // Tell the proxy who the client is, for `X-Forwarded-For`.
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
