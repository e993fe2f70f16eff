//! `tokengate serve` publishes `[public] authorization_endpoint` in its RFC 8414 metadata,
//! which §2 requires when a service enables the code or implicit grant; without it, it warns.
#![cfg(all(unix, feature = "cli", feature = "sqlite"))]

mod common;

use common::config::ServeConfig;
use common::process::Gateway;
use serde_json::Value;

async fn metadata(gateway: &Gateway) -> Value {
    reqwest::get(format!(
        "http://{}/.well-known/oauth-authorization-server",
        gateway.public()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

#[tokio::test]
async fn the_configured_authorization_endpoint_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::sqlite()
        .public("authorization_endpoint = \"https://www.example.com/oauth/authorize\"")
        .toml();
    let gateway = Gateway::start_logged(dir.path(), &config, "warn");
    let metadata = metadata(&gateway).await;
    assert_eq!(
        metadata["authorization_endpoint"], "https://www.example.com/oauth/authorize",
        "{metadata}"
    );
    assert!(metadata["response_types_supported"]
        .as_array()
        .unwrap()
        .contains(&"code".into()));
    assert!(
        !gateway.logs().contains("authorization_endpoint"),
        "{}",
        gateway.logs()
    );
}

#[tokio::test]
async fn without_one_the_metadata_lacks_it_and_the_server_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_logged(dir.path(), &ServeConfig::sqlite().toml(), "warn");
    let metadata = metadata(&gateway).await;
    assert!(
        metadata.get("authorization_endpoint").is_none(),
        "{metadata}"
    );
    let logs = gateway.logs();
    assert!(
        logs.contains("WARN") && logs.contains("public.authorization_endpoint"),
        "{logs}"
    );
}

#[test]
fn a_bad_authorization_endpoint_stops_the_server_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokengate.toml");
    let config = ServeConfig::sqlite()
        .public("authorization_endpoint = \"javascript:alert(1)\"")
        .toml();
    std::fs::write(&path, config).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env_remove("TOKENGATE_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("public.authorization_endpoint"), "{stderr}");
}
