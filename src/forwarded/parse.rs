//! Reading the forwarding headers a trusted proxy sends: `X-Forwarded-For` (a comma-separated
//! list of addresses) and RFC 7239 `Forwarded` (elements of `for=`, `proto=`, `host=` pairs),
//! as a list of [`Hop`]s, leftmost (farthest from the gateway) first.
//!
//! Nothing here panics or allocates per byte: a value that does not parse is a
//! [`Node::Malformed`] hop where it stands, so the walk in [`super::trust`] stops there.

use std::net::{IpAddr, Ipv6Addr};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::Proto;

/// `X-Forwarded-For`.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Who one hop says its client was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    /// An address (IPv4-mapped IPv6 addresses as IPv4).
    Ip(IpAddr),
    /// `unknown`, or an obfuscated identifier (`_hidden`): the hop does not say.
    Hidden,
    /// Not a node at all.
    Malformed,
}

/// One hop of a chain: its client and, from `Forwarded`, the scheme and host of the request
/// it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub(crate) node: Node,
    pub(crate) proto: Option<Proto>,
    pub(crate) host: Option<HeaderValue>,
}

impl Hop {
    pub(crate) fn node(node: Node) -> Hop {
        Hop {
            node,
            proto: None,
            host: None,
        }
    }
}

/// The hops of every `X-Forwarded-For` line, in order: one per comma-separated entry, each an
/// address, optionally with a port (`192.0.2.7:4711`, `[2001:db8::7]:4711`).
pub(crate) fn x_forwarded_for(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        match value.to_str() {
            Ok(text) => hops.extend(text.split(',').map(|e| Hop::node(node(trim(e))))),
            Err(_) => hops.push(Hop::node(Node::Malformed)),
        }
    }
    hops
}

/// A single-valued header (one line, no comma), trimmed: a trusted proxy's
/// `X-Forwarded-Proto` or `X-Forwarded-Host`. A list or repeated lines are no value: which of
/// them to believe is not knowable.
pub(crate) fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = trim(value.to_str().ok()?);
    (!text.is_empty() && !text.contains(',')).then_some(text)
}

/// `http` or `https`, any case.
pub(crate) fn proto(text: &str) -> Option<Proto> {
    if text.eq_ignore_ascii_case("http") {
        Some(Proto::Http)
    } else if text.eq_ignore_ascii_case("https") {
        Some(Proto::Https)
    } else {
        None
    }
}

/// A valid `host[:port]` ([`crate::host`]'s rules) as a header value.
pub(crate) fn host(text: &str) -> Option<HeaderValue> {
    crate::host::parse_authority(text).ok()?;
    HeaderValue::from_str(text).ok()
}

fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// RFC 7239 §6: `IPv4`, `"[" IPv6 "]"`, either with `:port`, `unknown`, or `_obfuscated`
/// (and its `:port`/`:_port`); also a bare IPv6 address, as `X-Forwarded-For` writes them.
pub(crate) fn node(text: &str) -> Node {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Node::Ip(ip.to_canonical());
    }
    let (name, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Node::Malformed;
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Node::Malformed,
            },
        };
        match v6.parse::<Ipv6Addr>() {
            Ok(ip) if port.is_none_or(valid_port) => {
                return Node::Ip(IpAddr::V6(ip).to_canonical())
            }
            _ => return Node::Malformed,
        }
    } else {
        match text.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        }
    };
    if !port.is_none_or(valid_port) {
        return Node::Malformed;
    }
    if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
        return Node::Ip(IpAddr::V4(ip));
    }
    if name.eq_ignore_ascii_case("unknown") || obfuscated(name) {
        Node::Hidden
    } else {
        Node::Malformed
    }
}

/// `1*5DIGIT` (at most 65535) or an obfuscated port.
fn valid_port(port: &str) -> bool {
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    (digits && port.parse::<u16>().is_ok()) || obfuscated(port)
}

/// `"_" 1*(ALPHA / DIGIT / "." / "_" / "-")`.
fn obfuscated(text: &str) -> bool {
    text.len() > 1
        && text.starts_with('_')
        && text[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn headers(name: &HeaderName, lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(name, HeaderValue::from_str(line).unwrap());
        }
        map
    }

    pub(crate) fn ip(s: &str) -> Node {
        Node::Ip(s.parse().unwrap())
    }

    pub(crate) fn nodes(hops: &[Hop]) -> Vec<Node> {
        hops.iter().map(|h| h.node).collect()
    }

    #[test]
    fn nodes_of_every_form() {
        for (text, expected) in [
            ("192.0.2.7", ip("192.0.2.7")),
            ("192.0.2.7:4711", ip("192.0.2.7")),
            ("2001:db8::7", ip("2001:db8::7")),
            ("[2001:db8::7]", ip("2001:db8::7")),
            ("[2001:db8::7]:443", ip("2001:db8::7")),
            ("::ffff:192.0.2.7", ip("192.0.2.7")),
            ("[::1]:_port", ip("::1")),
            ("unknown", Node::Hidden),
            ("UNKNOWN:80", Node::Hidden),
            ("_hidden", Node::Hidden),
            ("_SEVKISEK:_x", Node::Hidden),
            ("", Node::Malformed),
            ("_", Node::Malformed),
            ("example.com", Node::Malformed),
            ("192.0.2.7:", Node::Malformed),
            ("192.0.2.7:65536", Node::Malformed),
            ("192.0.2.7:80:80", Node::Malformed),
            ("[2001:db8::7", Node::Malformed),
            ("[2001:db8::7]x", Node::Malformed),
            ("[192.0.2.7]", Node::Malformed),
            ("[fe80::1%eth0]", Node::Malformed),
            ("192.0.2.7 198.51.100.1", Node::Malformed),
            ("1.2.3", Node::Malformed),
        ] {
            assert_eq!(node(text), expected, "{text:?}");
        }
    }

    #[test]
    fn x_forwarded_for_lines_and_entries() {
        let map = headers(
            &X_FORWARDED_FOR,
            &["203.0.113.9, 10.0.0.1", " 2001:db8::1 ,\t10.0.0.2:80"],
        );
        assert_eq!(
            nodes(&x_forwarded_for(&map)),
            [
                ip("203.0.113.9"),
                ip("10.0.0.1"),
                ip("2001:db8::1"),
                ip("10.0.0.2")
            ]
        );
        let map = headers(&X_FORWARDED_FOR, &["garbage, 198.51.100.7", "a,,b"]);
        assert_eq!(
            nodes(&x_forwarded_for(&map)),
            [
                Node::Malformed,
                ip("198.51.100.7"),
                Node::Malformed,
                Node::Malformed,
                Node::Malformed
            ]
        );
        let mut map = HeaderMap::new();
        map.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(nodes(&x_forwarded_for(&map)), [Node::Malformed]);
        assert!(x_forwarded_for(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn single_values() {
        let map = headers(&X_FORWARDED_PROTO, &[" https "]);
        assert_eq!(single(&map, &X_FORWARDED_PROTO), Some("https"));
        for lines in [&["https", "http"][..], &["https, http"], &[""]] {
            let map = headers(&X_FORWARDED_PROTO, lines);
            assert_eq!(single(&map, &X_FORWARDED_PROTO), None, "{lines:?}");
        }
        assert_eq!(proto("HTTP"), Some(Proto::Http));
        assert_eq!(proto("wss"), None);
        assert_eq!(host("a.example:80").unwrap(), "a.example:80");
        assert_eq!(host("u@a.example"), None);
    }

    mod properties {
        use super::*;
        use crate::forwarded::rfc7239::forwarded;
        use http::header::FORWARDED;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any bytes in either header: no panic; `X-Forwarded-For` has one hop per
            /// comma-separated entry (one for a line that is not text), `Forwarded` at most
            /// one per element; every address found is canonical.
            #[test]
            fn any_header_value_parses_without_panic(
                lines in proptest::collection::vec(
                    prop_oneof![
                        any::<Vec<u8>>(),
                        "[a-z0-9=;,\"\\\\\\[\\]:._ \t-]{0,40}".prop_map(String::into_bytes),
                        "(for=(\"\\[::[0-9a-f]{1,4}\\](:[0-9]{1,5})?\"|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|unknown|_x)(;proto=https?)?(;host=[a-z.]{1,8})?, ?){1,4}"
                            .prop_map(String::into_bytes),
                    ],
                    1..4,
                ),
            ) {
                let mut xff = HeaderMap::new();
                let mut fwd = HeaderMap::new();
                let (mut entries, mut commas) = (0, 0);
                for line in &lines {
                    if let Ok(value) = HeaderValue::from_bytes(line) {
                        entries += value.to_str().map_or(1, |t| t.split(',').count());
                        commas += line.iter().filter(|&&b| b == b',').count() + 1;
                        xff.append(X_FORWARDED_FOR, value.clone());
                        fwd.append(FORWARDED, value);
                    }
                }
                let (by_xff, by_fwd) = (x_forwarded_for(&xff), forwarded(&fwd));
                prop_assert_eq!(by_xff.len(), entries);
                prop_assert!(by_fwd.len() <= commas);
                for hop in by_xff.iter().chain(&by_fwd) {
                    if let Node::Ip(ip) = hop.node {
                        prop_assert_eq!(ip, ip.to_canonical());
                    }
                }
            }
        }
    }
}
