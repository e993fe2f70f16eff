//! [`ReverseProxy`]: a `tower::Service` forwarding every request to one configured HTTP
//! upstream over a pooled hyper client, streaming bodies both ways.
//!
//! What it does to a request: the upstream is always the configured one (the client's `Host`
//! header or absolute-form URI never chooses it); the path and query are appended to the
//! upstream's base path; hop-by-hop headers and every header named in `Connection` are removed
//! ([`strip_hop_by_hop`]); `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` are
//! set by the proxy, replacing whatever the client sent (as is `Forwarded`, which is removed,
//! or set with [`ReverseProxy::forwarded_header`]), except what a trusted proxy in front said
//! (a [`Forwarding`](crate::forwarded::Forwarding) extension, see [`crate::forwarded`]): then `X-Forwarded-For` is its
//! believed chain and the peer, and its scheme and host are kept; `X-Forwarded-Host` is
//! otherwise the request's host, validated ([`request_host`](crate::host::request_host): one `Host`, a valid
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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue, Uri};

use crate::alias::Watched;
use crate::Error;

mod body;
mod client;
mod dropped;
mod extensions;
mod failure;
mod forwarding;
mod hop_by_hop;
mod pool;
mod rewrite;
mod service;

pub use body::ProxyBody;
pub use dropped::DEFAULT_DROPPED_HEADERS;
pub use extensions::{ClientAddr, TlsConnection};
pub use failure::UpstreamFailure;
pub use hop_by_hop::strip_hop_by_hop;
#[allow(unused_imports)] // `FRAMING`: named by the docs of `crate::auth`.
pub(crate) use hop_by_hop::{is_framing_alias, FRAMING, FRAMING_LENGTHS};
pub use service::ProxyFuture;

use crate::BoxError;
use client::{build_client, UpstreamClient};
use dropped::{watched, Watch};

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
/// requests with a missing, repeated or invalid `Host` ([`request_host`](crate::host::request_host)), or a `_`/`.` alias
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

#[cfg(test)]
mod tests {
    use super::*;

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
