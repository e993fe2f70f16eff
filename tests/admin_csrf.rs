//! The admin listener against another site's page (blind CSRF with the HTTP Basic credentials a
//! browser cached), over real sockets on `tokengate serve`: JSON-RPC refuses every request a
//! browser marks as made for a page (`Origin`, `Sec-Fetch-Site`), whatever its Content-Type,
//! over HTTP/1.1 and HTTP/2, while server-side spellings of the Content-Type (as curl, SDKs and
//! Mashery's documented calls send them) keep working; with `require_json_content_type` only
//! JSON types pass. The TIBCO-style routes cannot be reached by a form at all.

mod common;

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::{h2, send_raw, Raw};
use common::*;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

fn basic() -> String {
    format!(
        "Authorization: Basic {}",
        STANDARD.encode(format!("{ADMIN_KEY}:{ADMIN_SECRET}"))
    )
}

/// A JSON-RPC call that issues an `admin` token to `user` (what an attacker's page would post).
fn issue_body(user: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "oauth2.createAccessToken", "params": [
        SERVICE, {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
        {"grant_type": "password", "scope": "admin"}, null, user]})
    .to_string()
}

/// `POST path` over HTTP/1.1 with `headers` as written, Basic credentials and `body`.
async fn post(addr: SocketAddr, path: &str, headers: &[&str], body: &str) -> Raw {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{}\r\n",
        basic()
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    send_raw(addr, request.as_bytes()).await
}

/// How many token records the store holds for the owner `user` (TIBCO listing).
async fn issued_to(addr: SocketAddr, user: &str) -> usize {
    let request = format!(
        "GET /oauth2/access_token/owners/{user} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{}\r\n\r\n",
        basic()
    );
    let raw = send_raw(addr, request.as_bytes()).await;
    assert_eq!(raw.status, 200, "{}", raw.body);
    let listing: Value = serde_json::from_str(&raw.body).unwrap();
    listing["tokens"].as_array().unwrap().len()
}

/// Asserts `raw` is a refusal with `status` and a JSON-RPC 2.0 invalid-request error, and no
/// Basic challenge (which would make a browser prompt for credentials).
fn assert_refused(raw: &Raw, status: u16, what: &str) {
    assert_eq!(raw.status, status, "{what}: {}", raw.body);
    assert_eq!(
        raw.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(raw.challenge(), None, "{what}");
    let body: Value = serde_json::from_str(&raw.body).unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{what}");
    assert_eq!(body["id"], Value::Null, "{what}");
    assert_eq!(body["error"]["code"], -32600, "{what}");
    assert!(body.get("result").is_none(), "{what}");
}

/// Content-Type spellings a server-side client may send (none, several, odd ones).
const SERVER_SIDE_TYPES: &[&[&str]] = &[
    &["Content-Type: application/json"],
    &["Content-Type: Application/JSON; charset=UTF-8"],
    // `curl -d`, as in Mashery Local's documented sample calls.
    &["Content-Type: application/x-www-form-urlencoded"],
    &["Content-Type: text/plain"],
    &["Content-Type: application/json-foo"],
    &[],
    &["Content-Type: application/json", "Content-Type: text/plain"],
];

/// What a page can make a browser send: a CORS-simple Content-Type (or none) and its marks.
const PAGE_MARKS: &[&[&str]] = &[
    &["Origin: https://evil.example", "Content-Type: text/plain"],
    &[
        "Origin: https://evil.example",
        "Content-Type: application/x-www-form-urlencoded",
    ],
    &[
        "Origin: https://evil.example",
        "Content-Type: multipart/form-data; boundary=x",
    ],
    &["Origin: https://evil.example"],
    &["Origin: null", "Content-Type: text/plain"],
    &["Origin: http://127.0.0.1:8081", "Content-Type: text/plain"],
    &[
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Mode: no-cors",
        "Content-Type: text/plain",
    ],
    &["Sec-Fetch-Site: same-site", "Content-Type: text/plain"],
    // Preflighted from a page, but marked all the same.
    &[
        "Origin: https://evil.example",
        "Content-Type: application/json",
    ],
];

/// The configuration of these tests: the failed-auth limiter off, since the many refusals
/// (403) would otherwise exhaust it for the test's own address.
fn config() -> ServeConfig {
    ServeConfig::sqlite().admin("failed_auth_limit = false")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_refuses_requests_made_for_a_page_and_serves_server_side_callers() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &config().toml());
    let admin = gateway.admin;

    for (n, headers) in PAGE_MARKS.iter().enumerate() {
        let raw = post(admin, "/v2/json-rpc", headers, &issue_body("victim")).await;
        assert_refused(&raw, 403, &format!("{headers:?}"));
        // The site-id form of the path too.
        let raw = post(admin, "/v2/json-rpc/1234", headers, &issue_body("victim")).await;
        assert_refused(&raw, 403, &format!("{n}: {headers:?}"));
    }
    assert_eq!(issued_to(admin, "victim").await, 0, "nothing was issued");

    for (n, headers) in SERVER_SIDE_TYPES.iter().enumerate() {
        let user = format!("caller{n}");
        let raw = post(admin, "/v2/json-rpc", headers, &issue_body(&user)).await;
        assert_eq!(raw.status, 200, "{headers:?}: {}", raw.body);
        let reply: Value = serde_json::from_str(&raw.body).unwrap();
        assert_eq!(reply["result"]["scope"], "admin", "{headers:?}");
        assert_eq!(issued_to(admin, &user).await, 1, "{headers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_refuses_page_requests_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &config().toml());
    let admin = gateway.admin;
    let authorization = basic();
    let (_, credentials) = authorization.split_once(": ").unwrap();
    let mut sender = h2(admin).await;
    for (origin, user) in [
        (Some("https://evil.example"), "h2-victim"),
        (None, "h2-caller"),
    ] {
        let mut request = http::Request::post(format!("http://{admin}/v2/json-rpc"))
            .header("authorization", credentials)
            .header("content-type", "text/plain");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = sender
            .send_request(
                request
                    .body(Full::new(Bytes::from(issue_body(user))))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        match origin {
            Some(_) => {
                assert_eq!(status, 403, "{body}");
                assert_eq!(body["error"]["code"], -32600);
                assert_eq!(issued_to(admin, user).await, 0);
            }
            None => {
                assert_eq!(status, 200, "{body}");
                assert_eq!(issued_to(admin, user).await, 1);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_json_content_type_admits_only_json_types() {
    let dir = tempfile::tempdir().unwrap();
    let config = config().admin("require_json_content_type = true");
    let gateway = Gateway::start(dir.path(), &config.toml());
    let admin = gateway.admin;

    let refused: &[&[&str]] = &[
        &["Content-Type: text/plain"],
        &["Content-Type: application/x-www-form-urlencoded"],
        &["Content-Type: multipart/form-data; boundary=x"],
        &["Content-Type: application/json-foo"],
        &["Content-Type: application/jsonx; charset=utf-8"],
        &["Content-Type: text/json"],
        &[],
        &[
            "Content-Type: application/json",
            "Content-Type: application/json",
        ],
        &["Content-Type: text/plain", "Content-Type: application/json"],
        &["Content-Type: application/json", "Content-Type: text/plain"],
    ];
    for headers in refused {
        let raw = post(admin, "/v2/json-rpc", headers, &issue_body("strict-victim")).await;
        assert_refused(&raw, 415, &format!("{headers:?}"));
        assert_eq!(raw.header("accept-post"), Some("application/json"));
    }
    assert_eq!(issued_to(admin, "strict-victim").await, 0);

    let admitted: &[&[&str]] = &[
        &["Content-Type: application/json"],
        &["Content-Type: APPLICATION/JSON;charset=utf-8"],
        &["Content-Type: application/json ; charset=\"utf-8\""],
        &["Content-Type: application/json-rpc"],
        &["Content-Type: application/jsonrequest"],
    ];
    for (n, headers) in admitted.iter().enumerate() {
        let user = format!("strict{n}");
        let raw = post(admin, "/v2/json-rpc", headers, &issue_body(&user)).await;
        assert_eq!(raw.status, 200, "{headers:?}: {}", raw.body);
        assert_eq!(issued_to(admin, &user).await, 1, "{headers:?}");
    }
    // A JSON type does not excuse a page's request.
    let raw = post(
        admin,
        "/v2/json-rpc",
        &[
            "Origin: https://evil.example",
            "Content-Type: application/json",
        ],
        &issue_body("strict-victim"),
    )
    .await;
    assert_refused(&raw, 403, "json from a page");
}

/// The TIBCO-style routes take `GET`/`HEAD`/`DELETE` only: a form (`GET`/`POST`) cannot revoke,
/// method overrides are not honoured, a `DELETE` from a page needs a CORS preflight that is
/// never granted, and no answer lets a page read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tibco_routes_cannot_be_driven_by_a_form() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &config().toml());
    let admin = gateway.admin;
    let raw = post(
        admin,
        "/v2/json-rpc",
        &["Content-Type: application/json"],
        &issue_body("tibco-user"),
    )
    .await;
    let reply: Value = serde_json::from_str(&raw.body).unwrap();
    let token = reply["result"]["access_token"].as_str().unwrap().to_owned();
    let route = format!("/oauth2/access_token/{token}");

    let page = "Origin: https://evil.example";
    for (path, headers) in [
        (
            route.clone(),
            vec![page, "Content-Type: application/x-www-form-urlencoded"],
        ),
        (route.clone(), vec![page, "Content-Type: text/plain"]),
        (route.clone(), vec!["X-HTTP-Method-Override: DELETE"]),
        (route.clone(), vec!["X-HTTP-Method: DELETE"]),
        (format!("{route}?_method=DELETE"), vec![page]),
        (format!("/asg{route}"), vec![page]),
    ] {
        let raw = post(admin, &path, &headers, "_method=DELETE").await;
        assert_eq!(raw.status, 405, "{path} {headers:?}: {}", raw.body);
        assert_eq!(raw.header("allow"), Some("GET, HEAD, DELETE"));
    }

    // The preflight a page's DELETE needs: refused, and no CORS grant.
    let preflight = format!(
        "OPTIONS {route} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n{page}\r\n\
         Access-Control-Request-Method: DELETE\r\nAccess-Control-Request-Headers: authorization\r\n\r\n"
    );
    let raw = send_raw(admin, preflight.as_bytes()).await;
    assert_eq!(raw.status, 405);
    assert!(
        raw.headers
            .iter()
            .all(|(n, _)| !n.starts_with("access-control-")),
        "{:?}",
        raw.headers
    );

    // A page's GET (an <img>, a no-cors fetch) gets no CORS grant either; the token still lives.
    let read = format!(
        "GET {route} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n{page}\r\n{}\r\n\r\n",
        basic()
    );
    let raw = send_raw(admin, read.as_bytes()).await;
    assert_eq!(raw.status, 200);
    assert!(raw
        .headers
        .iter()
        .all(|(n, _)| !n.starts_with("access-control-")));
    let record: Value = serde_json::from_str(&raw.body).unwrap();
    assert_eq!(record["status"], "Active", "no form revoked it");
}
