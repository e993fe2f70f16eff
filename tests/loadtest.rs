//! End to end: `tokengate loadtest` against a running `tokengate serve`.
#![cfg(unix)]

mod common;

use std::process::Command;

use common::process::Gateway;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");
const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
const CLIENT: &str = "tkr7f25gd6452zy8rjsf7bwd";
const CLIENT_SECRET: &str = "loadtest-client-secret";
const ADMIN_SECRET: &str = "loadtest-admin-secret";

fn config() -> String {
    format!(
        r#"
[store]
url = "memory:"
pepper = "00112233445566778899aabbccddeeff"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "ops", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"

[[services]]
key = "{SERVICE}"
name = "Reviews API"
grants = ["password", "client_credentials"]

[[clients]]
id = 12346
client_id = "{CLIENT}"
secret = "{CLIENT_SECRET}"
name = "Reviews Web"
services = ["{SERVICE}"]
"#
    )
}

/// Runs `tokengate loadtest --json` with the gateway's addresses and credentials, then `args`.
fn loadtest(gateway: &Gateway, args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .arg("loadtest")
        .args(["--target", &format!("http://{}", gateway.public())])
        .args(["--admin-target", &format!("http://{}", gateway.admin)])
        .args(["--service-key", SERVICE, "--client-id", CLIENT])
        .args(["--client-secret", CLIENT_SECRET])
        .args(["--admin-key", "ops", "--admin-secret", ADMIN_SECRET])
        .arg("--json")
        .args(args)
        .env_remove("TOKENGATE_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tokengate loadtest");
    assert!(
        output.status.success(),
        "loadtest failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn loads_the_gateway_closed_and_open_loop_and_the_issuance_paths() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &config());

    // Closed loop, 300 requests: the wheel of 100 turns three times, so the mix is exact.
    let report = loadtest(
        &gateway,
        &[
            "--concurrency",
            "4",
            "--requests",
            "300",
            "--tokens",
            "50",
            "--mix",
            "valid=90,unknown=5,revoked=3,expired=2",
        ],
    );
    assert_eq!(report["scenario"], "gateway");
    assert_eq!(report["mode"], "closed");
    assert_eq!(report["requests"], 300, "{report:#}");
    assert_eq!(report["errors"], 0);
    assert_eq!(report["status"]["200"], 270, "{report:#}");
    assert_eq!(report["status"]["401"], 30, "{report:#}");
    assert_eq!(report["classes"]["valid"]["200"], 270);
    assert_eq!(report["classes"]["unknown"]["401"], 15);
    assert_eq!(report["classes"]["revoked"]["401"], 9);
    assert_eq!(report["classes"]["expired"]["401"], 6);
    assert!(report["population"]["valid"].as_u64().unwrap() >= 45);
    assert_eq!(report["population"]["expired"], 1);
    let latency = &report["latency_micros"];
    for (lower, higher) in [
        ("p50", "p90"),
        ("p90", "p99"),
        ("p99", "p99_9"),
        ("p99_9", "max"),
    ] {
        assert!(
            latency[lower].as_f64() <= latency[higher].as_f64(),
            "{latency}"
        );
    }
    assert!(report["throughput"].as_f64().unwrap() > 0.0);

    // Open loop for one second at 200 requests per second: exactly 200 requests are due. On a
    // loaded machine a few may find every in-flight slot busy; those are counted as missed, never
    // sent late, so sent + missed is exact and every sent request is answered.
    let report = loadtest(
        &gateway,
        &[
            "--rate",
            "200",
            "--duration",
            "1s",
            "--mix",
            "valid=1,unknown=1",
            "--tokens",
            "10",
        ],
    );
    assert_eq!(report["mode"], "open");
    let sent = report["requests"].as_u64().unwrap();
    let missed = report["missed"].as_u64().unwrap();
    assert_eq!(sent + missed, 200, "{report:#}");
    assert!(sent >= 150, "{report:#}");
    assert_eq!(report["errors"], 0);
    let valid = report["classes"]["valid"]["200"].as_u64().unwrap_or(0);
    let unknown = report["classes"]["unknown"]["401"].as_u64().unwrap_or(0);
    assert_eq!(valid + unknown, sent, "{report:#}");
    // The mix alternates classes by schedule slot, so each class gets half the due requests.
    assert!(valid <= 100 && unknown <= 100, "{report:#}");
    let elapsed = report["elapsed_secs"].as_f64().unwrap();
    assert!((0.9..5.0).contains(&elapsed), "{elapsed}");

    // The issuance paths: RFC 6749 client_credentials and JSON-RPC createAccessToken.
    let report = loadtest(&gateway, &["--scenario", "token", "-n", "20", "-c", "2"]);
    assert_eq!(report["status"]["200"], 20, "{report:#}");
    let report = loadtest(&gateway, &["--scenario", "rpc", "-n", "20", "-c", "2"]);
    assert_eq!(report["status"]["200"], 20, "{report:#}");
    assert!(report["status"].get("rpc_error").is_none());
}

#[test]
fn refuses_a_non_loopback_address_it_was_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokengate.toml");
    std::fs::write(
        &path,
        "[store]\nurl = \"memory:\"\n[public]\nlisten = \"192.0.2.10:8080\"\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .args(["loadtest", "-n", "1"])
        .env_remove("TOKENGATE_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--target"), "{stderr}");
    assert!(output.stdout.is_empty());
}
