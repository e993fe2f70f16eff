//! The `tower::Service` of [`ReverseProxy`] and its future: the upstream's response head
//! under the proxy's timeout, or an answer of the proxy's own.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use pin_project_lite::pin_project;

use super::body::BodyKind;
use super::hop_by_hop::strip_hop_by_hop;
use super::pool::{self, PooledBody, SendFuture};
use super::{ProxyBody, ReverseProxy, Shared, UpstreamFailure};
use crate::BoxError;

fn text(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// An error and its sources, one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

pin_project! {
    /// The future of [`ReverseProxy`]'s `call`: the response head from the upstream (or a
    /// `4xx`/`5xx` of the proxy's own), under the proxy's timeout. Not boxed.
    pub struct ProxyFuture {
        #[pin]
        state: FutureState,
    }
}

pin_project! {
    #[project = FutureStateProj]
    enum FutureState {
        /// Answered without asking the upstream.
        Answered { response: Option<Response<ProxyBody>> },
        Waiting {
            #[pin]
            pending: tokio::time::Timeout<SendFuture>,
            client_body_failed: Option<Arc<AtomicBool>>,
            method: Method,
            shared: Arc<Shared>,
        },
    }
}

impl fmt::Debug for ProxyFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyFuture").finish_non_exhaustive()
    }
}

impl Future for ProxyFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (outcome, client_body_failed, method, shared) = match self.project().state.project() {
            FutureStateProj::Answered { response } => {
                return Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            FutureStateProj::Waiting {
                pending,
                client_body_failed,
                method,
                shared,
            } => (ready!(pending.poll(cx)), client_body_failed, method, shared),
        };
        let pool::Pooled { response, checkout } = match outcome {
            Ok(Ok(pooled)) => pooled,
            Ok(Err(error))
                if client_body_failed
                    .as_ref()
                    .is_some_and(|failed| failed.load(Ordering::Acquire)) =>
            {
                // The client's body broke off or was malformed (bad chunk framing, a
                // connection closed early): the client's fault, not the upstream's.
                tracing::debug!(%method, error = %chain(&*error), "proxy: request body failed");
                return Poll::Ready(Ok(text(StatusCode::BAD_REQUEST, "bad request\n")));
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    upstream = %shared.upstream.authority,
                    %method,
                    error = %chain(&*error),
                    "proxy: upstream request failed"
                );
                let mut response = text(StatusCode::BAD_GATEWAY, "bad gateway\n");
                response
                    .extensions_mut()
                    .insert(UpstreamFailure::classify(&*error));
                return Poll::Ready(Ok(response));
            }
            Err(_) => {
                tracing::warn!(
                    upstream = %shared.upstream.authority,
                    %method,
                    timeout_ms = shared.settings.timeout.as_millis() as u64,
                    "proxy: upstream response timed out"
                );
                let mut response = text(StatusCode::GATEWAY_TIMEOUT, "gateway timeout\n");
                response.extensions_mut().insert(UpstreamFailure::Timeout);
                return Poll::Ready(Ok(response));
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        // The proxy answers in its own protocol version, whatever the upstream spoke.
        parts.version = Version::HTTP_11;
        Poll::Ready(Ok(Response::from_parts(
            parts,
            ProxyBody(BodyKind::Upstream(PooledBody::new(body, checkout))),
        )))
    }
}

impl<B> tower::Service<Request<B>> for ReverseProxy
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ProxyFuture;

    /// Always ready: the pooled client queues and opens upstream connections itself, and an
    /// unreachable upstream shows as a `502` per request rather than as back-pressure.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ProxyFuture {
        let (req, client_body_failed) = match self.rewrite(req) {
            Ok(pair) => pair,
            Err((status, body)) => {
                return ProxyFuture {
                    state: FutureState::Answered {
                        response: Some(text(status, body)),
                    },
                }
            }
        };
        let method = req.method().clone();
        let shared = &self.shared;
        let pending = tokio::time::timeout(shared.settings.timeout, shared.client.send(req));
        ProxyFuture {
            state: FutureState::Waiting {
                pending,
                client_body_failed,
                method,
                shared: shared.clone(),
            },
        }
    }
}
