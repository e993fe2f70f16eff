//! RFC 7239 `Forwarded`: elements of `for=`, `proto=` and `host=` pairs (`by=` and
//! extensions ignored), values as tokens or quoted strings, as [`Hop`]s.

use std::borrow::Cow;

use http::header::FORWARDED;
use http::HeaderMap;

use super::parse::{host, node, proto, Hop, Node};

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
    use crate::forwarded::parse::tests::{headers, ip, nodes};
    use crate::forwarded::Proto;
    use std::net::IpAddr;

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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

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
