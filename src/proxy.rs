//! [`ReverseProxy`]: a `tower::Service` forwarding every request to one configured HTTP
//! upstream over a pooled hyper client, streaming bodies both ways.
//!
//! What it does to a request: the upstream is always the configured one (the client's `Host`
//! header or absolute-form URI never chooses it); the path and query are appended to the
//! upstream's base path; hop-by-hop headers and every header named in `Connection` are removed
//! ([`strip_hop_by_hop`]); `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are
//! set by the proxy, replacing whatever the client sent (as is `Forwarded`, which is removed,
//! or set with [`ReverseProxy::forwarded_header`]), except what a trusted proxy in front said
//! (a [`Forwarding`] extension, see [`crate::forwarded`]): then `X-Forwarded-For` is its
//! believed chain and the peer, and its scheme and host are kept; `X-Forwarded-Host` is
//! otherwise the request's host, validated ([`request_host`]: one `Host`, a valid
//! `host[:port]`, agreeing with the target's authority, else `400`); other client claims
//! about the connection or the target (`X-Real-IP`, `X-Original-URL`,
//! `X-HTTP-Method-Override`, … [`DEFAULT_DROPPED_HEADERS`]) are dropped, and a request with a
//! `_`/`.` alias of a framing or forwarding header (`Transfer_Encoding`, `X_Forwarded_For`)
//! gets `400`; `Host` is the upstream's authority. Responses lose their hop-by-hop headers
//! too.
//!
//! Failures never reach the client in detail: an upstream that cannot be reached or breaks the
//! exchange gives `502 Bad Gateway`, one that sends no response head in time gives
//! `504 Gateway Timeout`; both are logged at `warn` without any header value, path or query.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use hyper_util::service::TowerToHyperService;
//! use tokengate::proxy::{ClientAddr, ReverseProxy};
//! use tower::ServiceExt;
//!
//! let proxy = ReverseProxy::new("http://127.0.0.1:9000/api".parse()?)?
//!     .timeout(Duration::from_secs(10));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (stream, peer) = listener.accept().await?;
//!     // Tell the proxy who the client is, for `X-Forwarded-For`.
//!     let svc = proxy.clone().map_request(move |mut req: http::Request<hyper::body::Incoming>| {
//!         req.extensions_mut().insert(ClientAddr(peer));
//!         req
//!     });
//!     tokio::spawn(async move {
//!         let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
//!             .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
//!             .await;
//!     });
//! }
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, FORWARDED, HOST, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Extensions, Version};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pin_project_lite::pin_project;

use crate::alias::{is_alias, Spelling, Watched};
use crate::forwarded::{
    self, Forwarding, Proto, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO,
};
use crate::host::request_host;
use crate::Error;

mod failure;
mod pool;

use crate::tls::{connector, Connector};
pub use failure::UpstreamFailure;

use pool::{Pool, PooledBody, SendFuture};

use crate::BoxError;

/// Default time to wait for the upstream's response head: 30 s.
///
/// ```
/// assert_eq!(tokengate::proxy::DEFAULT_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time an idle pooled upstream connection is kept: 90 s.
///
/// ```
/// assert_eq!(tokengate::proxy::DEFAULT_POOL_IDLE_TIMEOUT.as_secs(), 90);
/// ```
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The headers that only concern one connection (RFC 9110 §7.6.1, plus the non-standard
/// `Keep-Alive` and `Proxy-Connection`).
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Removes the hop-by-hop headers from `headers`: `Connection`, `Keep-Alive`,
/// `Proxy-Connection`, `Proxy-Authenticate`, `Proxy-Authorization`, `TE`, `Trailer`,
/// `Transfer-Encoding`, `Upgrade`, and every header that a `Connection` header names
/// (comma-separated, case-insensitive, e.g. `Connection: close, X-Foo, HTTP2-Settings`).
///
/// [`ReverseProxy`] applies it to every request and response it forwards. A layer that
/// injects headers of its own (such as identity headers) must call it **before** injecting
/// them: otherwise a client sending `Connection: X-Mashery-Oauth-Client-Id` would have the
/// injected header removed on the way to the upstream. Once stripped, the `Connection` header
/// is gone, so the proxy's own pass leaves the injected headers alone.
///
/// ```
/// use http::HeaderMap;
/// use tokengate::proxy::strip_hop_by_hop;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("connection", "close, X-Foo".parse().unwrap());
/// headers.insert("x-foo", "1".parse().unwrap());
/// headers.insert("transfer-encoding", "chunked".parse().unwrap());
/// headers.insert("x-keep", "1".parse().unwrap());
/// strip_hop_by_hop(&mut headers);
/// assert_eq!(headers.len(), 1);
/// assert_eq!(headers["x-keep"], "1");
/// ```
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the (few) names present is cheaper than nine hash lookups, and most
    // requests carry none of them.
    if headers.keys().any(is_hop_by_hop) {
        remove_hop_by_hop(headers);
    }
}

/// [`strip_hop_by_hop`] once a hop-by-hop header is known to be present.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The lengths of the [`HOP_BY_HOP`] names, as bits: most names present can be told apart
/// from all nine by their length alone.
const HOP_BY_HOP_LENGTHS: u32 = 1 << 2 | 1 << 7 | 1 << 10 | 1 << 16 | 1 << 17 | 1 << 18 | 1 << 19;

fn is_hop_by_hop(name: &HeaderName) -> bool {
    let len = name.as_str().len();
    len < 32 && HOP_BY_HOP_LENGTHS & (1 << len) != 0 && HOP_BY_HOP.contains(name)
}

/// The framing and connection headers whose names have a `-`: `Content-Length`,
/// `Transfer-Encoding`, `Keep-Alive`, `Proxy-Connection`, `Proxy-Authorization`,
/// `Proxy-Authenticate`. An alias of one (`Transfer_Encoding`, `Content.Length`), forwarded
/// next to the real header, would frame or route the request differently at an upstream that
/// reads it as that header: [`ReverseProxy`] and the [`OAuthLayer`](crate::auth::OAuthLayer)
/// refuse requests carrying one. (`Host`, `Connection`, `Upgrade`, `TE` and `Trailer` have no
/// `-`, hence no such alias.)
pub(crate) const FRAMING: [HeaderName; 6] = [
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHORIZATION,
    PROXY_AUTHENTICATE,
];

/// The lengths of the [`FRAMING`] names, as [length bits](crate::alias::length_bit).
pub(crate) const FRAMING_LENGTHS: u128 = 1 << 10 | 1 << 14 | 1 << 16 | 1 << 17 | 1 << 18 | 1 << 19;

/// Whether `raw` is an alias of a [`FRAMING`] name.
pub(crate) fn is_framing_alias(raw: &str) -> bool {
    FRAMING.iter().any(|name| is_alias(raw, name.as_str()))
}

/// The client-supplied request headers that [`ReverseProxy`] drops by default (every copy,
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
/// [`ReverseProxy::drop_request_headers`].
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

/// What [`ReverseProxy`] does with a request header it watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// A hop-by-hop header: removed, with those `Connection` names.
    HopByHop,
    /// Dropped ([`DEFAULT_DROPPED_HEADERS`] or the configured list).
    Dropped,
    /// Kept or set by the proxy (`Content-Length`, `X-Forwarded-*`): watched for aliases.
    Kept,
}

/// The names the proxy watches in a request: the hop-by-hop ones, the framing and forwarding
/// ones it keeps or sets, and `dropped`.
fn watched(dropped: impl IntoIterator<Item = HeaderName>) -> Watched<Watch> {
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

/// The address of the client a request came from, as a request extension. The server
/// inserts it; [`ReverseProxy`] sends its IP upstream as `X-Forwarded-For` (after the chain a
/// trusted proxy sent, see [`crate::forwarded`]; no `X-Forwarded-For` when the extension is
/// absent).
///
/// ```
/// use tokengate::proxy::ClientAddr;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientAddr("192.0.2.7:50123".parse().unwrap()));
/// assert_eq!(req.extensions().get::<ClientAddr>().unwrap().0.port(), 50123);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// A request extension saying the request came over TLS: [`ReverseProxy`] then sends
/// `X-Forwarded-Proto: https` (`http` without it). The server inserts it on its TLS listeners.
///
/// ```
/// use tokengate::proxy::TlsConnection;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(TlsConnection);
/// assert!(req.extensions().get::<TlsConnection>().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsConnection;

/// The response body of [`ReverseProxy`]: the upstream's body, streamed as it arrives, or a
/// small body generated locally (the 502/504 texts). A layer in front of the proxy can build
/// its own responses with it too.
///
/// ```
/// use http_body::Body;
/// use tokengate::proxy::ProxyBody;
///
/// let body = ProxyBody::from("bad gateway\n");
/// assert_eq!(body.size_hint().exact(), Some(12));
/// assert!(ProxyBody::empty().is_end_stream());
/// ```
pub struct ProxyBody(BodyKind);

/// The bodies that the proxy itself makes are kept as they are; only bodies of other types are
/// boxed.
enum BodyKind {
    /// An upstream's response body (holding its pooled connection until it ends).
    Upstream(PooledBody),
    /// Bytes known in advance (or none).
    Full(Full<Bytes>),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl ProxyBody {
    /// Wraps any body with `Bytes` chunks.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use tokengate::proxy::ProxyBody;
    ///
    /// let body = ProxyBody::new(Full::new(Bytes::from_static(b"hello")));
    /// # let _ = body;
    /// ```
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ProxyBody(BodyKind::Boxed(
            body.map_err(|e| -> BoxError { e.into() }).boxed_unsync(),
        ))
    }

    /// A body with no content.
    ///
    /// ```
    /// use http_body::Body;
    /// use tokengate::proxy::ProxyBody;
    ///
    /// assert!(ProxyBody::empty().is_end_stream());
    /// ```
    pub fn empty() -> Self {
        ProxyBody(BodyKind::Full(Full::new(Bytes::new())))
    }
}

impl Default for ProxyBody {
    /// [`ProxyBody::empty`].
    fn default() -> Self {
        ProxyBody::empty()
    }
}

impl From<Bytes> for ProxyBody {
    /// A body of exactly these bytes.
    fn from(bytes: Bytes) -> Self {
        ProxyBody(BodyKind::Full(Full::new(bytes)))
    }
}

impl From<&'static str> for ProxyBody {
    /// A body of exactly this text.
    fn from(text: &'static str) -> Self {
        ProxyBody::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for ProxyBody {
    /// A body of exactly this text.
    fn from(text: String) -> Self {
        ProxyBody::from(Bytes::from(text))
    }
}

impl fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyBody")
            .field("size_hint", &self.size_hint())
            .finish_non_exhaustive()
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Every kind is `Unpin`.
        match &mut self.0 {
            BodyKind::Upstream(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(Into::into))),
            BodyKind::Full(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|never| match never {}))),
            BodyKind::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Upstream(body) => body.is_end_stream(),
            BodyKind::Full(body) => body.is_end_stream(),
            BodyKind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyKind::Upstream(body) => body.size_hint(),
            BodyKind::Full(body) => body.size_hint(),
            BodyKind::Boxed(body) => body.size_hint(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The client's request body on its way upstream, flagging a failure to read it.
    struct ClientBody<B> {
        #[pin]
        inner: B,
        failed: Arc<AtomicBool>,
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => {
                this.failed.store(true, Ordering::Release);
                Poll::Ready(Some(Err(e.into())))
            }
            other => other.map(|frame| frame.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A reverse proxy to one plain-HTTP upstream, as a `tower::Service` with
/// `Error = Infallible`: mount it behind the OAuth layer, in axum
/// (`Router::fallback_service`) or serve it with hyper directly (see the [module
/// docs](self)).
///
/// Connections to the upstream are pooled (HTTP/1.1: the proxy's own pool on hyper's
/// `client::conn::http1`, a connection reused only once its response body was read to the end
/// and its request body sent, and while the upstream keeps it open; h2c: hyper-util's client; `TCP_NODELAY` on both);
/// request and response bodies stream through without
/// being buffered. HTTP/1.1 by default, or HTTP/2 with prior knowledge (h2c) with
/// [`http2_only`](Self::http2_only). `CONNECT` requests get `501 Not Implemented`, requests
/// whose path has `.`/`..` segments (also percent-encoded) get `400 Bad Request`, so that the
/// upstream cannot resolve a path outside its base path or differently from the gateway;
/// requests with a missing, repeated or invalid `Host` ([`request_host`]), or a `_`/`.` alias
/// of a framing or forwarding header, get `400 Bad Request` too. See the [module docs](self)
/// for the headers it sets and drops.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use bytes::Bytes;
/// use http_body_util::Empty;
/// use tokengate::proxy::ReverseProxy;
/// use tower::ServiceExt;
///
/// // A port nobody listens on: the proxy answers 502 without detail.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let proxy = ReverseProxy::new(format!("http://127.0.0.1:{port}").parse().unwrap()).unwrap();
/// let req = http::Request::get("/anything")
///     .header("host", "gateway.example")
///     .body(Empty::<Bytes>::new())
///     .unwrap();
/// let res = proxy.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), http::StatusCode::BAD_GATEWAY);
/// # });
/// ```
#[derive(Clone)]
pub struct ReverseProxy {
    /// Shared by every clone: the server clones the service for each request, and one
    /// reference count is cheaper than the client's several.
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    client: UpstreamClient,
    upstream: Upstream,
    settings: Settings,
    /// The request header names acted on: hop-by-hop, dropped, and those whose aliases are
    /// refused.
    watched: Watched<Watch>,
}

#[derive(Debug, Clone)]
struct Upstream {
    /// `http` or `https`.
    scheme: Scheme,
    /// The TLS client configuration of an `https` upstream.
    tls: Option<Arc<rustls::ClientConfig>>,
    authority: Authority,
    /// The authority as a `Host` header value.
    host: HeaderValue,
    /// The base path without its trailing `/` (empty for the root).
    base_path: String,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    timeout: Duration,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    http2_only: bool,
    forwarded_header: bool,
    offer_http2: bool,
}

impl ReverseProxy {
    /// Whether `other` forwards to the same upstream (scheme, authority and base path).
    pub(crate) fn same_upstream(&self, other: &ReverseProxy) -> bool {
        let (a, b) = (&self.shared.upstream, &other.shared.upstream);
        a.scheme == b.scheme && a.authority == b.authority && a.base_path == b.base_path
    }

    /// A proxy to `upstream`, an `http://host:port` or `https://host:port` URI with an
    /// optional base path (`http://host:port/base`: a request for `/x?y=1` goes to
    /// `/base/x?y=1`). An `https` upstream's certificate is verified against the system's
    /// roots (see [`ReverseProxy::tls_config`] for another CA) and must name the URI's host,
    /// which is also sent as SNI.
    ///
    /// # Errors
    /// A configuration error ([`Error::is_config`]) when `upstream` is not an absolute
    /// `http://` or `https://` URI, carries user info, or has a query.
    ///
    /// ```
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// assert!(ReverseProxy::new("http://127.0.0.1:9000/base".parse().unwrap()).is_ok());
    /// let err = ReverseProxy::new("ftp://api.example.com".parse().unwrap()).unwrap_err();
    /// assert!(err.is_config());
    /// ```
    pub fn new(upstream: Uri) -> Result<Self, Error> {
        let tls = match upstream.scheme() {
            Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => crate::tls::for_uri(&upstream),
            _ => {
                return Err(Error::config(
                    "the upstream must be an absolute http:// or https:// URI",
                ))
            }
        };
        let scheme = upstream.scheme().expect("checked above").clone();
        let authority = upstream
            .authority()
            .ok_or_else(|| Error::config("the upstream URI has no host"))?
            .clone();
        if authority.as_str().contains('@') {
            return Err(Error::config("the upstream URI must not carry user info"));
        }
        if upstream.query().is_some() {
            return Err(Error::config("the upstream URI must not have a query"));
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| Error::config("the upstream host is not a valid Host header"))?;
        let base_path = upstream.path().trim_end_matches('/').to_owned();
        let settings = Settings {
            timeout: DEFAULT_TIMEOUT,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: usize::MAX,
            http2_only: false,
            forwarded_header: false,
            offer_http2: false,
        };
        let upstream = Upstream {
            scheme,
            tls,
            authority,
            host,
            base_path,
        };
        Ok(ReverseProxy {
            shared: Arc::new(Shared {
                client: build_client(&upstream, &settings),
                upstream,
                settings,
                watched: watched(DEFAULT_DROPPED_HEADERS),
            }),
        })
    }

    /// The client-supplied request headers to drop (every copy, any case) instead of
    /// [`DEFAULT_DROPPED_HEADERS`]; an empty list drops none. `_`/`.` aliases of each are
    /// refused with `400`. Hop-by-hop headers and `Forwarded` are removed, and
    /// `X-Forwarded-For/Proto/Host` replaced, whatever the list.
    ///
    /// ```
    /// use http::HeaderName;
    /// use tokengate::proxy::{ReverseProxy, DEFAULT_DROPPED_HEADERS};
    ///
    /// // Behind a CDN whose client address header the upstream reads: keep that one.
    /// let keep = HeaderName::from_static("cf-connecting-ip");
    /// let proxy = ReverseProxy::new("http://127.0.0.1:9000".parse().unwrap())
    ///     .unwrap()
    ///     .drop_request_headers(DEFAULT_DROPPED_HEADERS.into_iter().filter(|n| *n != keep));
    /// # let _ = proxy;
    /// ```
    pub fn drop_request_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        Arc::make_mut(&mut self.shared).watched = watched(names);
        self
    }

    /// How long to wait for the upstream's response head (default 30 s); past it the client
    /// gets `504 Gateway Timeout`. The time counts from sending the request, so it includes
    /// connecting and, for an upstream that reads the whole request body before answering,
    /// the upload. The response body is not timed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// let proxy = ReverseProxy::new("http://127.0.0.1:9000".parse().unwrap())
    ///     .unwrap()
    ///     .timeout(Duration::from_secs(5));
    /// # let _ = proxy;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.shared).settings.timeout = timeout;
        self
    }

    /// How long an idle pooled connection to the upstream is kept (default 90 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// let proxy = ReverseProxy::new("http://127.0.0.1:9000".parse().unwrap())
    ///     .unwrap()
    ///     .pool_idle_timeout(Duration::from_secs(30));
    /// # let _ = proxy;
    /// ```
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        Arc::make_mut(&mut self.shared).settings.pool_idle_timeout = idle;
        self.rebuild()
    }

    /// The most idle connections kept to the upstream (default: no limit); `0` disables
    /// reuse.
    ///
    /// ```
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// let proxy = ReverseProxy::new("http://127.0.0.1:9000".parse().unwrap())
    ///     .unwrap()
    ///     .pool_max_idle_per_host(64);
    /// # let _ = proxy;
    /// ```
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.shared)
            .settings
            .pool_max_idle_per_host = max;
        self.rebuild()
    }

    /// Whether to speak HTTP/2 with prior knowledge (h2c) to the upstream instead of
    /// HTTP/1.1 (default `false`). Clients may use either version with the proxy regardless.
    ///
    /// ```
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// let proxy = ReverseProxy::new("http://127.0.0.1:50051".parse().unwrap())
    ///     .unwrap()
    ///     .http2_only(true);
    /// # let _ = proxy;
    /// ```
    pub fn http2_only(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.shared).settings.http2_only = enabled;
        self.rebuild()
    }

    /// The TLS client configuration of an `https` upstream, e.g. trusting only an internal CA
    /// ([`crate::tls::client_config`]); ALPN is set by the proxy. Ignored for an `http`
    /// upstream.
    ///
    /// ```no_run
    /// use tokengate::proxy::ReverseProxy;
    /// use tokengate::tls::{client_config, Roots};
    ///
    /// let tls = client_config(&Roots::CaFile("internal-ca.pem".into())).unwrap();
    /// let proxy = ReverseProxy::new("https://api.internal:8443".parse().unwrap())
    ///     .unwrap()
    ///     .tls_config(tls);
    /// # let _ = proxy;
    /// ```
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        if shared.upstream.tls.is_some() {
            shared.upstream.tls = Some(config);
        }
        self.rebuild()
    }

    /// Whether to offer HTTP/2 to an `https` upstream by ALPN (default `false`): the upstream
    /// picks `h2` or `http/1.1`. Ignored for an `http` upstream (see
    /// [`ReverseProxy::http2_only`] for h2c).
    ///
    /// ```
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// let proxy = ReverseProxy::new("http://127.0.0.1:9000".parse().unwrap())
    ///     .unwrap()
    ///     .offer_http2(true);
    /// # let _ = proxy;
    /// ```
    pub fn offer_http2(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.shared).settings.offer_http2 = enabled;
        self.rebuild()
    }

    /// Also send an RFC 7239 `Forwarded` header (default `false`: a client's is removed
    /// and none sent): one `for=` element per address of `X-Forwarded-For`, the first with
    /// the `host=` and `proto=` of `X-Forwarded-Host` and `X-Forwarded-Proto`.
    ///
    /// ```
    /// use tokengate::proxy::ReverseProxy;
    ///
    /// let proxy = ReverseProxy::new("http://127.0.0.1:9000".parse().unwrap())
    ///     .unwrap()
    ///     .forwarded_header(true);
    /// # let _ = proxy;
    /// ```
    pub fn forwarded_header(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.shared).settings.forwarded_header = enabled;
        self
    }

    fn rebuild(mut self) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.client = build_client(&shared.upstream, &shared.settings);
        self
    }

    /// The upstream request for `req` and a flag that the client's body failed (none for a
    /// body that has already ended), or the status and text to answer with instead.
    #[allow(clippy::type_complexity)]
    fn rewrite<B>(
        &self,
        req: Request<B>,
    ) -> Result<(Request<ProxyBody>, Option<Arc<AtomicBool>>), (StatusCode, &'static str)>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = req.into_parts();
        if parts.method == Method::CONNECT {
            return Err((StatusCode::NOT_IMPLEMENTED, "not implemented\n"));
        }
        // `X-Forwarded-Host` is the host checked here: one valid `host[:port]`, from `Host`
        // (or the target's authority when HTTP/1.0 or HTTP/2 has no `Host`).
        let forwarded_host = match request_host(&parts.headers, &parts.uri, parts.version) {
            Ok(Some(host)) => match host.header() {
                Some(value) => Some(value.clone()),
                None => HeaderValue::from_str(host.as_str()).ok(),
            },
            Ok(None) => None,
            Err(_) => return Err((StatusCode::BAD_REQUEST, "bad request\n")),
        };
        // One pass over the names present: most requests carry none of those watched.
        let (mut hop_by_hop, mut dropped) = (false, false);
        for name in parts.headers.keys() {
            match self.shared.watched.find(name) {
                None | Some(Spelling::Exact(Watch::Kept)) => {}
                Some(Spelling::Exact(Watch::HopByHop)) => hop_by_hop = true,
                Some(Spelling::Exact(Watch::Dropped)) => dropped = true,
                Some(Spelling::Alias) => return Err((StatusCode::BAD_REQUEST, "bad request\n")),
            }
        }
        let uri = match self.upstream_uri(std::mem::take(&mut parts.uri)) {
            Some(uri) => uri,
            None => return Err((StatusCode::BAD_REQUEST, "bad request\n")),
        };
        let peer = parts.extensions.get::<ClientAddr>().map(|a| a.0.ip());
        // What a trusted proxy in front said (`TrustedProxies::apply`); taken before the
        // extensions are cleared.
        let forwarding = parts.extensions.remove::<Forwarding>();
        // The scheme of the connection the request came on, unless a trusted proxy said.
        let own_proto = match parts.extensions.get::<TlsConnection>() {
            Some(_) => Proto::Https,
            None => Proto::Http,
        };

        let headers = &mut parts.headers;
        if hop_by_hop {
            remove_hop_by_hop(headers);
        }
        if dropped {
            for (name, watch) in self.shared.watched.entries() {
                if watch == Watch::Dropped {
                    headers.remove(name);
                }
            }
        }
        headers.remove(FORWARDED);
        // A trusted proxy's scheme and host, else the gateway's own.
        let proto = forwarding.as_ref().and_then(Forwarding::proto);
        let forwarded_host = forwarding
            .as_ref()
            .and_then(|f| f.host().cloned())
            .or(forwarded_host);
        // `insert` replaces every value the client sent: a removal is needed only where
        // nothing is inserted.
        match peer {
            // The common case (no trusted chain, no `Forwarded`): no allocation.
            Some(ip) if forwarding.is_none() && !self.shared.settings.forwarded_header => {
                headers.insert(X_FORWARDED_FOR, ip_header(ip.to_canonical()));
            }
            Some(ip) => {
                let chain = forwarded::addresses(forwarding.as_ref(), ip);
                headers.insert(X_FORWARDED_FOR, forwarded::x_forwarded_for(&chain));
                if self.shared.settings.forwarded_header {
                    let value = forwarded::forwarded_header(
                        &chain,
                        forwarded_host.as_ref(),
                        proto.unwrap_or(own_proto),
                    );
                    headers.insert(FORWARDED, value);
                }
            }
            None => {
                headers.remove(X_FORWARDED_FOR);
            }
        };
        headers.insert(X_FORWARDED_PROTO, proto.unwrap_or(own_proto).header_value());
        match forwarded_host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host),
            None => headers.remove(X_FORWARDED_HOST),
        };
        headers.insert(HOST, self.shared.upstream.host.clone());

        parts.uri = uri;
        parts.version = if self.shared.settings.http2_only {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        // Nothing of the server's connection (upgrades, h2 `:protocol`, …) goes upstream.
        parts.extensions = Extensions::new();
        if body.is_end_stream() {
            // Nothing left to read (a GET, or `Content-Length: 0`): nothing can fail, and an
            // empty body needs neither a box nor a flag.
            return Ok((Request::from_parts(parts, ProxyBody::empty()), None));
        }
        let failed = Arc::new(AtomicBool::new(false));
        let body = ClientBody {
            inner: body,
            failed: failed.clone(),
        };
        Ok((
            Request::from_parts(parts, ProxyBody::new(body)),
            Some(failed),
        ))
    }

    /// The request's URI turned upstream: the upstream's scheme and authority, its base path
    /// and the request's path and query. The request's own path and query are kept as they
    /// are (no copy) when the upstream has no base path. `None` for a path with dot segments,
    /// and for a target that is not a path (asterisk-form `*`, authority-form `host:port`, an
    /// HTTP/2 `:path` not starting with `/`): none of them names a resource upstream.
    fn upstream_uri(&self, uri: Uri) -> Option<Uri> {
        let pq = uri.into_parts().path_and_query?;
        if !pq.as_str().starts_with('/') || has_dot_segment(pq.path()) {
            return None;
        }
        let upstream = &self.shared.upstream;
        let base = &upstream.base_path;
        let pq = match pq {
            pq if base.is_empty() => pq,
            pq => {
                let pq = pq.as_str();
                let mut joined = String::with_capacity(base.len() + pq.len());
                joined.push_str(base);
                joined.push_str(pq);
                PathAndQuery::try_from(joined).ok()?
            }
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(upstream.scheme.clone());
        parts.authority = Some(upstream.authority.clone());
        parts.path_and_query = Some(pq);
        Uri::from_parts(parts).ok()
    }
}

impl fmt::Debug for ReverseProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shared {
            upstream, settings, ..
        } = &*self.shared;
        f.debug_struct("ReverseProxy")
            .field("scheme", &upstream.scheme)
            .field("upstream", &upstream.authority)
            .field("base_path", &upstream.base_path)
            .field("timeout", &settings.timeout)
            .field("pool_idle_timeout", &settings.pool_idle_timeout)
            .field("pool_max_idle_per_host", &settings.pool_max_idle_per_host)
            .field("http2_only", &settings.http2_only)
            .field("offer_http2", &settings.offer_http2)
            .finish()
    }
}

/// How requests reach the upstream: HTTP/1.1 through the proxy's own pool, h2c (or, for an
/// `https` upstream offered `h2`, whatever ALPN picks) through hyper-util's client.
#[derive(Clone)]
enum UpstreamClient {
    Http1(Pool),
    /// Boxed: hyper-util's client is 300 bytes, the pool a pointer.
    Http2(Box<Client<Connector, ProxyBody>>),
}

impl UpstreamClient {
    fn send(&self, req: Request<ProxyBody>) -> SendFuture {
        match self {
            UpstreamClient::Http1(pool) => pool.send(req),
            UpstreamClient::Http2(client) => {
                let pending = client.request(req);
                Box::pin(async move {
                    Ok(pool::Pooled {
                        response: pending.await?,
                        checkout: None,
                    })
                })
            }
        }
    }
}

fn build_client(upstream: &Upstream, settings: &Settings) -> UpstreamClient {
    let offer_h2 = (settings.offer_http2 || settings.http2_only) && upstream.tls.is_some();
    let connector = connector(upstream.tls.as_ref(), offer_h2, settings.pool_idle_timeout);
    if !settings.http2_only && !offer_h2 {
        let target = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query("/")
            .build()
            .expect("an http URI of a valid authority");
        return UpstreamClient::Http1(Pool::new(
            connector,
            target,
            settings.pool_max_idle_per_host,
            settings.pool_idle_timeout,
        ));
    }
    UpstreamClient::Http2(Box::new(
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .http2_only(settings.http2_only)
            .build(connector),
    ))
}

/// Whether a path has a `.` or `..` segment, counting `%2e` as `.` and `\`, `%2f`, `%5c` as
/// separators (upstreams that decode or normalize them would otherwise see another path).
fn has_dot_segment(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut segment_dots = 0usize; // dots in the current segment, or usize::MAX if other bytes
    let mut i = 0;
    while i <= bytes.len() {
        let (unit, width) = match bytes.get(i) {
            None => (b'/', 1),
            Some(b'%') if i + 2 < bytes.len() => {
                match (
                    bytes[i + 1].to_ascii_lowercase(),
                    bytes[i + 2].to_ascii_lowercase(),
                ) {
                    (b'2', b'e') => (b'.', 3),
                    (b'2', b'f') | (b'5', b'c') => (b'/', 3),
                    _ => (b'%', 1),
                }
            }
            Some(b'\\') => (b'/', 1),
            Some(&b) => (b, 1),
        };
        match unit {
            b'/' => {
                if segment_dots == 1 || segment_dots == 2 {
                    return true;
                }
                segment_dots = 0;
            }
            b'.' if segment_dots != usize::MAX => segment_dots += 1,
            _ => segment_dots = usize::MAX,
        }
        i += width;
    }
    false
}

/// An IP address as an `X-Forwarded-For` value. IPv4 addresses, the common case, are written
/// digit by digit: the standard formatter is several times slower for them.
fn ip_header(ip: IpAddr) -> HeaderValue {
    let v6;
    let mut v4 = [0u8; 15];
    let text: &[u8] = match ip {
        IpAddr::V4(ip) => {
            let mut len = 0;
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    v4[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    v4[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    v4[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                v4[len] = b'0' + octet % 10;
                len += 1;
            }
            &v4[..len]
        }
        IpAddr::V6(ip) => {
            v6 = ip.to_string();
            v6.as_bytes()
        }
    };
    HeaderValue::from_bytes(text).expect("an IP address is a valid header value")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(upstream: &str) -> ReverseProxy {
        ReverseProxy::new(upstream.parse().unwrap()).unwrap()
    }

    fn mapped(upstream: &str, request: &str) -> Option<String> {
        proxy(upstream)
            .upstream_uri(request.parse().unwrap())
            .map(|u| u.to_string())
    }

    #[test]
    fn upstream_uris() {
        let root = "http://127.0.0.1:9000";
        assert_eq!(
            mapped(root, "/x?y=1").unwrap(),
            "http://127.0.0.1:9000/x?y=1"
        );
        assert_eq!(mapped(root, "/").unwrap(), "http://127.0.0.1:9000/");
        assert_eq!(
            mapped(root, "http://evil.example/x?q").unwrap(),
            "http://127.0.0.1:9000/x?q"
        );
        assert_eq!(
            mapped(root, "http://evil.example").unwrap(),
            "http://127.0.0.1:9000/"
        );
        for not_a_path in ["*", "evil.example:80", "admin"] {
            assert_eq!(mapped(root, not_a_path), None, "{not_a_path}");
        }
        for base in ["http://127.0.0.1:9000/base", "http://127.0.0.1:9000/base/"] {
            assert_eq!(
                mapped(base, "/x?y=1").unwrap(),
                "http://127.0.0.1:9000/base/x?y=1"
            );
            assert_eq!(mapped(base, "/").unwrap(), "http://127.0.0.1:9000/base/");
            assert_eq!(
                mapped(base, "http://evil.example").unwrap(),
                "http://127.0.0.1:9000/base/"
            );
            assert_eq!(mapped(base, "*"), None);
            assert_eq!(mapped(base, "/x/%2e%2e/y"), None);
        }
        assert_eq!(mapped(root, "/a/../b"), None);
    }

    #[test]
    fn ip_headers_match_the_standard_formatting() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "9.10.99.100",
            "192.0.2.7",
            "255.255.255.255",
            "10.0.100.1",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_header(ip), ip.to_string(), "{ip}");
        }
        for octet in 0..=255u8 {
            let ip = IpAddr::from([octet, 0, octet, 255 - octet]);
            assert_eq!(ip_header(ip), ip.to_string(), "{ip}");
        }
    }

    #[test]
    fn hop_by_hop_lengths_cover_every_name() {
        for name in HOP_BY_HOP {
            assert!(is_hop_by_hop(&name), "{name}");
            let len = name.as_str().len();
            assert_ne!(HOP_BY_HOP_LENGTHS & (1 << len), 0, "{name}");
        }
        assert!(
            !is_hop_by_hop(&http::header::USER_AGENT),
            "same length as `connection`"
        );
        assert!(!is_hop_by_hop(&HOST));
        for name in FRAMING {
            let len = name.as_str().len();
            assert_ne!(FRAMING_LENGTHS & crate::alias::length_bit(len), 0, "{name}");
            assert!(is_framing_alias(&name.as_str().replace('-', "_")), "{name}");
        }
        assert_eq!(
            FRAMING_LENGTHS.count_ones() as usize,
            FRAMING
                .iter()
                .map(|n| n.as_str().len())
                .collect::<std::collections::HashSet<_>>()
                .len(),
            "no length without a name"
        );
    }

    #[test]
    fn dot_segments() {
        for bad in [
            "/..",
            "/.",
            "/a/..",
            "/a/../b",
            "/./a",
            "/a/%2e%2e/b",
            "/a/%2E./b",
            "/a/.%2e",
            "/a/..%2fb",
            "/a/..%2Fb",
            "/a\\..\\b",
            "/a/..%5cb",
            "/a/%2e/b",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for good in [
            "/",
            "/a",
            "/a/b/",
            "/...",
            "/a/.../b",
            "/a/.b",
            "/a/b.",
            "/a/..b",
            "/a/%2e%2e%2e",
            "/a/%41",
            "/a%",
            "/a%2",
            "//",
        ] {
            assert!(!has_dot_segment(good), "{good}");
        }
    }

    #[test]
    fn bad_upstreams() {
        for bad in [
            "https://user@api.example.com",
            "/relative",
            "http://user:pw@127.0.0.1:9000",
            "http://127.0.0.1:9000/base?x=1",
            "ftp://127.0.0.1/",
        ] {
            let err = ReverseProxy::new(bad.parse().unwrap()).unwrap_err();
            assert!(err.is_config(), "{bad}");
        }
        assert!(ReverseProxy::new("https://api.example.com/v1".parse().unwrap()).is_ok());
    }
}
