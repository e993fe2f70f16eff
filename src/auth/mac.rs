//! MAC access authentication (draft-ietf-oauth-v2-http-mac-01): the `Authorization: MAC`
//! credentials of a request, its normalised request string, and the signature check.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use http::header::AUTHORIZATION;
use http::Request;
use subtle::ConstantTimeEq;

use crate::model::MacAlgorithm;

/// Longest `Authorization: MAC` value read (the parameters' own bounds add up to less).
const MAX_HEADER: usize = 2048;
/// Longest `id` (the access token).
const MAX_ID: usize = 512;
/// Longest `ts`: ten digits last until the year 2286.
const MAX_TS_DIGITS: usize = 10;
/// Longest `nonce`.
const MAX_NONCE: usize = 128;
/// Longest `ext`.
const MAX_EXT: usize = 512;

/// A request's `Authorization: MAC` credentials, with the normalised request string they
/// sign, taken from the request as the client sent it.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    id: String,
    ts: u64,
    nonce: String,
    mac: Vec<u8>,
    normalized: String,
}

/// The `Authorization: MAC` header is there but is not well-formed (400 `invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl Signed {
    /// The request's MAC credentials: `Ok(None)` when its `Authorization` header is absent or
    /// of another scheme. The request target (as sent: the [`SentTarget`](crate::path::SentTarget)
    /// when the layer made it canonical), method, host and port are read from `req` now, so
    /// this must run before anything else rewrites the request. `default_port` is the port of
    /// the listener's scheme, for a `Host` without one.
    pub(crate) fn find<B>(
        req: &Request<B>,
        default_port: u16,
    ) -> Result<Option<Signed>, Malformed> {
        let mut values = req.headers().get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Ok(None);
        };
        let value = value.as_bytes();
        let Some(params) = strip_scheme(value) else {
            return Ok(None);
        };
        if value.len() > MAX_HEADER {
            return Err(Malformed);
        }
        let Params {
            id,
            ts,
            nonce,
            ext,
            mac,
        } = Params::parse(params)?;
        let (host, port) = host_and_port(req, default_port)?;
        // As the client sent it, before the layer made it canonical.
        let target = match req.extensions().get::<crate::path::SentTarget>() {
            Some(sent) => sent.as_str(),
            None => req.uri().path_and_query().map_or("/", |p| p.as_str()),
        };
        let normalized = normalized_string(
            ts,
            nonce,
            req.method().as_str(),
            target,
            &host,
            port,
            ext.unwrap_or(""),
        );
        Ok(Some(Signed {
            id: id.to_owned(),
            ts: ts.parse().map_err(|_| Malformed)?,
            nonce: nonce.to_owned(),
            mac,
            normalized,
        }))
    }

    /// The MAC key identifier: the access token.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The request's timestamp, in seconds since the epoch.
    pub(crate) fn ts(&self) -> u64 {
        self.ts
    }

    /// The request's nonce.
    pub(crate) fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether `mac` is the signature of the request under `key` (compared in constant time).
    pub(crate) fn verifies(&self, algorithm: MacAlgorithm, key: &[u8]) -> bool {
        let expected = signature(algorithm, key, self.normalized.as_bytes());
        expected.ct_eq(&self.mac).into()
    }
}

/// The parameters after `MAC ` (scheme case-insensitive), or `None` for another scheme.
pub(crate) fn strip_scheme(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    value[..space]
        .eq_ignore_ascii_case(b"mac")
        .then(|| &value[space + 1..])
}

/// The draft's §3.2.1 normalised request string: each of timestamp, nonce, method, request
/// target, host (lower case), port and `ext` followed by a newline.
fn normalized_string(
    ts: &str,
    nonce: &str,
    method: &str,
    target: &str,
    host: &str,
    port: u16,
    ext: &str,
) -> String {
    format!("{ts}\n{nonce}\n{method}\n{target}\n{host}\n{port}\n{ext}\n")
}

/// HMAC of `message` under `key` with `algorithm` (§3.2.2, §3.2.3).
fn signature(algorithm: MacAlgorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn hmac<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length; an empty answer would match no signature.
        let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        MacAlgorithm::HmacSha1 => hmac::<Hmac<sha1::Sha1>>(key, message),
        MacAlgorithm::HmacSha256 => hmac::<Hmac<sha2::Sha256>>(key, message),
    }
}

/// Host (lower case) and port of the request, as [`request_host`](crate::host::request_host)
/// validates them (the target's authority, HTTP/2 `:authority` or an absolute-form target, and
/// the one `Host` must agree), the port `default_port` when none is named.
fn host_and_port<B>(req: &Request<B>, default_port: u16) -> Result<(String, u16), Malformed> {
    match crate::host::request_host(req.headers(), req.uri(), req.version()) {
        Ok(Some(host)) => Ok((
            host.host().to_ascii_lowercase(),
            host.port().unwrap_or(default_port),
        )),
        Ok(None) | Err(_) => Err(Malformed),
    }
}

/// The parsed parameters, borrowed from the header value.
#[derive(Debug)]
struct Params<'a> {
    id: &'a str,
    ts: &'a str,
    nonce: &'a str,
    ext: Option<&'a str>,
    mac: Vec<u8>,
}

impl<'a> Params<'a> {
    /// `id="…", ts="…", nonce="…"[, ext="…"], mac="…"` in any order, each once, values
    /// quoted (no escapes), names case-insensitive; anything else is malformed.
    fn parse(mut rest: &'a [u8]) -> Result<Self, Malformed> {
        let mut found: [Option<&'a str>; 5] = [None; 5];
        loop {
            rest = skip_spaces(rest);
            let eq = rest.iter().position(|&b| b == b'=').ok_or(Malformed)?;
            let name = &rest[..eq];
            let slot = ["id", "ts", "nonce", "ext", "mac"]
                .iter()
                .position(|n| name.eq_ignore_ascii_case(n.as_bytes()))
                .ok_or(Malformed)?;
            let (value, after) = quoted(&rest[eq + 1..])?;
            if found[slot].replace(value).is_some() {
                return Err(Malformed);
            }
            rest = skip_spaces(after);
            match rest.split_first() {
                None => break,
                Some((b',', more)) => rest = more,
                Some(_) => return Err(Malformed),
            }
        }
        let [Some(id), Some(ts), Some(nonce), ext, Some(mac)] = found else {
            return Err(Malformed);
        };
        let ts_ok = (1..=MAX_TS_DIGITS).contains(&ts.len())
            && ts.bytes().all(|b| b.is_ascii_digit())
            && (ts == "0" || !ts.starts_with('0'));
        let id_ok = id.len() <= MAX_ID && super::bearer::is_b64token(id.as_bytes());
        let nonce_ok = (1..=MAX_NONCE).contains(&nonce.len());
        let ext_ok = ext.is_none_or(|ext| ext.len() <= MAX_EXT);
        let mac = STANDARD.decode(mac).map_err(|_| Malformed)?;
        if !(ts_ok && id_ok && nonce_ok && ext_ok && matches!(mac.len(), 20 | 32)) {
            return Err(Malformed);
        }
        Ok(Params {
            id,
            ts,
            nonce,
            ext,
            mac,
        })
    }
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t');
    &s[start.unwrap_or(s.len())..]
}

/// A `"…"` value of printable ASCII without `"` or `\`, and what follows it.
fn quoted(s: &[u8]) -> Result<(&str, &[u8]), Malformed> {
    let body = s.strip_prefix(b"\"").ok_or(Malformed)?;
    let end = body.iter().position(|&b| b == b'"').ok_or(Malformed)?;
    let value = &body[..end];
    if !value
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
    {
        return Err(Malformed);
    }
    // Printable ASCII is UTF-8.
    let value = std::str::from_utf8(value).map_err(|_| Malformed)?;
    Ok((value, &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HOST;

    /// The key of the draft's examples (§1.1, §3.2).
    const KEY: &[u8] = b"489dks293j39";

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn the_drafts_vectors() {
        let get = normalized_string(
            "1336363200",
            "dj83hs9s",
            "GET",
            "/resource/1?b=1&a=2",
            "example.com",
            80,
            "",
        );
        assert_eq!(
            get,
            "1336363200\ndj83hs9s\nGET\n/resource/1?b=1&a=2\nexample.com\n80\n\n"
        );
        assert_eq!(
            b64(&signature(MacAlgorithm::HmacSha1, KEY, get.as_bytes())),
            "6T3zZzy2Emppni6bzL7kdRxUWL4="
        );
        let post = normalized_string(
            "264095",
            "7d8f3e4a",
            "POST",
            "/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b&c2&a3=2+q",
            "example.com",
            80,
            "a,b,c",
        );
        assert_eq!(
            b64(&signature(MacAlgorithm::HmacSha1, KEY, post.as_bytes())),
            "+txL5oOFHGYjrfdNYH5VEzROaBY="
        );
    }

    fn request(method: &str, target: &str, host: Option<&str>, auth: &str) -> Request<()> {
        let mut b = Request::builder().method(method).uri(target);
        if let Some(host) = host {
            b = b.header(HOST, host);
        }
        b.header(AUTHORIZATION, auth).body(()).unwrap()
    }

    #[test]
    fn a_signed_request_as_the_draft_sends_it_verifies() {
        let auth = "MAC id=\"h480djs93hd8\", ts=\"1336363200\", nonce=\"dj83hs9s\", \
                    mac=\"6T3zZzy2Emppni6bzL7kdRxUWL4=\"";
        let req = request("GET", "/resource/1?b=1&a=2", Some("example.com"), auth);
        let signed = Signed::find(&req, 80).unwrap().unwrap();
        assert_eq!(
            (signed.id(), signed.ts(), signed.nonce()),
            ("h480djs93hd8", 1336363200, "dj83hs9s")
        );
        assert!(signed.verifies(MacAlgorithm::HmacSha1, KEY));
        assert!(!signed.verifies(MacAlgorithm::HmacSha1, b"489dks293j3"));
        assert!(!signed.verifies(MacAlgorithm::HmacSha256, KEY));

        // The host's case does not matter; its port, the method and the target do.
        let upper = request("GET", "/resource/1?b=1&a=2", Some("EXAMPLE.com:80"), auth);
        assert!(Signed::find(&upper, 80)
            .unwrap()
            .unwrap()
            .verifies(MacAlgorithm::HmacSha1, KEY));
        for (method, target, host, default_port) in [
            ("POST", "/resource/1?b=1&a=2", "example.com", 80),
            ("GET", "/resource/1?a=2&b=1", "example.com", 80),
            ("GET", "/resource/%31?b=1&a=2", "example.com", 80),
            ("GET", "/resource/1?b=1&a=2", "example.com:8080", 80),
            ("GET", "/resource/1?b=1&a=2", "example.org", 80),
            ("GET", "/resource/1?b=1&a=2", "example.com", 443),
        ] {
            let req = request(method, target, Some(host), auth);
            let signed = Signed::find(&req, default_port).unwrap().unwrap();
            assert!(
                !signed.verifies(MacAlgorithm::HmacSha1, KEY),
                "{method} {target} {host}"
            );
        }

        // An IPv6 host keeps its brackets; a port named is the port signed.
        let v6 = request("GET", "/", Some("[::1]:8080"), auth);
        let signed = Signed::find(&v6, 80).unwrap().unwrap();
        assert!(
            signed.normalized.ends_with("\nGET\n/\n[::1]\n8080\n\n"),
            "{signed:?}"
        );

        // An absolute-form target (HTTP/2 `:authority`) and `Host` name one host, the one
        // signed; a `Host` naming another is malformed.
        let absolute = request(
            "GET",
            "http://example.com/resource/1?b=1&a=2",
            Some("Example.com"),
            auth,
        );
        assert!(Signed::find(&absolute, 80)
            .unwrap()
            .unwrap()
            .verifies(MacAlgorithm::HmacSha1, KEY));
        let other = request(
            "GET",
            "http://example.com/resource/1?b=1&a=2",
            Some("other"),
            auth,
        );
        assert_eq!(Signed::find(&other, 80).unwrap_err(), Malformed);
    }

    #[test]
    fn other_schemes_are_not_mac() {
        for auth in ["Bearer abc", "Basic dXNlcjpwdw==", "MACX id=\"a\"", "MAC"] {
            let req = request("GET", "/", Some("h"), auth);
            assert!(Signed::find(&req, 80).unwrap().is_none(), "{auth}");
        }
        let none = Request::builder().uri("/").body(()).unwrap();
        assert!(Signed::find(&none, 80).unwrap().is_none());
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let mac = "mac=\"6T3zZzy2Emppni6bzL7kdRxUWL4=\"";
        let good = format!("MAC id=\"a\", ts=\"1\", nonce=\"n\", {mac}");
        assert!(Signed::find(&request("GET", "/", Some("h"), &good), 80)
            .unwrap()
            .is_some());
        assert!(Signed::find(
            &request("GET", "/", Some("h"), &good.replace("MAC ", "mac ")),
            80
        )
        .unwrap()
        .is_some());
        let long = "x".repeat(MAX_HEADER);
        for bad in [
            format!("MAC id=\"a\", id=\"b\", ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", ts=\"2\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ID=\"a\", ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n\", {mac}, {mac}"),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n\", ext=\"\", ext=\"\", {mac}"),
            format!("MAC ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", {mac}"),
            "MAC id=\"a\", ts=\"1\", nonce=\"n\"".to_owned(),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n\", {mac},"),
            format!("MAC id=\"a\" ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=a, ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=1, nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n\", other=\"x\", {mac}"),
            format!("MAC id=\"a\", ts=\"01\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"-1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"99999999999\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"\", {mac}"),
            format!("MAC id=\"a b\", ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"\", ts=\"1\", nonce=\"n\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n\\\"\", {mac}"),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n, {mac}"),
            "MAC id=\"a\", ts=\"1\", nonce=\"n\", mac=\"not base64\"".to_owned(),
            "MAC id=\"a\", ts=\"1\", nonce=\"n\", mac=\"YWJj\"".to_owned(),
            format!(
                "MAC id=\"a\", ts=\"1\", nonce=\"{}\", {mac}",
                "n".repeat(MAX_NONCE + 1)
            ),
            format!("MAC id=\"a\", ts=\"1\", nonce=\"n\", ext=\"{long}\", {mac}"),
            "MAC ".to_owned(),
            "MAC ,".to_owned(),
        ] {
            let req = request("GET", "/", Some("h"), &bad);
            assert_eq!(Signed::find(&req, 80).unwrap_err(), Malformed, "{bad}");
        }
        // The host must be one, well-formed and without user information.
        for host in [
            None,
            Some("user@h"),
            Some("h:"),
            Some("h:x"),
            Some("h:+1"),
            Some("[::1"),
            Some("h:99999"),
            Some("a b"),
        ] {
            let req = request("GET", "/", host, &good);
            assert_eq!(Signed::find(&req, 80).unwrap_err(), Malformed, "{host:?}");
        }
        let mut two = request("GET", "/", Some("h"), &good);
        two.headers_mut().append(HOST, "h".parse().unwrap());
        assert_eq!(Signed::find(&two, 80).unwrap_err(), Malformed);
        // Bytes that are not ASCII anywhere in the value.
        let mut req = request("GET", "/", Some("h"), &good);
        req.headers_mut().insert(
            AUTHORIZATION,
            http::HeaderValue::from_bytes(b"MAC id=\"\xe9\", ts=\"1\", nonce=\"n\", mac=\"\"")
                .unwrap(),
        );
        assert_eq!(Signed::find(&req, 80).unwrap_err(), Malformed);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any header value: no panic; what parses has every bound.
            #[test]
            fn any_value_parses_or_is_refused(
                value in prop_oneof![
                    any::<Vec<u8>>(),
                    "MAC [ -~]{0,200}".prop_map(String::into_bytes),
                    "MAC ((id|ts|nonce|ext|mac)=\"[ -~]{0,30}\"(, )?){0,6}".prop_map(String::into_bytes),
                ],
            ) {
                let Ok(value) = http::HeaderValue::from_bytes(&value) else { return Ok(()) };
                let mut req = Request::builder().uri("/p?q").header(HOST, "h").body(()).unwrap();
                req.headers_mut().insert(AUTHORIZATION, value);
                if let Ok(Some(signed)) = Signed::find(&req, 80) {
                    prop_assert!(!signed.id().is_empty() && signed.id().len() <= MAX_ID);
                    prop_assert!((1..=MAX_NONCE).contains(&signed.nonce().len()));
                    prop_assert!(signed.normalized.ends_with('\n'));
                }
            }
        }
    }
}
