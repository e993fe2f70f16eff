//! The adversarial cases of the hardening issue that no other file covers over the wire, each
//! against `tokengate serve` (SQLite in a temporary directory) with its public listener in
//! front of a recording upstream and its admin listener serving JSON-RPC and the TIBCO routes:
//!
//! - concurrent redemptions of one code and concurrent refreshes of one refresh token, over
//!   `/oauth2/token` and JSON-RPC at once: one winner, and the replays revoke what it got;
//! - scope escalation on refresh and at code redemption;
//! - PKCE abuse (`plain`, malformed challenges, ill-formed verifiers whose hash matches, a
//!   verifier for a code without a challenge);
//! - redirect URI variants at issuance and at redemption;
//! - a client secret with `+ / = ! :`, form-escaped in Basic, raw in Basic, in the body;
//! - header injection through `user_context` and `scope` (refused at issuance on every way
//!   in; the bytes that are allowed reach the upstream as one header);
//! - spoofed identity headers on the forwarding paths not covered elsewhere (query tokens,
//!   h2, trailers) and on the paths that forward nothing;
//! - bearer parsing edge cases (empty, two tokens, scheme case, 8 KiB tokens);
//! - cross-service tokens on every API;
//! - JSON-RPC abuse at `serve`'s default limits (10,000-element batches and token lists, deep
//!   nesting, wrong types, unknown methods, bad, stale and future `sig`);
//! - introspection scanning: every inactive case byte-identical;
//! - `Cache-Control: no-store` on every response carrying token data.
//!
//! The table in SECURITY.md ("Adversarial cases and their tests") maps every case of the issue
//! to its tests, here and elsewhere.
#![cfg(unix)]

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::{json, Value};
use sha2::Digest;

use common::config::ServeConfig;
use common::process::Gateway;
use common::upstream::Recorder;
use common::{
    ADMIN_KEY, ADMIN_SECRET, OTHER_SERVICE, PUBLIC_CLIENT, REDIRECT, SERVICE, WEB_CLIENT,
    WEB_SECRET,
};

/// A confidential client whose secret form-encoding changes.
const ODD_CLIENT: &str = "oddclient000000000000000";
const ODD_SECRET: &str = "s3cr+t/with=odd!chars:x";
const PUBLIC_REDIRECT: &str = "https://public.example.com/cb";
const CLIENT_ID: &str = "x-mashery-oauth-client-id";
const SCOPE: &str = "x-mashery-oauth-scope";
const USER: &str = "x-mashery-oauth-user-context";
const NO_TOKEN: &str = "Bearer realm=\"tokengate\"";
const INVALID_TOKEN: &str = "Bearer realm=\"tokengate\", error=\"invalid_token\"";
const INVALID_REQUEST: &str = "Bearer realm=\"tokengate\", error=\"invalid_request\"";
const INACTIVE: &str = r#"{"active":false}"#;

// ---------------------------------------------------------------------------------------------
// The node under test.

/// The node's configuration. The tests fail client authentication on purpose, many times from
/// one address: the limit on failed authentications (`tests/limits.rs`) is off here.
fn config(store: &str, upstream: SocketAddr, public: &str, service: &str) -> String {
    ServeConfig::new(store)
        .admin("failed_auth_limit = false")
        .public(&format!(
            "upstream = \"http://{upstream}\"\nfailed_auth_limit = false\n\
             require_scopes = [{{ path = \"/admin\", scope = \"admin\" }}]\n{public}"
        ))
        .service(service)
        .other_service()
        .append(&format!(
            r#"
[[clients]]
id = 12345
client_id = "{PUBLIC_CLIENT}"
name = "OAuth 2.0 Test App"
redirect_uris = ["{PUBLIC_REDIRECT}"]
services = ["{SERVICE}"]

[[clients]]
id = 12347
client_id = "{ODD_CLIENT}"
secret = "{ODD_SECRET}"
name = "Odd"
services = ["{SERVICE}"]
"#
        ))
        .toml()
}

/// A response as it came, without its `date` header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    status: u16,
    /// `(lower-case name, value)` in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl From<common::raw::Raw> for Answer {
    fn from(raw: common::raw::Raw) -> Answer {
        Answer {
            status: raw.status,
            headers: raw.headers,
            body: raw.body.into_bytes(),
        }
    }
}

impl Answer {
    async fn of(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .filter(|(n, _)| n.as_str() != "date")
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), value)
            })
            .collect();
        let body = res.bytes().await.unwrap().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts `Cache-Control: no-store` (and, for the RFC 6749 answers, `Pragma: no-cache`).
    fn assert_no_store(&self, what: &str) {
        assert_eq!(self.header("cache-control"), Some("no-store"), "{what}");
    }

    /// Asserts an RFC 6749 §5.2 error with `code`.
    fn assert_oauth_error(&self, status: u16, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text());
        assert_eq!(self.json()["error"], code, "{what}");
        self.assert_no_store(what);
        assert_eq!(self.header("pragma"), Some("no-cache"), "{what}");
    }
}

/// `tokengate serve` in front of a fresh recorder.
struct Node {
    gateway: Gateway,
    upstream: Recorder,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Node {
    /// On a SQLite file in a temporary directory.
    async fn start(public: &str, service: &str) -> Node {
        Node::start_on("sqlite://tokengate.db", public, service).await
    }

    /// On the store at `url`.
    async fn start_on(url: &str, public: &str, service: &str) -> Node {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::start(dir.path(), &config(url, upstream.addr, public, service));
        Node {
            gateway,
            upstream,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn public(&self) -> SocketAddr {
        self.gateway.public()
    }

    /// A raw JSON-RPC body to the admin listener, as the admin (Basic).
    async fn rpc_body(&self, body: impl Into<reqwest::Body>) -> Answer {
        let res = self
            .http
            .post(format!("http://{}/v2/json-rpc", self.gateway.admin))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .body(body)
            .send()
            .await
            .unwrap();
        Answer::of(res).await
    }

    /// Asserts that a JSON-RPC body over the admin body limit is refused: 413, or the
    /// connection closed before the client finished sending it (the server need not read a
    /// body it refuses), never an answer from the API.
    async fn assert_too_large(&self, body: impl Into<reqwest::Body>) {
        // A client of its own: the connection is not one to reuse after.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let sent = http
            .post(format!("http://{}/v2/json-rpc", self.gateway.admin))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(res) => assert_eq!(res.status(), 413),
            Err(e) => assert!(e.is_request(), "{e}"),
        }
    }

    /// One JSON-RPC 2.0 call: the `result`, or the `error` as `Err`. Every answer is
    /// `no-store`.
    async fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let answer = self.rpc_body(body.to_string()).await;
        assert_eq!(answer.status, 200, "{method}: {}", answer.text());
        answer.assert_no_store(method);
        let reply = answer.json();
        match reply.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(reply["error"].clone()),
        }
    }

    async fn ok(&self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// A password-grant token answer (access and refresh token) for `user`.
    async fn password(&self, service: &str, user: &str, scope: &str) -> Value {
        self.ok(
            "oauth2.createAccessToken",
            json!([service, web(), {"grant_type": "password", "scope": scope}, null, user]),
        )
        .await
    }

    /// A code for the web client (redirect URI `REDIRECT`), with `pkce` params when given.
    async fn code(&self, scope: &str, pkce: Option<Value>) -> String {
        let mut params =
            json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT}, scope, "u1"]);
        if let Some(pkce) = pkce {
            let list = params.as_array_mut().unwrap();
            list.push(json!("code"));
            list.push(pkce);
        }
        self.ok("oauth2.createAuthorizationCode", params).await["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A form POST to the public listener with an optional `Authorization` value.
    async fn form(&self, path: &str, auth: Option<&str>, pairs: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.form_body(path, auth, body).await
    }

    async fn form_body(&self, path: &str, auth: Option<&str>, body: String) -> Answer {
        let mut req = self
            .http
            .post(format!("http://{}{path}", self.public()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        Answer::of(req.send().await.unwrap()).await
    }

    /// `/oauth2/token` as the web client (Basic).
    async fn token(&self, pairs: &[(&str, &str)]) -> Answer {
        self.form("/oauth2/token", Some(&web_basic()), pairs).await
    }

    /// Introspection as the web client, with an optional hint.
    async fn introspect(&self, token: &str, hint: Option<&str>) -> Answer {
        let mut pairs = vec![("token", token)];
        pairs.extend(hint.map(|h| ("token_type_hint", h)));
        self.form("/oauth2/introspect", Some(&web_basic()), &pairs)
            .await
    }

    async fn is_active(&self, token: &str) -> bool {
        let answer = self.introspect(token, None).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()["active"] == true
    }

    /// `GET path` on the public listener with `headers` sent exactly as written.
    async fn raw_get(&self, path: &str, headers: &[&str]) -> Answer {
        Answer::from(common::raw::get(self.public(), path, headers).await)
    }

    async fn through(&self, token: &str) -> u16 {
        self.raw_get("/reviews", &[&format!("Authorization: Bearer {token}")])
            .await
            .status
    }
}

fn web() -> Value {
    json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET})
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn web_basic() -> String {
    basic(WEB_CLIENT, WEB_SECRET)
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn pkce(challenge: &str, method: &str) -> Value {
    json!({"code_challenge": challenge, "code_challenge_method": method})
}

/// The OAuth error name of a JSON-RPC `-2001` error.
fn oauth_error(error: &Value) -> &str {
    assert_eq!(error["code"], -2001, "{error}");
    error["data"]["error"].as_str().unwrap_or_default()
}

fn str_of<'v>(value: &'v Value, member: &str) -> &'v str {
    value[member]
        .as_str()
        .unwrap_or_else(|| panic!("no {member} in {value}"))
}

// ---------------------------------------------------------------------------------------------
// Races.

/// How one of several concurrent redemptions or refreshes ended.
#[derive(Debug)]
enum Outcome {
    /// A token answer: the access and refresh tokens.
    Won(String, String),
    /// Refused: over `/oauth2/token` with 400 `invalid_grant`, over JSON-RPC with -2001
    /// `invalid_grant` (anything else fails the test).
    Refused,
}

/// Runs `n` identical grants at once, alternating `/oauth2/token` and JSON-RPC
/// `createAccessToken`, released together by a barrier.
async fn race(node: &Arc<Node>, n: usize, form: Vec<(&'static str, String)>) -> Vec<Outcome> {
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (node, start, form) = (node.clone(), start.clone(), form.clone());
            tokio::spawn(async move {
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                start.wait().await;
                if i % 2 == 0 {
                    let answer = node.token(&pairs).await;
                    if answer.status == 200 {
                        let issued = answer.json();
                        return Outcome::Won(
                            str_of(&issued, "access_token").to_owned(),
                            str_of(&issued, "refresh_token").to_owned(),
                        );
                    }
                    answer.assert_oauth_error(400, "invalid_grant", "a losing /token call");
                    Outcome::Refused
                } else {
                    let mut data = serde_json::Map::new();
                    for (k, v) in &pairs {
                        if *k != "redirect_uri" {
                            data.insert((*k).to_owned(), json!(v));
                        }
                    }
                    let uri = pairs
                        .iter()
                        .find(|(k, _)| *k == "redirect_uri")
                        .map(|(_, v)| json!({ "redirect_uri": v }));
                    let params = json!([SERVICE, web(), data, uri, null]);
                    match node.call("oauth2.createAccessToken", params).await {
                        Ok(issued) => Outcome::Won(
                            str_of(&issued, "access_token").to_owned(),
                            str_of(&issued, "refresh_token").to_owned(),
                        ),
                        Err(e) => {
                            assert_eq!(oauth_error(&e), "invalid_grant", "{e}");
                            Outcome::Refused
                        }
                    }
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

fn the_winner(outcomes: &[Outcome]) -> (String, String) {
    let won: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Won(a, r) => Some((a.clone(), r.clone())),
            Outcome::Refused => None,
        })
        .collect();
    assert_eq!(won.len(), 1, "exactly one winner: {outcomes:?}");
    won.into_iter().next().unwrap()
}

/// `rounds` races of `parties` redemptions of one code: one winner each time, and the
/// replays revoke what it got, whoever came first.
async fn code_redemption_races(node: &Arc<Node>, rounds: usize, parties: usize) {
    for round in 0..rounds {
        let code = node.code("read", None).await;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
        ];
        let outcomes = race(node, parties, form).await;
        let (access, refresh) = the_winner(&outcomes);
        assert!(
            !node.is_active(&access).await,
            "round {round}: the winner's token lives"
        );
        assert!(!node.is_active(&refresh).await, "round {round}");
        assert_eq!(node.through(&access).await, 401, "round {round}");
        node.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await
            .assert_oauth_error(400, "invalid_grant", "the winner's refresh token");
    }
    assert!(node.upstream.take().is_empty());
}

/// `rounds` races of `parties` refreshes with one refresh token: one winner each time, and
/// the reuse by the losers revokes the whole family, the winner's new tokens included
/// (RFC 9700 §4.14.2).
async fn refresh_races(node: &Arc<Node>, rounds: usize, parties: usize) {
    for round in 0..rounds {
        let issued = node.password(SERVICE, "racer", "read write").await;
        let first = str_of(&issued, "access_token").to_owned();
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", str_of(&issued, "refresh_token").to_owned()),
        ];
        assert_eq!(node.through(&first).await, 200, "cached before the race");
        let outcomes = race(node, parties, form).await;
        let (access, refresh) = the_winner(&outcomes);
        for (what, token) in [
            ("first", &first),
            ("won", &access),
            ("won refresh", &refresh),
        ] {
            assert!(!node.is_active(token).await, "round {round}: {what}");
        }
        assert_eq!(node.through(&first).await, 401, "evicted from the cache");
        assert_eq!(node.through(&access).await, 401);
        node.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await
            .assert_oauth_error(400, "invalid_grant", "the winner's refresh token");
    }
    assert_eq!(
        node.upstream.take().len(),
        rounds,
        "only the first tokens, once each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_code_have_one_winner_whose_tokens_the_replays_revoke() {
    let node = Arc::new(Node::start("", "").await);
    code_redemption_races(&node, 3, 16).await;
    code_redemption_races(&node, 10, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_have_one_winner_and_the_reuse_revokes_the_family() {
    let node = Arc::new(Node::start("", "").await);
    refresh_races(&node, 3, 16).await;
    refresh_races(&node, 10, 2).await;
}

/// The same races on PostgreSQL, where redemptions run on connections of their own (before the
/// fix, about one two-party race in five left the winner's token alive).
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_and_refreshes_on_postgresql() {
    let db = pg::TestDb::new();
    let node = Arc::new(Node::start_on(&db.store_url(), "", "").await);
    code_redemption_races(&node, 3, 16).await;
    code_redemption_races(&node, 20, 2).await;
    refresh_races(&node, 3, 16).await;
    refresh_races(&node, 10, 2).await;
}

// ---------------------------------------------------------------------------------------------
// Scope escalation, PKCE, redirect URIs, client authentication.

#[tokio::test(flavor = "multi_thread")]
async fn scope_escalation_is_refused_on_refresh_and_at_redemption() {
    let node = Node::start("", "").await;
    let issued = node.password(SERVICE, "esc", "read write").await;
    let refresh = str_of(&issued, "refresh_token").to_owned();
    for wider in [
        "read write admin",
        "admin",
        "READ",
        "read,write",
        "read writes",
        "*",
    ] {
        let answer = node
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", wider),
            ])
            .await;
        answer.assert_oauth_error(400, "invalid_scope", wider);
        let e = node
            .call(
                "oauth2.createAccessToken",
                json!([SERVICE, web(), {"grant_type": "refresh_token",
                       "refresh_token": refresh, "scope": wider}]),
            )
            .await
            .unwrap_err();
        assert_eq!(oauth_error(&e), "invalid_scope", "{wider}: {e}");
    }
    // The refused attempts did not use the refresh token up; narrowing works, and the
    // narrowed token carries only what it asked for.
    let narrowed = node
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "  write  "),
        ])
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.text());
    let narrowed = narrowed.json();
    assert_eq!(narrowed["scope"], "write");
    let token = str_of(&narrowed, "access_token");
    assert_eq!(node.through(token).await, 200);
    let seen = node.upstream.take();
    assert_eq!(seen[0].one(SCOPE), "write");
    let res = node
        .raw_get("/admin/x", &[&format!("Authorization: Bearer {token}")])
        .await;
    assert_eq!(res.status, 403);
    // And it cannot be widened back from there.
    node.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", str_of(&narrowed, "refresh_token")),
        ("scope", "read write"),
    ])
    .await
    .assert_oauth_error(400, "invalid_scope", "back to the first scope");

    // A code redeemed for more than it was issued for.
    let code = node.code("read", None).await;
    node.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("scope", "read admin"),
    ])
    .await
    .assert_oauth_error(400, "invalid_scope", "code redeemed wider");
    assert!(node.upstream.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn pkce_abuse_is_refused() {
    let node = Node::start("", "").await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = s256(verifier);
    let authorize = |pkce: Value| {
        json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT}, "read", "u1",
               "code", pkce])
    };
    let redeem = |code: &str, verifiers: &[&str]| {
        let mut pairs = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
        ];
        pairs.extend(verifiers.iter().map(|v| ("code_verifier", (*v).to_owned())));
        pairs
    };
    async fn send(node: &Node, pairs: Vec<(&'static str, String)>) -> Answer {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        node.token(&pairs).await
    }

    // At issuance: S256 only, and a challenge of its shape (43 base64url characters).
    let standard_alphabet: String = "+/".repeat(22)[..43].to_owned();
    for (case, params) in [
        ("plain", pkce(verifier, "plain")),
        ("lower-case method", pkce(&challenge, "s256")),
        (
            "no method (plain by default)",
            json!({ "code_challenge": challenge }),
        ),
        ("42 characters", pkce(&challenge[..42], "S256")),
        ("44 characters", pkce(&format!("{challenge}A"), "S256")),
        ("padded", pkce(&format!("{}=", &challenge[..42]), "S256")),
        ("standard alphabet", pkce(&standard_alphabet, "S256")),
        ("empty", pkce("", "S256")),
    ] {
        let e = node
            .call("oauth2.createAuthorizationCode", authorize(params))
            .await
            .unwrap_err();
        assert_eq!(oauth_error(&e), "invalid_request", "{case}: {e}");
    }

    // Verifiers whose S256 matches but which RFC 7636 §4.1 does not allow: refused.
    for (case, bad) in [
        ("42 characters", "a".repeat(42)),
        ("129 characters", "a".repeat(129)),
        ("outside the unreserved set", format!("{}!", "a".repeat(42))),
        ("a space", format!("{} a", "a".repeat(42))),
        ("non-ASCII", format!("{}é", "a".repeat(42))),
    ] {
        let code = node.code("read", Some(pkce(&s256(&bad), "S256"))).await;
        send(&node, redeem(&code, &[&bad]))
            .await
            .assert_oauth_error(400, "invalid_grant", case);
    }
    // The limits themselves: 43 and 128 characters of the whole unreserved set.
    for good in ["a".repeat(43), "Az09-._~".repeat(16)] {
        let code = node.code("read", Some(pkce(&s256(&good), "S256"))).await;
        let answer = send(&node, redeem(&code, &[&good])).await;
        assert_eq!(answer.status, 200, "{}: {}", good.len(), answer.text());
    }

    // A verifier for a code issued without a challenge is a downgrade: refused, code burnt.
    let code = node.code("read", None).await;
    send(&node, redeem(&code, &[verifier]))
        .await
        .assert_oauth_error(400, "invalid_grant", "verifier without challenge");
    send(&node, redeem(&code, &[])).await.assert_oauth_error(
        400,
        "invalid_grant",
        "burnt by the verifier",
    );

    // A bound code: no verifier burns it; so does a wrong one.
    for first in [
        &[][..],
        &["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"][..],
    ] {
        let code = node.code("read", Some(pkce(&challenge, "S256"))).await;
        send(&node, redeem(&code, first)).await.assert_oauth_error(
            400,
            "invalid_grant",
            "missing or wrong verifier",
        );
        send(&node, redeem(&code, &[verifier]))
            .await
            .assert_oauth_error(400, "invalid_grant", "burnt");
    }

    // Two verifiers in one request (the right one twice): invalid_request before the code is
    // looked at, so the code still works after.
    let code = node.code("read", Some(pkce(&challenge, "S256"))).await;
    send(&node, redeem(&code, &[verifier, verifier]))
        .await
        .assert_oauth_error(400, "invalid_request", "two verifiers");
    let answer = send(&node, redeem(&code, &[verifier])).await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    // Over JSON-RPC the same rules hold.
    let code = node.code("read", Some(pkce(&challenge, "S256"))).await;
    let data = json!({"grant_type": "authorization_code", "code": code,
                      "code_verifier": "a".repeat(42)});
    let e = node
        .call(
            "oauth2.createAccessToken",
            json!([SERVICE, web(), data, {"redirect_uri": REDIRECT}, null]),
        )
        .await
        .unwrap_err();
    assert_eq!(oauth_error(&e), "invalid_grant", "{e}");

    // A public client's bound code: only that client, with the verifier, and no secret.
    let code = node
        .ok(
            "oauth2.createAuthorizationCode",
            json!([SERVICE, {"client_id": PUBLIC_CLIENT}, {"redirect_uri": PUBLIC_REDIRECT},
                   "read", "u2", "code", pkce(&challenge, "S256")]),
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = node
        .form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", PUBLIC_REDIRECT),
                ("code_verifier", verifier),
                ("client_id", PUBLIC_CLIENT),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(node.upstream.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_uri_variants_are_refused_at_issuance_and_at_redemption() {
    let node = Node::start("", "").await;
    let variants = [
        "https://client.example.com/cb/",
        "https://CLIENT.example.com/cb",
        "https://client.example.com/CB",
        "https://client.example.com/cb?x=1",
        "https://client.example.com/cb?",
        "https://client.example.com/cb#f",
        "https://client.example.com/cb#",
        "https://client.example.com:443/cb",
        "http://client.example.com/cb",
        "https://client.example.com/%63b",
        "https://client.example.com/cb/../cb",
        "https://client.example.com.evil.example/cb",
        "https://client.example.com@evil.example/cb",
        "https://evil.example/cb",
        "https://evil.example/?https://client.example.com/cb",
        " https://client.example.com/cb",
        "//client.example.com/cb",
        "not a uri",
    ];
    for uri in variants {
        // Issuing a code, or an implicit token, or fetching the application for it.
        let e = node
            .call(
                "oauth2.createAuthorizationCode",
                json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": uri}, "read", "u1"]),
            )
            .await
            .unwrap_err();
        assert_eq!(oauth_error(&e), "invalid_request", "code for {uri:?}: {e}");
        let e = node
            .call(
                "oauth2.fetchApplication",
                json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": uri}, "code"]),
            )
            .await
            .unwrap_err();
        assert_eq!(e["code"], -2001, "fetchApplication for {uri:?}: {e}");
        // Redeeming a good code with the variant: refused, and the code is burnt.
        let code = node.code("read", None).await;
        node.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", uri),
        ])
        .await
        .assert_oauth_error(400, "invalid_grant", uri);
        node.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await
        .assert_oauth_error(400, "invalid_grant", "burnt by the variant");
    }
    // Without a redirect URI at redemption, a code issued for one is refused too.
    let code = node.code("read", None).await;
    node.token(&[("grant_type", "authorization_code"), ("code", &code)])
        .await
        .assert_oauth_error(400, "invalid_grant", "no redirect_uri at redemption");
    // The registered URI itself works.
    let code = node.code("read", None).await;
    let answer = node
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn client_authentication_variants_at_the_token_endpoint() {
    let node = Node::start("", "").await;
    let cc = [("grant_type", "client_credentials")];
    let raw =
        |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));

    // `+ / = ! :` form-escaped in Basic (RFC 6749 §2.3.1): accepted.
    let answer = node
        .form("/oauth2/token", Some(&basic(ODD_CLIENT, ODD_SECRET)), &cc)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.assert_no_store("token");
    // The same secret unescaped: `+` decodes to a space, so it is a wrong secret.
    node.form("/oauth2/token", Some(&raw(ODD_CLIENT, ODD_SECRET)), &cc)
        .await
        .assert_oauth_error(401, "invalid_client", "unescaped");
    // Escaped twice: wrong.
    let once: String = form_urlencoded::byte_serialize(ODD_SECRET.as_bytes()).collect();
    node.form("/oauth2/token", Some(&basic(ODD_CLIENT, &once)), &cc)
        .await
        .assert_oauth_error(401, "invalid_client", "escaped twice");
    // In the body (form-encoded by the form itself): accepted.
    let answer = node
        .form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ODD_CLIENT),
                ("client_secret", ODD_SECRET),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    // Wrong secret, unknown client, empty secret, malformed Basic: 401 invalid_client with a
    // Basic challenge. (The description tells an unknown client from a wrong secret, as the
    // JSON-RPC API does for Mashery: client ids are not secrets, RFC 6749 §2.2.)
    let wrong = node
        .form("/oauth2/token", Some(&basic(WEB_CLIENT, "wrong")), &cc)
        .await;
    wrong.assert_oauth_error(401, "invalid_client", "wrong secret");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic realm=\"tokengate\"")
    );
    for (case, auth) in [
        ("unknown client", basic("nobody", "wrong")),
        ("empty secret", basic(WEB_CLIENT, "")),
        ("no colon", format!("Basic {}", STANDARD.encode(WEB_CLIENT))),
        ("not base64", "Basic %%%".to_owned()),
        (
            "secret with a NUL",
            basic(WEB_CLIENT, &format!("{WEB_SECRET}\0")),
        ),
        (
            "the secret's prefix",
            basic(WEB_CLIENT, &WEB_SECRET[..WEB_SECRET.len() - 1]),
        ),
    ] {
        let answer = node.form("/oauth2/token", Some(&auth), &cc).await;
        answer.assert_oauth_error(401, "invalid_client", case);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Basic realm=\"tokengate\""),
            "{case}"
        );
    }
    // Basic and body credentials at once, even the same ones: invalid_request.
    node.form(
        "/oauth2/token",
        Some(&web_basic()),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", WEB_CLIENT),
            ("client_secret", WEB_SECRET),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_request", "Basic and body");
    // Two Authorization headers, whatever they hold: invalid_request on every endpoint that
    // authenticates clients (which one would count is a guess).
    let admin = basic(ADMIN_KEY, ADMIN_SECRET);
    let bad = basic(WEB_CLIENT, "wrong");
    for (path, body) in [
        ("/oauth2/token", "grant_type=client_credentials"),
        ("/oauth2/introspect", "token=nosuchtoken"),
        ("/oauth2/revoke", "token=nosuchtoken"),
    ] {
        for (first, second) in [
            (web_basic(), web_basic()),
            (web_basic(), bad.clone()),
            (bad.clone(), web_basic()),
            (admin.clone(), web_basic()),
        ] {
            let res = node
                .http
                .post(format!("http://{}{path}", node.public()))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", &first)
                .header("authorization", &second)
                .body(body)
                .send()
                .await
                .unwrap();
            Answer::of(res).await.assert_oauth_error(
                400,
                "invalid_request",
                &format!("{path}: two headers"),
            );
        }
    }
    // A public client cannot pretend to be confidential, nor use client_credentials.
    node.form(
        "/oauth2/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", PUBLIC_CLIENT),
        ],
    )
    .await
    .assert_oauth_error(400, "unauthorized_client", "public client_credentials");
}

// ---------------------------------------------------------------------------------------------
// What reaches the upstream.

#[tokio::test(flavor = "multi_thread")]
async fn header_breaking_user_context_and_scope_are_refused_on_every_way_in() {
    let node = Node::start("", "").await;
    let live = node.password(SERVICE, "alice", "read").await;
    let live = str_of(&live, "access_token").to_owned();
    let long_user = "u".repeat(256);
    let long_scope = "s".repeat(1025);
    let breaking = [
        "alice\r\nX-Mashery-Oauth-Client-Id: evil",
        "alice\nX-Evil: 1",
        "alice\rX-Evil: 1",
        "alice\r\n\r\nGET /smuggled HTTP/1.1",
        "a\0b",
        "a\tb",
        "a\u{7f}b",
        "a\u{1b}[31mb",
        "a\u{b}b",
    ];
    for value in breaking.iter().copied().chain([long_user.as_str()]) {
        let what = format!("{value:?}");
        // The 256-byte value is too long for a user context only (scopes may have 1,024).
        let as_scope = value.len() <= 255;
        let refused = |e: Value| assert_eq!(oauth_error(&e), "invalid_request", "{what}: {e}");
        // createAccessToken: user_context of a password grant, scope of password and
        // client_credentials grants.
        refused(
            node.call(
                "oauth2.createAccessToken",
                json!([SERVICE, web(), {"grant_type": "password", "scope": "read"}, null, value]),
            )
            .await
            .unwrap_err(),
        );
        if as_scope {
            refused(
                node.call(
                    "oauth2.createAccessToken",
                    json!([SERVICE, web(), {"grant_type": "password", "scope": value}, null, "u"]),
                )
                .await
                .unwrap_err(),
            );
            refused(
                node.call(
                    "oauth2.createAccessToken",
                    json!([SERVICE, web(), {"grant_type": "client_credentials", "scope": value}]),
                )
                .await
                .unwrap_err(),
            );
        }
        // createAuthorizationCode: user context and scope.
        for (scope, user) in [("read", value), (value, "u")] {
            if scope == value && !as_scope {
                continue;
            }
            refused(
                node.call(
                    "oauth2.createAuthorizationCode",
                    json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT},
                           scope, user]),
                )
                .await
                .unwrap_err(),
            );
        }
        // updateAccessToken: scope and user context of a live token.
        for (scope, user) in [
            (Value::from(value), Value::Null),
            (Value::Null, Value::from(value)),
        ] {
            if !scope.is_null() && !as_scope {
                continue;
            }
            let e = node
                .call(
                    "oauth2.updateAccessToken",
                    json!([SERVICE, web(), live, scope, null, user]),
                )
                .await
                .unwrap_err();
            assert_eq!(e["code"], -2001, "{what}: {e}");
        }
        // /oauth2/token: the scope of a client_credentials grant, form-encoded.
        if as_scope {
            node.token(&[("grant_type", "client_credentials"), ("scope", value)])
                .await
                .assert_oauth_error(400, "invalid_request", &what);
        }
    }
    refused_long_scope(&node, &long_scope).await;

    // The live token was not changed by the refused updates, and what reaches the upstream
    // is one value of each identity header, none of the attempted ones.
    assert_eq!(node.through(&live).await, 200);
    let seen = node.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].one(USER), "alice");
    assert_eq!(seen[0].one(SCOPE), "read");
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
    assert_eq!(seen[0].identity_headers(), [CLIENT_ID, SCOPE, USER]);
    assert!(seen[0].headers.get("x-evil").is_none());
    // Nothing was issued for the refused user contexts.
    let apps = node
        .ok(
            "oauth2.fetchUserApplications",
            json!([SERVICE, "alice\r\nX-Mashery-Oauth-Client-Id: evil", "all"]),
        )
        .await;
    assert_eq!(apps, json!([]), "{apps}");
}

async fn refused_long_scope(node: &Node, scope: &str) {
    let e = node
        .call(
            "oauth2.createAccessToken",
            json!([SERVICE, web(), {"grant_type": "client_credentials", "scope": scope}]),
        )
        .await
        .unwrap_err();
    assert_eq!(oauth_error(&e), "invalid_request", "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn header_safe_but_unusual_values_reach_the_upstream_as_exactly_one_header() {
    let node = Node::start("", "").await;
    // Bytes a header value may carry (visible ASCII, space, obs-text: here UTF-8), including
    // some that look like separators or line breaks elsewhere (NEL, LS, NBSP, zero width).
    let values = [
        "ålice",
        "zero\u{200b}width",
        "nbsp\u{a0}here",
        "next\u{85}line",
        "line\u{2028}separator",
        "emoji 😀",
        "quote\"semi;comma,colon: X-Evil: 1",
        "back\\slash",
    ];
    for value in values {
        let issued = node
            .ok(
                "oauth2.createAccessToken",
                json!([SERVICE, web(), {"grant_type": "password", "scope": format!("read {value}")},
                       null, value]),
            )
            .await;
        let token = str_of(&issued, "access_token");
        assert_eq!(node.through(token).await, 200, "{value:?}");
        let seen = node.upstream.take();
        assert_eq!(seen.len(), 1);
        let one = |name: &str| {
            let all: Vec<_> = seen[0].headers.get_all(name).iter().collect();
            assert_eq!(all.len(), 1, "{value:?}: {name}: {:?}", seen[0].headers);
            all[0].as_bytes().to_vec()
        };
        assert_eq!(one(USER), value.as_bytes(), "{value:?}");
        assert_eq!(one(SCOPE), format!("read {value}").as_bytes(), "{value:?}");
        assert_eq!(one(CLIENT_ID), WEB_CLIENT.as_bytes());
        assert_eq!(
            seen[0].identity_headers(),
            [CLIENT_ID, SCOPE, USER],
            "{value:?}"
        );
        assert!(seen[0].headers.get("x-evil").is_none(), "{value:?}");
        // The stored value is the value given.
        let fetched = node
            .ok("oauth2.fetchAccessToken", json!([SERVICE, token]))
            .await;
        assert_eq!(fetched["user_context"], value);
    }
    // An update to such a value is seen at once through the gateway (the cache is evicted).
    let issued = node.password(SERVICE, "before", "read").await;
    let token = str_of(&issued, "access_token");
    assert_eq!(node.through(token).await, 200);
    node.ok(
        "oauth2.updateAccessToken",
        json!([SERVICE, web(), token, null, null, "after\u{200b}"]),
    )
    .await;
    assert_eq!(node.through(token).await, 200);
    let seen = node.upstream.take();
    assert_eq!(seen[1].headers[USER].as_bytes(), "after\u{200b}".as_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn spoofed_identity_headers_never_pass_on_any_path() {
    let node = Node::start("", "allow_query_tokens = true").await;
    let issued = node.password(SERVICE, "alice", "read").await;
    let token = str_of(&issued, "access_token").to_owned();
    let spoofs = [
        "X-Mashery-Oauth-Client-Id: evil",
        "x-mashery-oauth-client-id: evil2",
        "X-MASHERY-OAUTH-SCOPE: admin",
        "x-Mashery-oAuth-User-Context: root",
        "X-Mashery-Oauth-Access-Token: forged",
    ];
    let injected_only = |seen: &common::upstream::Received, case: &str| {
        assert_eq!(seen.one(CLIENT_ID), WEB_CLIENT, "{case}");
        assert_eq!(seen.one(SCOPE), "read", "{case}");
        assert_eq!(seen.one(USER), "alice", "{case}");
        assert_eq!(seen.identity_headers(), [CLIENT_ID, SCOPE, USER], "{case}");
    };

    // A query token (the service allows them).
    let res = node
        .raw_get(&format!("/reviews?access_token={token}&page=2"), &spoofs)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let seen = node.upstream.take();
    injected_only(&seen[0], "query token");

    // Paths that forward nothing: no token, a bad one, a scope the token lacks, the
    // gateway's own routes, the RFC endpoints, an alias spelling.
    let auth = format!("Authorization: Bearer {token}");
    for (path, extra, status) in [
        ("/reviews", None, 401),
        (
            "/reviews",
            Some("Authorization: Bearer unknownunknownunknown0"),
            401,
        ),
        ("/reviews", Some("Authorization: Bearer a b"), 400),
        ("/admin/users", Some(auth.as_str()), 403),
        ("/healthz", Some(auth.as_str()), 200),
        ("/oauth2/token", Some(auth.as_str()), 405),
        ("/oauth2/introspect", Some(auth.as_str()), 405),
        ("/oauth2/revoke", Some(auth.as_str()), 405),
        (
            "/.well-known/oauth-authorization-server",
            Some(auth.as_str()),
            200,
        ),
        ("/reviews", Some("X_Mashery_Oauth_Client_Id: evil"), 400),
    ] {
        let mut headers = spoofs.to_vec();
        headers.extend(extra);
        let res = node.raw_get(path, &headers).await;
        assert_eq!(res.status, status, "{path} {extra:?}: {}", res.text());
    }
    assert!(node.upstream.take().is_empty(), "forwarded nothing");

    // HTTP/2 (prior knowledge): several copies, each refused.
    let mut sender = common::raw::h2(node.public()).await;
    let mut request = Request::get(format!("http://{}/h2", node.public()))
        .header("authorization", format!("Bearer {token}"));
    for spoof in spoofs {
        let (name, value) = spoof.split_once(": ").unwrap();
        request = request.header(name.to_ascii_lowercase(), value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    injected_only(&node.upstream.take()[0], "h2");

    // Trailer fields after a chunked body, named like the identity headers: they never arrive
    // as identity headers (nor as trailers).
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: g\r\nConnection: close\r\n{auth}\r\n\
         Transfer-Encoding: chunked\r\nTrailer: X-Mashery-Oauth-Client-Id\r\n\r\n\
         5\r\nhello\r\n0\r\nX-Mashery-Oauth-Client-Id: evil\r\nX-Mashery-Oauth-Scope: admin\r\n\r\n"
    );
    let res = Answer::from(common::raw::send_raw(node.public(), request.as_bytes()).await);
    let seen = node.upstream.take();
    assert_eq!(res.status, 200, "{}", res.text());
    injected_only(&seen[0], "trailers");
    // (Today trailers are not forwarded at all; should they ever be, never these.)
    if let Some(trailers) = &seen[0].trailers {
        assert!(
            trailers.keys().all(|name| !name.as_str().contains("oauth")),
            "a spoofed trailer reached the upstream: {trailers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn query_tokens_are_not_forwarded_to_the_upstream() {
    let node = Node::start("", "allow_query_tokens = true").await;
    let issued = node.password(SERVICE, "alice", "read").await;
    let token = str_of(&issued, "access_token").to_owned();
    for (path, forwarded) in [
        (format!("/reviews?access_token={token}"), "/reviews"),
        (
            format!("/reviews?page=2&access_token={token}&sort=new"),
            "/reviews?page=2&sort=new",
        ),
        (
            format!("/reviews?access_token={token}&x=%2B%20y"),
            "/reviews?x=%2B%20y",
        ),
    ] {
        let res = node.raw_get(&path, &[]).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        let seen = node.upstream.take();
        assert_eq!(seen[0].uri, forwarded, "the token stays at the gateway");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_values_are_parsed_strictly_over_the_wire() {
    let node = Node::start("", "").await;
    let issued = node.password(SERVICE, "alice", "read").await;
    let token = str_of(&issued, "access_token").to_owned();
    let unknown = node
        .raw_get("/r", &["Authorization: Bearer unknownunknownunknown0"])
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.header("www-authenticate"), Some(INVALID_TOKEN));

    // The scheme is case-insensitive; one or more spaces separate it from the token.
    let mut passed = 0;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR", "Bearer "] {
        let res = node
            .raw_get("/r", &[&format!("Authorization: {scheme} {token}")])
            .await;
        assert_eq!(res.status, 200, "{scheme:?}: {}", res.text());
        passed += 1;
    }

    // No token at all: a bare challenge.
    for value in [
        "Authorization:",
        "Authorization: Basic b3BzOmNoYW5nZS1tZQ==",
        "Authorization: Token abc",
    ] {
        let res = node.raw_get("/r", &[value]).await;
        assert_eq!(res.status, 401, "{value:?}");
        assert_eq!(res.header("www-authenticate"), Some(NO_TOKEN), "{value:?}");
    }

    // Malformed: 400 invalid_request.
    let two_headers = [
        format!("Authorization: Bearer {token}"),
        format!("Authorization: Bearer {token}"),
    ];
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("empty token", vec!["Authorization: Bearer".into()]),
        ("only spaces", vec!["Authorization: Bearer    ".into()]),
        (
            "two tokens",
            vec![format!("Authorization: Bearer {token} {token}")],
        ),
        (
            "a list",
            vec![format!("Authorization: Bearer {token}, Bearer {token}")],
        ),
        ("a comma", vec![format!("Authorization: Bearer {token},")]),
        ("two headers", two_headers.to_vec()),
        ("non-ASCII", vec!["Authorization: Bearer tök".into()]),
        (
            "a quoted token",
            vec![format!("Authorization: Bearer \"{token}\"")],
        ),
        (
            "padding inside",
            vec![format!("Authorization: Bearer ab=cd")],
        ),
        (
            "8 KiB of bad characters",
            vec![format!("Authorization: Bearer {}", "!".repeat(8192))],
        ),
    ];
    for (case, headers) in &cases {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let res = node.raw_get("/r", &headers).await;
        assert_eq!(res.status, 400, "{case}");
        assert_eq!(
            res.header("www-authenticate"),
            Some(INVALID_REQUEST),
            "{case}"
        );
    }

    // Well-formed but not a token: the very answer of an unknown token, at any length a header
    // block allows (8 KiB here), with padding, or with the real token's case changed.
    for (case, value) in [
        ("8 KiB", "t".repeat(8192)),
        (
            "8 KiB of every b64token character",
            "Az09-._~+/".repeat(819) + "==",
        ),
        ("padded", format!("{token}=")),
        ("upper case", token.to_ascii_uppercase()),
        ("a prefix", token[..token.len() - 1].to_owned()),
    ] {
        let res = node
            .raw_get("/r", &[&format!("Authorization: Bearer {value}")])
            .await;
        assert_eq!(res, unknown, "{case}");
    }

    let seen = node.upstream.take();
    assert_eq!(
        seen.len(),
        passed,
        "only the accepted requests were forwarded"
    );
    assert!(seen
        .iter()
        .all(|s| s.headers.get("authorization").is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_services_tokens_are_unknown_on_every_api() {
    let node = Node::start("", "").await;
    let other = node.password(OTHER_SERVICE, "alice", "read").await;
    let (access, refresh) = (
        str_of(&other, "access_token"),
        str_of(&other, "refresh_token"),
    );
    let unknown = "unknownunknownunknownunknown0000";

    // The gateway: the unknown token's answer.
    let as_unknown = node
        .raw_get("/r", &[&format!("Authorization: Bearer {unknown}")])
        .await;
    let as_other = node
        .raw_get("/r", &[&format!("Authorization: Bearer {access}")])
        .await;
    assert_eq!(as_other, as_unknown);
    // JSON-RPC fetch, single and listed: the unknown token's error, an empty list.
    let e_other = node
        .call("oauth2.fetchAccessToken", json!([SERVICE, access]))
        .await
        .unwrap_err();
    let e_unknown = node
        .call("oauth2.fetchAccessToken", json!([SERVICE, unknown]))
        .await
        .unwrap_err();
    assert_eq!(e_other, e_unknown);
    let list = node
        .ok(
            "oauth2.fetchAccessToken",
            json!([SERVICE, [access, unknown]]),
        )
        .await;
    assert_eq!(list, json!([]));
    // JSON-RPC revoke and update through the wrong service change nothing.
    let _ = node
        .call("oauth2.revokeAccessToken", json!([SERVICE, web(), access]))
        .await;
    let e = node
        .call(
            "oauth2.updateAccessToken",
            json!([SERVICE, web(), access, "admin"]),
        )
        .await
        .unwrap_err();
    assert_eq!(e["code"], -2001, "{e}");
    // Introspection: inactive, byte for byte.
    assert_eq!(
        node.introspect(access, None).await,
        node.introspect(unknown, None).await
    );
    assert_eq!(
        node.introspect(refresh, Some("refresh_token")).await,
        node.introspect(unknown, Some("refresh_token")).await
    );
    // RFC 7009 revocation: 200, nothing revoked.
    let res = node
        .form("/oauth2/revoke", Some(&web_basic()), &[("token", access)])
        .await;
    assert_eq!(res.status, 200);
    // The refresh token and a code of the other service, at this service's token endpoint.
    node.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await
        .assert_oauth_error(400, "invalid_grant", "other service's refresh token");
    let code = node
        .ok(
            "oauth2.createAuthorizationCode",
            json!([OTHER_SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT}, "read", "u"]),
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    node.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
    ])
    .await
    .assert_oauth_error(400, "invalid_grant", "other service's code");

    // After all that, the token is untouched on its own service: live, its scope unchanged,
    // its refresh token unused.
    let fetched = node
        .ok("oauth2.fetchAccessToken", json!([OTHER_SERVICE, access]))
        .await;
    assert_eq!(fetched["scope"], "read");
    let refreshed = node
        .call(
            "oauth2.createAccessToken",
            json!([OTHER_SERVICE, web(), {"grant_type": "refresh_token", "refresh_token": refresh}]),
        )
        .await;
    assert!(refreshed.is_ok(), "{refreshed:?}");
    assert!(node.upstream.take().is_empty());
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC, introspection, caching headers.

#[tokio::test(flavor = "multi_thread")]
async fn jsonrpc_abuse_at_the_default_limits() {
    let node = Node::start("", "").await;
    let issued = node.password(SERVICE, "alice", "read").await;
    let token = str_of(&issued, "access_token").to_owned();
    let within = |started: Instant, what: &str| {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} took {:?}",
            started.elapsed()
        );
    };

    // A 10,000-call batch, its first call a revocation of a live token: one -32600, nothing
    // run. (Small calls: 10,000 revocations would pass the 1 MiB body limit, below.)
    let revoke = json!({"jsonrpc": "2.0", "method": "oauth2.revokeAccessToken",
                        "params": [SERVICE, web(), token], "id": 1});
    let mut calls = vec![json!({"method": "x", "id": 1}); 10_000];
    calls[0] = revoke.clone();
    let started = Instant::now();
    let answer = node.rpc_body(Value::Array(calls).to_string()).await;
    within(started, "the 10,000-call batch");
    assert_eq!(answer.status, 200);
    let reply = answer.json();
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert!(reply.get("result").is_none());
    // 10,000 revocations: over the body limit, 413, nothing run either.
    node.assert_too_large(Value::Array(vec![revoke; 10_000]).to_string())
        .await;
    assert_eq!(
        node.through(&token).await,
        200,
        "no call of the batches ran"
    );
    // The limit itself (100 calls) is answered call by call.
    let fetch = json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken",
                       "params": [SERVICE, token], "id": 1});
    let replies = node
        .rpc_body(Value::Array(vec![fetch; 100]).to_string())
        .await
        .json();
    assert_eq!(replies.as_array().map(Vec::len), Some(100));
    assert!(
        replies
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"]["user_context"] == "alice"),
        "{replies}"
    );

    // A 10,000-token list: -32602, nothing looked up; the limit itself (1,000) is answered.
    let junk: Vec<String> = (0..10_000).map(|i| format!("junk{i:028}")).collect();
    let started = Instant::now();
    let e = node
        .call("oauth2.fetchAccessToken", json!([SERVICE, junk]))
        .await
        .unwrap_err();
    within(started, "the 10,000-token list");
    assert_eq!(e["code"], -32602, "{e}");
    let mut thousand = junk[..999].to_vec();
    thousand.push(token.clone());
    let started = Instant::now();
    let found = node
        .ok("oauth2.fetchAccessToken", json!([SERVICE, thousand]))
        .await;
    within(started, "the 1,000-token list");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");

    // Deep nesting anywhere in the body: a parse error, never a stack overflow.
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","method":"oauth2.fetchAccessToken","params":["{SERVICE}",{}{}],"id":1}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_in_batch = format!(
        r#"[{{"jsonrpc":"2.0","method":"oauth2.nope","id":1}},{{"jsonrpc":"2.0","method":"x","params":{}{},"id":2}}]"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    for (case, body) in [
        ("array", deep_array),
        ("object", deep_object),
        ("params", deep_params),
        ("batch", deep_in_batch),
    ] {
        let answer = node.rpc_body(body).await;
        assert_eq!(answer.status, 200, "{case}");
        assert_eq!(
            answer.json(),
            json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}),
            "{case}"
        );
    }
    // A body over the limit (1 MiB): 413.
    node.assert_too_large(vec![b' '; 1024 * 1024 + 1]).await;

    // Wrong types and unknown methods.
    for (case, body, code) in [
        (
            "method a number",
            json!({"jsonrpc": "2.0", "method": 7, "id": 1}),
            -32600,
        ),
        (
            "id an object",
            json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken", "id": {}}),
            -32600,
        ),
        (
            "version 3.0",
            json!({"jsonrpc": "3.0", "method": "oauth2.fetchAccessToken", "id": 1}),
            -32600,
        ),
        ("a bare string", json!("oauth2.fetchAccessToken"), -32600),
        (
            "service_key a number",
            json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken", "params": [7, token], "id": 1}),
            -32602,
        ),
        (
            "token an object",
            json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken", "params": [SERVICE, {"t": token}], "id": 1}),
            -32602,
        ),
        (
            "client a string",
            json!({"jsonrpc": "2.0", "method": "oauth2.revokeAccessToken", "params": [SERVICE, WEB_CLIENT, token], "id": 1}),
            -32602,
        ),
        (
            "token_data a number",
            json!({"jsonrpc": "2.0", "method": "oauth2.createAccessToken", "params": [SERVICE, web(), 7], "id": 1}),
            -32602,
        ),
        (
            "expires_in negative",
            json!({"jsonrpc": "2.0", "method": "oauth2.updateAccessToken", "params": [SERVICE, web(), token, null, -1], "id": 1}),
            -32602,
        ),
        (
            "too many params",
            json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken", "params": [SERVICE, token, 1, 2, 3, 4, 5, 6, 7], "id": 1}),
            -32602,
        ),
        (
            "unknown method",
            json!({"jsonrpc": "2.0", "method": "oauth2.nope", "id": 1}),
            -32601,
        ),
        (
            "empty method",
            json!({"jsonrpc": "2.0", "method": "", "id": 1}),
            -32601,
        ),
        (
            "method in other case",
            json!({"jsonrpc": "2.0", "method": "OAUTH2.FETCHACCESSTOKEN", "params": [SERVICE, token], "id": 1}),
            -32601,
        ),
        (
            "method with a space",
            json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken ", "params": [SERVICE, token], "id": 1}),
            -32601,
        ),
        (
            "method with a NUL",
            json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken\u{0}", "params": [SERVICE, token], "id": 1}),
            -32601,
        ),
        (
            "prototype",
            json!({"jsonrpc": "2.0", "method": "__proto__", "id": 1}),
            -32601,
        ),
    ] {
        let reply = node.rpc_body(body.to_string()).await;
        assert_eq!(reply.status, 200, "{case}");
        assert_eq!(
            reply.json()["error"]["code"],
            code,
            "{case}: {}",
            reply.text()
        );
    }
    assert_eq!(node.through(&token).await, 200, "nothing changed the token");

    // `api_key` + `sig`: only the current window (±300 s) of the configured key and secret.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = |key: &str, secret: &str, at: i64| tokengate::rpc::signature(key, secret, at);
    let body = json!({"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken",
                      "params": [SERVICE, token], "id": 1})
    .to_string();
    for (case, query, basic, status) in [
        (
            "current",
            format!(
                "api_key={ADMIN_KEY}&sig={}",
                sig(ADMIN_KEY, ADMIN_SECRET, now)
            ),
            None,
            200,
        ),
        (
            "upper-case hex",
            format!(
                "apikey={ADMIN_KEY}&sig={}",
                sig(ADMIN_KEY, ADMIN_SECRET, now).to_uppercase()
            ),
            None,
            200,
        ),
        (
            "stale",
            format!(
                "api_key={ADMIN_KEY}&sig={}",
                sig(ADMIN_KEY, ADMIN_SECRET, now - 400)
            ),
            None,
            403,
        ),
        (
            "from the future",
            format!(
                "api_key={ADMIN_KEY}&sig={}",
                sig(ADMIN_KEY, ADMIN_SECRET, now + 400)
            ),
            None,
            403,
        ),
        (
            "wrong secret",
            format!("api_key={ADMIN_KEY}&sig={}", sig(ADMIN_KEY, "guess", now)),
            None,
            403,
        ),
        (
            "another key's name",
            format!("api_key=nobody&sig={}", sig("nobody", ADMIN_SECRET, now)),
            None,
            403,
        ),
        (
            "signed for another key",
            format!(
                "api_key={ADMIN_KEY}&sig={}",
                sig("nobody", ADMIN_SECRET, now)
            ),
            None,
            403,
        ),
        ("no sig", format!("api_key={ADMIN_KEY}"), None, 403),
        (
            "no key",
            format!("sig={}", sig(ADMIN_KEY, ADMIN_SECRET, now)),
            None,
            403,
        ),
        ("empty sig", format!("api_key={ADMIN_KEY}&sig="), None, 403),
        (
            "a truncated sig",
            format!(
                "api_key={ADMIN_KEY}&sig={}",
                &sig(ADMIN_KEY, ADMIN_SECRET, now)[..31]
            ),
            None,
            403,
        ),
        (
            "wrong Basic beside a good sig",
            format!(
                "api_key={ADMIN_KEY}&sig={}",
                sig(ADMIN_KEY, ADMIN_SECRET, now)
            ),
            Some("guess"),
            403,
        ),
    ] {
        let mut req = node
            .http
            .post(format!("http://{}/v2/json-rpc?{query}", node.gateway.admin))
            .body(body.clone());
        if let Some(secret) = basic {
            req = req.basic_auth(ADMIN_KEY, Some(secret));
        }
        let answer = Answer::of(req.send().await.unwrap()).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.text());
        if status != 200 {
            assert!(answer.body.is_empty(), "{case}: no detail");
        }
    }
    // Still serving.
    assert_eq!(node.through(&token).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_answers_every_inactive_token_byte_for_byte_alike() {
    let node = Node::start("", "").await;
    let unknown = node
        .introspect("unknownunknownunknownunknown0000", None)
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.text(), INACTIVE);
    unknown.assert_no_store("inactive");
    let as_admin = |token: String| {
        let node = &node;
        async move {
            node.form(
                "/oauth2/introspect",
                Some(&basic(ADMIN_KEY, ADMIN_SECRET)),
                &[("token", &token)],
            )
            .await
        }
    };
    let unknown_as_admin = as_admin("unknownunknownunknownunknown0000".into()).await;
    assert_eq!(unknown_as_admin.text(), INACTIVE);

    let mut inactive: Vec<(&str, String)> = vec![
        ("unknown, 40 characters", "u".repeat(40)),
        ("malformed: a space", "a b".into()),
        ("malformed: percent signs", "%%%".into()),
        ("malformed: non-ASCII", "tökén".into()),
        ("malformed: 3 KiB", "x".repeat(3072)),
        ("malformed: a Bearer value", "Bearer abc".into()),
        ("malformed: one character", "=".into()),
    ];
    // Revoked through JSON-RPC, with its refresh token.
    let t = node.password(SERVICE, "u1", "read").await;
    node.ok(
        "oauth2.revokeAccessToken",
        json!([SERVICE, web(), str_of(&t, "access_token")]),
    )
    .await;
    inactive.push(("revoked (JSON-RPC)", str_of(&t, "access_token").into()));
    inactive.push((
        "the refresh token of a revoked token",
        str_of(&t, "refresh_token").into(),
    ));
    // Revoked through the TIBCO route and through RFC 7009.
    let t = node.password(SERVICE, "u2", "read").await;
    let res = node
        .http
        .delete(format!(
            "http://{}/oauth2/access_token/{}",
            node.gateway.admin,
            str_of(&t, "access_token")
        ))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    inactive.push(("revoked (TIBCO)", str_of(&t, "access_token").into()));
    let t = node.password(SERVICE, "u3", "read").await;
    let res = node
        .form(
            "/oauth2/revoke",
            Some(&web_basic()),
            &[("token", str_of(&t, "refresh_token"))],
        )
        .await;
    assert_eq!(res.status, 200);
    inactive.push((
        "revoked by its refresh token (RFC 7009)",
        str_of(&t, "access_token").into(),
    ));
    inactive.push((
        "a refresh token revoked (RFC 7009)",
        str_of(&t, "refresh_token").into(),
    ));
    // Expired: its lifetime cut to one second.
    let t = node.password(SERVICE, "u4", "read").await;
    let expiring = str_of(&t, "access_token").to_owned();
    node.ok(
        "oauth2.updateAccessToken",
        json!([SERVICE, web(), expiring, null, 1]),
    )
    .await;
    // Another service's tokens.
    let t = node.password(OTHER_SERVICE, "u5", "read").await;
    inactive.push(("another service's token", str_of(&t, "access_token").into()));
    inactive.push((
        "another service's refresh token",
        str_of(&t, "refresh_token").into(),
    ));
    // A rotated refresh token, then the family revoked by its reuse.
    let t = node.password(SERVICE, "u6", "read").await;
    let r1 = str_of(&t, "refresh_token").to_owned();
    let rotated = node
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)])
        .await
        .json();
    inactive.push(("a rotated refresh token", r1.clone()));
    node.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)])
        .await
        .assert_oauth_error(400, "invalid_grant", "reuse");
    inactive.push((
        "a token of a family revoked by reuse",
        str_of(&t, "access_token").into(),
    ));
    inactive.push((
        "the family's new token",
        str_of(&rotated, "access_token").into(),
    ));
    inactive.push((
        "the family's new refresh token",
        str_of(&rotated, "refresh_token").into(),
    ));
    // Codes are not tokens: unused, and after a replay revoked what it issued.
    let code = node.code("read", None).await;
    inactive.push(("an unused code", code));
    let code = node.code("read", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let redeemed = node.token(&form).await.json();
    node.token(&form)
        .await
        .assert_oauth_error(400, "invalid_grant", "code replay");
    inactive.push(("a used code", code.clone()));
    inactive.push((
        "a token of a replayed code",
        str_of(&redeemed, "access_token").into(),
    ));

    // A live token is not inactive (the comparison can fail).
    let live = node.password(SERVICE, "u7", "read").await;
    assert_ne!(
        node.introspect(str_of(&live, "access_token"), None).await,
        unknown
    );
    assert_ne!(
        node.introspect(str_of(&live, "refresh_token"), None).await,
        unknown
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    inactive.push(("expired", expiring));
    for (case, token) in &inactive {
        for hint in [
            None,
            Some("access_token"),
            Some("refresh_token"),
            Some("bogus"),
        ] {
            let answer = node.introspect(token, hint).await;
            assert_eq!(answer, unknown, "{case}, hint {hint:?}: {}", answer.text());
        }
        assert_eq!(
            as_admin(token.clone()).await,
            unknown_as_admin,
            "{case}, as the admin"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carrying_token_data_is_no_store() {
    let node = Node::start("", "").await;
    let mut answers: Vec<(String, Answer)> = Vec::new();

    // The token endpoint: every grant, and errors.
    let code = node.code("read", None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let by_code = node.token(&form).await;
    let refresh = str_of(&by_code.json(), "refresh_token").to_owned();
    answers.push(("/token code".into(), by_code));
    answers.push(("/token code replayed".into(), node.token(&form).await));
    answers.push((
        "/token refresh".into(),
        node.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await,
    ));
    answers.push((
        "/token client_credentials".into(),
        node.token(&[("grant_type", "client_credentials")]).await,
    ));
    answers.push((
        "/token invalid_client".into(),
        node.form(
            "/oauth2/token",
            Some(&basic(WEB_CLIENT, "x")),
            &[("grant_type", "client_credentials")],
        )
        .await,
    ));
    answers.push((
        "/token unsupported grant".into(),
        node.token(&[("grant_type", "password")]).await,
    ));
    answers.push((
        "/token GET".into(),
        Answer::of(
            node.http
                .get(format!("http://{}/oauth2/token", node.public()))
                .send()
                .await
                .unwrap(),
        )
        .await,
    ));
    answers.push((
        "/token too large".into(),
        node.form_body(
            "/oauth2/token",
            Some(&web_basic()),
            // Just over the form limit (64 KiB): small enough to be written whole before the
            // answer, where a much larger body can meet a closed socket (a broken pipe).
            format!(
                "grant_type=client_credentials&scope={}",
                "x".repeat(65 * 1024)
            ),
        )
        .await,
    ));

    // Introspection: active access and refresh tokens, inactive, unauthenticated.
    let live = node.password(SERVICE, "u1", "read").await;
    let token = str_of(&live, "access_token").to_owned();
    answers.push((
        "introspect active".into(),
        node.introspect(&token, None).await,
    ));
    answers.push((
        "introspect refresh".into(),
        node.introspect(str_of(&live, "refresh_token"), None).await,
    ));
    answers.push((
        "introspect inactive".into(),
        node.introspect("nope-nope-nope", None).await,
    ));
    answers.push((
        "introspect unauthenticated".into(),
        node.form("/oauth2/introspect", None, &[("token", &token)])
            .await,
    ));

    // JSON-RPC answers that carry tokens or codes, and its errors.
    let rpc = |method: &str, params: Value| {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let node = &node;
        async move { node.rpc_body(body.to_string()).await }
    };
    answers.push((
        "createAuthorizationCode".into(),
        rpc(
            "oauth2.createAuthorizationCode",
            json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT}, "read", "u"]),
        )
        .await,
    ));
    answers.push((
        "createAccessToken".into(),
        rpc(
            "oauth2.createAccessToken",
            json!([SERVICE, web(), {"grant_type": "password"}, null, "u2"]),
        )
        .await,
    ));
    answers.push((
        "fetchAccessToken".into(),
        rpc("oauth2.fetchAccessToken", json!([SERVICE, token])).await,
    ));
    answers.push((
        "fetchAccessToken list".into(),
        rpc("oauth2.fetchAccessToken", json!([SERVICE, [token]])).await,
    ));
    answers.push((
        "fetchAccessToken unknown".into(),
        rpc("oauth2.fetchAccessToken", json!([SERVICE, "nope"])).await,
    ));
    answers.push((
        "fetchUserApplications".into(),
        rpc("oauth2.fetchUserApplications", json!([SERVICE, "u1"])).await,
    ));
    answers.push((
        "updateAccessToken".into(),
        rpc(
            "oauth2.updateAccessToken",
            json!([SERVICE, web(), token, "read"]),
        )
        .await,
    ));
    answers.push((
        "a batch".into(),
        node.rpc_body(
            json!([{"jsonrpc": "2.0", "method": "oauth2.fetchAccessToken", "params": [SERVICE, token], "id": 1}])
                .to_string(),
        )
        .await,
    ));
    answers.push(("a parse error".into(), node.rpc_body("{").await));

    // The TIBCO routes.
    let tibco = |method: reqwest::Method, path: String| {
        let node = &node;
        async move {
            Answer::of(
                node.http
                    .request(method, format!("http://{}{path}", node.gateway.admin))
                    .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    answers.push((
        "TIBCO GET".into(),
        tibco(
            reqwest::Method::GET,
            format!("/oauth2/access_token/{token}"),
        )
        .await,
    ));
    answers.push((
        "TIBCO owners".into(),
        tibco(reqwest::Method::GET, "/oauth2/access_token/owners".into()).await,
    ));
    answers.push((
        "TIBCO owner".into(),
        tibco(
            reqwest::Method::GET,
            "/oauth2/access_token/owners/u1".into(),
        )
        .await,
    ));
    answers.push((
        "TIBCO unknown".into(),
        tibco(reqwest::Method::GET, "/oauth2/access_token/nope".into()).await,
    ));
    answers.push((
        "TIBCO DELETE".into(),
        tibco(
            reqwest::Method::DELETE,
            format!("/oauth2/access_token/{token}"),
        )
        .await,
    ));

    for (what, answer) in &answers {
        answer.assert_no_store(what);
        if what.starts_with("/token") || what.starts_with("introspect") {
            assert_eq!(answer.header("pragma"), Some("no-cache"), "{what}");
        }
    }
    // The answers above really carry what they should.
    let text = |what: &str| answers.iter().find(|(w, _)| w == what).unwrap().1.text();
    assert!(text("/token client_credentials").contains("access_token"));
    assert!(text("createAuthorizationCode").contains("\"code\""));
    assert!(text("TIBCO GET").contains(&token));
}
