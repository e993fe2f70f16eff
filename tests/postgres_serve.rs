//! End to end: two `tokengate serve` processes on one PostgreSQL database (one schema), over real
//! sockets. A token issued on node A works on node B, a revocation on A holds on B at once, and
//! 20 concurrent redemptions of one code spread over both nodes have exactly one success.
//!
//! Needs `TOKENGATE_TEST_POSTGRES_URL` (see `tests/support/postgres.rs`); skipped without it.
#![cfg(all(unix, feature = "postgres", feature = "cli"))]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/postgres.rs"]
mod pg;

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");
const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
const CLIENT: &str = "tkr7f25gd6452zy8rjsf7bwd";
const CLIENT_SECRET: &str = "q13rupuifd-pg-secret";
const ADMIN_SECRET: &str = "admin-pg-secret";
const PEPPER: &str = "00112233445566778899aabbccddeeff";
const REDIRECT: &str = "https://client.example.com/cb";

/// The node configuration: the test's schema and channel in the store URL.
fn write_config(dir: &Path, db: &pg::TestDb) -> PathBuf {
    let url = std::env::var(pg::ENV).unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema = db.schema();
    let path = dir.join("tokengate.toml");
    let text = format!(
        r#"
[store]
url = "{url}{separator}schema={schema}&channel={schema}"
pepper = "{PEPPER}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "ops", secret = "{ADMIN_SECRET}" }}]

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
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Kills the node when the test ends.
struct Node {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tokengate serve` and waits for its "listening" line.
fn start_node(config: &Path) -> Node {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .env_remove("TOKENGATE_ADMIN_KEY")
        .env_remove("TOKENGATE_ADMIN_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (err_tx, err_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = err_tx.send(text);
    });
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Owned by the guard from here on: killed and reaped on every path.
    let mut node = Node {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match line_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("tokengate admin listening on ") {
                    node.addr = addr.trim().parse().unwrap();
                    return node;
                }
            }
            Err(e) => {
                drop(node);
                let stderr = err_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!("no listening line ({e}); stderr:\n{stderr}");
            }
        }
    }
}

/// One JSON-RPC 2.0 call; the `result`, or the `error` as `Err`.
async fn call(
    http: &reqwest::Client,
    node: &Node,
    method: &str,
    params: Value,
) -> Result<Value, Value> {
    call_at(http, node.addr, method, params).await
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
    let Some(db) = pg::TestDb::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &db);
    let a = start_node(&config);
    let b = start_node(&config);
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
    let nodes = [a.addr, b.addr];
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
    let Some(url) = pg::url_or_skip() else { return };
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
