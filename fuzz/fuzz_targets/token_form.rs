//! Form-body parsing of `/oauth2/token` (and the Basic header beside it): the first byte says
//! whether the rest starts with a Basic credential (up to the first newline). Every answer is
//! a token or an RFC 6749 §5.2 error, as JSON with `Cache-Control: no-store`.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tokengate::rest::PublicEndpoints;
use tower::ServiceExt;

use tokengate_fuzz::{runtime, tokens, SERVICE};

fn endpoints() -> PublicEndpoints {
    static ENDPOINTS: OnceLock<PublicEndpoints> = OnceLock::new();
    ENDPOINTS
        .get_or_init(|| {
            PublicEndpoints::new(tokens(), [SERVICE], "https://auth.example.com").unwrap()
        })
        .clone()
}

const ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut builder = http::Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded");
    let body = if mode & 1 == 1 {
        let (basic, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        };
        let Ok(value) = http::HeaderValue::from_bytes(basic) else {
            return;
        };
        builder = builder.header("authorization", value);
        body
    } else {
        rest
    };
    let req = builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    // Built outside the runtime (it blocks on the runtime to set up the store once).
    let service = endpoints();
    runtime().block_on(async {
        let res = service.oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        assert_eq!(parts.headers["cache-control"], "no-store");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        match parts.status.as_u16() {
            200 => assert!(json["access_token"].is_string()),
            400 | 401 => assert!(ERRORS.contains(&json["error"].as_str().unwrap())),
            other => panic!("status {other}: {json}"),
        }
    });
});
