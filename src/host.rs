//! The host a request is for: its `Host` header or its target's authority (HTTP/2
//! `:authority`, an HTTP/1.1 absolute-form target), validated once and in one place.
//!
//! [`request_host`] applies RFC 9112 §3.2 (one `Host`, a valid value, present in every
//! HTTP/1.1 request), RFC 9113 §8.3.1 (an HTTP/2 request names its host in `:authority` or
//! `Host`) and RFC 3986 §3.2.2 (what a host is), and refuses a `Host` that disagrees with the
//! target's authority. The [`OAuthLayer`](crate::auth::OAuthLayer) answers `400
//! invalid_request` to a host that is there and wrong (it lets a request without any host
//! by: in-process callers often build one), and the
//! [`ReverseProxy`](crate::proxy::ReverseProxy) `400 Bad Request` to every request it refuses,
//! so the `X-Forwarded-Host` the proxy sends is always one valid authority, and what is built
//! on the host (routes, signatures) sees the same one.

use std::fmt;
use std::net::Ipv6Addr;

use http::header::HOST;
use http::uri::Scheme;
use http::{HeaderMap, HeaderValue, Uri, Version};

/// A request's validated host and optional port, borrowed from the request.
///
/// ```
/// use tokengate::host::request_host;
///
/// let req = http::Request::get("/x").header("host", "API.example.com:8443").body(()).unwrap();
/// let host = request_host(req.headers(), req.uri(), req.version()).unwrap().unwrap();
/// assert_eq!(host.host(), "API.example.com");
/// assert_eq!(host.port(), Some(8443));
/// assert_eq!(host.as_str(), "API.example.com:8443");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHost<'a> {
    /// `host[:port]` as sent.
    authority: &'a str,
    /// The length of the host part of `authority`.
    host_len: usize,
    port: Option<u16>,
    /// The `Host` header it came from, if it came from one.
    header: Option<&'a HeaderValue>,
}

impl<'a> RequestHost<'a> {
    /// The host as sent: a registered name or IPv4 address (compare it case-insensitively),
    /// or an IPv6 address in brackets (`[::1]`).
    pub fn host(&self) -> &'a str {
        &self.authority[..self.host_len]
    }

    /// The port, if one was sent.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host[:port]`, exactly as sent.
    pub fn as_str(&self) -> &'a str {
        self.authority
    }

    /// The `Host` header value it was read from (`None` when it came from the target).
    pub(crate) fn header(&self) -> Option<&'a HeaderValue> {
        self.header
    }

    /// The port, or the scheme's default one.
    fn port_or(&self, scheme: Option<&Scheme>) -> Option<u16> {
        self.port.or(match scheme {
            Some(s) if *s == Scheme::HTTP => Some(80),
            Some(s) if *s == Scheme::HTTPS => Some(443),
            _ => None,
        })
    }
}

/// Why a request's host was refused (each is `400 Bad Request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// An HTTP/1.1 request without `Host`, or an HTTP/2 request with neither `:authority` nor
    /// `Host`.
    Missing,
    /// More than one `Host` header line.
    Duplicate,
    /// A `Host` or authority that is not `host[:port]`: empty, with user info, spaces,
    /// commas, slashes or other bytes a host cannot have, a bad IPv6 literal, or a port that
    /// is empty, not a number or above 65535.
    Invalid,
    /// A `Host` naming another host or port than the target's authority.
    Mismatch,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostError::Missing => "the request has no Host",
            HostError::Duplicate => "the request has more than one Host",
            HostError::Invalid => "the request's Host is not a valid host and port",
            HostError::Mismatch => "the request's Host disagrees with its target",
        })
    }
}

impl std::error::Error for HostError {}

/// The host a request is for, from its `headers`, target `uri` and `version` (the parts of an
/// `http::Request`), or why it is refused.
///
/// - At most one `Host` header; its value and the target's authority (an absolute-form
///   target, or HTTP/2's `:authority`, which hyper puts in the URI), when present, must each
///   be `host[:port]`: a registered name (letters, digits, `-`, `.`, `_`, `~`; no empty
///   label but for one trailing dot, `api.example.com.`), an IPv4
///   address or a bracketed IPv6 address, then an optional port of 1 to 5 digits up to
///   65535. No user info, no percent-encoding, no empty host or port.
/// - When both are present they must name the same host (ASCII case-insensitive) and port
///   (a missing port is the scheme's default: `example.com` and `example.com:80` agree for
///   `http`). For HTTP/2 this is the deliberate rule for `:authority` beside a `Host`
///   header: RFC 9113 §8.3.1 lets a server treat a differing `Host` as malformed, and it is,
///   since a router reading one and a backend reading the other would see two hosts; two
///   `Host` headers are refused as in HTTP/1.1. When they agree, the `Host` value is the
///   answer.
/// - HTTP/1.1 requests need `Host` (RFC 9112 §3.2), HTTP/2 and later need one of the two;
///   HTTP/1.0 and 0.9 requests may have neither (`Ok(None)`).
///
/// Nothing is allocated; the answer borrows from the request.
///
/// ```
/// use http::{Request, Version};
/// use tokengate::host::{request_host, HostError, RequestHost};
///
/// fn check(req: &Request<()>) -> Result<Option<RequestHost<'_>>, HostError> {
///     request_host(req.headers(), req.uri(), req.version())
/// }
/// let ok = Request::get("/").header("host", "[::1]:8080").body(()).unwrap();
/// assert_eq!(check(&ok).unwrap().unwrap().host(), "[::1]");
///
/// let two = Request::get("/").header("host", "a").header("host", "b").body(()).unwrap();
/// assert_eq!(check(&two), Err(HostError::Duplicate));
/// let none = Request::get("/").body(()).unwrap();
/// assert_eq!(check(&none), Err(HostError::Missing));
/// let userinfo = Request::get("/").header("host", "user@evil.example").body(()).unwrap();
/// assert_eq!(check(&userinfo), Err(HostError::Invalid));
/// let other = Request::get("http://a.example/").header("host", "b.example").body(()).unwrap();
/// assert_eq!(check(&other), Err(HostError::Mismatch));
///
/// // HTTP/2: `:authority` is the target's authority.
/// let h2 = Request::get("http://api.example/x").version(Version::HTTP_2).body(()).unwrap();
/// assert_eq!(check(&h2).unwrap().unwrap().as_str(), "api.example");
/// ```
pub fn request_host<'a>(
    headers: &'a HeaderMap,
    uri: &'a Uri,
    version: Version,
) -> Result<Option<RequestHost<'a>>, HostError> {
    let mut values = headers.get_all(HOST).iter();
    let header = values.next();
    if values.next().is_some() {
        return Err(HostError::Duplicate);
    }
    let from_header = match header {
        Some(value) => {
            let text = value.to_str().map_err(|_| HostError::Invalid)?;
            let mut host = parse(text)?;
            host.header = Some(value);
            Some(host)
        }
        None => None,
    };
    let from_target = uri.authority().map(|a| parse(a.as_str())).transpose()?;
    match (from_header, from_target) {
        (Some(header), Some(target)) => {
            let scheme = uri.scheme();
            let same = header.host().eq_ignore_ascii_case(target.host())
                && header.port_or(scheme) == target.port_or(scheme);
            if same {
                Ok(Some(header))
            } else {
                Err(HostError::Mismatch)
            }
        }
        (Some(header), None) => Ok(Some(header)),
        (None, _) if version == Version::HTTP_11 => Err(HostError::Missing),
        (None, Some(target)) => Ok(Some(target)),
        (None, None) if version <= Version::HTTP_10 => Ok(None),
        (None, None) => Err(HostError::Missing),
    }
}

/// Whether `authority` is one valid `host[:port]` by the rules of [`request_host`] (a
/// trusted proxy's `X-Forwarded-Host` or `Forwarded: host=` must be one).
pub(crate) fn parse_authority(authority: &str) -> Result<(), HostError> {
    parse(authority).map(|_| ())
}

/// `host[:port]` (RFC 3986 §3.2.2, §3.2.3), without user info, percent-encoding or
/// `IPvFuture`; at most 261 bytes (a 255-byte name and a port).
fn parse(authority: &str) -> Result<RequestHost<'_>, HostError> {
    let bytes = authority.as_bytes();
    if bytes.is_empty() || bytes.len() > 261 {
        return Err(HostError::Invalid);
    }
    let host_len = if bytes[0] == b'[' {
        let close = bytes
            .iter()
            .position(|&b| b == b']')
            .ok_or(HostError::Invalid)?;
        // No zone identifier (`%25eth0`): `Ipv6Addr` refuses it.
        authority[1..close]
            .parse::<Ipv6Addr>()
            .map_err(|_| HostError::Invalid)?;
        close + 1
    } else {
        let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        let name = &bytes[..end];
        if end == 0 || !name.iter().all(|&b| REG_NAME[usize::from(b)]) {
            return Err(HostError::Invalid);
        }
        // An empty label (`.a`, `a..b`, `a..`) names no host; one trailing dot is the fully
        // qualified spelling, which routes compare without it.
        if name[0] == b'.' || name.windows(2).any(|w| w == b"..") {
            return Err(HostError::Invalid);
        }
        end
    };
    let port = match &bytes[host_len..] {
        [] => None,
        [b':', digits @ ..] if (1..=5).contains(&digits.len()) => {
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(HostError::Invalid);
            }
            Some(
                authority[host_len + 1..]
                    .parse::<u16>()
                    .map_err(|_| HostError::Invalid)?,
            )
        }
        _ => return Err(HostError::Invalid),
    };
    Ok(RequestHost {
        authority,
        host_len,
        port,
        header: None,
    })
}

/// The bytes of a registered name (or IPv4 address) accepted: RFC 3986's unreserved
/// characters. Its percent-encoding and sub-delimiters (`!$&'()*+,;=`) name no host that DNS
/// can, and a comma is how two `Host` values look once joined.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn check(version: Version, uri: &str, hosts: &[&str]) -> Result<Option<String>, HostError> {
        let mut req = Request::get(uri).version(version).body(()).unwrap();
        for host in hosts {
            let value = HeaderValue::from_bytes(host.as_bytes()).unwrap();
            req.headers_mut().append(HOST, value);
        }
        request_host(req.headers(), req.uri(), req.version())
            .map(|h| h.map(|h| format!("{}|{:?}", h.host(), h.port())))
    }

    #[test]
    fn valid_hosts() {
        for (host, expected) in [
            ("example.com", "example.com|None"),
            ("Example.COM:8080", "Example.COM|Some(8080)"),
            ("127.0.0.1", "127.0.0.1|None"),
            ("127.0.0.1:1", "127.0.0.1|Some(1)"),
            ("[::1]", "[::1]|None"),
            ("[2001:db8::7]:65535", "[2001:db8::7]|Some(65535)"),
            ("under_score.internal~x", "under_score.internal~x|None"),
            ("h:00080", "h|Some(80)"),
            ("api.example.com.", "api.example.com.|None"),
            ("api.example.com.:8080", "api.example.com.|Some(8080)"),
        ] {
            assert_eq!(
                check(Version::HTTP_11, "/", &[host]),
                Ok(Some(expected.into())),
                "{host}"
            );
        }
    }

    #[test]
    fn invalid_hosts() {
        let long = "a".repeat(262);
        for host in [
            "",
            " ",
            "a b",
            "a,b",
            "a, a",
            "a/b",
            "/",
            "a\\b",
            "user@host",
            "user:pw@host",
            "a%2eb",
            "a;b",
            "a:",
            ":80",
            "a:b",
            "a:65536",
            "a:123456",
            "a:-1",
            "a:+1",
            "a:80:80",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[fe80::1%25eth0]",
            "[v1.x]",
            "[127.0.0.1]",
            "::1",
            "é.example",
            "a\tb",
            ".a",
            "a..b",
            "a..",
            "..",
            ".",
            long.as_str(),
        ] {
            assert_eq!(
                check(Version::HTTP_11, "/", &[host]),
                Err(HostError::Invalid),
                "{host:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any `Host` bytes: no panic; an accepted one is exactly what was sent, is an
            /// authority `http` parses to the same host and port, and holds none of the bytes
            /// that would make it another host to someone else.
            #[test]
            fn accepted_hosts_are_plain_authorities(
                value in prop_oneof![
                    any::<Vec<u8>>(),
                    "[a-zA-Z0-9._~:@,/ %\\\\\\[\\]-]{0,24}".prop_map(String::into_bytes),
                    "[a-z0-9.-]{1,12}(:[0-9]{0,6})?".prop_map(String::into_bytes),
                ],
            ) {
                let Ok(value) = HeaderValue::from_bytes(&value) else {
                    return Ok(());
                };
                let mut req = Request::get("/").body(()).unwrap();
                req.headers_mut().insert(HOST, value.clone());
                if let Ok(Some(host)) = request_host(req.headers(), req.uri(), req.version()) {
                    prop_assert_eq!(host.as_str().as_bytes(), value.as_bytes());
                    prop_assert!(!host
                        .as_str()
                        .bytes()
                        .any(|b| b" ,/@\\%?#;".contains(&b) || !b.is_ascii_graphic()));
                    let parsed: http::uri::Authority = host.as_str().parse().unwrap();
                    prop_assert_eq!(parsed.host(), host.host());
                    prop_assert_eq!(parsed.port_u16(), host.port());
                }
            }
        }
    }

    #[test]
    fn presence_and_agreement_by_version() {
        use Version as V;
        assert_eq!(check(V::HTTP_11, "/", &[]), Err(HostError::Missing));
        assert_eq!(
            check(V::HTTP_11, "http://a.example/", &[]),
            Err(HostError::Missing),
            "RFC 9112 §3.2: also with an absolute-form target"
        );
        assert_eq!(check(V::HTTP_10, "/", &[]), Ok(None));
        assert_eq!(
            check(V::HTTP_10, "http://a.example:81/", &[]),
            Ok(Some("a.example|Some(81)".into()))
        );
        assert_eq!(check(V::HTTP_2, "/", &[]), Err(HostError::Missing));
        assert_eq!(
            check(V::HTTP_2, "http://a.example/", &[]),
            Ok(Some("a.example|None".into()))
        );
        for version in [V::HTTP_10, V::HTTP_11, V::HTTP_2] {
            assert_eq!(
                check(version, "/", &["a", "a"]),
                Err(HostError::Duplicate),
                "{version:?}"
            );
            assert_eq!(
                check(version, "http://a.example/", &["b.example"]),
                Err(HostError::Mismatch)
            );
            assert_eq!(
                check(version, "http://a.example:81/", &["a.example"]),
                Err(HostError::Mismatch)
            );
            assert_eq!(
                check(version, "http://A.example/", &["a.EXAMPLE:80"]),
                Ok(Some("a.EXAMPLE|Some(80)".into())),
                "same host, default port"
            );
            assert_eq!(
                check(version, "http://user@a.example/", &["a.example"]),
                Err(HostError::Invalid)
            );
            assert_eq!(
                check(version, "http://a.example/", &["a,b"]),
                Err(HostError::Invalid)
            );
        }
    }
}
