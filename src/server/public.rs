//! The public listener's service: `/healthz`, then the body limit, the [`OAuthLayer`] and the
//! upstream ([`ReverseProxy`], or the built-in [`EchoService`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt};

use super::body_limit::{BodyLimit, LimitedBody};
use super::config::{PublicConfig, DEFAULT_FAILED_AUTH_LIMIT, DEFAULT_MAX_CONCURRENT_LOOKUPS};
use super::echo::EchoService;
use super::listener::HttpOptions;
use super::metrics::{Metrics, TimedResolver, TimedService};
use crate::auth::OAuthLayer;
use crate::limit::{FailedAuthLayer, FailedAuthLimiter, FailedAuthService};
use crate::model::Service as ServiceSettings;
use crate::oauth::TokenService;
use crate::proxy::{ProxyBody, ReverseProxy};
use crate::resolve::{LimitedResolver, LocalResolver, TokenCache};
use crate::rest::{PublicEndpoints, RestResponse};
use crate::rpc::Credentials;
use crate::Error;

type Protected = BoxCloneService<Request<Incoming>, Response<ProxyBody>, Infallible>;
type Upstream = BoxCloneService<Request<LimitedBody<Incoming>>, Response<ProxyBody>, Infallible>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The public listener's service: `GET /healthz` answers `ok` without a token; every other
/// request goes through the protected stack.
#[derive(Clone)]
pub(crate) struct PublicService {
    /// The RFC 6749/7662/7009/8414 endpoints, answered before the layer.
    endpoints: Option<Endpoints>,
    protected: Protected,
}

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

/// The public listener, bound.
pub(crate) struct PublicListener {
    pub(crate) addr: SocketAddr,
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) service: PublicService,
    pub(crate) http: HttpOptions,
}

/// Builds the public stack for `config` over `tokens` (the same `TokenService` the admin API
/// uses, so its revocations evict the cache at once), records its counters in `metrics` and
/// binds `config.listen`.
pub(crate) async fn bind(
    config: &PublicConfig,
    tokens: &Arc<TokenService>,
    admin: Credentials,
    metrics: &mut Metrics,
) -> Result<PublicListener, Error> {
    let identity = config.identity_headers()?;
    let settings = protected_service(config, tokens).await?;
    let protected_key = settings.as_ref().map(|s| s.key.clone());
    let upstream: Upstream = match config.upstream_uri()? {
        Some(uri) => BoxCloneService::new(
            ReverseProxy::new(uri)?.timeout(Duration::from_secs(config.upstream_timeout_secs)),
        ),
        None => BoxCloneService::new(EchoService::new(identity.clone())),
    };
    let protected: Protected = match settings {
        Some(service) => {
            let allow_query = config
                .allow_query_tokens
                .unwrap_or(service.allow_query_tokens);
            let resolver = LimitedResolver::new(
                TimedResolver {
                    inner: LocalResolver::new(tokens.clone(), service.key.clone()),
                    histogram: metrics.resolve.clone(),
                },
                config
                    .max_concurrent_lookups
                    .unwrap_or(DEFAULT_MAX_CONCURRENT_LOOKUPS),
                Duration::from_millis(config.lookup_wait_ms),
            );
            metrics.lookups = Some(resolver.clone());
            let cache = TokenCache::builder(resolver)
                .ttl(Duration::from_secs(config.cache_ttl_secs))
                .negative_ttl(Duration::from_secs(config.negative_ttl_secs))
                .max_capacity(config.cache_capacity)
                .build();
            cache.listen_to(tokens);
            let mut layer = OAuthLayer::new(cache.clone())
                .realm(&config.realm)?
                .headers(identity)
                .allow_query_tokens(allow_query)
                .forward_authorization(config.forward_authorization);
            for rule in &config.require_scopes {
                layer = layer.require_scope(&rule.path, &rule.scope)?;
            }
            metrics.layer = Some(layer.metrics().clone());
            metrics.cache = Some(cache);
            tracing::info!(
                service = %service.key,
                upstream = config.upstream.as_deref().unwrap_or("built-in echo"),
                "public listener protects the service"
            );
            let timed = TimedService {
                inner: upstream,
                histogram: metrics.upstream.clone(),
            };
            BoxCloneService::new(BodyLimit {
                inner: layer.layer(timed),
                max: config.max_body_bytes,
            })
        }
        None => {
            tracing::warn!(
                "no service in the store: the public listener answers 503 until one is \
                 configured ([[services]] or `tokengate service add`) and tokengate restarts"
            );
            BoxCloneService::new(tower::service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no service is configured\n",
                ))
            }))
        }
    };

    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::config(format!("cannot listen on {listen} (public.listen): {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::config(format!("cannot read the public listener's address: {e}")))?;
    let failed_auth = config
        .failed_auth_limit
        .rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "public.failed_auth_limit")?
        .map(FailedAuthLimiter::new);
    metrics.public_failed_auth = failed_auth.clone();
    let endpoints = public_endpoints(config, tokens, admin, addr, protected_key)
        .await?
        .map(|endpoints| match failed_auth {
            Some(limiter) => Endpoints::Guarded(FailedAuthLayer::new(limiter).layer(endpoints)),
            None => Endpoints::Open(endpoints),
        });
    Ok(PublicListener {
        addr,
        listener,
        service: PublicService {
            endpoints,
            protected,
        },
        http: HttpOptions {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_header_bytes: config.max_header_bytes,
            max_headers: Some(config.max_headers),
            ..HttpOptions::default()
        },
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
        .unwrap_or_else(|| format!("http://{addr}"));
    let endpoints = PublicEndpoints::new(tokens.clone(), keys, issuer)
        .map_err(|e| Error::config(format!("public.issuer: {e}")))?
        .default_service(&default)?
        .admin_credentials(admin);
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
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.protected.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
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
            return Box::pin(std::future::ready(Ok(response)));
        }
        // The RFC endpoints (`/oauth2/token`, `/oauth2/revoke`, `/oauth2/introspect`,
        // `/.well-known/oauth-authorization-server`) authenticate clients themselves: they are
        // answered in front of the layer.
        if let Some(endpoints) = self.endpoints.as_ref().filter(|e| e.owns(req.uri().path())) {
            // The metadata (`/.well-known/…`) authenticates nobody: never limited.
            let future: BoxFuture<Result<RestResponse, Infallible>> = match endpoints {
                Endpoints::Guarded(guarded) if !req.uri().path().starts_with("/.well-known/") => {
                    Box::pin(guarded.clone().oneshot(req))
                }
                Endpoints::Guarded(guarded) => Box::pin(guarded.get_ref().clone().oneshot(req)),
                Endpoints::Open(endpoints) => Box::pin(endpoints.clone().oneshot(req)),
            };
            return Box::pin(async move {
                let response = future.await?;
                Ok(response.map(ProxyBody::new))
            });
        }

        // Logged: method, path (never the query: it may carry `access_token`), status, time.
        let logged = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| (req.method().clone(), req.uri().path().to_owned()));
        let started = Instant::now();
        let future = self.protected.call(req);
        Box::pin(async move {
            let response = future.await?;
            if let Some((method, path)) = logged {
                tracing::debug!(
                    %method,
                    path,
                    status = response.status().as_u16(),
                    micros = started.elapsed().as_micros() as u64,
                    "public request"
                );
            }
            Ok(response)
        })
    }
}
