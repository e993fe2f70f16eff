//! Fixtures shared by the integration tests: the seed documents' service and clients.
#![allow(dead_code)]

pub mod admin;
pub mod config;
pub mod down;
pub mod lifecycle;
pub mod process;
pub mod raw;
pub mod tcp_proxy;
pub mod upstream;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokengate::model::{Client, ClientStatus, GrantType, Service};
use tokengate::oauth::TokenService;
use tokengate::secret::Pepper;
use tokengate::store::Store;

/// The seeds' service key.
pub const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
/// A second service, for cross-service checks.
pub const OTHER_SERVICE: &str = "othersvc0000000000000000";
/// The seeds' confidential client.
pub const WEB_CLIENT: &str = "tkr7f25gd6452zy8rjsf7bwd";
/// Its secret.
pub const WEB_SECRET: &str = "q13rupuifd";
/// Its registered redirect URI.
pub const REDIRECT: &str = "https://client.example.com/cb";
/// The seeds' public client.
pub const PUBLIC_CLIENT: &str = "12345";

/// A pepper for tests.
pub fn pepper() -> Pepper {
    Pepper::new(b"test pepper, 32 bytes long......".to_vec())
}

/// The seeds' service with Mashery defaults.
pub fn seed_service() -> Service {
    Service::new(SERVICE, "Reviews API")
}

/// The seeds' two clients, registered for the seed service.
pub fn seed_clients(pepper: &Pepper) -> Vec<Client> {
    vec![
        Client {
            id: 12346,
            external_id: Some(7),
            name: "Reviews Web".into(),
            attributes: Some("tier=gold".into()),
            client_id: WEB_CLIENT.into(),
            secret_hash: Some(pepper.hash_secret(WEB_SECRET)),
            redirect_uris: vec![REDIRECT.into()],
            services: vec![SERVICE.into(), OTHER_SERVICE.into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        },
        Client {
            id: 12345,
            external_id: None,
            name: "OAuth 2.0 Test App".into(),
            attributes: None,
            client_id: PUBLIC_CLIENT.into(),
            secret_hash: None,
            redirect_uris: vec!["https://public.example.com/cb".into()],
            services: vec![SERVICE.into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        },
    ]
}

/// A controllable clock (epoch milliseconds).
#[derive(Clone, Default)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn starting_at(millis: i64) -> Self {
        TestClock(Arc::new(AtomicI64::new(millis)))
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

/// A token service over `store` holding the seed service (changed by `edit`), a second service
/// and the seed clients, on a test clock.
pub async fn token_service(
    store: Arc<dyn Store>,
    edit: impl FnOnce(&mut Service),
) -> (TokenService, TestClock) {
    let pepper = pepper();
    let mut service = seed_service();
    edit(&mut service);
    store.put_service(&service).await.unwrap();
    let mut other = Service::new(OTHER_SERVICE, "Other API");
    other.grants = GrantType::ALL.to_vec();
    store.put_service(&other).await.unwrap();
    for client in seed_clients(&pepper) {
        store.put_client(&client).await.unwrap();
    }
    let clock = TestClock::starting_at(1_700_000_000_000);
    let c = clock.clone();
    (
        TokenService::new(store, pepper).with_clock(move || c.now()),
        clock,
    )
}

/// Serves `service` on a fresh loopback port with hyper; returns its address. The server
/// lives as long as the test's runtime.
pub async fn serve<S>(service: S) -> std::net::SocketAddr
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<http_body_util::Full<bytes::Bytes>>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let svc = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
            });
        }
    });
    addr
}

/// An invalidation listener that remembers every hash it hears about.
#[derive(Default)]
pub struct Seen(std::sync::Mutex<Vec<tokengate::secret::TokenHash>>);

impl Seen {
    /// A listener subscribed to `tokens` (held weakly there: keep the returned `Arc`).
    pub fn subscribe(tokens: &TokenService) -> Arc<Seen> {
        let seen = Arc::new(Seen::default());
        let listener: Arc<dyn tokengate::oauth::InvalidationListener> = seen.clone();
        tokens.subscribe(Arc::downgrade(&listener));
        seen
    }

    /// Whether the listener heard about `token`.
    pub fn heard(&self, token: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .contains(&tokengate::secret::TokenHash::of(token))
    }
}

#[async_trait::async_trait]
impl tokengate::oauth::InvalidationListener for Seen {
    async fn invalidated(&self, hashes: &[tokengate::secret::TokenHash]) {
        self.0.lock().unwrap().extend_from_slice(hashes);
    }
}

/// The seed fixture's admin credentials.
pub const ADMIN_KEY: &str = "ops";
/// Their secret.
pub const ADMIN_SECRET: &str = "change-me";

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokengate.db");
    let store = tokengate::store::SqliteStore::open(path.to_str().unwrap())
        .await
        .unwrap();
    (Arc::new(store), dir)
}

/// The error answer inside an `oauth2` crate request failure (panics on any other failure).
pub fn server_error<T>(
    e: oauth2::RequestTokenError<oauth2::HttpClientError<reqwest::Error>, T>,
) -> T
where
    T: oauth2::ErrorResponse + std::fmt::Debug,
{
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => r,
        other => panic!("expected an error response, got {other:?}"),
    }
}
