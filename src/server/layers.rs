//! The tower-http layers around the listeners' services: every listener answers a panicking
//! handler with `500` ([`catch_panic`]); the admin API and the public OAuth endpoints are also
//! [`traced`]: credentials marked sensitive before any tracing, a `debug` span per request
//! that names the method and a path that carries no token and never the query, and an idle
//! timeout on the request body. The proxied requests of the public listener get only the panic
//! guard: their path is kept free of per-request work (BENCHMARKS.md).

use std::any::Any;
use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer, ResponseForPanic};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::sensitive_headers::{SetSensitiveRequestHeaders, SetSensitiveRequestHeadersLayer};
use tower_http::timeout::{RequestBodyTimeout, RequestBodyTimeoutLayer};
use tower_http::trace::{MakeSpan, Trace, TraceLayer};
use tracing::Span;

use super::access_log::AccessLog;
use super::trace_context::{TraceContext, TraceContextService};
use crate::path::PathOptions;

/// How long a client may pause between the parts of a request body it sends to the admin API
/// or an OAuth endpoint before the request fails (the body reader answers `408`).
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The request headers that carry credentials: marked sensitive, so that a `Debug` of the
/// headers (in any span or event) prints `Sensitive` instead of their values.
const SENSITIVE: [HeaderName; 3] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE];

/// A listener's whole stack: the trace context, the access log, the panic guard.
pub(crate) type Listener<S> = TraceContextService<AccessLog<PanicGuarded<S>>>;

/// What every listener serves: `service` behind the panic guard, the access log (when
/// `access`; `listener` names the listener in it, `path` canonicalises the path it shows) and
/// the W3C trace context.
pub(crate) fn listener<S>(
    service: S,
    listener: &'static str,
    access: bool,
    path: PathOptions,
) -> Listener<S> {
    TraceContextService {
        inner: AccessLog {
            inner: catch_panic(service),
            enabled: access,
            listener,
            path,
        },
    }
}

/// A service behind [`catch_panic`].
pub(crate) type PanicGuarded<S> = CatchPanic<S, PanicResponse>;

/// A service behind [`traced`].
pub(crate) type Traced<S> = SetSensitiveRequestHeaders<
    Trace<RequestBodyTimeout<S>, SharedClassifier<ServerErrorsAsFailures>, SpanWithoutQuery>,
>;

/// Answers a panic in `service` (in `call` or while its future is polled) with `500`: the
/// process and the connection's other requests live on. The panic's message is not logged
/// here (the panic hook prints it; a message may quote request data).
pub(crate) fn catch_panic<S>(service: S) -> PanicGuarded<S> {
    CatchPanicLayer::custom(PanicResponse).layer(service)
}

/// `service` with its credentials headers marked sensitive, then a trace span
/// ([`SpanWithoutQuery`]) and the tower-http default events at `debug` (a `5xx` at `error`),
/// and an idle timeout of `body_timeout` on the request body.
pub(crate) fn traced<S>(service: S, body_timeout: Duration) -> Traced<S> {
    ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::from_shared(
            SENSITIVE.into(),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(SpanWithoutQuery))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .service(service)
}

/// The service inside [`traced`]'s layers.
pub(crate) fn inner<S>(traced: &Traced<S>) -> &S {
    traced.get_ref().get_ref().get_ref()
}

/// The `500` of a panic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PanicResponse;

impl ResponseForPanic for PanicResponse {
    type ResponseBody = Full<Bytes>;

    fn response_for_panic(
        &mut self,
        _panic: Box<dyn Any + Send + 'static>,
    ) -> Response<Full<Bytes>> {
        tracing::error!("a request handler panicked: answered 500");
        let mut response = Response::new(Full::new(Bytes::from_static(b"internal server error\n")));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// The span of a traced request: `request{method, path, trace_id}` at `debug`, where the path
/// is [`loggable_path`]'s (no query, no token).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanWithoutQuery;

impl<B> MakeSpan<B> for SpanWithoutQuery {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let trace_id = request
            .extensions()
            .get::<TraceContext>()
            .map(TraceContext::trace_id);
        tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %loggable_path(request.uri().path()),
            trace_id = trace_id.as_deref(),
        )
    }
}

/// The path as logs may show it: the TIBCO-style token routes' token or owner segment is
/// replaced by `{token}` / `{owner}`; the query is never part of it.
pub(crate) fn loggable_path(path: &str) -> Cow<'_, str> {
    const TOKEN_ROUTES: &str = "/oauth2/access_token/";
    match path.strip_prefix(TOKEN_ROUTES) {
        Some("owners") | Some("") => Cow::Borrowed(path),
        Some(rest) if rest.starts_with("owners/") => {
            Cow::Borrowed("/oauth2/access_token/owners/{owner}")
        }
        Some(_) => Cow::Borrowed("/oauth2/access_token/{token}"),
        None => Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests;
