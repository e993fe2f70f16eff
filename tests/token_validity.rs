//! End to end: token validity follows the registry, and every process on one SQLite file sees
//! every other's changes through the change feed, within its bound (a 100 ms poll), not after
//! `cache_ttl_secs` (set to 300 s here, so the cache's lifetime is never what refuses a token).
//!
//! Two `tokengate serve` processes share one SQLite file (or one PostgreSQL schema), in front of
//! one recording upstream; the `tokengate client` commands run beside them. Every refusal is
//! checked over HTTP/1.1 and HTTP/2, with the upstream having received nothing.
#![cfg(all(unix, feature = "sqlite", feature = "cli"))]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use serde_json::{json, Value};

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::{get, h2};
use common::upstream::Recorder;
use common::{ADMIN_KEY, ADMIN_SECRET, SERVICE, WEB_CLIENT, WEB_SECRET};

/// A second confidential client, the one the tests disable.
const BATCH_CLIENT: &str = "batchclient0000000000000";
const BATCH_SECRET: &str = "batch-secret";

/// How long a change made by one process may take to be refused by another: the feed's 100 ms
/// poll, plus room for a loaded test machine.
const BOUND: Duration = Duration::from_secs(2);

/// Both processes' configuration, on the SQLite file in their directory.
fn config(upstream: SocketAddr, batch_status: &str) -> String {
    config_on("sqlite://tokengate.db", upstream, batch_status)
}

fn config_on(store_url: &str, upstream: SocketAddr, batch_status: &str) -> String {
    ServeConfig::new(store_url)
        .public(&format!(
            "upstream = \"http://{upstream}\"\ncache_ttl_secs = 300"
        ))
        .append(&format!(
            "[[clients]]\nid = 7\nclient_id = \"{BATCH_CLIENT}\"\nsecret = \"{BATCH_SECRET}\"\n\
             name = \"Batch\"\nservices = [\"{SERVICE}\"]\nstatus = \"{batch_status}\""
        ))
        .toml()
}

/// One JSON-RPC call on `admin`: the whole reply.
use common::admin::call as rpc;

/// A client_credentials token of `client` issued through `admin`.
async fn issue(admin: SocketAddr, client: &str, secret: &str) -> String {
    let creds = json!({"client_id": client, "client_secret": secret});
    let reply = rpc(
        admin,
        "oauth2.createAccessToken",
        json!([SERVICE, creds, {"grant_type": "client_credentials"}]),
    )
    .await;
    reply["result"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

/// `GET /data` through the gateway at `public` with the token, over HTTP/1.1: the status.
use common::lifecycle::status as status_h1;

/// The same over HTTP/2 (prior knowledge).
async fn status_h2(public: SocketAddr, token: &str) -> u16 {
    let mut sender = h2(public).await;
    let request = Request::get(format!("http://{public}/data"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    sender
        .send_request(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asserts that the token is refused through `public` as an unknown token is (401
/// `invalid_token`) over both protocols, and that nothing reached the upstream.
async fn assert_refused(public: SocketAddr, upstream: &Recorder, token: &str) {
    upstream.take();
    let res = get(
        public,
        "/data",
        &[&format!("Authorization: Bearer {token}")],
    )
    .await;
    assert_eq!(res.status, 401, "{res:?}");
    assert!(
        res.challenge().is_some_and(|c| c.contains("invalid_token")),
        "{res:?}"
    );
    assert_eq!(status_h2(public, token).await, 401);
    assert!(
        upstream.take().is_empty(),
        "a refused request was forwarded"
    );
}

/// Asserts the token passes through `public` over both protocols (and so is cached there).
async fn assert_passes(public: SocketAddr, upstream: &Recorder, token: &str) {
    upstream.take();
    assert_eq!(status_h1(public, token).await, 200);
    assert_eq!(status_h2(public, token).await, 200);
    assert_eq!(upstream.take().len(), 2);
}

/// Waits until `public` refuses the token; how long that took from `since`.
async fn refused_within(public: SocketAddr, token: &str, since: Instant) -> Duration {
    loop {
        if status_h1(public, token).await == 401 {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < BOUND,
            "still accepted {:?} after the change",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// RFC 7662 introspection on `public`, as the web client: the `active` member.
async fn active(public: SocketAddr, token: &str) -> bool {
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{public}/oauth2/introspect"))
        .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["active"]
        .as_bool()
        .unwrap_or_else(|| panic!("{answer}"))
}

/// The status of the TIBCO-style lookup of the token on `admin`.
async fn tibco_status(admin: SocketAddr, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://{admin}/oauth2/access_token/{token}"))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Runs `tokengate client <args…>` on the gateways' store, beside them.
fn cli(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .arg("client")
        .args(args)
        .args(["--config", "tokengate.toml"])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_on_one_process_is_refused_by_the_other_within_the_bound() {
    let upstream = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Gateway::start(dir.path(), &config(upstream.addr, "active"));
    let b = Gateway::start(dir.path(), &config(upstream.addr, "active"));

    let mut delays = Vec::new();
    for _ in 0..5 {
        let token = issue(a.admin, WEB_CLIENT, WEB_SECRET).await;
        assert_passes(a.public(), &upstream, &token).await;
        assert_passes(b.public(), &upstream, &token).await;

        let creds = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
        let reply = rpc(
            a.admin,
            "oauth2.revokeAccessToken",
            json!([SERVICE, creds, token]),
        )
        .await;
        let revoked = Instant::now();
        assert_eq!(reply["result"], json!(true), "{reply}");
        // A hears of its own revocation before it answers.
        assert_refused(a.public(), &upstream, &token).await;
        delays.push(refused_within(b.public(), &token, revoked).await);
        assert_refused(b.public(), &upstream, &token).await;
        assert!(!active(b.public(), &token).await);
    }
    delays.sort();
    eprintln!("revoke on A → refused on B: {delays:?}");
    let metrics = reqwest::get(format!("http://{}/metrics", b.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tokengate_change_feed_evicted_total 5"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_client_is_refused_everywhere_and_stays_refused() {
    disabled_client_flow("sqlite://tokengate.db").await;
}

/// The same with two nodes on one PostgreSQL schema: the client commands' revocations are
/// pushed with `NOTIFY`.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_client_is_refused_by_every_postgresql_node_and_stays_refused() {
    let db = pg::TestDb::new();
    disabled_client_flow(&db.store_url()).await;
}

async fn disabled_client_flow(store_url: &str) {
    let config = |upstream: SocketAddr, status: &str| config_on(store_url, upstream, status);
    let upstream = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Gateway::start(dir.path(), &config(upstream.addr, "active"));
    let b = Gateway::start(dir.path(), &config(upstream.addr, "active"));

    let batch = issue(a.admin, BATCH_CLIENT, BATCH_SECRET).await;
    let web = issue(a.admin, WEB_CLIENT, WEB_SECRET).await;
    assert_eq!(tibco_status(b.admin, &batch).await, 200);
    for gateway in [&a, &b] {
        assert_passes(gateway.public(), &upstream, &batch).await;
        assert_passes(gateway.public(), &upstream, &web).await;
    }
    assert!(active(b.public(), &batch).await);

    // Disabled with the CLI, beside both servers.
    let disabled = Instant::now();
    let said = cli(dir.path(), &["disable", "--client-id", BATCH_CLIENT]);
    assert!(said.contains("1 live token(s) revoked"), "{said}");
    for gateway in [&a, &b] {
        let took = refused_within(gateway.public(), &batch, disabled).await;
        eprintln!("client disabled by the CLI → refused: {took:?}");
        assert_refused(gateway.public(), &upstream, &batch).await;
        assert_passes(gateway.public(), &upstream, &web).await;
    }
    assert!(!active(b.public(), &batch).await);
    let fetched = rpc(b.admin, "oauth2.fetchAccessToken", json!([SERVICE, batch])).await;
    assert!(fetched.get("error").is_some(), "{fetched}");
    assert_eq!(tibco_status(b.admin, &batch).await, 404, "the TIBCO lookup");

    // Enabled again: it may get new tokens, but the old one stays refused, also by a process
    // started afresh (nothing cached; its configuration declares the client active).
    cli(dir.path(), &["enable", "--client-id", BATCH_CLIENT]);
    drop(b);
    let b = Gateway::start(dir.path(), &config(upstream.addr, "active"));
    assert_refused(b.public(), &upstream, &batch).await;
    assert!(!active(b.public(), &batch).await);
    let again = issue(b.admin, BATCH_CLIENT, BATCH_SECRET).await;
    assert_passes(b.public(), &upstream, &again).await;

    // Disabled through a serve process: A restarts with the client disabled in its file.
    drop(a);
    let restarted = Instant::now();
    let a = Gateway::start(dir.path(), &config(upstream.addr, "disabled"));
    let took = refused_within(b.public(), &again, restarted).await;
    eprintln!("client disabled by a restarted server → refused on the other: {took:?}");
    assert_refused(b.public(), &upstream, &again).await;
    assert_refused(a.public(), &upstream, &again).await;

    // Deleted with the CLI: the web client's token ends on both.
    let deleted = Instant::now();
    let said = cli(dir.path(), &["delete", "--client-id", WEB_CLIENT]);
    assert!(said.contains("1 live token(s) revoked"), "{said}");
    for gateway in [&a, &b] {
        refused_within(gateway.public(), &web, deleted).await;
        assert_refused(gateway.public(), &upstream, &web).await;
    }
}
