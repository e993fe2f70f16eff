//! End to end: the admin JSON-RPC `tokengate.*` methods, the remote operator's equivalents of
//! the lifecycle commands, on a running `tokengate serve` (SQLite file, PostgreSQL schema).
//! Each token they end is refused by the gateway as soon as they answer: the process's cache
//! is told before the reply.
#![cfg(all(unix, feature = "sqlite", feature = "cli"))]

use serde_json::{json, Value};

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use common::admin::call;
use common::config::ServeConfig;
use common::lifecycle::{issue, passes, status};
use common::process::Gateway;
use common::upstream::Recorder;
use common::{WEB_CLIENT, WEB_SECRET};

/// The `result` of a call, panicking on an error.
async fn result(gateway: &Gateway, method: &str, params: Value) -> Value {
    let reply = call(gateway.admin, method, params).await;
    assert!(reply.get("error").is_none(), "{method}: {reply}");
    reply["result"].clone()
}

/// The error code of a call that must fail.
async fn error_code(gateway: &Gateway, method: &str, params: Value) -> i64 {
    let reply = call(gateway.admin, method, params).await;
    reply["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("{method} did not fail: {reply}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_operator_manages_clients_and_tokens_on_sqlite() {
    remote_flow("sqlite://tokengate.db").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_operator_manages_clients_and_tokens_on_postgresql() {
    let db = pg::TestDb::new();
    remote_flow(&db.store_url()).await;
}

async fn remote_flow(store_url: &str) {
    let upstream = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::new(store_url)
        .public(&format!(
            "upstream = \"http://{}\"\ncache_ttl_secs = 300",
            upstream.addr
        ))
        .toml();
    let gateway = Gateway::start(dir.path(), &config);
    let public = gateway.public();
    let alice = issue(gateway.admin, WEB_CLIENT, WEB_SECRET, Some("alice"))
        .await
        .unwrap();
    let bob = issue(gateway.admin, WEB_CLIENT, WEB_SECRET, Some("bob"))
        .await
        .unwrap();
    for token in [&alice, &bob] {
        passes(public, token).await;
    }

    // Records, never tokens.
    let listed = result(
        &gateway,
        "tokengate.listTokens",
        json!({"user_context": "alice"}),
    )
    .await;
    assert!(!listed.to_string().contains(&alice), "{listed}");
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0]["client_id"].as_str(),
            listed[0]["status"].as_str()
        ),
        (Some(WEB_CLIENT), Some("active"))
    );
    let by_client = result(&gateway, "tokengate.listTokens", json!([WEB_CLIENT])).await;
    assert_eq!(by_client.as_array().unwrap().len(), 2, "{by_client}");
    let both = json!({"client_id": WEB_CLIENT, "user_context": "alice"});
    assert_eq!(
        error_code(&gateway, "tokengate.listTokens", both).await,
        -32602
    );

    // A user's tokens: refused as soon as the call answers.
    let revoked = result(
        &gateway,
        "tokengate.revokeTokens",
        json!({"user_context": "alice"}),
    )
    .await;
    assert_eq!(revoked, json!({"tokens_revoked": 1}));
    assert_eq!(status(public, &alice).await, 401);
    passes(public, &bob).await;

    // A new secret: the old one is refused at once.
    let rotated = result(
        &gateway,
        "tokengate.rotateClientSecret",
        json!([WEB_CLIENT]),
    )
    .await;
    let secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(rotated["tokens_revoked"], 0);
    assert!(issue(gateway.admin, WEB_CLIENT, WEB_SECRET, None)
        .await
        .is_err());
    let fresh = issue(gateway.admin, WEB_CLIENT, secret, None)
        .await
        .unwrap();
    passes(public, &fresh).await;
    assert_eq!(rotated["old_secret_valid_until"], Value::Null);

    // With `grace_secs`: the old secret is still taken until the time returned.
    let graced = result(
        &gateway,
        "tokengate.rotateClientSecret",
        json!({"client_id": WEB_CLIENT, "grace_secs": 3600}),
    )
    .await;
    assert!(graced["old_secret_valid_until"].is_string(), "{graced}");
    issue(gateway.admin, WEB_CLIENT, secret, None)
        .await
        .unwrap();
    let secret = graced["client_secret"].as_str().unwrap();
    issue(gateway.admin, WEB_CLIENT, secret, None)
        .await
        .unwrap();
    for grace in [json!(-1), json!(2_592_001), json!("1h")] {
        let bad = json!({"client_id": WEB_CLIENT, "grace_secs": grace});
        assert_eq!(
            error_code(&gateway, "tokengate.rotateClientSecret", bad).await,
            -32602,
            "{grace}"
        );
    }
    issue(gateway.admin, WEB_CLIENT, secret, None)
        .await
        .unwrap();

    // Disabled: every token refused at once; a status that is not one is invalid params.
    assert_eq!(
        result(
            &gateway,
            "tokengate.setClientStatus",
            json!([WEB_CLIENT, "disabled"])
        )
        .await,
        json!(true)
    );
    assert_eq!(status(public, &bob).await, 401);
    assert_eq!(status(public, &fresh).await, 401);
    assert!(issue(gateway.admin, WEB_CLIENT, secret, None)
        .await
        .is_err());
    let bogus = json!([WEB_CLIENT, "paused"]);
    assert_eq!(
        error_code(&gateway, "tokengate.setClientStatus", bogus).await,
        -32602
    );
    result(
        &gateway,
        "tokengate.setClientStatus",
        json!([WEB_CLIENT, "active"]),
    )
    .await;
    let again = issue(gateway.admin, WEB_CLIENT, secret, None)
        .await
        .unwrap();
    passes(public, &again).await;

    // Removed: its tokens end; a second removal names no client.
    assert_eq!(
        result(&gateway, "tokengate.removeClient", json!([WEB_CLIENT])).await,
        json!(true)
    );
    assert_eq!(status(public, &again).await, 401);
    assert_eq!(
        error_code(&gateway, "tokengate.removeClient", json!([WEB_CLIENT])).await,
        -32602
    );
    assert_eq!(
        error_code(&gateway, "tokengate.rotateClientSecret", json!(["nobody"])).await,
        -32602
    );

    // The same credentials as every admin call.
    let anonymous = reqwest::Client::new()
        .post(format!("http://{}/v2/json-rpc", gateway.admin))
        .json(&json!({"jsonrpc": "2.0", "method": "tokengate.removeClient", "params": ["x"], "id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
