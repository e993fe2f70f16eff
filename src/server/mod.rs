//! The `tokengate` server (feature `cli`): configuration, opening the store, applying the
//! configured services and clients, the admin listener (JSON-RPC, `/healthz`, `/readyz`,
//! `/metrics`), the public listener (the OAuth layer in front of an upstream or the built-in
//! echo) and graceful shutdown.
//!
//! [`serve`] does it all; [`Server`] splits binding from running so a caller (a test) can listen
//! on port 0 and learn the addresses:
//!
//! ```no_run
//! # async fn run() -> Result<(), tokengate::Error> {
//! use tokengate::server::{shutdown_signal, Config, Server};
//! let mut config = Config::from_toml("[store]\nurl = \"memory:\"", None)?;
//! config.admin.listen = "127.0.0.1:0".parse().unwrap();
//! config.public.listen = "127.0.0.1:0".parse().unwrap();
//! let server = Server::bind(config).await?;
//! println!("admin API on {}", server.admin_addr());
//! println!("gateway on {:?}", server.public_addr());
//! server.run(shutdown_signal()).await
//! # }
//! ```
//!
//! Both listeners log through `tracing`; no log line carries a token, a secret or an
//! `Authorization` value.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};
use tower_http::timeout::TimeoutBody;

use crate::limit::{FailedAuthLayer, FailedAuthLimiter};
use crate::oauth::TokenService;
use crate::secret::Pepper;
use crate::store::Store;
use crate::Error;

use counted_store::CountingStore;
use metrics::TokenCounters;
use public::PublicListener;

mod access_log;
mod admin;
mod apply;
mod body_limit;
mod carry;
pub mod config;
mod config_reload;
mod counted_store;
mod echo;
mod feed;
mod graceful;
mod head_timeout;
mod layers;
mod lifecycle;
mod listener;
mod live;
mod manage;
mod metrics;
mod pepper_check;
mod process_metrics;
mod protect;
mod public;
mod reload;
mod restart_only;
mod routes;
mod self_signed;
mod signal;
mod storage;
mod tls_metrics;
mod trace_context;
mod upstream_outcome;

pub use admin::AdminService;
pub use apply::{apply, apply_with, ApplyReport, Unlisted};
pub use config::{parse_pepper, StoreLocation, MIN_PEPPER_BYTES};
pub use config::{Config, ConfigError};
pub use config_reload::ConfigReloader;
pub use echo::EchoService;
pub use lifecycle::{
    after_rekey, find_client, remove_service, update_client, update_service, ClientChanges,
};
pub use manage::{
    add_client, add_service, delete_client, set_client_status, AddedClient, NewClient,
};
pub use metrics::Metrics;
pub use pepper_check::{PepperCheck, PEPPER_CHECK_KEY};
pub use reload::CertificateReloader;
pub use self_signed::{self_signed, write_new_file, DEV_NAMES};
pub use signal::shutdown_signal;
pub use storage::{open_store, resolve_pepper, PepperSource, ENV_PEPPER};

use listener::{serve_http, HttpOptions, ListenerTls};

/// The admin API that [`AdminService`] fronts on the admin listener: the JSON-RPC service and
/// the TIBCO-style token routes, split by path.
pub type AdminApi =
    BoxCloneService<Request<TimeoutBody<Incoming>>, Response<Full<Bytes>>, Infallible>;

/// Builds the admin API over `tokens` (shared with the public listener's cache, which it evicts
/// on revocation): `/oauth2/access_token/…` goes to the TIBCO-style token routes, everything
/// else to the JSON-RPC service (which answers 404 for paths it does not serve). Both accept
/// the admin callers' `(key, secret)` pairs.
///
/// With `failed_auth`, an address whose calls fail authentication (`401`/`403`) too often is
/// refused with `429` before its credentials are checked.
fn admin_api(
    tokens: Arc<TokenService>,
    credentials: Vec<(String, String)>,
    config: &config::AdminConfig,
    failed_auth: Option<FailedAuthLimiter>,
) -> AdminApi {
    let credentials = crate::rpc::Credentials::new(credentials);
    let rpc = crate::rpc::JsonRpcService::new(tokens.clone(), credentials.clone())
        .max_body_bytes(usize::try_from(config.max_body_bytes).unwrap_or(usize::MAX))
        .require_json_content_type(config.require_json_content_type);
    let tibco = crate::rest::TibcoTokenApi::new(tokens, credentials);
    let api = tower::service_fn(move |req: Request<TimeoutBody<Incoming>>| {
        let rpc = rpc.clone();
        let tibco = tibco.clone();
        async move {
            if crate::rest::TibcoTokenApi::owns(req.uri().path()) {
                tibco.oneshot(req).await
            } else {
                rpc.oneshot(req).await
            }
        }
    });
    match failed_auth {
        Some(limiter) => BoxCloneService::new(FailedAuthLayer::new(limiter).layer(api)),
        None => BoxCloneService::new(api),
    }
}

/// A store opened from `[store]`, with its pepper.
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The pepper for client secrets.
    pub pepper: Pepper,
    /// Where the store is.
    pub location: StoreLocation,
    /// Where the pepper came from.
    pub pepper_source: PepperSource,
    /// The size of the store's connection pool for reads, when it has one.
    read_connections: Option<u32>,
    /// The PostgreSQL store itself, when the store is one: to subscribe caches.
    #[cfg(feature = "postgres")]
    postgres: Option<crate::store::PostgresStore>,
    /// The SQLite store itself, when the store is one: to start its change feed.
    #[cfg(feature = "sqlite")]
    sqlite: Option<crate::store::SqliteStore>,
}

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
impl OpenedStore {
    /// When the store is SQLite, starts its change feed into `cache` (see
    /// [`crate::store::SqliteStore::subscribe`]): revocations and updates made by any other
    /// process writing the file (another `tokengate serve`, the `client` commands) reach
    /// `cache` within about 100 ms. Keep the feed as long as the cache serves. `None` for
    /// other stores.
    pub fn change_feed(
        &self,
        cache: &crate::resolve::TokenCache,
    ) -> Option<crate::store::ChangeFeed> {
        self.sqlite.as_ref().map(|store| store.subscribe(cache))
    }
}

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl OpenedStore {
    /// When the store is PostgreSQL, starts pushing every node's revocations and updates into
    /// `cache` (see [`crate::store::PostgresStore::subscribe`]); keep the listener as long as the
    /// cache serves, and read its latency histogram for metrics. `None` for other stores,
    /// whose revocations all go through this process's
    /// [`TokenService`] (see
    /// [`TokenCache::listen_to`](crate::resolve::TokenCache::listen_to)).
    pub fn subscribe(
        &self,
        cache: &crate::resolve::TokenCache,
    ) -> Option<crate::store::RevocationListener> {
        self.postgres.as_ref().map(|store| store.subscribe(cache))
    }
}

impl OpenedStore {
    /// A [`TokenService`] over the store and its pepper, for one-off operations (the
    /// management commands).
    pub fn token_service(&self) -> TokenService {
        TokenService::new(self.store.clone(), self.pepper.clone())
    }
}

impl fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedStore")
            .field("location", &self.location)
            .field("pepper_source", &self.pepper_source)
            .finish_non_exhaustive()
    }
}

/// Opens the store that `config.store` names and finds its pepper (see [`resolve_pepper`]); what
/// `serve` and the management commands share. A pepper that is not the one the store's secrets
/// and tokens were made under is refused (see [`PepperCheck`]).
pub async fn open_configured_store(config: &Config) -> Result<OpenedStore, Error> {
    open_configured_store_with(config, PepperCheck::Enforce).await
}

/// [`open_configured_store`], choosing what a pepper the store does not know leads to:
/// [`PepperCheck::Rekey`] is `tokengate store rekey`.
pub async fn open_configured_store_with(
    config: &Config,
    check: PepperCheck,
) -> Result<OpenedStore, Error> {
    let location =
        StoreLocation::parse(&config.store.url).map_err(|e| e.in_file(config.origin.as_deref()))?;
    // The pepper first: a store without one must not be created or migrated for nothing.
    let (pepper, pepper_source) = resolve_pepper(&config.store, &location)?;
    let backend = match storage::open_backend(&location).await {
        Ok(backend) => backend,
        Err(e) => {
            if let PepperSource::Generated(file) = &pepper_source {
                let _ = std::fs::remove_file(file);
            }
            return Err(e);
        }
    };
    let store = backend.store;
    pepper_check::check_pepper(&*store, &pepper, &pepper_source, &location, check).await?;
    match &pepper_source {
        PepperSource::Generated(file) => {
            tracing::info!(file = %file.display(), "generated a new pepper; back it up with the database");
        }
        PepperSource::Ephemeral => tracing::debug!("random pepper for a store that is not durable"),
        PepperSource::Config | PepperSource::Env | PepperSource::File(_) => {}
    }
    if !location.is_durable() {
        tracing::warn!(store = %location, "the store is not durable: nothing survives the process");
    }
    Ok(OpenedStore {
        store,
        pepper,
        location,
        pepper_source,
        read_connections: backend.read_connections,
        #[cfg(feature = "postgres")]
        postgres: backend.postgres,
        #[cfg(feature = "sqlite")]
        sqlite: backend.sqlite,
    })
}

/// A bound server: the store is open, the configuration applied and both listeners bound;
/// [`Server::run`] serves.
pub struct Server {
    admin_addr: SocketAddr,
    admin_listener: TcpListener,
    admin: AdminService<AdminApi>,
    admin_tls: Option<ListenerTls>,
    public: Option<PublicListener>,
    certificates: CertificateReloader,
    reloader: ConfigReloader,
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    metrics: Arc<Metrics>,
    http: HttpOptions,
    /// `[log] access`: whether both listeners write the access log.
    access_log: bool,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("admin_addr", &self.admin_addr)
            .field("public_addr", &self.public_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Validates the configuration, opens the store (see [`open_configured_store`]) and binds
    /// with [`Server::bind_with_store`].
    pub async fn bind(config: Config) -> Result<Server, Error> {
        config.validate()?;
        config.admin_credentials()?;
        // The ports first: a listener that cannot bind must stop the start before the store
        // is created, migrated or written, and before a pepper file is made.
        let listeners = Listeners::bind(&config).await?;
        let opened = open_configured_store(&config).await?;
        Server::assemble(
            config,
            opened.store.clone(),
            opened.pepper.clone(),
            listeners,
            Some(&opened),
        )
        .await
    }

    /// Applies the configured services and clients to `store`, builds the services over one
    /// [`TokenService`] (so a revocation through the admin API evicts the public listener's
    /// cache at once) and binds the public listener (`public.listen`, unless
    /// `public.enabled = false`) and the admin listener (`admin.listen`); port 0 picks a free
    /// port (see [`Server::admin_addr`], [`Server::public_addr`]).
    ///
    /// Issuance is limited as the services' and clients' `issue_rate` say, failed
    /// authentications per address as `public.failed_auth_limit` and `admin.failed_auth_limit`
    /// say, and token lookups as `public.max_concurrent_lookups` says (default here
    /// [`config::DEFAULT_MAX_CONCURRENT_LOOKUPS`]: the store's pool is not known).
    ///
    /// [`Server::bind`] opens the configured store; this takes any store, e.g. one a test
    /// makes fail on demand.
    pub async fn bind_with_store(
        config: Config,
        store: Arc<dyn Store>,
        pepper: Pepper,
    ) -> Result<Server, Error> {
        config.validate()?;
        let listeners = Listeners::bind(&config).await?;
        Server::assemble(config, store, pepper, listeners, None).await
    }

    /// [`Server::bind_with_store`] on listeners already bound; with `opened`, the store's
    /// pool sets the default lookup limit and its change feed reaches every token cache.
    async fn assemble(
        mut config: Config,
        store: Arc<dyn Store>,
        pepper: Pepper,
        listeners: Listeners,
        opened: Option<&OpenedStore>,
    ) -> Result<Server, Error> {
        // By default, token lookups may take half the store's pool: a flood of unknown
        // tokens leaves the other half to issuance, revocation and readiness checks.
        let default_lookups = opened
            .and_then(|o| o.read_connections)
            .map(|connections| (connections as usize / 2).max(1));
        if let Some(lookups) = default_lookups {
            config.public.max_concurrent_lookups.get_or_insert(lookups);
        }
        let subscribe = opened.map(feed::subscriber);
        let credentials = config.admin_credentials()?;
        let report = apply(&config, &*store, &pepper).await?;
        tracing::info!(
            services_written = report.services_written,
            services_unchanged = report.services_unchanged,
            clients_written = report.clients_written,
            clients_unchanged = report.clients_unchanged,
            "configuration applied"
        );
        if credentials.is_empty() {
            tracing::warn!(
                "no admin credentials configured ([admin] credentials or TOKENGATE_ADMIN_KEY and \
                 TOKENGATE_ADMIN_SECRET): the admin API refuses every call"
            );
        }

        let counters = Arc::new(TokenCounters::default());
        let store: Arc<dyn Store> = Arc::new(CountingStore {
            inner: store,
            counters: counters.clone(),
        });
        let tokens = Arc::new(
            TokenService::new(store.clone(), pepper).with_issue_limits(config.issue_limits()?),
        );
        let admin_failed_auth = config
            .admin
            .failed_auth_limit
            .rate(
                Some(config::DEFAULT_FAILED_AUTH_LIMIT),
                "admin.failed_auth_limit",
            )?
            .map(FailedAuthLimiter::new);
        let public_tls = listeners.public.as_ref().and_then(|(_, tls)| tls.clone());
        let tls: Vec<_> = [
            ("public", public_tls),
            ("admin", listeners.admin_tls.clone()),
        ]
        .into_iter()
        .filter_map(|(name, tls)| tls.map(|tls| (name, tls)))
        .collect();
        let metrics = Arc::new(Metrics {
            tokens: counters,
            issue_limits: Some(tokens.clone()),
            admin_failed_auth: admin_failed_auth.clone(),
            tls: tls.clone(),
            ..Metrics::default()
        });
        let (public, public_reload) = match listeners.public {
            Some((listener, tls)) => {
                let addr = listener.local_addr().map_err(|e| {
                    Error::refused("cannot read the public listener's address", Some(e.into()))
                })?;
                let base = public::PublicBase {
                    tokens: tokens.clone(),
                    admin: crate::rpc::Credentials::new(credentials.clone()),
                    addr,
                    access_log: config.log.access,
                    metrics: metrics.clone(),
                    subscribe,
                };
                let mut bound =
                    public::bind(listener, &config.public, &config.routes, &base).await?;
                bound.tls = tls;
                let carried = std::mem::take(&mut bound.carried);
                let reload = (bound.service.swapper(), base, carried);
                (Some(bound), Some(reload))
            }
            None => (None, None),
        };
        let certificates = CertificateReloader::new(tls);
        let reloader = ConfigReloader::new(
            config.clone(),
            tokens.clone(),
            public_reload,
            metrics.clone(),
            certificates.clone(),
            default_lookups,
        );

        let api = admin_api(
            tokens.clone(),
            credentials,
            &config.admin,
            admin_failed_auth,
        );
        let admin = AdminService::new(api, config.admin.max_body_bytes)
            .with_metrics(metrics.clone())
            .with_readiness(store.clone());
        let admin_listener = listeners.admin;
        let admin_addr = admin_listener.local_addr().map_err(|e| {
            Error::refused("cannot read the admin listener's address", Some(e.into()))
        })?;
        Ok(Server {
            admin_addr,
            admin_listener,
            admin,
            admin_tls: listeners.admin_tls,
            public,
            certificates,
            reloader,
            store,
            tokens,
            metrics,
            http: HttpOptions::default(),
            access_log: config.log.access,
        })
    }

    /// The address the admin listener is bound to.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The address the public listener is bound to; `None` when it is disabled.
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.public.as_ref().map(|p| p.addr)
    }

    /// The store the server uses.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The token service both listeners share.
    pub fn tokens(&self) -> &Arc<TokenService> {
        &self.tokens
    }

    /// The TLS listeners' certificates, to reload while the server runs (SIGHUP does the
    /// same).
    pub fn certificates(&self) -> &CertificateReloader {
        &self.certificates
    }

    /// The handle that puts a new configuration in force while the server runs (SIGHUP does
    /// the same): see [`ConfigReloader`].
    pub fn config_reloader(&self) -> &ConfigReloader {
        &self.reloader
    }

    /// The metrics `/metrics` shows.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves HTTP/1.1 and h2 (over TLS where configured) on both listeners until `shutdown`
    /// completes, then stops accepting connections and lets in-flight requests finish (for up
    /// to 30 s). On SIGHUP, the configuration file and the certificates are read again
    /// ([`ConfigReloader::reload`]), one SIGHUP at a time.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        tracing::info!(addr = %self.admin_addr, "admin listener serving");
        let reloader = self.reloader.clone();
        let reload = signal::on_reload_signal(move || {
            let reloader = reloader.clone();
            async move {
                let _ = reloader.reload().await;
            }
        });
        let reload_stop = wait(stopped.clone());
        let reload = async {
            tokio::select! {
                () = reload => {}
                () = reload_stop => {}
            }
        };
        let admin = serve_http(
            self.admin_listener,
            layers::listener(
                layers::traced(self.admin, layers::BODY_TIMEOUT),
                "admin",
                self.access_log,
                crate::path::PathOptions::default(),
            ),
            &self.http,
            self.admin_tls,
            wait(stopped.clone()),
        );
        let public = async {
            if let Some(public) = self.public {
                tracing::info!(addr = %public.addr, tls = public.tls.is_some(), "public listener serving");
                serve_http(
                    public.listener,
                    layers::listener(public.service, "public", self.access_log, public.path),
                    &public.http,
                    public.tls,
                    wait(stopped),
                )
                .await;
            }
        };
        let trigger = async {
            shutdown.await;
            let _ = stop.send(true);
        };
        tokio::join!(admin, public, trigger, reload);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Binds with [`Server::bind`] and serves with [`Server::run`] until `shutdown` completes.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    Server::bind(config).await?.run(shutdown).await
}

/// The listeners a configuration names, bound before anything is written.
struct Listeners {
    admin: TcpListener,
    admin_tls: Option<ListenerTls>,
    /// `None` with `public.enabled = false`.
    public: Option<(TcpListener, Option<ListenerTls>)>,
}

impl Listeners {
    async fn bind(config: &Config) -> Result<Listeners, Error> {
        // The certificates first: a listener that cannot serve must not be bound.
        let tls = |files: &Option<crate::tls::TlsFiles>, key: &str| match files {
            Some(files) => crate::tls::ServerTls::new(files)
                .map(|tls| {
                    Some(ListenerTls {
                        tls,
                        handshakes: Default::default(),
                    })
                })
                .map_err(|e| Error::config(format!("{key}: {e}"))),
            None => Ok(None),
        };
        let public_tls = match config.public.enabled {
            true => tls(&config.public.tls, "public.tls")?,
            false => None,
        };
        let admin_tls = tls(&config.admin.tls, "admin.tls")?;
        let bind = |listen: std::net::SocketAddr, key: &'static str| async move {
            TcpListener::bind(listen).await.map_err(|e| {
                Error::refused(format!("cannot listen on {listen} ({key})"), Some(e.into()))
            })
        };
        let public = match config.public.enabled {
            true => Some((
                bind(config.public.listen, "public.listen").await?,
                public_tls,
            )),
            false => None,
        };
        let admin = bind(config.admin.listen, "admin.listen").await?;
        Ok(Listeners {
            admin,
            admin_tls,
            public,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn test_config() -> Config {
        Config::from_toml(
            r#"
[store]
url = "memory:"
[admin]
listen = "127.0.0.1:0"
credentials = [{ key = "ops", secret = "change-me" }]
[public]
listen = "127.0.0.1:0"
[[services]]
key = "svc"
[[clients]]
id = 1
client_id = "app"
secret = "app-secret"
name = "App"
services = ["svc"]
"#,
            None,
        )
        .unwrap()
    }

    async fn start(
        server: Server,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), Error>>,
    ) {
        let addr = server.admin_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        (addr, tx, handle)
    }

    #[tokio::test]
    async fn binds_port_zero_applies_config_and_answers_healthz() {
        let server = Server::bind(test_config()).await.unwrap();
        assert_ne!(server.admin_addr().port(), 0);
        let client = server.store().client("app").await.unwrap().unwrap();
        assert!(client.secret_hash.is_some());
        let (addr, stop, handle) = start(server).await;

        let http = reqwest::Client::new();
        let response = http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
        let response = http
            .get(format!("http://{addr}/nowhere"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);

        // An idle keep-alive connection from `http` does not hold up shutdown.
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("shut down promptly")
            .unwrap()
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }

    #[tokio::test]
    async fn serves_h2_with_prior_knowledge() {
        let (addr, stop, handle) = start(Server::bind(test_config()).await.unwrap()).await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let request = Request::get(format!("http://{addr}/healthz"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        drop(sender);
        stop.send(()).unwrap();
        handle.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn in_flight_requests_finish_after_shutdown_is_asked() {
        let mut server = Server::bind(test_config()).await.unwrap();
        let slow = tower::service_fn(|_req: Request<TimeoutBody<Incoming>>| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"done"))))
        });
        server.admin = AdminService::new(BoxCloneService::new(slow), 1024);
        let (addr, stop, handle) = start(server).await;

        let request = tokio::spawn(async move {
            reqwest::get(format!("http://{addr}/slow"))
                .await?
                .text()
                .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        assert_eq!(request.await.unwrap().unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("shut down after the request")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        let mut server = Server::bind(test_config()).await.unwrap();
        server.http.header_read_timeout = Duration::from_millis(200);
        let (addr, stop, handle) = start(server).await;

        // Silent after connecting: hyper's version detection has no timeout of its own.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), silent.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a silent connection is closed");
        let mut partial_h2 = tokio::net::TcpStream::connect(addr).await.unwrap();
        partial_h2.write_all(b"PRI * HTTP/2").await.unwrap();
        let read =
            tokio::time::timeout(Duration::from_secs(3), partial_h2.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a stalled h2 preface is closed");

        // Stalled in the middle of the headers.
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "the server closed the connection (the timer is installed)"
        );
        let text = String::from_utf8_lossy(&buf);
        assert!(!text.contains("200 OK"), "{text}");

        stop.send(()).unwrap();
        handle.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_taken_port_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = test_config();
        config.admin.listen = taken.local_addr().unwrap();
        let err = Server::bind(config).await.unwrap_err();
        // Not a configuration error: the configuration is fine, the port is taken.
        assert!(!err.is_config(), "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot listen on {} (admin.listen)",
                taken.local_addr().unwrap()
            )),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some(), "the OS's reason");

        let mut config = test_config();
        config.public.listen = taken.local_addr().unwrap();
        let err = Server::bind(config).await.unwrap_err();
        assert!(err.to_string().contains("public.listen"), "{err}");
    }

    #[tokio::test]
    async fn the_public_listener_serves_healthz_and_the_echo_and_can_be_disabled() {
        let server = Server::bind(test_config()).await.unwrap();
        let public = server.public_addr().expect("on by default");
        let (_admin, stop, handle) = start(server).await;
        let http = reqwest::Client::new();
        let response = http
            .get(format!("http://{public}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
        let response = http
            .get(format!("http://{public}/anything"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "the layer guards the echo");
        stop.send(()).unwrap();
        handle.await.unwrap().unwrap();

        let mut config = test_config();
        config.public.enabled = false;
        let server = Server::bind(config).await.unwrap();
        assert_eq!(server.public_addr(), None);
        assert!(!server
            .metrics()
            .render()
            .contains("tokengate_requests_total"));
    }

    #[tokio::test]
    async fn the_protected_service_is_named_or_the_only_one() {
        let two = |extra: &str| {
            let mut config = test_config();
            config.services.push(config::ServiceConfig {
                key: "second".into(),
                ..Default::default()
            });
            if !extra.is_empty() {
                config.public.service_key = Some(extra.into());
            }
            config
        };
        let err = Server::bind(two("")).await.unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("public.service_key"), "{err}");
        assert!(err.to_string().contains("second"), "{err}");
        Server::bind(two("second")).await.unwrap();
        let err = Server::bind(two("nope")).await.unwrap_err();
        assert!(err.to_string().contains("public.service_key"), "{err}");

        // No service at all: the listener runs and answers 503 but for /healthz.
        let mut config = test_config();
        config.services.clear();
        config.clients.clear();
        let server = Server::bind(config).await.unwrap();
        let public = server.public_addr().unwrap();
        let (_admin, stop, handle) = start(server).await;
        let response = reqwest::get(format!("http://{public}/x")).await.unwrap();
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let response = reqwest::get(format!("http://{public}/healthz"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        stop.send(()).unwrap();
        handle.await.unwrap().unwrap();
    }
}
