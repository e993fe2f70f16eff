//! The access log (`[log] access = true`): one `info` line per request, target
//! `tokengate::access`, written when the response head is ready. It names the listener, the
//! method, the canonical path (the TIBCO routes' token as `{token}`; never the query), the
//! route (with `[[routes]]`: its configured name), the status, the token's client, the latency until the response head, the upstream's status and
//! the trace id; never a token, a secret or a header value.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};
use pin_project_lite::pin_project;

use super::layers::loggable_path;
use super::trace_context::TraceContext;
use super::upstream_outcome::AccessNote;
use crate::path::PathOptions;

/// Logs each request `S` answers, when `enabled`; otherwise only passes requests on.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog<S> {
    pub(crate) inner: S,
    pub(crate) enabled: bool,
    /// `public` or `admin`.
    pub(crate) listener: &'static str,
    /// How the listener canonicalises paths (the path logged is the path routed).
    pub(crate) path: PathOptions,
}

/// What the line needs from the request.
struct Pending {
    started: Instant,
    method: Method,
    path: String,
    trace_id: Option<String>,
}

impl<S, B, ResBody> tower::Service<Request<B>> for AccessLog<S>
where
    S: tower::Service<Request<B>, Response = Response<ResBody>, Error = Infallible>,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = AccessFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let pending = self.enabled.then(|| Pending {
            started: Instant::now(),
            method: req.method().clone(),
            // A target without one canonical form is refused (400): logged as `-`.
            path: match self.path.canonical_path(req.uri().path()) {
                Ok(path) if path.starts_with('/') => loggable_path(&path).into_owned(),
                _ => "-".to_owned(),
            },
            trace_id: req
                .extensions()
                .get::<TraceContext>()
                .map(TraceContext::trace_id),
        });
        AccessFuture {
            inner: self.inner.call(req),
            pending,
            listener: self.listener,
        }
    }
}

pin_project! {
    /// The future of [`AccessLog`].
    pub(crate) struct AccessFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
        listener: &'static str,
    }
}

impl<F, ResBody> Future for AccessFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Ok(response) = std::task::ready!(this.inner.poll(cx));
        if let Some(pending) = this.pending.take() {
            let note = response.extensions().get::<AccessNote>();
            // The route's name comes from the configuration, never from the request.
            let route = response.extensions().get::<crate::route::RouteName>();
            tracing::info!(
                target: "tokengate::access",
                listener = *this.listener,
                method = %pending.method,
                path = %pending.path,
                route = route.map(|r| &*r.0),
                status = response.status().as_u16(),
                client_id = note.and_then(|n| n.client_id.as_deref()),
                latency_us = u64::try_from(pending.started.elapsed().as_micros()).unwrap_or(u64::MAX),
                upstream_status = note.and_then(|n| n.upstream_status),
                trace_id = pending.trace_id.as_deref(),
                "request"
            );
        }
        Poll::Ready(Ok(response))
    }
}
