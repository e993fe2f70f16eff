//! The request headers [`ReverseProxy`](super::ReverseProxy)(super::ReverseProxy) drops, and the names it watches
//! for aliases.

use http::header::CONTENT_LENGTH;
use http::HeaderName;

use super::hop_by_hop::HOP_BY_HOP;
use crate::alias::Watched;
use crate::forwarded::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};

/// The client-supplied request headers that [`ReverseProxy`](super::ReverseProxy) drops by default (every copy,
/// any case), because upstreams act on them as facts the proxy vouches for:
///
/// - the client's address, which the proxy sends itself in `X-Forwarded-For`: `X-Real-IP`,
///   `True-Client-IP`, `X-Client-IP`, `X-Cluster-Client-IP`, `CF-Connecting-IP`,
///   `Fastly-Client-IP`;
/// - how the request reached the proxy, beyond the `X-Forwarded-Proto` and
///   `X-Forwarded-Host` the proxy sets: `X-Forwarded-Port`, `X-Forwarded-Server`,
///   `X-Forwarded-Scheme`, `X-Forwarded-Ssl`, `Front-End-Https`, `X-Forwarded-Prefix`,
///   `X-Original-Host`;
/// - another target than the one the gateway checked, which some servers and frameworks act
///   on (IIS URL Rewrite and older Symfony/Zend for the URL headers, Express's
///   `method-override` and Rack's `MethodOverride` for the method ones): `X-Original-URL`,
///   `X-Rewrite-URL`, `X-Original-URI`, `X-Forwarded-Uri`, `X-HTTP-Method-Override`,
///   `X-HTTP-Method`, `X-Method-Override`, `X-Original-Method`.
///
/// Aliases of them spelled with `_` or `.` are refused (400). Replace the list with
/// [`ReverseProxy::drop_request_headers`](super::ReverseProxy::drop_request_headers).
///
/// ```
/// use tokengate::proxy::DEFAULT_DROPPED_HEADERS;
///
/// assert!(DEFAULT_DROPPED_HEADERS.iter().any(|name| name == "x-http-method-override"));
/// ```
pub const DEFAULT_DROPPED_HEADERS: [HeaderName; 21] = [
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-forwarded-ssl"),
    HeaderName::from_static("front-end-https"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-original-host"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-original-uri"),
    HeaderName::from_static("x-forwarded-uri"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-original-method"),
];

/// What [`ReverseProxy`](super::ReverseProxy) does with a request header it watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Watch {
    /// A hop-by-hop header: removed, with those `Connection` names.
    HopByHop,
    /// Dropped ([`DEFAULT_DROPPED_HEADERS`] or the configured list).
    Dropped,
    /// Kept or set by the proxy (`Content-Length`, `X-Forwarded-*`): watched for aliases.
    Kept,
}

/// The names the proxy watches in a request: the hop-by-hop ones, the framing and forwarding
/// ones it keeps or sets, and `dropped`.
pub(super) fn watched(dropped: impl IntoIterator<Item = HeaderName>) -> Watched<Watch> {
    let hop_by_hop = HOP_BY_HOP.into_iter().map(|name| (name, Watch::HopByHop));
    let kept = [
        CONTENT_LENGTH,
        X_FORWARDED_FOR,
        X_FORWARDED_PROTO,
        X_FORWARDED_HOST,
    ]
    .into_iter()
    .map(|name| (name, Watch::Kept));
    let dropped = dropped.into_iter().map(|name| (name, Watch::Dropped));
    Watched::new(hop_by_hop.chain(kept).chain(dropped))
}
