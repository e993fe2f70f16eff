//! Finding the bearer token of a request (RFC 6750 §2).

use http::header::AUTHORIZATION;
use http::uri::PathAndQuery;
use http::{Request, Uri};

/// Why no usable token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Two `Authorization` headers, a bad bearer value, or a token in two places.
    InvalidRequest,
}

/// Where the token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Header,
    Query,
}

/// The request's token: from `Authorization: Bearer` (scheme case-insensitive), or from the
/// `access_token` query parameter when `allow_query` is set. A query token beside a header
/// token (bearer or MAC) is refused even when query tokens are off. Other schemes count as no
/// token.
pub(crate) fn find<B>(
    req: &Request<B>,
    allow_query: bool,
) -> Result<Option<(std::borrow::Cow<'_, str>, Source)>, Malformed> {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let header = values.next();
    if values.next().is_some() {
        return Err(Malformed::InvalidRequest);
    }
    let from_header = match header {
        None => None,
        Some(value) => parse_bearer(value.as_bytes())?,
    };
    let from_query = query_token(req.uri().query())?;
    match (from_header, from_query) {
        (Some(_), Some(_)) => Err(Malformed::InvalidRequest),
        (Some(t), None) => Ok(Some((std::borrow::Cow::Borrowed(t), Source::Header))),
        (None, Some(_))
            if header.is_some_and(|h| super::mac::strip_scheme(h.as_bytes()).is_some()) =>
        {
            Err(Malformed::InvalidRequest)
        }
        (None, Some(t)) if allow_query => Ok(Some((t, Source::Query))),
        (None, _) => Ok(None),
    }
}

/// `Bearer <b64token>`; `Ok(None)` for another scheme; a value that is not UTF-8 is malformed.
fn parse_bearer(value: &[u8]) -> Result<Option<&str>, Malformed> {
    // On bytes: a b64token is ASCII, so a bearer value needs no UTF-8 check of its own.
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return match std::str::from_utf8(value) {
            Ok(_) => Ok(None),
            Err(_) => Err(Malformed::InvalidRequest),
        };
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let token = &rest[start..];
    if !is_b64token(token) {
        return Err(Malformed::InvalidRequest);
    }
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| Malformed::InvalidRequest)
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    !body.is_empty() && body.iter().all(|&b| B64TOKEN_BODY[usize::from(b)])
}

/// Removes the `access_token` parameter from the query of `uri`, keeping every other
/// parameter as it was written, so that a token taken from the query does not travel on
/// (RFC 6750 §2.3: URLs are logged).
pub(crate) fn remove_query_token(uri: &mut Uri) {
    let Some(query) = uri.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            form_urlencoded::parse(key.as_bytes())
                .next()
                .is_none_or(|(key, _)| key != "access_token")
        })
        .collect();
    let mut target = uri.path().to_owned();
    if !kept.is_empty() {
        target.push('?');
        target.push_str(&kept.join("&"));
    }
    let mut parts = uri.clone().into_parts();
    // A part of a valid target is a valid target.
    if let Ok(path_and_query) = PathAndQuery::try_from(target) {
        parts.path_and_query = Some(path_and_query);
        if let Ok(rewritten) = Uri::from_parts(parts) {
            *uri = rewritten;
        }
    }
}

/// The bytes of a b64token before its `=` padding, as a table: one load per byte on the hot
/// path instead of a search through the punctuation.
const B64TOKEN_BODY: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

fn query_token(query: Option<&str>) -> Result<Option<std::borrow::Cow<'_, str>>, Malformed> {
    let Some(query) = query.filter(|q| q.contains("access_token")) else {
        return Ok(None);
    };
    let mut found = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "access_token" {
            if found.is_some() || !is_b64token(value.as_bytes()) {
                return Err(Malformed::InvalidRequest);
            }
            found = Some(value);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(auth: &[&str], uri: &str) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        for a in auth {
            b = b.header(AUTHORIZATION, *a);
        }
        b.body(()).unwrap()
    }

    fn token(auth: &[&str], uri: &str, allow_query: bool) -> Result<Option<String>, Malformed> {
        find(&req(auth, uri), allow_query).map(|t| t.map(|(t, _)| t.into_owned()))
    }

    #[test]
    fn bearer_header() {
        assert_eq!(
            token(&["Bearer abc123"], "/", false),
            Ok(Some("abc123".into()))
        );
        assert_eq!(
            token(&["bearer abc123"], "/", false),
            Ok(Some("abc123".into()))
        );
        assert_eq!(
            token(&["BEARER  a.b-c~d+e/f=="], "/", false),
            Ok(Some("a.b-c~d+e/f==".into()))
        );
        assert_eq!(token(&["Basic dXNlcjpwdw=="], "/", false), Ok(None));
        assert_eq!(token(&[], "/", false), Ok(None));
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
            "Bearer é",
        ] {
            assert_eq!(
                token(&[bad], "/", false),
                Err(Malformed::InvalidRequest),
                "{bad}"
            );
        }
        assert_eq!(
            token(&["Bearer a", "Bearer b"], "/", false),
            Err(Malformed::InvalidRequest)
        );
    }

    #[test]
    fn query_tokens() {
        assert_eq!(token(&[], "/x?access_token=abc", false), Ok(None));
        assert_eq!(
            token(&[], "/x?access_token=abc", true),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            token(&["Bearer abc"], "/x?access_token=abc", false),
            Err(Malformed::InvalidRequest)
        );
        assert_eq!(
            token(&[], "/x?access_token=a&access_token=b", true),
            Err(Malformed::InvalidRequest)
        );
        assert_eq!(
            token(&[], "/x?access_token=", true),
            Err(Malformed::InvalidRequest)
        );
        assert_eq!(token(&[], "/x?my_access_tokens=1", true), Ok(None));
        // Beside MAC credentials a query token is refused too, allowed or not.
        for allow_query in [false, true] {
            assert_eq!(
                token(&["mac id=\"a\""], "/x?access_token=abc", allow_query),
                Err(Malformed::InvalidRequest)
            );
            assert_eq!(token(&["MAC id=\"a\""], "/x", allow_query), Ok(None));
        }
        assert_eq!(
            token(&["Basic dXNlcjpwdw=="], "/x?access_token=abc", true),
            Ok(Some("abc".into()))
        );
    }

    #[test]
    fn query_tokens_are_removed_from_the_target() {
        for (before, after) in [
            ("/x?access_token=abc", "/x"),
            ("/x?a=1&access_token=abc&b=%2B+2", "/x?a=1&b=%2B+2"),
            (
                "/x?access%5Ftoken=abc&my_access_token=1",
                "/x?my_access_token=1",
            ),
            ("/x?a&access_token", "/x?a"),
            (
                "http://h.example/x?access_token=abc&a=1",
                "http://h.example/x?a=1",
            ),
            ("/x", "/x"),
        ] {
            let mut uri: Uri = before.parse().unwrap();
            remove_query_token(&mut uri);
            assert_eq!(uri, after, "{before}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// RFC 6750 §2.1, written out independently of [`is_b64token`]:
        /// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
        fn b64token_grammar(token: &str) -> bool {
            let bytes = token.as_bytes();
            let body = bytes.iter().take_while(|&&b| b != b'=').count();
            body >= 1
                && bytes[..body].iter().all(|&b| {
                    matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9')
                        || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
                })
                && bytes[body..].iter().all(|&b| b == b'=')
        }

        fn header_request(value: &[u8], uri: &str) -> Option<Request<()>> {
            let value = http::HeaderValue::from_bytes(value).ok()?;
            let uri: http::Uri = uri.parse().ok()?;
            let mut req = Request::builder().uri(uri).body(()).unwrap();
            req.headers_mut().insert(AUTHORIZATION, value);
            Some(req)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any header value and query: no panic, and a token is only ever accepted when
            /// it is a b64token.
            #[test]
            fn accepted_tokens_are_b64tokens(
                value in prop_oneof![
                    any::<Vec<u8>>(),
                    "(?i:bearer)[ \t]{0,3}[ -~]{0,40}".prop_map(String::into_bytes),
                    "(?i:bearer) [A-Za-z0-9._~+/=-]{0,40}[ -~]{0,2}".prop_map(String::into_bytes),
                ],
                query in "[a-z_=&%0-9A-F.+/~-]{0,40}",
                allow_query in any::<bool>(),
            ) {
                let Some(req) = header_request(&value, &format!("/p?{query}")) else {
                    return Ok(());
                };
                if let Ok(Some((token, _))) = find(&req, allow_query) {
                    prop_assert!(b64token_grammar(&token), "{:?} from {:?}", token, value);
                }
                // The query alone, too.
                let uri: http::Uri = format!("/p?{query}").parse().unwrap();
                let req = Request::builder().uri(uri).body(()).unwrap();
                if let Ok(Some((token, source))) = find(&req, allow_query) {
                    prop_assert_eq!(source, Source::Query);
                    prop_assert!(allow_query);
                    prop_assert!(b64token_grammar(&token), "{:?}", token);
                }
            }

            /// A valid token comes back exactly, whatever the scheme's case and the spaces.
            #[test]
            fn valid_tokens_round_trip(
                token in "[A-Za-z0-9._~+/-]{1,64}={0,3}",
                scheme in "(?i:bearer)",
                spaces in 1usize..4,
            ) {
                prop_assert!(b64token_grammar(&token));
                let header = format!("{scheme}{}{token}", " ".repeat(spaces));
                let req = header_request(header.as_bytes(), "/").unwrap();
                let found = find(&req, false).unwrap().map(|(t, s)| (t.into_owned(), s));
                prop_assert_eq!(found, Some((token.clone(), Source::Header)));

                // In the query, percent-encoded.
                let encoded: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
                let uri: http::Uri = format!("/p?x=1&access_token={encoded}").parse().unwrap();
                let req = Request::builder().uri(uri).body(()).unwrap();
                let found = find(&req, true).unwrap().map(|(t, s)| (t.into_owned(), s));
                prop_assert_eq!(found, Some((token, Source::Query)));
            }

            /// A token that breaks the grammar anywhere is refused, never cut short.
            #[test]
            fn invalid_tokens_are_refused(
                prefix in "[A-Za-z0-9]{0,8}",
                bad in "[^A-Za-z0-9._~+/= -]",
                suffix in "[A-Za-z0-9]{0,8}",
            ) {
                let header = format!("Bearer {prefix}{bad}{suffix}");
                if let Some(req) = header_request(header.as_bytes(), "/") {
                    prop_assert_eq!(
                        find(&req, false).map(|t| t.map(|(t, _)| t.into_owned())),
                        Err(Malformed::InvalidRequest)
                    );
                }
            }
        }
    }
}
