//! Trusted proxies and forwarding headers: who may say who the client is
//! ([`TrustedProxies`]), what was found ([`Forwarding`]), and the headers sent upstream.
//!
//! A request's client is its TCP peer, unless the peer is a trusted proxy: then the client is
//! read from the chain that proxy sent (`X-Forwarded-For`, or RFC 7239 `Forwarded`), walked
//! from the right past the trusted hops. The client found that way keys the
//! [`FailedAuthLayer`](crate::limit::FailedAuthLayer) ([`client_ip`]) and is what the
//! [`ReverseProxy`](crate::proxy::ReverseProxy) sends upstream: `X-Forwarded-For` is the
//! client, the trusted hops after it, then the peer; `X-Forwarded-Proto` and
//! `X-Forwarded-Host` are the trusted proxy's values when it sent valid ones. From an
//! untrusted peer every such header is replaced by the gateway's own.
//!
//! ```
//! use tokengate::forwarded::{client_ip, Forwarding, TrustedProxies};
//! use tokengate::proxy::ClientAddr;
//!
//! let trusted = TrustedProxies::parse(["127.0.0.1"])?;
//! let mut req = http::Request::get("/")
//!     .header("x-forwarded-for", "203.0.113.5")
//!     .body(())?;
//! req.extensions_mut().insert(ClientAddr("127.0.0.1:50000".parse()?));
//! trusted.apply(&mut req);
//! assert_eq!(client_ip(req.extensions()), Some("203.0.113.5".parse()?));
//! assert_eq!(req.extensions().get::<Forwarding>().unwrap().chain().len(), 1);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;

use http::{Extensions, HeaderValue};

use crate::proxy::ClientAddr;

mod parse;
mod rfc7239;
mod trust;

pub(crate) use parse::{X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};
pub use trust::{ForwardedFrom, TrustedProxies, TrustedProxyError};

/// The scheme a trusted proxy says the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

impl Proto {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }

    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// What a trusted peer's forwarding headers say, as a request extension inserted by
/// [`TrustedProxies::apply`]. Absent for requests from untrusted peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    peer: IpAddr,
    chain: Vec<IpAddr>,
    proto: Option<Proto>,
    host: Option<HeaderValue>,
}

impl Forwarding {
    /// The client: the rightmost untrusted address of the chain, or the peer when the chain
    /// is empty.
    pub fn client(&self) -> IpAddr {
        self.chain.first().copied().unwrap_or(self.peer)
    }

    /// The addresses believed, leftmost first: the client, then the trusted proxies after it,
    /// without the peer. Empty when the peer sent no usable chain.
    pub fn chain(&self) -> &[IpAddr] {
        &self.chain
    }

    /// The trusted peer the request came from.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// The scheme the client used, if the trusted proxy said so validly.
    pub fn proto(&self) -> Option<Proto> {
        self.proto
    }

    /// The host the client asked for (a valid `host[:port]`), if the trusted proxy said so.
    pub fn host(&self) -> Option<&HeaderValue> {
        self.host.as_ref()
    }
}

/// The client address of a request: the [`Forwarding`] client when a trusted proxy named
/// one, else the [`ClientAddr`] peer, else `None`.
pub fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    match extensions.get::<Forwarding>() {
        Some(forwarding) => Some(forwarding.client()),
        None => extensions
            .get::<ClientAddr>()
            .map(|a| a.0.ip().to_canonical()),
    }
}

/// `X-Forwarded-For` for the upstream: `addresses` ([`addresses`]), comma-separated.
pub(crate) fn x_forwarded_for(addresses: &[IpAddr]) -> HeaderValue {
    let mut text = String::new();
    for (i, ip) in addresses.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{ip}");
    }
    HeaderValue::from_str(&text).expect("addresses are header text")
}

/// RFC 7239 `Forwarded` for the upstream: one element per address of the `X-Forwarded-For`
/// chain (`addresses`, leftmost first), the first with `host=` and `proto=`.
pub(crate) fn forwarded_header(
    addresses: &[IpAddr],
    host: Option<&HeaderValue>,
    proto: Proto,
) -> HeaderValue {
    let mut text = String::new();
    for (i, ip) in addresses.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = match ip {
            IpAddr::V4(v4) => write!(text, "for={v4}"),
            IpAddr::V6(v6) => write!(text, "for=\"[{v6}]\""),
        };
        if i == 0 {
            if let Some(host) = host.and_then(|h| h.to_str().ok()) {
                // A validated `host[:port]`: no `"` or `\` to escape.
                let _ = write!(text, ";host=\"{host}\"");
            }
            let _ = write!(text, ";proto={}", proto.as_str());
        }
    }
    HeaderValue::from_str(&text).expect("addresses and hosts are header text")
}

/// The addresses of the upstream's `X-Forwarded-For`, leftmost first: the believed chain
/// (when a trusted peer sent one), then the peer.
pub(crate) fn addresses(forwarding: Option<&Forwarding>, peer: IpAddr) -> Vec<IpAddr> {
    let mut all = forwarding.map_or_else(Vec::new, |f| f.chain.clone());
    all.push(peer.to_canonical());
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn upstream_headers() {
        let forwarding = Forwarding {
            peer: ip("10.0.0.1"),
            chain: vec![ip("2001:db8::7"), ip("10.0.0.2")],
            proto: Some(Proto::Https),
            host: Some(HeaderValue::from_static("api.example:8443")),
        };
        let all = addresses(Some(&forwarding), ip("::ffff:10.0.0.1"));
        assert_eq!(x_forwarded_for(&all), "2001:db8::7, 10.0.0.2, 10.0.0.1");
        assert_eq!(
            forwarded_header(&all, forwarding.host(), Proto::Https),
            "for=\"[2001:db8::7]\";host=\"api.example:8443\";proto=https, for=10.0.0.2, for=10.0.0.1"
        );
        assert_eq!(
            forwarded_header(&addresses(None, ip("192.0.2.1")), None, Proto::Http),
            "for=192.0.2.1;proto=http"
        );
        // What is sent parses back to the same chain.
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::FORWARDED,
            forwarded_header(&all, forwarding.host(), Proto::Https),
        );
        let hops = rfc7239::forwarded(&headers);
        let back: Vec<_> = hops.iter().map(|h| h.node).collect();
        assert_eq!(
            back,
            all.iter().map(|&a| parse::Node::Ip(a)).collect::<Vec<_>>()
        );
        assert_eq!(hops[0].host.as_ref().unwrap(), "api.example:8443");
    }
}
