//! `[log] format = "json"` and `access = true` on `tokengate serve`, with a recording upstream:
//! every stderr line is a JSON object; each request has one access line with its method,
//! canonical path, status, client, latency, upstream status and trace id, and none carries a
//! token, a secret or a query; the W3C `traceparent` reaches the upstream, continued when the
//! client sent a valid one, replaced when not.

mod common;

use std::time::Duration;

use serde_json::Value;

use common::config::ServeConfig;
use common::process::Gateway;
use common::upstream::Recorder;
use common::{ADMIN_SECRET, WEB_CLIENT, WEB_SECRET};

const GIVEN_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const GIVEN_PARENT: &str = "00f067aa0ba902b7";

/// The access lines in `logs`, after checking that every line is a JSON object.
fn access_lines(logs: &str) -> Vec<Value> {
    let mut access = Vec::new();
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(value.is_object(), "{line}");
        assert!(value["timestamp"].is_string(), "{line}");
        if value["target"] == "tokengate::access" {
            access.push(value["fields"].clone());
        }
    }
    access
}

/// A valid `traceparent`'s trace id and parent id.
fn trace_parts(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00", "{traceparent}");
    assert_eq!(parts[1].len(), 32, "{traceparent}");
    assert_eq!(parts[2].len(), 16, "{traceparent}");
    assert!(traceparent
        .bytes()
        .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn json_access_lines_and_trace_context() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::sqlite()
        .public(&format!("upstream = \"http://{}\"", recorder.addr))
        .append("[log]\nformat = \"json\"\naccess = true\n")
        .toml();
    let gateway = Gateway::start_logged(dir.path(), &config, "info");
    let public = gateway.public();
    let token = common::admin::token(gateway.admin, "read").await;
    let client = reqwest::Client::new();

    // A valid traceparent, a tracestate, a token, a query and a non-canonical path.
    let response = client
        .get(format!("http://{public}/%61pi//items?q=query0secret"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{GIVEN_TRACE}-{GIVEN_PARENT}-01"))
        .header("tracestate", "rojo=00f067aa0ba902b7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A malformed traceparent (uppercase) with a tracestate; then none at all; then no token.
    let malformed = format!("00-{}-{GIVEN_PARENT}-01", GIVEN_TRACE.to_uppercase());
    let response = client
        .get(format!("http://{public}/api/other"))
        .bearer_auth(&token)
        .header("traceparent", &malformed)
        .header("tracestate", "rojo=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .get(format!("http://{public}/api/plain"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .get(format!(
            "http://{public}/api/denied?access_token=query0token"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // A token sent to the RFC 6749 endpoint (client secret in Basic).
    let response = client
        .post(format!("http://{public}/oauth2/token"))
        .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let issued: Value = response.json().await.unwrap();
    let issued = issued["access_token"].as_str().unwrap().to_owned();

    // What the upstream received.
    let seen = recorder.take();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (trace, parent) = trace_parts(seen[0].one("traceparent"));
    assert_eq!(trace, GIVEN_TRACE);
    assert_ne!(parent, GIVEN_PARENT, "tokengate's own span is the parent");
    assert!(seen[0].one("traceparent").ends_with("-01"));
    assert_eq!(seen[0].one("tracestate"), "rojo=00f067aa0ba902b7");
    let (replaced, _) = trace_parts(seen[1].one("traceparent"));
    assert_ne!(replaced, GIVEN_TRACE.to_lowercase());
    assert!(seen[1].headers.get("tracestate").is_none(), "{seen:?}");
    let (started, _) = trace_parts(seen[2].one("traceparent"));
    assert_ne!(started, replaced);

    // Let the last lines reach the log.
    let mut access = Vec::new();
    for _ in 0..50 {
        access = access_lines(&gateway.logs());
        if access.len() >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = gateway.logs();
    let find = |path: &str| {
        access
            .iter()
            .find(|a| a["path"] == path)
            .unwrap_or_else(|| panic!("no access line for {path}: {logs}"))
            .clone()
    };
    let proxied = find("/api/items");
    assert_eq!(proxied["listener"], "public");
    assert_eq!(proxied["method"], "GET");
    assert_eq!(proxied["status"], 200);
    assert_eq!(proxied["upstream_status"], 200);
    assert_eq!(proxied["client_id"], WEB_CLIENT);
    assert_eq!(proxied["trace_id"], GIVEN_TRACE);
    assert!(proxied["latency_us"].as_u64().is_some(), "{proxied}");
    assert_eq!(find("/api/other")["trace_id"], replaced.as_str());
    let denied = find("/api/denied");
    assert_eq!(denied["status"], 401);
    assert!(denied.get("client_id").is_none(), "{denied}");
    assert!(denied.get("upstream_status").is_none(), "{denied}");
    let endpoint = find("/oauth2/token");
    assert_eq!(endpoint["status"], 200);
    let rpc = find("/v2/json-rpc");
    assert_eq!(rpc["listener"], "admin");
    assert_eq!(rpc["method"], "POST");
    assert_eq!(rpc["status"], 200);

    for secret in [
        token.as_str(),
        issued.as_str(),
        "query0secret",
        "query0token",
        WEB_SECRET,
        ADMIN_SECRET,
        "rojo=",
        "?",
    ] {
        assert!(!logs.contains(secret), "{secret:?} logged:\n{logs}");
    }
    gateway.terminate();
}

/// With `[[routes]]`, each access line names the route that answered (its configured name);
/// a request no route takes has none.
#[tokio::test]
async fn access_lines_name_the_route() {
    let recorder = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let routes = format!(
        "[[routes]]\nname = \"api\"\npath = \"/api\"\nservice_key = \"{}\"\nupstream = \"http://{a}\"\n\n\
         [[routes]]\nname = \"docs\"\npath = \"/docs\"\nauth = \"none\"\nupstream = \"http://{a}\"\n\n\
         [log]\nformat = \"json\"\naccess = true\n",
        common::SERVICE,
        a = recorder.addr,
    );
    let config = ServeConfig::sqlite().append(&routes).toml();
    let gateway = Gateway::start_logged(dir.path(), &config, "info");
    let public = gateway.public();
    let token = common::admin::token(gateway.admin, "read").await;
    let client = reqwest::Client::new();
    for (path, status) in [("/api/x", 200), ("/docs/y", 200), ("/elsewhere", 404)] {
        let response = client
            .get(format!("http://{public}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let mut lines = Vec::new();
    for _ in 0..1_000 {
        lines = access_lines(&gateway.logs())
            .into_iter()
            .filter(|l| l["listener"] == "public")
            .collect();
        if lines.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let route_of = |path: &str| {
        lines
            .iter()
            .find(|l| l["path"] == path)
            .unwrap_or_else(|| panic!("no line for {path}: {lines:?}"))["route"]
            .clone()
    };
    assert_eq!(route_of("/api/x"), "api");
    assert_eq!(route_of("/docs/y"), "docs");
    assert_eq!(route_of("/elsewhere"), Value::Null);
    gateway.terminate();
}
