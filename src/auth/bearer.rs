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
/// token (bearer or MAC) is refused even when query tokens are off, and so is, beside either
/// or beside a MAC header, a query parameter that an upstream may read as `access_token`
/// ([`TokenName::Spelling`]): the upstream must act on the token checked, and never receive
/// one in its URL. Other schemes count as no token.
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
    let query = query_tokens(req.uri().query())?;
    let in_query = query.token.is_some() || query.spelled_otherwise;
    match (from_header, query.token) {
        (Some(_), Some(_)) => Err(Malformed::InvalidRequest),
        (Some(_), None) | (None, Some(_)) if query.spelled_otherwise => {
            Err(Malformed::InvalidRequest)
        }
        (Some(t), None) => Ok(Some((std::borrow::Cow::Borrowed(t), Source::Header))),
        (None, _)
            if in_query
                && header.is_some_and(|h| super::mac::strip_scheme(h.as_bytes()).is_some()) =>
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

/// Whether the query has a parameter that is, or that some upstream may read as,
/// `access_token` (also after a `;`). One scan, nothing allocated.
pub(crate) fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|query| query.split('&').any(pair_names_token))
}

/// Whether an `&`-separated pair is, or holds after a `;`, a parameter read as `access_token`.
fn pair_names_token(pair: &str) -> bool {
    pair.split(';').any(|piece| {
        let key = piece.split('=').next().unwrap_or_default();
        token_name(key) != TokenName::Other
    })
}

/// Removes the `access_token` parameter (and every pair an upstream may read as one, see
/// [`query_has_token`]) from the query of `uri`, keeping every other parameter as it was
/// written, so that a token taken from the query does not travel on (RFC 6750 §2.3: URLs are
/// logged).
pub(crate) fn remove_query_token(uri: &mut Uri) {
    let Some(query) = uri.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair_names_token(pair))
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

/// The query's `access_token` parameter, and whether another parameter is spelled so that
/// some upstream may read it as one.
#[derive(Debug, Default)]
struct QueryTokens<'a> {
    /// The `access_token` value (a b64token).
    token: Option<std::borrow::Cow<'a, str>>,
    /// A [`TokenName::Spelling`] is present.
    spelled_otherwise: bool,
}

/// One pass over the query's parameters (separated by `&`, and by `;` as some servers also
/// split): an `access_token` whose value is not a b64token, or two of them, are malformed.
fn query_tokens(query: Option<&str>) -> Result<QueryTokens<'_>, Malformed> {
    let mut found = QueryTokens::default();
    let Some(query) = query else {
        return Ok(found);
    };
    let mut rest = query;
    let mut after_semicolon = false;
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let piece = &rest[..end];
        let key = piece.split_once('=').map_or(piece, |(key, _)| key);
        match token_name(key) {
            TokenName::Other => {}
            TokenName::Exact if !after_semicolon => {
                // The value runs to the next `&`, as `form_urlencoded` (and most servers)
                // read it.
                let pair = &rest[..rest.find('&').unwrap_or(rest.len())];
                let (_, value) = form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .unwrap_or_default();
                if found.token.is_some() || !is_b64token(value.as_bytes()) {
                    return Err(Malformed::InvalidRequest);
                }
                found.token = Some(value);
            }
            // After a `;`, the same name is a parameter to servers that split there, and part
            // of the previous value to the others.
            TokenName::Exact | TokenName::Spelling => found.spelled_otherwise = true,
        }
        if end == rest.len() {
            return Ok(found);
        }
        after_semicolon = rest.as_bytes()[end] == b';';
        rest = &rest[end + 1..];
    }
}

/// What a query parameter's name is to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenName {
    /// Not a token's name.
    Other,
    /// `access_token` once form-decoded (`access_token`, `access%5Ftoken`): RFC 6750 §2.3's
    /// parameter.
    Exact,
    /// Another name that some upstream may read as `access_token`: any ASCII case
    /// (`ACCESS_TOKEN`: ASP.NET and others compare names case-insensitively), decoded up to
    /// three times (`%2561ccess_token` for a server that decodes twice), with PHP's renaming
    /// of leading spaces (dropped), spaces, `.` and `[` (`_`), or followed by anything but a
    /// name byte (`access_token[]`, `access_token%3Dx` for a server that decodes before it
    /// splits, `access_token ` for one that trims).
    Spelling,
}

fn token_name(key: &str) -> TokenName {
    const NAME: &[u8] = b"access_token";
    let bytes = key.as_bytes();
    if bytes == NAME {
        return TokenName::Exact;
    }
    let encoded = bytes.iter().any(|&b| b == b'%' || b == b'+');
    if encoded && Decoded::new(bytes.iter().copied()).eq(NAME.iter().copied()) {
        return TokenName::Exact;
    }
    let read_as_token = if encoded {
        reads_as_token(Decoded::new(Decoded::new(Decoded::new(
            bytes.iter().copied(),
        ))))
    } else {
        reads_as_token(bytes.iter().copied())
    };
    if read_as_token {
        TokenName::Spelling
    } else {
        TokenName::Other
    }
}

/// Whether a decoded parameter name reads as `access_token` ([`TokenName::Spelling`]).
fn reads_as_token(name: impl Iterator<Item = u8>) -> bool {
    let mut name = name.skip_while(|&b| b == b' ');
    for &expected in b"access_token" {
        let byte = match name.next().map(|b| b.to_ascii_lowercase()) {
            Some(b' ' | b'.' | b'[') => b'_',
            Some(b) => b,
            None => return false,
        };
        if byte != expected {
            return false;
        }
    }
    name.next()
        .is_none_or(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
}

/// Form-decoding of bytes, lazily: `%XX` is the byte `XX`, `+` a space, and a `%` not
/// followed by two hex digits itself (as `form_urlencoded` does). Nothing is allocated.
pub(super) struct Decoded<I> {
    inner: I,
    /// Bytes read ahead after a `%` that began no escape, to be read again.
    again: [u8; 2],
    again_len: usize,
}

impl<I: Iterator<Item = u8>> Decoded<I> {
    pub(super) fn new(inner: I) -> Self {
        Decoded {
            inner,
            again: [0; 2],
            again_len: 0,
        }
    }

    fn read(&mut self) -> Option<u8> {
        if self.again_len == 0 {
            return self.inner.next();
        }
        let byte = self.again[0];
        self.again = [self.again[1], 0];
        self.again_len -= 1;
        Some(byte)
    }
}

impl<I: Iterator<Item = u8>> Iterator for Decoded<I> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        match self.read()? {
            b'+' => Some(b' '),
            b'%' => {
                let high = self.read();
                let low = self.read();
                let hex = |b: Option<u8>| b.and_then(|b| char::from(b).to_digit(16));
                match (hex(high), hex(low)) {
                    // Two hex digits: at most 0xff.
                    (Some(h), Some(l)) => Some((h * 16 + l) as u8),
                    _ => {
                        let ahead = [high, low];
                        for byte in ahead.into_iter().flatten() {
                            self.again[self.again_len] = byte;
                            self.again_len += 1;
                        }
                        Some(b'%')
                    }
                }
            }
            byte => Some(byte),
        }
    }
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
    fn other_spellings_of_the_query_token_are_refused_beside_a_token() {
        for spelling in [
            "ACCESS_TOKEN=abc",
            "Access_Token=abc",
            "access%5Ftoken=abc",
            "access%5ftoken=abc",
            "%61ccess_token=abc",
            "%41CCESS_TOKEN=abc",
            "access_token%3Dabc",
            "access_token%3dabc",
            "access_token[]=abc",
            "access_token%5B%5D=abc",
            "access_token[x]=abc",
            "access.token=abc",
            "access+token=abc",
            "access[token=abc",
            "+access_token=abc",
            "%20access_token=abc",
            "access_token+=abc",
            "%2561ccess_token=abc",
            "%252561ccess_token=abc",
            "access_token",
        ] {
            for query in [
                spelling.to_string(),
                format!("a=1&{spelling}"),
                format!("a=1;{spelling}&b=2"),
            ] {
                let uri = format!("/x?{query}");
                assert_eq!(
                    token(&["Bearer abc"], &uri, false),
                    Err(Malformed::InvalidRequest),
                    "{uri}"
                );
                assert_eq!(
                    token(&["Bearer abc"], &uri, true),
                    Err(Malformed::InvalidRequest),
                    "{uri}"
                );
                assert_eq!(
                    token(&["MAC id=\"a\""], &uri, false),
                    Err(Malformed::InvalidRequest),
                    "beside MAC credentials: {uri}"
                );
            }
            // Beside the query token itself: two copies.
            let uri = format!("/x?access_token=abc&{spelling}");
            assert_eq!(
                token(&[], &uri, true),
                Err(Malformed::InvalidRequest),
                "{uri}"
            );
        }
        // Alone, another spelling is no token: nothing is forwarded (401).
        assert_eq!(token(&[], "/x?ACCESS_TOKEN=abc", true), Ok(None));
        assert_eq!(token(&[], "/x?a=1;access_token=abc", true), Ok(None));
        // The exact name, form-decoded, is the token.
        assert_eq!(
            token(&[], "/x?access%5Ftoken=abc", true),
            Ok(Some("abc".into()))
        );
        for other in [
            "my_access_token=1",
            "access_tokens=1",
            "access_token_type=bearer",
            "access_token-x=1",
            "access_token.x=1",
            "access-token=1",
            "accesstoken=1",
            "access_toke=1",
            "%2=access_token",
            "x=access_token",
            "access%=1",
            "%",
            "",
        ] {
            let uri = format!("/x?{other}");
            assert_eq!(
                token(&["Bearer abc"], &uri, false),
                Ok(Some("abc".into())),
                "{uri}"
            );
        }
    }

    #[test]
    fn decoding_matches_form_urlencoded() {
        for input in [
            "a%41b",
            "%%41",
            "%4",
            "%",
            "%zz%41",
            "+%2B+",
            "%e2%82%ac",
            "%4%41",
            "100%",
        ] {
            let ours: Vec<u8> = Decoded::new(input.bytes()).collect();
            let theirs: Vec<u8> = form_urlencoded::parse(format!("{input}=").as_bytes())
                .next()
                .map(|(k, _)| k.into_owned().into_bytes())
                .unwrap_or_default();
            // `form_urlencoded` replaces invalid UTF-8; compare only valid results.
            if let Ok(text) = std::str::from_utf8(&ours) {
                assert_eq!(text.as_bytes(), theirs, "{input}");
            }
        }
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

            /// `access_token` with each byte as it is, upper-cased or percent-encoded (any hex
            /// case), and an optional `[]`: beside a header token, always refused; and a query
            /// that has none of these is never refused for it.
            #[test]
            fn every_spelling_of_the_query_token_is_refused_beside_a_header_token(
                choices in proptest::collection::vec(0u8..4, 12),
                suffix in prop_oneof![Just(""), Just("[]"), Just("%5B%5D"), Just("%3D")],
                value in "[a-z0-9]{1,8}",
            ) {
                let mut name = String::new();
                for (byte, choice) in b"access_token".iter().zip(&choices) {
                    match choice {
                        0 => name.push(char::from(*byte)),
                        1 => name.push(char::from(byte.to_ascii_uppercase())),
                        2 => name.push_str(&format!("%{byte:02X}")),
                        _ => name.push_str(&format!("%{byte:02x}")),
                    }
                }
                let uri = format!("/p?x=1&{name}{suffix}={value}");
                prop_assert_eq!(
                    token(&["Bearer abc"], &uri, true),
                    Err(Malformed::InvalidRequest),
                    "{}", uri
                );
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
