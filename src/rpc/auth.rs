//! Authentication of JSON-RPC callers: HTTP Basic (Mashery Local style) or `api_key` + `sig`
//! query parameters (Mashery cloud style).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};

use crate::secret::ct_eq;

/// How far a `sig` timestamp may be from the server's clock, in seconds.
pub const SIG_WINDOW_SECS: i64 = 300;

/// The admin key/secret pairs allowed to call the API. They come from configuration, never
/// from requests.
///
/// ```
/// use tokengate::rpc::Credentials;
/// let creds = Credentials::new(vec![("ops".into(), "change-me".into())]);
/// assert!(!creds.is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Credentials {
    pairs: Vec<(String, String)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Credentials").field("keys", &keys).finish()
    }
}

/// Whether a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A configured key/secret matched.
    Allowed,
    /// No credentials were presented.
    Missing,
    /// Credentials were presented and are wrong.
    Denied,
}

impl Credentials {
    /// Credentials from `(key, secret)` pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Credentials { pairs }
    }

    /// Whether no pair is configured (every call is then refused).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Checks a request's `Authorization` header and query string.
    pub(crate) fn check(&self, authorization: Option<&[u8]>, query: Option<&str>) -> Verdict {
        if let Some(header) = authorization {
            return match basic(header) {
                Some((key, secret)) if self.matches_basic(&key, &secret) => Verdict::Allowed,
                _ => Verdict::Denied,
            };
        }
        let mut api_key = None;
        let mut sig = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "api_key" | "apikey" => api_key = Some(v.into_owned()),
                "sig" => sig = Some(v.into_owned()),
                _ => {}
            }
        }
        match (api_key, sig) {
            (None, None) => Verdict::Missing,
            (Some(key), Some(sig)) if self.matches_sig(&key, &sig, unix_now()) => Verdict::Allowed,
            _ => Verdict::Denied,
        }
    }

    fn matches_basic(&self, key: &str, secret: &str) -> bool {
        // Check every pair so timing does not tell which keys exist.
        self.pairs.iter().fold(false, |found, (k, s)| {
            (ct_eq(k.as_bytes(), key.as_bytes()) & ct_eq(s.as_bytes(), secret.as_bytes())) | found
        })
    }

    /// `sig = md5_hex(key + secret + unix_seconds)`, for any second within the window.
    fn matches_sig(&self, key: &str, sig: &str, now: i64) -> bool {
        let sig = sig.to_ascii_lowercase();
        self.pairs.iter().filter(|(k, _)| k == key).any(|(k, s)| {
            (now - SIG_WINDOW_SECS..=now + SIG_WINDOW_SECS)
                .any(|t| ct_eq(signature(k, s, t).as_bytes(), sig.as_bytes()))
        })
    }
}

/// The Mashery call signature for `key`, `secret` at `unix_seconds`.
///
/// ```
/// let sig = tokengate::rpc::signature("key", "secret", 1_700_000_000);
/// assert_eq!(sig.len(), 32);
/// ```
pub fn signature(key: &str, secret: &str, unix_seconds: i64) -> String {
    let mut md5 = Md5::new();
    md5.update(key.as_bytes());
    md5.update(secret.as_bytes());
    md5.update(unix_seconds.to_string().as_bytes());
    hex::encode(md5.finalize())
}

fn basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (key, secret) = decoded.split_once(':')?;
    Some((key.to_owned(), secret.to_owned()))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new(vec![("ops".into(), "change-me".into())])
    }

    #[test]
    fn basic_auth() {
        let good = format!("Basic {}", STANDARD.encode("ops:change-me"));
        let bad = format!("Basic {}", STANDARD.encode("ops:change-it"));
        assert_eq!(creds().check(Some(good.as_bytes()), None), Verdict::Allowed);
        assert_eq!(creds().check(Some(bad.as_bytes()), None), Verdict::Denied);
        assert_eq!(creds().check(Some(b"Bearer x"), None), Verdict::Denied);
        assert_eq!(creds().check(None, None), Verdict::Missing);
        assert_eq!(
            Credentials::default().check(Some(good.as_bytes()), None),
            Verdict::Denied
        );
    }

    #[test]
    fn signed_query() {
        let now = unix_now();
        let fresh = signature("ops", "change-me", now - 10);
        let stale = signature("ops", "change-me", now - SIG_WINDOW_SECS - 5);
        let q = |sig: &str| format!("api_key=ops&sig={sig}");
        assert_eq!(creds().check(None, Some(&q(&fresh))), Verdict::Allowed);
        assert_eq!(
            creds().check(None, Some(&q(&fresh.to_uppercase()))),
            Verdict::Allowed
        );
        assert_eq!(creds().check(None, Some(&q(&stale))), Verdict::Denied);
        assert_eq!(creds().check(None, Some("apikey=ops")), Verdict::Denied);
        let other = signature("ops", "wrong", now);
        assert_eq!(creds().check(None, Some(&q(&other))), Verdict::Denied);
    }
}
