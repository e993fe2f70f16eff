//! Requests a web browser sent on behalf of a page: refused by the admin API (blind CSRF).
//!
//! A page on another site can make the browser post any body to the admin listener with a
//! CORS "simple" content type (`text/plain`, `application/x-www-form-urlencoded`,
//! `multipart/form-data`, or none), and the browser attaches the HTTP Basic credentials it
//! cached for that origin. The page cannot read the answer, but the call is made. Every current
//! browser marks such a request with `Origin` (the Fetch standard sends it on every request
//! that is not `GET`/`HEAD`) and with `Sec-Fetch-Site`; server-side callers (the provider's
//! server, curl, SDKs, [`RemoteResolver`](crate::resolve::RemoteResolver)) send neither, and
//! the admin API serves no page of its own that could be a legitimate origin.

use http::header::ORIGIN;
use http::HeaderMap;

/// The Fetch metadata header naming the relation of the initiator to the target.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Whether `headers` mark a request made by a browser for a page: an `Origin` header (any
/// value, `null` included), or `Sec-Fetch-Site` other than `none` (`none`: the user typed
/// the address).
pub(crate) fn from_page(headers: &HeaderMap) -> bool {
    headers.contains_key(ORIGIN)
        || headers
            .get_all(SEC_FETCH_SITE)
            .iter()
            .any(|site| site.as_bytes() != b"none")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn browser_marks() {
        assert!(!from_page(&with(&[])));
        assert!(!from_page(&with(&[("user-agent", "curl/8.5.0")])));
        assert!(!from_page(&with(&[("sec-fetch-site", "none")])));
        assert!(from_page(&with(&[("origin", "https://evil.example")])));
        assert!(from_page(&with(&[("origin", "null")])));
        assert!(from_page(&with(&[("origin", "http://127.0.0.1:8081")])));
        assert!(from_page(&with(&[("sec-fetch-site", "cross-site")])));
        assert!(from_page(&with(&[("sec-fetch-site", "same-origin")])));
        assert!(from_page(&with(&[
            ("sec-fetch-site", "none"),
            ("sec-fetch-site", "cross-site")
        ])));
    }
}
