//! The per-route request rewrites: [`StripPrefix`] and, for routes without OAuth,
//! [`StripIdentity`].

use std::convert::Infallible;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use tower::Service;

use super::{json_error, RouteFuture};
use crate::auth::IdentityHeaders;
use crate::proxy::ProxyBody;

/// Removes a path prefix (whole segments) before the inner service: with prefix `/reviews`,
/// `/reviews/12?x=1` becomes `/12?x=1` and `/reviews` becomes `/`. A path without the prefix
/// is passed on unchanged. Apply it after any decision on the path (scope rules see the path
/// the client sent).
#[derive(Debug, Clone)]
pub struct StripPrefix<S> {
    inner: S,
    prefix: String,
}

impl<S> StripPrefix<S> {
    /// Strips `prefix` (a route's [`super::RouteMatch::path_prefix`]; `/` strips nothing).
    pub fn new(inner: S, prefix: &str) -> Self {
        StripPrefix {
            inner,
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }
}

/// `uri` with `prefix` taken off its path, if the path is under it in whole segments.
fn stripped(uri: &Uri, prefix: &str) -> Option<Uri> {
    let rest = uri.path().strip_prefix(prefix)?;
    if prefix.is_empty() || !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let pq = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

impl<S, B> Service<Request<B>> for StripPrefix<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if let Some(uri) = stripped(req.uri(), &self.prefix) {
            *req.uri_mut() = uri;
        }
        self.inner.call(req)
    }
}

/// For a route without OAuth (`auth = "none"`): removes every client-supplied identity header
/// (as the [`crate::auth::OAuthLayer`] does), so no upstream takes a forged one for the
/// gateway's; their `_`/`.` spelled aliases are refused with `400`, as by the layer. The
/// client's credentials stay here too, as behind the layer: its `Authorization` header and
/// every `access_token` query parameter (or spelling of one an upstream may read as it) are
/// removed, unless [`StripIdentity::forward_authorization`] is set. So a token sent to a
/// public path is never logged or replayed by the upstream behind it.
#[derive(Debug, Clone)]
pub struct StripIdentity<S> {
    inner: S,
    headers: IdentityHeaders,
    forward_authorization: bool,
}

impl<S> StripIdentity<S> {
    /// Strips the names of `headers` before `inner`.
    pub fn new(inner: S, headers: IdentityHeaders) -> Self {
        StripIdentity {
            inner,
            headers,
            forward_authorization: false,
        }
    }

    /// Whether the client's `Authorization` header and `access_token` query parameter are
    /// forwarded (default `false`), for an upstream that authenticates its clients itself.
    pub fn forward_authorization(mut self, forward: bool) -> Self {
        self.forward_authorization = forward;
        self
    }
}

impl<S, B> Service<Request<B>> for StripIdentity<S>
where
    S: Service<Request<B>, Response = Response<ProxyBody>, Error = Infallible>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !self.headers.strip(req.headers_mut()) {
            return RouteFuture::ready(json_error(
                StatusCode::BAD_REQUEST,
                r#"{"error":"invalid_request","error_description":"a header spells an identity header's name with `_` or `.`"}"#,
            ));
        }
        if !self.forward_authorization {
            req.headers_mut().remove(http::header::AUTHORIZATION);
            if crate::auth::query_has_token(req.uri().query()) {
                crate::auth::remove_query_token(req.uri_mut());
            }
        }
        RouteFuture::inner(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_whole_segments_and_keeps_the_query() {
        let s = |uri: &str, prefix: &str| {
            stripped(&uri.parse().unwrap(), prefix).map(|u| u.to_string())
        };
        assert_eq!(s("/reviews/12?x=1", "/reviews").as_deref(), Some("/12?x=1"));
        assert_eq!(s("/reviews", "/reviews").as_deref(), Some("/"));
        assert_eq!(s("/reviews?a", "/reviews").as_deref(), Some("/?a"));
        assert_eq!(s("/reviewsx", "/reviews"), None);
        assert_eq!(s("/a", ""), None);
    }
}
