//! Reading the forwarding headers a trusted proxy sends: `X-Forwarded-For` (a comma-separated
//! list of addresses) and RFC 7239 `Forwarded` (elements of `for=`, `proto=`, `host=` pairs),
//! as a list of [`Hop`]s, leftmost (farthest from the gateway) first.
//!
//! Nothing here panics or allocates per byte: a value that does not parse is a
//! [`Node::Malformed`] hop where it stands, so the walk in [`super::trust`] stops there.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};

use http::header::FORWARDED;
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
    fn node(node: Node) -> Hop {
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

/// The hops of every `Forwarded` line, in order (RFC 7239 §4): one per element; empty list
/// elements are skipped (RFC 9110 §5.6.1). A line that is not a `Forwarded` value is one
/// malformed hop.
pub(crate) fn forwarded(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let before = hops.len();
        if value
            .to_str()
            .ok()
            .and_then(|text| elements(text, &mut hops))
            .is_none()
        {
            hops.truncate(before);
            hops.push(Hop::node(Node::Malformed));
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

/// Appends the elements of one `Forwarded` line to `hops`; `None` when it does not parse.
fn elements(text: &str, hops: &mut Vec<Hop>) -> Option<()> {
    let mut rest = text;
    loop {
        rest = trim_start(rest);
        if rest.is_empty() {
            return Some(());
        }
        if let Some(after) = rest.strip_prefix(',') {
            rest = after; // An empty list element.
            continue;
        }
        let (hop, after) = element(rest)?;
        hops.push(hop);
        rest = trim_start(after);
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None if rest.is_empty() => return Some(()),
            None => return None,
        }
    }
}

/// One `forwarded-element` (`pair *( ";" pair )`) at the start of `text`, and what follows
/// it. Each parameter at most once (§4); unknown parameters are ignored, as `by=` is. An
/// element without `for=` is a hop that names no client.
fn element(text: &str) -> Option<(Hop, &str)> {
    const NAMES: [&str; 4] = ["for", "proto", "host", "by"];
    let mut hop = Hop::node(Node::Hidden);
    let mut seen = [false; NAMES.len()];
    let mut rest = text;
    loop {
        rest = trim_start(rest);
        let name_len = rest.bytes().take_while(|&b| is_tchar(b)).count();
        if name_len == 0 {
            return None;
        }
        let name = &rest[..name_len];
        let (value, after) = value(rest[name_len..].strip_prefix('=')?)?;
        match NAMES.iter().position(|n| name.eq_ignore_ascii_case(n)) {
            Some(i) if std::mem::replace(&mut seen[i], true) => return None,
            Some(0) => hop.node = node(&value),
            Some(1) => hop.proto = proto(&value),
            Some(2) => hop.host = host(&value),
            _ => {}
        }
        rest = trim_start(after);
        match rest.strip_prefix(';') {
            Some(after) => rest = after,
            None if rest.is_empty() || rest.starts_with(',') => return Some((hop, rest)),
            None => return None,
        }
    }
}

fn trim_start(text: &str) -> &str {
    text.trim_start_matches([' ', '\t'])
}

/// A `token` or a `quoted-string` (unescaped) at the start of `text`, and what follows it.
fn value(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let len = text.bytes().take_while(|&b| is_tchar(b)).count();
        return (len > 0).then(|| (Cow::Borrowed(&text[..len]), &text[len..]));
    };
    let bytes = quoted.as_bytes();
    let mut unescaped: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let value = match unescaped {
                    Some(s) => Cow::Owned(s),
                    None => Cow::Borrowed(&quoted[..i]),
                };
                return Some((value, &quoted[i + 1..]));
            }
            b'\\' => {
                let escaped = *bytes.get(i + 1)?;
                let s = unescaped.get_or_insert_with(|| quoted[..i].to_owned());
                s.push(char::from(escaped));
                i += 2;
            }
            b => {
                if let Some(s) = &mut unescaped {
                    s.push(char::from(b));
                }
                i += 1;
            }
        }
    }
    None
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &HeaderName, lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(name, HeaderValue::from_str(line).unwrap());
        }
        map
    }

    fn ip(s: &str) -> Node {
        Node::Ip(s.parse().unwrap())
    }

    fn nodes(hops: &[Hop]) -> Vec<Node> {
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
    fn forwarded_elements() {
        let map = headers(
            &FORWARDED,
            &[
                r#"for=192.0.2.43;proto=HTTPS;host="api.example:8443", For="[2001:db8:cafe::17]:4711""#,
                "for=unknown;by=10.0.0.1, ,for=10.0.0.2 ; proto=http",
                r#"for="\1\9\8.51.100.7";ext="a,b;c""#,
            ],
        );
        let hops = forwarded(&map);
        assert_eq!(
            nodes(&hops),
            [
                ip("192.0.2.43"),
                ip("2001:db8:cafe::17"),
                Node::Hidden,
                ip("10.0.0.2"),
                ip("198.51.100.7")
            ]
        );
        assert_eq!(hops[0].proto, Some(Proto::Https));
        assert_eq!(hops[0].host.as_ref().unwrap(), "api.example:8443");
        assert_eq!((hops[1].proto, hops[1].host.as_ref()), (None, None));
        assert_eq!(hops[3].proto, Some(Proto::Http));
    }

    #[test]
    fn malformed_forwarded_lines_are_one_malformed_hop() {
        for line in [
            "for",
            "for=",
            "=1.2.3.4",
            "for=1.2.3.4;for=1.2.3.5",
            "for=\"1.2.3.4",
            "for=\"1.2.3.4\\",
            "for=1.2.3.4 x",
            "for=[::1]",
            "for=1.2.3.4;;",
            "for=\"1.2.3.4\"x",
            "proto=http;proto=https",
        ] {
            let map = headers(&FORWARDED, &["for=10.0.0.9", line]);
            assert_eq!(
                nodes(&forwarded(&map)),
                [ip("10.0.0.9"), Node::Malformed],
                "{line:?}"
            );
        }
        // Unusable values are no value, not a malformed element.
        let map = headers(&FORWARDED, &["for=192.0.2.1;proto=ftp;host=\"a b\""]);
        let hops = forwarded(&map);
        assert_eq!(
            (hops[0].node, hops[0].proto, hops[0].host.clone()),
            (ip("192.0.2.1"), None, None)
        );
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

            /// A well-formed `Forwarded` line of generated elements parses to exactly those
            /// addresses, in order, with each element's proto.
            #[test]
            fn generated_forwarded_lines_round_trip(
                elements in proptest::collection::vec(
                    (any::<std::net::IpAddr>(), proptest::option::of(any::<bool>())),
                    1..6,
                ),
            ) {
                let line: Vec<String> = elements.iter().map(|(ip, https)| {
                    let node = match ip {
                        IpAddr::V4(v4) => v4.to_string(),
                        IpAddr::V6(v6) => format!("\"[{v6}]\""),
                    };
                    match https {
                        Some(true) => format!("for={node};proto=https"),
                        Some(false) => format!("proto=http;For={node}"),
                        None => format!("for={node}"),
                    }
                }).collect();
                let map = headers(&FORWARDED, &[&line.join(", ")]);
                let hops = forwarded(&map);
                prop_assert_eq!(hops.len(), elements.len());
                for (hop, (ip, https)) in hops.iter().zip(&elements) {
                    prop_assert_eq!(hop.node, Node::Ip(ip.to_canonical()));
                    prop_assert_eq!(hop.proto, https.map(|h| if h { Proto::Https } else { Proto::Http }));
                }
            }
        }
    }
}
