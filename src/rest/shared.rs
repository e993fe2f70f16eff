//! What the REST endpoints share: JSON answers, RFC 6749 §5.2 error answers, reading a form
//! body, and finding the client credentials of a request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::Serialize;

use crate::limit::retry_after_secs;
use crate::oauth::{ClientCredentials, ErrorCode};
use crate::Error;

pub(crate) use crate::BoxError;

/// What every REST endpoint answers with.
pub type RestResponse = Response<Full<Bytes>>;

/// The `Retry-After` (seconds) of a 503 answer when the store is unavailable.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// The core's description of an unknown client, or of one that may not use the service. The
/// core reports it as `unauthorized_client` for Mashery compatibility; RFC 6749 §5.2 wants
/// `invalid_client` (401), which the REST endpoints answer instead.
const UNKNOWN_CLIENT: &str = "Invalid client identifier";

/// A JSON answer with the given status.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> RestResponse {
    // Serializing our own plain structs cannot fail.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    json_bytes(status, Bytes::from(bytes))
}

/// A JSON answer from bytes already serialized.
pub(crate) fn json_bytes(status: StatusCode, body: Bytes) -> RestResponse {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// An answer without a body.
pub(crate) fn empty(status: StatusCode) -> RestResponse {
    let mut res = Response::new(Full::default());
    *res.status_mut() = status;
    res
}

/// Marks an answer as not to be stored by caches (RFC 6749 §5.1): `Cache-Control: no-store`
/// and `Pragma: no-cache`.
pub(crate) fn no_store(mut res: RestResponse) -> RestResponse {
    let headers = res.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// An RFC 6749 §5.2 error answer: `{"error": …, "error_description": …}` with its status and
/// headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReply {
    status: StatusCode,
    error: &'static str,
    description: Option<Cow<'static, str>>,
    challenge: bool,
    /// `Retry-After`, in seconds.
    retry_after: Option<u64>,
    allow: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

impl ErrorReply {
    /// An error with a status, an RFC error code and a description.
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        ErrorReply {
            status,
            error,
            description: Some(description.into()),
            challenge: false,
            retry_after: None,
            allow: None,
        }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_client` with a `WWW-Authenticate: Basic` challenge.
    pub(crate) fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        ErrorReply {
            challenge: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    /// 405 with `Allow`.
    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        ErrorReply {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                format!("Method not allowed: use {allow}"),
            )
        }
    }

    /// 503 `temporarily_unavailable` with `Retry-After`: the store failed.
    pub(crate) fn unavailable() -> Self {
        ErrorReply {
            retry_after: Some(RETRY_AFTER_SECS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The token store is unavailable; try again later",
            )
        }
    }

    /// 429 `slow_down` with `Retry-After`: the caller is over a rate limit and may try again
    /// after `wait`. RFC 6749 registers no code for this; `slow_down` is the one the OAuth
    /// extensions error registry lists for token endpoint answers that ask the client to slow
    /// down (RFC 8628 §3.5), and it keeps `temporarily_unavailable` (503) for a failing store.
    pub(crate) fn slow_down(description: impl Into<Cow<'static, str>>, wait: Duration) -> Self {
        ErrorReply {
            retry_after: Some(retry_after_secs(wait)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "slow_down", description)
        }
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// Maps a core error: OAuth failures to their RFC code (400, or 401 for client
    /// authentication failures, including an unknown client), store failures to 503, anything
    /// else to 500 `server_error` without detail.
    pub(crate) fn from_error(e: &Error) -> Self {
        match e.oauth() {
            Some(o) => match o.code() {
                ErrorCode::InvalidClient => Self::invalid_client(o.description().to_owned()),
                ErrorCode::UnauthorizedClient if o.description() == UNKNOWN_CLIENT => {
                    Self::invalid_client(UNKNOWN_CLIENT)
                }
                code => Self::new(
                    StatusCode::BAD_REQUEST,
                    code.as_str(),
                    o.description().to_owned(),
                ),
            },
            None if e.retry_after().is_some() => Self::slow_down(
                "Too many token requests for this client; try again later",
                e.retry_after().unwrap_or_default(),
            ),
            None if e.is_store() => {
                tracing::error!(error = %e, "store failed");
                Self::unavailable()
            }
            None => {
                tracing::error!(error = %e, "request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Internal error",
                )
            }
        }
    }

    /// The RFC error code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.error
    }

    /// The answer, with `Cache-Control: no-store` and `Pragma: no-cache`.
    pub(crate) fn into_response(self) -> RestResponse {
        let mut res = no_store(json(
            self.status,
            &ErrorBody {
                error: self.error,
                error_description: self.description.as_deref(),
            },
        ));
        let headers = res.headers_mut();
        if self.challenge {
            headers.insert(WWW_AUTHENTICATE, basic_challenge());
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        res
    }
}

/// `Basic realm="tokengate"`.
pub(crate) fn basic_challenge() -> HeaderValue {
    HeaderValue::from_static("Basic realm=\"tokengate\"")
}

/// The parameters of a form body. Parameters sent without a value count as omitted
/// (RFC 6749 §3.1).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Form {
    pairs: HashMap<String, String>,
}

impl Form {
    /// Parses `application/x-www-form-urlencoded` text; a parameter given twice is an error
    /// (RFC 6749 §3.1, §3.2).
    pub(crate) fn parse(body: &[u8]) -> Result<Form, ErrorReply> {
        let mut pairs = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if pairs
                .insert(name.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(ErrorReply::invalid_request(format!(
                    "Parameter `{name}` is repeated"
                )));
            }
        }
        Ok(Form { pairs })
    }

    /// The value of `name`, unless absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Checks that `req` is a `POST` with a form body of at most `max_bytes`, reads it and parses
/// it. Returns the request's headers and the form.
pub(crate) async fn read_form<B>(
    req: Request<B>,
    max_bytes: usize,
) -> Result<(HeaderMap, Form), ErrorReply>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    if req.method() != Method::POST {
        return Err(ErrorReply::method_not_allowed("POST"));
    }
    let is_form =
        crate::media_type::is_one_of(req.headers(), &["application/x-www-form-urlencoded"]);
    if !is_form {
        return Err(ErrorReply::invalid_request(
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, max_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return Err(ErrorReply::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "The body is too large",
            ))
        }
        Err(e) if e.is::<tower_http::timeout::TimeoutError>() => {
            return Err(ErrorReply::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "The body was not sent in time",
            ))
        }
        Err(_) => return Err(ErrorReply::invalid_request("The body could not be read")),
    };
    Ok((parts.headers, Form::parse(&body)?))
}

/// The request's `Authorization` header, if it has one. Two or more are `invalid_request`:
/// which of them counts would be a guess, and a component in front may guess otherwise.
pub(crate) fn authorization(headers: &HeaderMap) -> Result<Option<&HeaderValue>, ErrorReply> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ErrorReply::invalid_request(
            "More than one Authorization header",
        ));
    }
    Ok(first)
}

/// The client credentials a request presents: HTTP Basic (RFC 6749 §2.3.1: the id and the
/// secret are each form-urlencoded inside it), or `client_id` (and `client_secret`) in the
/// body. `None` when it presents none.
///
/// Basic together with a body `client_secret`, or with a body `client_id` that differs, is
/// `invalid_request` (one authentication method per request); a body `client_id` equal to the
/// Basic one is allowed, as some clients send it. An `Authorization` header that is not a
/// well-formed Basic one is `invalid_client`; two `Authorization` headers are
/// `invalid_request`.
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    form: &Form,
) -> Result<Option<ClientCredentials>, ErrorReply> {
    let Some(header) = authorization(headers)? else {
        return match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), secret) => Ok(Some(ClientCredentials {
                client_id: id.to_owned(),
                client_secret: secret.map(str::to_owned),
            })),
            (None, Some(_)) => Err(ErrorReply::invalid_request(
                "client_secret without client_id",
            )),
            (None, None) => Ok(None),
        };
    };
    let credentials = basic_credentials(header.as_bytes()).ok_or_else(|| {
        ErrorReply::invalid_client("Unsupported or malformed client authentication")
    })?;
    let other_id = form
        .get("client_id")
        .is_some_and(|id| id != credentials.client_id);
    if form.get("client_secret").is_some() || other_id {
        return Err(ErrorReply::invalid_request(
            "Client credentials in both the Authorization header and the body",
        ));
    }
    Ok(Some(credentials))
}

/// Decodes `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(header: &[u8]) -> Option<ClientCredentials> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let client_id = percent_decode(id, true)?;
    let secret = percent_decode(secret, true)?;
    if client_id.is_empty() {
        return None;
    }
    Some(ClientCredentials {
        client_id,
        client_secret: (!secret.is_empty()).then_some(secret),
    })
}

/// Decodes `%XX` escapes (and, with `plus_as_space`, `+` as a space, as in forms). `None` when
/// the result is not UTF-8 or an escape is malformed.
pub(crate) fn percent_decode(text: &str, plus_as_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                // Two hex digits: always valid UTF-8 and a valid u8.
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(raw));
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        headers
    }

    fn form(text: &str) -> Form {
        Form::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn forms_refuse_repeats_and_ignore_empty_values() {
        let f = form("a=1&b=&c=x+y%2Bz");
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c"), Some("x y+z"));
        let e = Form::parse(b"a=1&a=2").unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(Form::parse(b"a=&a=").is_err());
    }

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        let found = client_credentials(&basic("my%20app:a%2Bb+c%3A"), &Form::default())
            .unwrap()
            .unwrap();
        assert_eq!(found.client_id, "my app");
        assert_eq!(found.client_secret.as_deref(), Some("a+b c:"));
        // A secret with a raw ':' after the first one is kept whole.
        let found = client_credentials(&basic("app:x:y"), &Form::default())
            .unwrap()
            .unwrap();
        assert_eq!(found.client_secret.as_deref(), Some("x:y"));
        // No secret: a public client.
        let found = client_credentials(&basic("app:"), &Form::default())
            .unwrap()
            .unwrap();
        assert_eq!(found.client_secret, None);
    }

    #[test]
    fn one_authentication_method_per_request() {
        let both = client_credentials(&basic("app:s"), &form("client_secret=s"));
        assert_eq!(both.unwrap_err().code(), "invalid_request");
        let other = client_credentials(&basic("app:s"), &form("client_id=other"));
        assert_eq!(other.unwrap_err().code(), "invalid_request");
        let same = client_credentials(&basic("app:s"), &form("client_id=app")).unwrap();
        assert_eq!(same.unwrap().client_id, "app");
        let body = client_credentials(&HeaderMap::new(), &form("client_id=app&client_secret=s"))
            .unwrap()
            .unwrap();
        assert_eq!(body, ClientCredentials::new("app", "s"));
        assert_eq!(
            client_credentials(&HeaderMap::new(), &Form::default()).unwrap(),
            None
        );
        let secret_only = client_credentials(&HeaderMap::new(), &form("client_secret=s"));
        assert_eq!(secret_only.unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn two_authorization_headers_are_invalid_request() {
        let mut headers = basic("app:s");
        headers.append(AUTHORIZATION, headers[AUTHORIZATION].clone());
        let e = client_credentials(&headers, &Form::default()).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        let mut headers = basic("app:s");
        headers.append(AUTHORIZATION, HeaderValue::from_static("Basic Og=="));
        let e = client_credentials(&headers, &Form::default()).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
    }

    #[test]
    fn malformed_authorization_is_invalid_client() {
        for value in ["Bearer abc", "Basic !!!", "Basic", "Basic Og=="] {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            let e = client_credentials(&headers, &Form::default()).unwrap_err();
            assert_eq!(e.code(), "invalid_client", "{value}");
        }
        let e = client_credentials(&basic("app%zz:s"), &Form::default()).unwrap_err();
        assert_eq!(e.code(), "invalid_client");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", false).as_deref(), Some("a b+c"));
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%E2%9C%93", false).as_deref(), Some("✓"));
        assert_eq!(percent_decode("%", false), None);
        assert_eq!(percent_decode("%g0", false), None);
        assert_eq!(percent_decode("%+1", false), None);
        assert_eq!(percent_decode("%ff", false), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any bytes: no panic; a parsed form answers what the body said.
            #[test]
            fn arbitrary_bodies(body in prop_oneof![
                any::<Vec<u8>>(),
                "[a-z_=&%+0-9A-F]{0,64}".prop_map(String::into_bytes),
            ]) {
                match Form::parse(&body) {
                    Ok(form) => {
                        for (name, value) in form_urlencoded::parse(&body) {
                            let expected = (!value.is_empty()).then_some(value.as_ref());
                            prop_assert_eq!(form.get(&name), expected);
                        }
                    }
                    Err(e) => prop_assert_eq!(e.code(), "invalid_request"),
                }
            }

            /// Distinct names parse; any name given twice (with any values, empty or not,
            /// encoded however) is `invalid_request`.
            #[test]
            fn repeats_are_invalid_requests(
                pairs in prop::collection::btree_map("[a-z_]{1,12}", ".{0,16}", 1..8),
                pick in any::<prop::sample::Index>(),
                value in ".{0,16}",
                at in any::<prop::sample::Index>(),
            ) {
                let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                let form = Form::parse(body.as_bytes()).unwrap();
                for (name, value) in &pairs {
                    prop_assert_eq!(form.get(name), (!value.is_empty()).then_some(value.as_str()));
                }
                let name = pairs[pick.index(pairs.len())].0.clone();
                pairs.insert(at.index(pairs.len() + 1), (name, value));
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                let e = Form::parse(body.as_bytes()).unwrap_err();
                prop_assert_eq!(e.code(), "invalid_request");
            }
        }
    }
}
