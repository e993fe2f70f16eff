//! What [`ReverseProxy`] does to a request before sending it upstream: the target checked and
//! turned upstream, watched headers dropped or refused, the forwarding headers set.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{Extensions, HeaderValue, Method, Request, StatusCode, Uri, Version};
use http_body::Body;

use super::body::ClientBody;
use super::dropped::Watch;
use super::forwarding::set_forwarding_headers;
use super::hop_by_hop::remove_hop_by_hop;
use super::{ClientAddr, ProxyBody, ReverseProxy, TlsConnection};
use crate::alias::Spelling;
use crate::forwarded::{Forwarding, Proto};
use crate::host::request_host;
use crate::BoxError;

impl ReverseProxy {
    /// The upstream request for `req` and a flag that the client's body failed (none for a
    /// body that has already ended), or the status and text to answer with instead.
    #[allow(clippy::type_complexity)]
    pub(super) fn rewrite<B>(
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
        set_forwarding_headers(
            headers,
            peer,
            forwarding.as_ref(),
            own_proto,
            forwarded_host,
            self.shared.settings.forwarded_header,
        );
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
}
