//! The public listener's service: `/healthz`, then the body limit, the [`OAuthLayer`] and the
//! upstream ([`ReverseProxy`], or the built-in [`EchoService`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower::util::Either;
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::Cors;
use tower_http::timeout::TimeoutBody;

use super::body_limit::BodyLimit;
use super::carry::Carry;
use super::config::{PublicConfig, RouteConfig, DEFAULT_FAILED_AUTH_LIMIT};
use super::echo::EchoService;
use super::layers::{self, Traced};
use super::listener::HttpOptions;
use super::live::Live;
use super::metrics::{Metrics, TimedService};
use super::protect;
use super::routes::{route_table, RoutedApi};
use crate::auth::OAuthService;
use crate::forwarded::{client_ip, TrustedProxies};
use crate::limit::{FailedAuthLayer, FailedAuthService};
use crate::model::GrantType;
use crate::model::Service as ServiceSettings;
use crate::oauth::TokenService;
use crate::path::PathOptions;
use crate::proxy::{ProxyBody, ReverseProxy};
use crate::rest::{PublicEndpoints, RestResponse};
use crate::rpc::Credentials;
use crate::Error;

/// The upstream: the configured proxy, or the built-in echo.
type Upstream = Either<ReverseProxy, EchoService>;
/// What every request but `/healthz` and the RFC endpoints goes through. Concrete types all
/// the way down: no boxed service to clone and no boxed future per request.
type Protected = BodyLimit<OAuthService<TimedService<Upstream>>>;
type ProtectedFuture = <Protected as Service<Request<Incoming>>>::Future;
use crate::BoxFuture;

/// The public listener's service: `GET /healthz` answers `ok` without a token; every other
/// request goes through the protected stack.
#[derive(Clone)]
pub(crate) struct PublicService {
    /// The RFC 6749/7662/7009/8414 endpoints, answered before the layer, traced (and with
    /// CORS when `[public.cors]` is configured).
    endpoints: Option<Traced<EndpointStack>>,
    /// `None` without a service to protect: every other request gets `503`.
    protected: Option<Protected>,
    /// With `[[routes]]`: the table every other request goes to (instead of `protected`).
    routes: Option<RoutedApi>,
    /// Most header fields in an HTTP/1 request (`public.max_headers`), checked here (see
    /// [`HYPER_MAX_HEADERS`]).
    max_headers: usize,
    /// How targets are canonicalised (the layer's options): the routes here match the
    /// canonical path, as the layer's rules do.
    path: PathOptions,
    /// The proxies that may name the client, scheme and host (`public.trusted_proxies`).
    trusted: TrustedProxies,
}

/// hyper's default limit on the header fields of an HTTP/1 request. Given any other limit,
/// hyper's parser fills two header arrays of that length for every request (about 4 KiB
/// copied) where it otherwise leaves them uninitialized; so the public listener leaves hyper
/// at its default and checks a lower `public.max_headers` on the parsed request: the same
/// `431`, and the connection closed, as hyper would answer. A higher one is left to hyper.
const HYPER_MAX_HEADERS: usize = 100;

/// The RFC endpoints, behind the failed-authentication limit unless it is off.
#[derive(Clone)]
enum Endpoints {
    Open(PublicEndpoints),
    Guarded(FailedAuthService<PublicEndpoints>),
}

impl Endpoints {
    fn owns(&self, path: &str) -> bool {
        match self {
            Endpoints::Open(endpoints) => endpoints.owns(path),
            Endpoints::Guarded(guarded) => guarded.get_ref().owns(path),
        }
    }
}

/// The RFC endpoints with CORS (`[public.cors]`), or without.
type EndpointStack = Either<Cors<Endpoints>, Endpoints>;

/// Whether `stack` answers `path`.
fn owns(stack: &EndpointStack, path: &str) -> bool {
    match stack {
        Either::Left(cors) => cors.get_ref().owns(path),
        Either::Right(endpoints) => endpoints.owns(path),
    }
}

/// The body the RFC endpoints read: under the idle timeout of [`layers::traced`].
type EndpointBody = TimeoutBody<Incoming>;

impl Service<Request<EndpointBody>> for Endpoints {
    type Response = RestResponse;
    type Error = Infallible;
    type Future = BoxFuture<Result<RestResponse, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call works on a clone (`oneshot`), which is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<EndpointBody>) -> Self::Future {
        // The metadata (`/.well-known/…`) authenticates nobody: never limited.
        match self {
            Endpoints::Guarded(guarded) if !req.uri().path().starts_with("/.well-known/") => {
                Box::pin(guarded.clone().oneshot(req))
            }
            Endpoints::Guarded(guarded) => Box::pin(guarded.get_ref().clone().oneshot(req)),
            Endpoints::Open(endpoints) => Box::pin(endpoints.clone().oneshot(req)),
        }
    }
}

/// The public listener, bound.
pub(crate) struct PublicListener {
    pub(crate) addr: SocketAddr,
    pub(crate) listener: tokio::net::TcpListener,
    /// The snapshot in force, which a configuration reload replaces.
    pub(crate) service: Live<PublicService>,
    /// What the next snapshot may take over from this one.
    pub(crate) carried: super::carry::Carried,
    pub(crate) http: HttpOptions,
    pub(crate) tls: Option<super::listener::ListenerTls>,
    /// How the service canonicalises targets (for the access log).
    pub(crate) path: PathOptions,
}

/// What the public listener's snapshots are built over, the same at every reload: the token
/// service (the one the admin API uses, so its revocations evict the caches at once), the
/// admin credentials, the listener's address, the access log switch, the metrics and the
/// store's feeds.
#[derive(Clone)]
pub(crate) struct PublicBase {
    pub(crate) tokens: Arc<TokenService>,
    pub(crate) admin: Credentials,
    pub(crate) addr: SocketAddr,
    pub(crate) access_log: bool,
    pub(crate) metrics: Arc<Metrics>,
    /// Starts the store's feed into each new token cache.
    pub(crate) subscribe: Option<super::feed::Subscribe>,
}

/// Builds the public stack for `config` on `listener` and records its counters in
/// `base.metrics`.
pub(crate) async fn bind(
    listener: tokio::net::TcpListener,
    config: &PublicConfig,
    routes: &[RouteConfig],
    base: &PublicBase,
) -> Result<PublicListener, Error> {
    let mut carry = Carry::new(Default::default(), base.subscribe.clone());
    let service = build(config, routes, base, &mut carry).await?;
    let (carried, metrics) = carry.finish();
    base.metrics.public.store(Arc::new(metrics));
    Ok(PublicListener {
        addr: base.addr,
        listener,
        service: Live::new(service),
        carried,
        http: HttpOptions {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_header_bytes: config.max_header_bytes,
            max_headers: (config.max_headers > HYPER_MAX_HEADERS).then_some(config.max_headers),
            ..HttpOptions::default()
        },
        tls: None,
        path: config.path_options()?,
    })
}

/// One snapshot of the public listener's service for `config` and `routes`, taking over what
/// `carry` holds of the previous one (the token caches, the counters).
pub(crate) async fn build(
    config: &PublicConfig,
    routes: &[RouteConfig],
    base: &PublicBase,
    carry: &mut Carry,
) -> Result<PublicService, Error> {
    let PublicBase {
        tokens,
        admin,
        addr,
        access_log,
        metrics,
        subscribe: _,
    } = base;
    let (addr, access_log) = (*addr, *access_log);
    let identity = config.identity_headers()?;
    let (settings, protected_key, routes) = if routes.is_empty() {
        let settings = protected_service(config, tokens).await?;
        let key = settings.as_ref().map(|s| s.key.clone());
        (settings, key, None)
    } else {
        let key = config
            .service_key
            .clone()
            .or_else(|| routes.iter().find_map(|r| r.service_key.clone()));
        let table = route_table(routes, config, tokens, metrics, carry, access_log).await?;
        (None, key, Some(table))
    };
    let upstream: Upstream = match config.upstream_uri()? {
        Some(uri) => Either::Left(protect::proxy(
            config,
            uri,
            Duration::from_secs(config.upstream_timeout_secs),
        )?),
        None => Either::Right(EchoService::new(identity.clone())),
    };
    let protected = match settings {
        Some(service) => {
            let allow_query = config
                .allow_query_tokens
                .unwrap_or(service.allow_query_tokens);
            let cache = protect::token_cache(config, tokens, &service.key, &metrics.resolve, carry);
            let mut layer = protect::oauth_layer(
                config,
                cache,
                &service,
                identity,
                allow_query,
                config.forward_authorization,
            )?;
            for (i, rule) in config.require_scopes.iter().enumerate() {
                layer = layer.rule(rule.to_rule(i)?);
            }
            let layer = layer.with_metrics(carry.layer_metrics("public"));
            carry.metrics.layer = Some(layer.metrics().clone());
            tracing::info!(
                service = %service.key,
                upstream = config.upstream.as_deref().unwrap_or("built-in echo"),
                "public listener protects the service"
            );
            let timed = TimedService {
                inner: upstream,
                stats: metrics.upstream.clone(),
                access: access_log,
            };
            Some(BodyLimit {
                inner: layer.layer(timed),
                max: config.max_body_bytes,
            })
        }
        None if routes.is_some() => None,
        None => {
            tracing::warn!(
                "no service in the store: the public listener answers 503 until one is \
                 configured ([[services]] or `tokengate service add`) and the configuration \
                 is reloaded (SIGHUP)"
            );
            None
        }
    };

    let failed_auth = carry.failed_auth(
        config
            .failed_auth_limit
            .rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "public.failed_auth_limit")?,
    );
    carry.metrics.public_failed_auth = failed_auth.clone();
    let cors = config.cors.as_ref().map(|c| c.layer()).transpose()?;
    let endpoints = public_endpoints(config, tokens, admin.clone(), addr, protected_key)
        .await?
        .map(|endpoints| match failed_auth {
            Some(limiter) => Endpoints::Guarded(FailedAuthLayer::new(limiter).layer(endpoints)),
            None => Endpoints::Open(endpoints),
        })
        .map(|endpoints| match &cors {
            Some(cors) => Either::Left(cors.layer(endpoints)),
            None => Either::Right(endpoints),
        })
        .map(|stack| layers::traced(stack, layers::BODY_TIMEOUT));
    Ok(PublicService {
        endpoints,
        protected,
        routes,
        max_headers: config.max_headers,
        path: config.path_options()?,
        trusted: config.trusted_proxies()?,
    })
}

/// The standard endpoints of every stored service (at `/oauth2/token` etc. for the protected
/// one, at `/oauth2/{service_key}/token` etc. for each when there are several); `None` without
/// services.
async fn public_endpoints(
    config: &PublicConfig,
    tokens: &Arc<TokenService>,
    admin: Credentials,
    addr: SocketAddr,
    default: Option<String>,
) -> Result<Option<PublicEndpoints>, Error> {
    let keys: Vec<String> = tokens
        .store()
        .services()
        .await?
        .into_iter()
        .map(|s| s.key)
        .collect();
    let Some(default) = default.or_else(|| keys.first().cloned()) else {
        return Ok(None);
    };
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("{}://{addr}", protect::scheme(config)));
    let mut endpoints = PublicEndpoints::new(tokens.clone(), keys, issuer)
        .map_err(|e| Error::config(format!("public.issuer: {e}")))?
        .default_service(&default)?
        .admin_credentials(admin);
    match &config.authorization_endpoint {
        Some(url) => {
            let parsed = url::Url::parse(url).map_err(|e| {
                Error::config(format!("public.authorization_endpoint: {url:?}: {e}"))
            })?;
            if !matches!(parsed.scheme(), "https" | "http") || parsed.fragment().is_some() {
                return Err(Error::config(format!(
                    "public.authorization_endpoint: {url:?} is not an https or http URL \
                     without a fragment"
                )));
            }
            endpoints = endpoints.authorization_endpoint(url.clone());
        }
        None => {
            let redirecting = tokens.store().services().await?.into_iter().filter(|s| {
                s.allows(GrantType::AuthorizationCode) || s.allows(GrantType::Implicit)
            });
            for service in redirecting {
                tracing::warn!(
                    service = %service.key,
                    "the service enables authorization_code or implicit, but no \
                     public.authorization_endpoint is configured: its RFC 8414 metadata lacks \
                     the authorization_endpoint that section 2 requires"
                );
            }
        }
    }
    Ok(Some(endpoints))
}

/// The service whose tokens the listener accepts: `service_key`, else the only one stored.
async fn protected_service(
    config: &PublicConfig,
    tokens: &TokenService,
) -> Result<Option<ServiceSettings>, Error> {
    let store = tokens.store();
    if let Some(key) = &config.service_key {
        return match store.service(key).await? {
            Some(service) => Ok(Some(service)),
            None => Err(Error::config(format!(
                "public.service_key: no service `{key}` in the store or the configuration"
            ))),
        };
    }
    let mut services = store.services().await?;
    match services.len() {
        0 => Ok(None),
        1 => Ok(services.pop()),
        _ => {
            let keys: Vec<&str> = services.iter().map(|s| s.key.as_str()).collect();
            Err(Error::config(format!(
                "public.service_key: required when the store holds several services ({})",
                keys.join(", ")
            )))
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::from(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("60"));
    }
    res
}

impl Service<Request<Incoming>> for PublicService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = PublicFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match &mut self.protected {
            Some(protected) => Service::<Request<Incoming>>::poll_ready(protected, cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let sent = req
            .extensions()
            .get::<super::trace_context::SentFields>()
            .map_or(req.headers().len(), |sent| sent.0);
        if req.version() <= Version::HTTP_11 && sent > self.max_headers {
            let mut response = Response::new(ProxyBody::empty());
            *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return PublicFuture::ready(response);
        }
        // RFC 9112 §3.2: an HTTP/1.1 (or h2) request without a host, with two, or with one
        // that is not a host and port or disagrees with the target, is 400 on every path,
        // before anything else looks at it. (The layer leaves the host to the listener and
        // the proxy: a bearer decision does not depend on it, and MAC checks it itself.)
        if crate::host::request_host(req.headers(), req.uri(), req.version()).is_err() {
            return PublicFuture::ready(text(StatusCode::BAD_REQUEST, "bad or missing Host\n"));
        }
        // From a trusted proxy, the client it names keys the failed-authentication limit and
        // the logs, and its chain, scheme and host go upstream (a `Forwarding` extension).
        self.trusted.apply(&mut req);
        // Routed on the canonical target, which the request then carries: `/oauth2/%74oken`
        // and `//oauth2/token` are the token endpoint, never a way around it to the upstream.
        // A target without one goes to the protected stack, whose layer refuses it (400).
        let _ = self.path.canonicalize_request(&mut req);
        if req.uri().path() == "/healthz" {
            let response = if req.method() == Method::GET || req.method() == Method::HEAD {
                text(StatusCode::OK, "ok")
            } else {
                let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                response
            };
            return PublicFuture::ready(response);
        }
        // The RFC endpoints (`/oauth2/token`, `/oauth2/revoke`, `/oauth2/introspect`,
        // `/.well-known/oauth-authorization-server`) authenticate clients themselves: they are
        // answered in front of the layer.
        if let Some(endpoints) = self
            .endpoints
            .as_ref()
            .filter(|e| owns(layers::inner(e), req.uri().path()))
        {
            let future = endpoints.clone().oneshot(req);
            return PublicFuture {
                state: State::Endpoint {
                    future: Box::pin(async move {
                        let response = future.await?;
                        Ok(response.map(ProxyBody::new))
                    }),
                },
            };
        }
        if let Some(routes) = &mut self.routes {
            return PublicFuture {
                state: State::Routed {
                    future: routes.call(req),
                },
            };
        }
        let Some(protected) = &mut self.protected else {
            return PublicFuture::ready(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no service is configured\n",
            ));
        };

        // Logged: client address, method, path (never the query: it may carry
        // `access_token`), status, time.
        let logged = tracing::enabled!(tracing::Level::DEBUG).then(|| Logged {
            client: client_ip(req.extensions()),
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            started: Instant::now(),
        });
        PublicFuture {
            state: State::Protected {
                future: protected.call(req),
                logged,
            },
        }
    }
}

/// What the debug log line of a protected request needs.
struct Logged {
    client: Option<IpAddr>,
    method: Method,
    path: String,
    started: Instant,
}

pin_project! {
    /// The future of [`PublicService`]: a local answer, an RFC endpoint's (boxed: those
    /// requests are rare and costly anyway) or the protected stack's (not boxed).
    pub(crate) struct PublicFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Ready { response: Option<Response<ProxyBody>> },
        Endpoint { future: BoxFuture<Result<Response<ProxyBody>, Infallible>> },
        Routed {
            #[pin]
            future: <RoutedApi as Service<Request<Incoming>>>::Future,
        },
        Protected {
            #[pin]
            future: ProtectedFuture,
            logged: Option<Logged>,
        },
    }
}

impl PublicFuture {
    fn ready(response: Response<ProxyBody>) -> Self {
        PublicFuture {
            state: State::Ready {
                response: Some(response),
            },
        }
    }
}

impl Future for PublicFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            StateProj::Endpoint { future } => future.as_mut().poll(cx),
            StateProj::Routed { future } => future.poll(cx),
            StateProj::Protected { future, logged } => {
                let response = std::task::ready!(future.poll(cx))?;
                if let Some(Logged {
                    client,
                    method,
                    path,
                    started,
                }) = logged.take()
                {
                    tracing::debug!(
                        client = client.map(tracing::field::display),
                        %method,
                        path,
                        status = response.status().as_u16(),
                        micros = started.elapsed().as_micros() as u64,
                        "public request"
                    );
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
