//! End to end: two `tokengate serve` processes on one PostgreSQL database (one schema), over real
//! sockets. A token issued on node A works through node B's gateway; once both have it cached, a
//! revocation on A (RFC 7009 or JSON-RPC) is refused by B within 1 s, also after B's
//! notification connection was killed; 20 concurrent redemptions of one code spread over both
//! nodes have exactly one success.
//!
//! Needs the test database of `tests/support/postgres.rs` (fails, naming it, when it does not answer).
#![cfg(all(unix, feature = "postgres", feature = "cli"))]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
#[path = "support/postgres.rs"]
mod pg;

use common::process::Gateway;

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");
const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
const CLIENT: &str = "tkr7f25gd6452zy8rjsf7bwd";
const CLIENT_SECRET: &str = "q13rupuifd-pg-secret";
const ADMIN_SECRET: &str = "admin-pg-secret";
const PEPPER: &str = "00112233445566778899aabbccddeeff";
const REDIRECT: &str = "https://client.example.com/cb";

/// The node configuration: the test's schema and channel in the store URL.
fn config(db: &pg::TestDb) -> String {
    let url = db.store_url();
    format!(
        r#"
[store]
url = "{url}"
pepper = "{PEPPER}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "ops", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"

[[services]]
key = "{SERVICE}"
name = "Reviews API"
grants = ["authorization_code", "password"]

[[clients]]
id = 12346
client_id = "{CLIENT}"
secret = "{CLIENT_SECRET}"
name = "Reviews Web"
redirect_uris = ["{REDIRECT}"]
services = ["{SERVICE}"]
"#
    )
}

/// One JSON-RPC 2.0 call; the `result`, or the `error` as `Err`.
async fn call(
    http: &reqwest::Client,
    node: &Gateway,
    method: &str,
    params: Value,
) -> Result<Value, Value> {
    call_at(http, node.admin, method, params).await
}

async fn call_at(
    http: &reqwest::Client,
    addr: SocketAddr,
    method: &str,
    params: Value,
) -> Result<Value, Value> {
    let body: Value = http
        .post(format!("http://{addr}/v2/json-rpc"))
        .basic_auth("ops", Some(ADMIN_SECRET))
        .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    match body.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(body["error"].clone()),
    }
}

fn client() -> Value {
    json!({"client_id": CLIENT, "client_secret": CLIENT_SECRET})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_tokens_revocations_and_codes() {
    let db = pg::TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let a = Gateway::start(dir.path(), &config(&db));
    let b = Gateway::start(dir.path(), &config(&db));
    let http = reqwest::Client::new();

    // A token issued on A works on B; revoked on A, it is rejected by B at once.
    let issued = call(
        &http,
        &a,
        "oauth2.createAccessToken",
        json!([SERVICE, client(), {"grant_type": "password", "scope": "read"}, null, "user1"]),
    )
    .await
    .unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let fetched = call(
        &http,
        &b,
        "oauth2.fetchAccessToken",
        json!([SERVICE, token]),
    )
    .await
    .unwrap();
    assert_eq!(fetched["user_context"], "user1", "{fetched}");
    assert_eq!(
        call(
            &http,
            &a,
            "oauth2.revokeAccessToken",
            json!([SERVICE, {"client_id": CLIENT}, token])
        )
        .await
        .unwrap(),
        true
    );
    let err = call(
        &http,
        &b,
        "oauth2.fetchAccessToken",
        json!([SERVICE, token]),
    )
    .await
    .unwrap_err();
    assert_eq!(err["code"], -2001, "{err}");

    // 20 concurrent redemptions of one code, alternating between the nodes: one success.
    let created = call(
        &http,
        &a,
        "oauth2.createAuthorizationCode",
        json!([SERVICE, {"client_id": CLIENT}, {"redirect_uri": REDIRECT}, "read", "user1"]),
    )
    .await
    .unwrap();
    let code = created["code"].as_str().unwrap().to_owned();
    let nodes = [a.admin, b.admin];
    let redemptions: Vec<_> = (0..20)
        .map(|i| {
            let (http, addr, code) = (http.clone(), nodes[i % 2], code.clone());
            tokio::spawn(async move {
                let grant = json!({"grant_type": "authorization_code", "code": code});
                let uri = json!({"redirect_uri": REDIRECT});
                call_at(
                    &http,
                    addr,
                    "oauth2.createAccessToken",
                    json!([SERVICE, client(), grant, uri, "user1"]),
                )
                .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for redemption in redemptions {
        outcomes.push(redemption.await.unwrap());
    }
    let successes = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(successes, 1, "{outcomes:?}");
    for failure in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(
            failure["code"], -2001,
            "an OAuth refusal, not a store error: {failure}"
        );
    }
}

#[test]
fn a_postgres_store_without_a_pepper_is_a_config_error() {
    let url = pg::url();
    let output = Command::new(BIN)
        .args(["service", "list", "--store", &url])
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOKENGATE_PEPPER"), "{stderr}");
}

/// A bearer request through a node's public listener (the built-in echo behind the layer).
async fn through(http: &reqwest::Client, node: &Gateway, token: &str) -> u16 {
    http.get(format!("http://{}/reviews", node.public.unwrap()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Issues a password token on `node` and has both nodes' gateways cache it.
async fn cached_everywhere(http: &reqwest::Client, a: &Gateway, b: &Gateway, user: &str) -> String {
    let issued = call(
        http,
        a,
        "oauth2.createAccessToken",
        json!([SERVICE, client(), {"grant_type": "password"}, null, user]),
    )
    .await
    .unwrap();
    let token = issued["access_token"].as_str().unwrap().to_owned();
    for node in [a, b] {
        assert_eq!(through(http, node, &token).await, 200);
    }
    token
}

/// How long until `node` refuses `token` (polling), failing past `bound`.
async fn refused_within(
    http: &reqwest::Client,
    node: &Gateway,
    token: &str,
    bound: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        if through(http, node, token).await == 401 {
            return started.elapsed();
        }
        assert!(started.elapsed() < bound, "still accepted after {bound:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_on_one_node_reach_the_other_nodes_gateway_cache() {
    let db = pg::TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let a = Gateway::start(dir.path(), &config(&db));
    let b = Gateway::start(dir.path(), &config(&db));
    let http = reqwest::Client::new();
    let bound = Duration::from_secs(1);

    // RFC 7009 on A's public listener.
    let token = cached_everywhere(&http, &a, &b, "u-rfc").await;
    let res = http
        .post(format!("http://{}/oauth2/revoke", a.public.unwrap()))
        .basic_auth(CLIENT, Some(CLIENT_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        through(&http, &a, &token).await,
        401,
        "evicted in-process at once"
    );
    let took = refused_within(&http, &b, &token, bound).await;
    eprintln!("RFC 7009 revoke on A refused by B after {took:?}");

    // JSON-RPC revokeAccessToken on A's admin listener.
    let token = cached_everywhere(&http, &a, &b, "u-rpc").await;
    let revoked = call(
        &http,
        &a,
        "oauth2.revokeAccessToken",
        json!([SERVICE, {"client_id": CLIENT}, token]),
    );
    assert_eq!(revoked.await.unwrap(), true);
    let took = refused_within(&http, &b, &token, bound).await;
    eprintln!("JSON-RPC revoke on A refused by B after {took:?}");

    // Kill the nodes' listening connections (a concurrent test's too, which only makes its
    // caches flush), then revoke on A: B flushes its cache when it reconnects, so the token is
    // refused even if the notification was missed.
    let token = cached_everywhere(&http, &a, &b, "u-kill").await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'tokengate-listener'",
    )
    .fetch_all(&mut db.connection().await)
    .await
    .unwrap();
    assert!(
        !killed.is_empty(),
        "the nodes' listening connections were found"
    );
    let revoked = call(
        &http,
        &a,
        "oauth2.revokeAccessToken",
        json!([SERVICE, {"client_id": CLIENT}, token]),
    );
    assert_eq!(revoked.await.unwrap(), true);
    refused_within(&http, &b, &token, Duration::from_secs(5)).await;

    // B's /metrics records the delays, the flush and (once its backoff has run) the reconnection.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http
            .get(format!("http://{}/metrics", b.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| -> f64 {
            let line = metrics
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} in {metrics}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(value("tokengate_revocation_delay_seconds_count ") >= 2.0);
        assert!(value("tokengate_revocation_feed_flushes_total ") >= 2.0);
        if value("tokengate_revocation_feed_connections_total ") >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's feed did not reconnect: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
