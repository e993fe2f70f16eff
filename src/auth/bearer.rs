//! Finding the bearer token of a request (RFC 6750 §2).

use http::header::AUTHORIZATION;
use http::Request;

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
/// token is refused even when query tokens are off. Other schemes count as no token.
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
        (None, Some(t)) if allow_query => Ok(Some((t, Source::Query))),
        (None, _) => Ok(None),
    }
}

/// `Bearer <b64token>`; `Ok(None)` for another scheme.
fn parse_bearer(value: &[u8]) -> Result<Option<&str>, Malformed> {
    let Ok(value) = std::str::from_utf8(value) else {
        return Err(Malformed::InvalidRequest);
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    if is_b64token(token) {
        Ok(Some(token))
    } else {
        Err(Malformed::InvalidRequest)
    }
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn query_token(query: Option<&str>) -> Result<Option<std::borrow::Cow<'_, str>>, Malformed> {
    let Some(query) = query.filter(|q| q.contains("access_token")) else {
        return Ok(None);
    };
    let mut found = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "access_token" {
            if found.is_some() || !is_b64token(&value) {
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
    }
}
