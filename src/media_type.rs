//! The media type of a request body (RFC 9110 §8.3 `Content-Type`).

use http::header::CONTENT_TYPE;
use http::HeaderMap;

/// Whether `headers` carry exactly one `Content-Type` whose media type (`type/subtype`, any
/// case, parameters such as `charset` ignored) is one of `accepted` (given in lower case).
/// Absent, repeated or unreadable is `false`: which of two types counts would be a guess.
pub(crate) fn is_one_of(headers: &HeaderMap, accepted: &[&str]) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(only), None) = (values.next(), values.next()) else {
        return false;
    };
    only.to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|media| accepted.iter().any(|a| media.eq_ignore_ascii_case(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CONTENT_TYPE, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn media_types() {
        let json = ["application/json"];
        assert!(is_one_of(&with(&["application/json"]), &json));
        assert!(is_one_of(
            &with(&["Application/JSON; charset=utf-8"]),
            &json
        ));
        assert!(is_one_of(
            &with(&[" application/json ;charset=UTF-8"]),
            &json
        ));
        assert!(!is_one_of(&with(&["application/json-foo"]), &json));
        assert!(!is_one_of(&with(&["application/jsonx; a=b"]), &json));
        assert!(!is_one_of(&with(&["text/plain"]), &json));
        assert!(!is_one_of(&with(&[]), &json));
        assert!(!is_one_of(
            &with(&["application/json", "application/json"]),
            &json
        ));
        assert!(!is_one_of(
            &with(&["text/plain", "application/json"]),
            &json
        ));
    }
}
