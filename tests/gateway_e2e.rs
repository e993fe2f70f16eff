//! The gateway end to end over real sockets: `tokengate serve` (SQLite in a temporary
//! directory) with its public listener in front of a recording upstream, tokens issued and
//! revoked through JSON-RPC on the admin listener. One test runs the same server in-process
//! over a store whose failures it switches on and off.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use serde_json::{json, Value};

use common::down::FlakyStore;
use common::process::Gateway;
use common::raw::{get, send_raw, Raw};
use common::upstream::Recorder;
use common::{ADMIN_KEY, ADMIN_SECRET, OTHER_SERVICE, SERVICE, WEB_CLIENT, WEB_SECRET};

const PEPPER: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const CLIENT_ID: &str = "x-mashery-oauth-client-id";
const SCOPE: &str = "x-mashery-oauth-scope";
const USER: &str = "x-mashery-oauth-user-context";
const ACCESS_TOKEN: &str = "x-mashery-oauth-access-token";
const NO_TOKEN: &str = "Bearer realm=\"tokengate\"";
const INVALID_TOKEN: &str = "Bearer realm=\"tokengate\", error=\"invalid_token\"";
const INVALID_REQUEST: &str = "Bearer realm=\"tokengate\", error=\"invalid_request\"";

// ---------------------------------------------------------------------------------------------
// The gateway under test and its admin API.

fn config(public: &str, service: &str) -> String {
    format!(
        r#"
[store]
url = "sqlite://tokengate.db"
pepper = "{PEPPER}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"
service_key = "{SERVICE}"
require_scopes = [{{ path = "/admin", scope = "admin" }}]
{public}

[[services]]
key = "{SERVICE}"
name = "Reviews API"
grants = ["password", "client_credentials"]
{service}

[[services]]
key = "{OTHER_SERVICE}"
name = "Other API"
grants = ["password", "client_credentials"]

[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
services = ["{SERVICE}", "{OTHER_SERVICE}"]
"#
    )
}

/// JSON-RPC on the admin listener.
struct Admin {
    http: reqwest::Client,
    addr: SocketAddr,
}

impl Admin {
    fn new(addr: SocketAddr) -> Admin {
        Admin {
            http: reqwest::Client::new(),
            addr,
        }
    }

    /// The whole JSON-RPC 2.0 reply to a call.
    async fn reply(&self, method: &str, params: Value) -> Value {
        self.http
            .post(format!("http://{}/v2/json-rpc", self.addr))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn result(&self, method: &str, params: Value) -> Value {
        let reply = self.reply(method, params).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// A token of `service` with `scope`: a password grant for `user`, or a
    /// client_credentials grant without one.
    async fn token(&self, service: &str, scope: &str, user: Option<&str>) -> String {
        let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
        let grant = if user.is_some() {
            "password"
        } else {
            "client_credentials"
        };
        let data = json!({"grant_type": grant, "scope": scope});
        let result = self
            .result(
                "oauth2.createAccessToken",
                json!([service, client, data, null, user]),
            )
            .await;
        result["access_token"].as_str().unwrap().to_owned()
    }

    async fn revoke(&self, token: &str) {
        let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
        let result = self
            .result("oauth2.revokeAccessToken", json!([SERVICE, client, token]))
            .await;
        assert_eq!(result, json!(true));
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// The value of one sample line of `/metrics` (`name` with its labels).
    async fn metric(&self, name: &str) -> f64 {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200);
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap()
    }
}

/// A gateway with `public` and `service` settings, in front of a fresh recorder.
struct Harness {
    gateway: Gateway,
    upstream: Recorder,
    admin: Admin,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(public: &str, service: &str) -> Harness {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let public = format!("upstream = \"http://{}\"\n{public}", upstream.addr);
        let gateway = Gateway::start(dir.path(), &config(&public, service));
        let admin = Admin::new(gateway.admin);
        Harness {
            gateway,
            upstream,
            admin,
            _dir: dir,
        }
    }

    fn public(&self) -> SocketAddr {
        self.gateway.public()
    }
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// The tag key of the tokens the gateway under test issues (derived from its pepper).
fn tag_key() -> tokengate::secret::TagKey {
    tokengate::secret::Pepper::new(hex::decode(PEPPER).unwrap()).tag_key()
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread")]
async fn an_issued_token_passes_with_one_of_each_identity_header() {
    let h = Harness::start("forward_access_token = true", "").await;
    let token = h
        .admin
        .token(SERVICE, "read write", Some("user12345"))
        .await;

    let res = get(h.public(), "/reviews/7?page=2", &[&bearer(&token)]).await;
    assert_eq!((res.status, res.body.as_str()), (200, "upstream"));
    let seen = h.upstream.take();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.uri, "/reviews/7?page=2");
    assert_eq!(seen.one(CLIENT_ID), WEB_CLIENT);
    assert_eq!(seen.one(SCOPE), "read write");
    assert_eq!(seen.one(USER), "user12345");
    assert_eq!(seen.one(ACCESS_TOKEN), token);
    assert_eq!(seen.identity_headers().len(), 4, "{:?}", seen.headers);
    assert!(seen.headers.get("authorization").is_none(), "not forwarded");
    assert_eq!(seen.one("x-forwarded-for"), "127.0.0.1");
    assert_eq!(seen.one("x-forwarded-host"), "gateway.test");

    // A token without a user context: no user context header at all.
    let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let app_token = h
        .admin
        .result(
            "oauth2.createAccessToken",
            json!([SERVICE, client, {"grant_type": "client_credentials"}]),
        )
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = get(h.public(), "/reviews", &[&bearer(&app_token)]).await;
    assert_eq!(res.status, 200);
    let seen = h.upstream.take();
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
    assert!(seen[0].headers.get(USER).is_none());
    assert!(seen[0].headers.get(SCOPE).is_none());

    // `/healthz` needs no token and is not forwarded.
    let res = get(h.public(), "/healthz", &[]).await;
    assert_eq!((res.status, res.body.as_str()), (200, "ok"));
    assert!(h.upstream.take().is_empty());

    // h2 with prior knowledge works through the layer as well.
    let mut sender = common::raw::h2(h.public()).await;
    let request = Request::get(format!("http://{}/h2", h.public()))
        .header("authorization", format!("Bearer {token}"))
        .header(CLIENT_ID, "spoofed")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = h.upstream.take();
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let h = Harness::start("", "").await;
    let token = h.admin.token(SERVICE, "read", None).await;
    let spoofs = [
        "X-MASHERY-OAUTH-CLIENT-ID: evil",
        "x-mashery-oauth-client-id: evil2",
        "X-Mashery-Oauth-Scope: admin",
        "x-mashery-OAUTH-scope: admin2",
        "X-Mashery-Oauth-User-Context: root",
        "X-Mashery-Oauth-Access-Token: forged",
    ];

    // With a valid token: the injected values, once each; nothing of the client's.
    let mut headers: Vec<&str> = spoofs.to_vec();
    let auth = bearer(&token);
    headers.push(&auth);
    let res = get(h.public(), "/reviews", &headers).await;
    assert_eq!(res.status, 200);
    let seen = h.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
    assert_eq!(seen[0].one(SCOPE), "read");
    assert!(seen[0].headers.get(USER).is_none(), "the token has none");
    assert!(
        seen[0].headers.get(ACCESS_TOKEN).is_none(),
        "not configured"
    );
    assert_eq!(seen[0].identity_headers(), [CLIENT_ID, SCOPE]);

    // `_` and `.` aliases are refused outright, with or without a token.
    for alias in [
        "X_Mashery_Oauth_Client_Id: evil",
        "x.mashery.oauth.scope: admin",
        "X-Mashery_Oauth-User.Context: root",
    ] {
        let res = get(h.public(), "/reviews", &[alias, &auth]).await;
        assert_eq!(res.status, 400, "{alias}");
        assert_eq!(res.challenge(), Some(INVALID_REQUEST), "{alias}");
        let res = get(h.public(), "/reviews", &[alias]).await;
        assert_eq!(res.status, 400, "{alias}");
    }

    // Without a token, with a bad one, with a malformed one: refused, nothing forwarded.
    for extra in [
        None,
        Some("Authorization: Bearer not-a-token"),
        Some("Authorization: Bearer a b"),
        Some("Authorization: Basic b3BzOmNoYW5nZS1tZQ=="),
    ] {
        let mut headers = spoofs.to_vec();
        headers.extend(extra);
        let res = get(h.public(), "/reviews", &headers).await;
        assert!(
            [400, 401].contains(&res.status),
            "{extra:?}: {}",
            res.status
        );
    }
    assert!(
        h.upstream.take().is_empty(),
        "no rejected request forwarded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_named_in_connection_cannot_remove_an_injected_header() {
    let h = Harness::start("forward_access_token = true", "").await;
    let token = h.admin.token(SERVICE, "read", Some("alice")).await;
    let auth = bearer(&token);
    let res = get(
        h.public(),
        "/reviews",
        &[
            "Connection: close, X-Mashery-Oauth-Client-Id, x-mashery-oauth-scope",
            "Connection: X-Mashery-Oauth-User-Context, X-Mashery-Oauth-Access-Token",
            "X-Mashery-Oauth-Client-Id: evil",
            "X-Custom: kept",
            &auth,
        ],
    )
    .await;
    assert_eq!(res.status, 200);
    let seen = h.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
    assert_eq!(seen[0].one(SCOPE), "read");
    assert_eq!(seen[0].one(USER), "alice");
    assert_eq!(seen[0].one(ACCESS_TOKEN), token);
    assert_eq!(seen[0].one("x-custom"), "kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc6750_rejections_have_the_documented_status_and_challenge() {
    let h = Harness::start("", "").await;
    let public = h.public();
    let read = h.admin.token(SERVICE, "read", Some("u1")).await;
    let admin = h.admin.token(SERVICE, "read admin", Some("u1")).await;
    let other = h.admin.token(OTHER_SERVICE, "read", Some("u1")).await;
    let revoked = h.admin.token(SERVICE, "read", Some("u2")).await;
    h.admin.revoke(&revoked).await;

    // No token (and a non-Bearer scheme counts as none): a bare challenge.
    for headers in [&[][..], &["Authorization: Basic b3BzOmNoYW5nZS1tZQ=="][..]] {
        let res = get(public, "/reviews", headers).await;
        assert_eq!(res.status, 401);
        assert_eq!(res.challenge(), Some(NO_TOKEN));
        assert!(res.header("retry-after").is_none());
    }
    // A query token when the service does not allow them is no token.
    let res = get(public, &format!("/reviews?access_token={read}"), &[]).await;
    assert_eq!((res.status, res.challenge()), (401, Some(NO_TOKEN)));

    // Unknown, revoked and another service's: one identical answer.
    let unknown = get(public, "/reviews", &[&bearer("unknownunknownunknown")]).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.challenge(), Some(INVALID_TOKEN));
    assert_eq!(unknown.body, "");
    for token in [&revoked, &other] {
        let res = get(public, "/reviews", &[&bearer(token)]).await;
        assert_eq!(res, unknown);
        // Again, now from the negative cache: still identical.
        assert_eq!(get(public, "/reviews", &[&bearer(token)]).await, unknown);
    }

    // A route scope the token lacks.
    let res = get(public, "/admin/users", &[&bearer(&read)]).await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.challenge(),
        Some("Bearer realm=\"tokengate\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    assert!(h.upstream.take().is_empty());
    let res = get(public, "/admin/users", &[&bearer(&admin)]).await;
    assert_eq!(res.status, 200);
    assert_eq!(h.upstream.take().len(), 1);

    // Malformed requests.
    for (path, headers) in [
        ("/reviews", vec!["Authorization: Bearer a b".to_owned()]),
        ("/reviews", vec!["Authorization: Bearer".to_owned()]),
        ("/reviews", vec![bearer(&read), bearer(&read)]),
        (
            &*format!("/reviews?access_token={read}"),
            vec![bearer(&read)],
        ),
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let res = get(public, path, &headers).await;
        assert_eq!(res.status, 400, "{headers:?}");
        assert_eq!(res.challenge(), Some(INVALID_REQUEST), "{headers:?}");
    }
    assert!(
        h.upstream.take().is_empty(),
        "no rejected request forwarded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_refused_on_the_next_request_though_cached() {
    let h = Harness::start("", "").await;
    let token = h.admin.token(SERVICE, "read", Some("u1")).await;
    for _ in 0..3 {
        let res = get(h.public(), "/reviews", &[&bearer(&token)]).await;
        assert_eq!(res.status, 200);
    }
    assert_eq!(h.admin.metric("tokengate_cache_misses_total").await, 1.0);
    assert_eq!(h.admin.metric("tokengate_cache_hits_total").await, 2.0);

    h.admin.revoke(&token).await;
    let res = get(h.public(), "/reviews", &[&bearer(&token)]).await;
    assert_eq!((res.status, res.challenge()), (401, Some(INVALID_TOKEN)));
    assert_eq!(h.upstream.take().len(), 3);
    assert_eq!(h.admin.metric("tokengate_tokens_revoked_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_refused_despite_the_cache_ttl() {
    let h = Harness::start("cache_ttl_secs = 30", "access_token_ttl = 1").await;
    let issued = Instant::now();
    let token = h.admin.token(SERVICE, "read", Some("u1")).await;
    for _ in 0..2 {
        let res = get(h.public(), "/reviews", &[&bearer(&token)]).await;
        assert_eq!(res.status, 200, "still valid");
    }
    assert!(
        issued.elapsed() < Duration::from_millis(900),
        "the machine is too slow for this test's timing"
    );
    assert_eq!(h.admin.metric("tokengate_cache_hits_total").await, 1.0);

    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(issued.elapsed())).await;
    let expired = get(h.public(), "/reviews", &[&bearer(&token)]).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.challenge(), Some(INVALID_TOKEN));
    let unknown = get(h.public(), "/reviews", &[&bearer("unknownunknownunknown")]).await;
    assert_eq!(expired, unknown, "expired and unknown look the same");
    assert_eq!(h.upstream.take().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_on_header_count_header_size_and_body_size() {
    let h = Harness::start("max_headers = 24\nmax_body_bytes = 4096", "").await;
    let token = h.admin.token(SERVICE, "read", None).await;
    let auth = bearer(&token);

    // Bodies: a declared length over the limit is refused before anything is forwarded.
    let http = reqwest::Client::new();
    let url = format!("http://{}/upload", h.public());
    let send = |len: usize| {
        http.post(&url)
            .bearer_auth(&token)
            .body(vec![b'x'; len])
            .send()
    };
    assert_eq!(send(4096).await.unwrap().status(), 200);
    assert_eq!(h.upstream.take().len(), 1);
    assert_eq!(send(4097).await.unwrap().status(), 413);
    assert!(h.upstream.take().is_empty());

    // A chunked body that runs past the limit.
    let chunk = format!("{:x}\r\n{}\r\n", 3000, "y".repeat(3000));
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: g\r\nConnection: close\r\n{auth}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    let res = send_raw(h.public(), request.as_bytes()).await;
    assert_eq!(res.status, 413);
    assert!(
        h.upstream.take().is_empty(),
        "the upstream got no complete body"
    );

    // Header count and size.
    let many: Vec<String> = (0..30).map(|i| format!("X-Extra-{i}: {i}")).collect();
    let mut headers: Vec<&str> = many.iter().map(String::as_str).collect();
    headers.push(&auth);
    assert_eq!(get(h.public(), "/reviews", &headers).await.status, 431);
    let big = format!("X-Big: {}", "z".repeat(17 * 1024));
    assert_eq!(
        get(h.public(), "/reviews", &[&big, &auth]).await.status,
        431
    );
    assert!(h.upstream.take().is_empty());
    assert_eq!(get(h.public(), "/reviews", &[&auth]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_and_readyz_answers_on_the_admin_listener() {
    let h = Harness::start("", "").await;
    assert_eq!(h.admin.get("/readyz").await, (200, "ready".to_owned()));
    let (status, before) = h.admin.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "tokengate_requests_total{outcome=\"allowed\"} 0",
        "tokengate_cache_hits_total 0",
        "tokengate_cache_negative_hits_total 0",
        "tokengate_cache_misses_total 0",
        "tokengate_cache_coalesced_total 0",
        "tokengate_cache_errors_total 0",
        "tokengate_resolve_duration_seconds_count 0",
        "tokengate_upstream_duration_seconds_count 0",
        "tokengate_tokens_issued_total 0",
        "tokengate_tokens_revoked_total 0",
        "# TYPE tokengate_resolve_duration_seconds histogram",
    ] {
        assert!(before.contains(name), "{name} in\n{before}");
    }

    let token = h.admin.token(SERVICE, "read", None).await;
    for _ in 0..2 {
        assert_eq!(get(h.public(), "/r", &[&bearer(&token)]).await.status, 200);
    }
    // Tagged, so worth a lookup, but never issued.
    let unknown = tag_key().issue();
    for _ in 0..2 {
        assert_eq!(
            get(h.public(), "/r", &[&bearer(&unknown)]).await.status,
            401
        );
    }
    assert_eq!(get(h.public(), "/r", &[]).await.status, 401);
    assert_eq!(
        get(h.public(), "/admin", &[&bearer(&token)]).await.status,
        403
    );

    let m = |name: &'static str| h.admin.metric(name);
    assert_eq!(
        m("tokengate_requests_total{outcome=\"allowed\"}").await,
        2.0
    );
    assert_eq!(
        m("tokengate_requests_total{outcome=\"invalid_token\"}").await,
        2.0
    );
    assert_eq!(
        m("tokengate_requests_total{outcome=\"no_token\"}").await,
        1.0
    );
    assert_eq!(
        m("tokengate_requests_total{outcome=\"insufficient_scope\"}").await,
        1.0
    );
    assert_eq!(m("tokengate_cache_hits_total").await, 2.0);
    assert_eq!(m("tokengate_cache_negative_hits_total").await, 1.0);
    assert_eq!(m("tokengate_cache_misses_total").await, 2.0);
    assert_eq!(m("tokengate_resolve_duration_seconds_count").await, 2.0);
    assert_eq!(
        m("tokengate_resolve_duration_seconds_bucket{le=\"+Inf\"}").await,
        2.0
    );
    assert_eq!(m("tokengate_upstream_duration_seconds_count").await, 2.0);
    assert_eq!(m("tokengate_tokens_issued_total").await, 1.0);

    // Only on the admin listener: on the public one these are protected paths.
    for path in ["/metrics", "/readyz"] {
        assert_eq!(get(h.public(), path, &[]).await.status, 401, "{path}");
    }
}

/// What every API answers for `token`: the gateway, JSON-RPC fetchAccessToken (one and a
/// list), the TIBCO-style lookup, RFC 7662 introspection and RFC 7009 revocation.
async fn every_answer(h: &Harness, token: String) -> (Raw, Vec<Value>, Vec<(u16, String)>) {
    let gateway = get(h.public(), "/r", &[&bearer(&token)]).await;
    let mut rpc = Vec::new();
    for params in [json!([SERVICE, token]), json!([SERVICE, [token]])] {
        rpc.push(h.admin.reply("oauth2.fetchAccessToken", params).await);
    }
    let http = &h.admin.http;
    let (admin, public) = (h.admin.addr, h.public());
    let mut http_answers = Vec::new();
    let tibco = http
        .get(format!("http://{admin}/oauth2/access_token/{token}"))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET));
    let standard = ["/oauth2/introspect", "/oauth2/revoke"].map(|path| {
        http.post(format!("http://{public}{path}"))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("token", token.as_str())])
    });
    for request in [tibco].into_iter().chain(standard) {
        let res = request.send().await.unwrap();
        http_answers.push((res.status().as_u16(), res.text().await.unwrap()));
    }
    (gateway, rpc, http_answers)
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_tokens_get_the_unknown_answers_without_a_store_lookup() {
    use tokengate::secret::{generate_token, junk_token, ISSUED_TOKEN_LEN};

    let h = Harness::start("", "").await;
    let token = h.admin.token(SERVICE, "read", None).await;
    assert_eq!(token.len(), ISSUED_TOKEN_LEN);
    assert!(tag_key().verifies(&token), "tagged with the pepper's key");
    assert_eq!(get(h.public(), "/r", &[&bearer(&token)]).await.status, 200);
    let mut flipped = token.clone().into_bytes();
    flipped[ISSUED_TOKEN_LEN - 1] = if flipped[ISSUED_TOKEN_LEN - 1] == b'a' {
        b'b'
    } else {
        b'a'
    };
    let mut forged = vec![String::from_utf8(flipped).unwrap(), generate_token()];
    forged.extend((0..20).map(|_| junk_token()));

    let answers = |token: String| every_answer(&h, token);
    let lookups = || h.admin.metric("tokengate_store_token_lookups_total");

    // The control: a tagged token that was never issued is looked up.
    let before = lookups().await;
    let expected = answers(tag_key().issue()).await;
    assert_eq!(expected.0.status, 401);
    assert_eq!(expected.2[1], (200, r#"{"active":false}"#.to_owned()));
    assert_eq!(expected.2[2].0, 200);
    assert!(lookups().await > before, "the control is looked up");

    let before = lookups().await;
    for token in &forged {
        assert_eq!(answers(token.clone()).await, expected, "{token}");
    }
    assert_eq!(lookups().await, before, "no store lookup for forged tokens");
    assert_eq!(
        h.admin.metric("tokengate_cache_forged_total").await,
        forged.len() as f64
    );
    assert_eq!(
        h.admin.metric("tokengate_cache_negative_hits_total").await,
        0.0
    );
    assert_eq!(get(h.public(), "/r", &[&bearer(&token)]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_echo_answers_without_an_upstream_and_debug_logs_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_logged(
        dir.path(),
        &config("forward_access_token = true", ""),
        "debug",
    );
    let admin = Admin::new(gateway.admin);
    let token = admin.token(SERVICE, "read", Some("user12345")).await;

    let res = get(
        gateway.public(),
        "/reviews?access_token=x",
        &[&bearer(&token)],
    )
    .await;
    assert_eq!(res.status, 400, "two token sources");
    let res = get(
        gateway.public(),
        "/reviews?page=1",
        &[&bearer(&token), "X-Mashery-Oauth-Scope: admin"],
    )
    .await;
    assert_eq!(res.status, 200);
    let echoed: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(
        echoed,
        json!({
            "method": "GET",
            "path": "/reviews",
            "headers": {
                CLIENT_ID: WEB_CLIENT,
                SCOPE: "read",
                USER: "user12345",
                ACCESS_TOKEN: token,
            },
        })
    );
    assert_eq!(
        get(gateway.public(), "/r", &[&bearer("junk-token-value")])
            .await
            .status,
        401
    );
    admin.revoke(&token).await;
    assert_eq!(
        get(gateway.public(), "/r", &[&bearer(&token)]).await.status,
        401
    );
    assert_eq!(admin.get("/metrics").await.0, 200);

    // Let the last lines reach the pipe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = gateway.logs();
    assert!(
        logs.contains("public request"),
        "debug logging is on:\n{logs}"
    );
    let basic = "b3BzOmNoYW5nZS1tZQ"; // base64("ops:change-me"), unpadded prefix
    for secret in [
        token.as_str(),
        WEB_SECRET,
        ADMIN_SECRET,
        &PEPPER[..32],
        basic,
        "junk-token-value",
        "Bearer",
    ] {
        assert!(!logs.contains(secret), "`{secret}` is in the logs:\n{logs}");
    }
}

// ---------------------------------------------------------------------------------------------
// The store going down, in-process.

#[tokio::test(flavor = "multi_thread")]
async fn with_the_store_down_cached_tokens_pass_and_uncached_get_503() {
    use tokengate::server::{Config, Server};

    let upstream = Recorder::start().await;
    let (sqlite, _dir) = common::sqlite_store().await;
    let store = Arc::new(FlakyStore::new(sqlite));
    let text = config(&format!("upstream = \"http://{}\"", upstream.addr), "");
    let config = Config::from_toml(&text, None).unwrap();
    let server = Server::bind_with_store(config, store.clone(), common::pepper())
        .await
        .unwrap();
    let public = server.public_addr().unwrap();
    let admin = Admin::new(server.admin_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let cached = admin.token(SERVICE, "read", None).await;
    let uncached = admin.token(SERVICE, "read", None).await;
    assert_eq!(get(public, "/r", &[&bearer(&cached)]).await.status, 200);
    assert_eq!(upstream.take().len(), 1);

    store.set_down(true);
    assert_eq!(admin.get("/readyz").await.0, 503);
    let res = get(public, "/r", &[&bearer(&cached)]).await;
    assert_eq!(res.status, 200, "served from the cache");
    let res = get(public, "/r", &[&bearer(&uncached)]).await;
    assert_eq!(res.status, 503);
    assert!(res.header("retry-after").is_some(), "{res:?}");
    assert!(res.challenge().is_none());
    assert_eq!(upstream.take().len(), 1, "only the cached token's request");
    assert_eq!(admin.metric("tokengate_cache_errors_total").await, 1.0);
    assert_eq!(
        admin
            .metric("tokengate_requests_total{outcome=\"unavailable\"}")
            .await,
        1.0
    );

    // The failure was not cached: once the store is back, the token works.
    store.set_down(false);
    assert_eq!(admin.get("/readyz").await, (200, "ready".to_owned()));
    assert_eq!(get(public, "/r", &[&bearer(&uncached)]).await.status, 200);
    assert_eq!(upstream.take().len(), 1);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
