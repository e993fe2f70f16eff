//! Hop-by-hop headers (RFC 9110 §7.6.1) and the framing headers whose `_`/`.` aliases the
//! proxy and the layer refuse.

use http::header::{
    CONNECTION, CONTENT_LENGTH, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName};

use crate::alias::is_alias;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The headers that only concern one connection (RFC 9110 §7.6.1, plus the non-standard
/// `Keep-Alive` and `Proxy-Connection`).
pub(super) const HOP_BY_HOP: [HeaderName; 9] = [
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
/// [`ReverseProxy`](super::ReverseProxy) applies it to every request and response it forwards. A layer that
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
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
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
/// reads it as that header: [`ReverseProxy`](super::ReverseProxy) and the [`OAuthLayer`](crate::auth::OAuthLayer)
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;

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
}
