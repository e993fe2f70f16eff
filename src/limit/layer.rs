//! [`FailedAuthLayer`]: a [`FailedAuthLimiter`] in front of a service that authenticates its
//! callers.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt};

use super::FailedAuthLimiter;

/// Puts a [`FailedAuthLimiter`] in front of a service whose callers authenticate (the RFC
/// token, introspection and revocation endpoints, the JSON-RPC API, the TIBCO routes):
///
/// * a request from an address that is over its limit gets `429 Too Many Requests` with
///   `Retry-After` (seconds) and `{"error":"slow_down","error_description":…}`, and never reaches
///   the service, so no secret it carries is checked;
/// * every `401` or `403` answer of the service counts as a failed authentication of the
///   request's address.
///
/// The address is [`client_ip`](crate::forwarded::client_ip): the client a trusted proxy
/// named ([`TrustedProxies`](crate::forwarded::TrustedProxies)), else the
/// [`ClientAddr`](crate::proxy::ClientAddr) request extension (`tokengate serve` sets it to
/// the TCP peer); requests without one pass unlimited.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::sync::Arc;
/// use tower::Layer;
/// use tokengate::limit::{FailedAuthLayer, FailedAuthLimiter, Rate};
/// use tokengate::{oauth::TokenService, rest::PublicEndpoints, secret::Pepper, store::MemoryStore};
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let public = PublicEndpoints::new(tokens, ["rmeqcgpw3zu2y47y9bs8vs2h"], "https://auth.example.com")?;
/// let limiter = FailedAuthLimiter::new(Rate::per_minute(NonZeroU32::new(30).unwrap()));
/// let guarded = FailedAuthLayer::new(limiter).layer(public);
/// # let _ = guarded;
/// # Ok::<_, tokengate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FailedAuthLayer {
    limiter: FailedAuthLimiter,
}

impl FailedAuthLayer {
    /// The layer over `limiter` (clones share its counts).
    pub fn new(limiter: FailedAuthLimiter) -> Self {
        FailedAuthLayer { limiter }
    }
}

impl<S> Layer<S> for FailedAuthLayer {
    type Service = FailedAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FailedAuthService {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service a [`FailedAuthLayer`] wraps around `S`.
#[derive(Debug, Clone)]
pub struct FailedAuthService<S> {
    inner: S,
    limiter: FailedAuthLimiter,
}

impl<S> FailedAuthService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

use crate::BoxFuture;

impl<S, B> Service<Request<B>> for FailedAuthService<S>
where
    S: Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The inner service is made ready by `oneshot` on a clone, once the address passed.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let Some(ip) = crate::forwarded::client_ip(req.extensions()) else {
            return Box::pin(inner.oneshot(req));
        };
        let limiter = self.limiter.clone();
        Box::pin(async move {
            if let Err(wait) = limiter.check(ip).await {
                tracing::debug!(%ip, "too many failed authentications: refused");
                return Ok(crate::rest::too_many_requests(
                    "Too many failed authentications from this address; try again later",
                    wait,
                ));
            }
            let response = inner.oneshot(req).await?;
            if matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ) {
                limiter.failed(ip).await;
            }
            Ok(response)
        })
    }
}
