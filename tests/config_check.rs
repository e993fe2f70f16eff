//! `tokengate config check [FILE]`: the built binary validates the configuration, prints it
//! with every secret masked, and exits 1 naming the file (or the variable) and the key.
#![cfg(all(unix, feature = "cli"))]

use std::path::Path;
use std::process::{Command, Output, Stdio};

const ADMIN_SECRET: &str = "admin-check-secret-7f3a";
const CLIENT_SECRET: &str = "client-check-secret-9c1e";
const PEPPER: &str = "00112233445566778899aabbccddeeff";
const DB_PASSWORD: &str = "db-pw-51d2";

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("tokengate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command.args(["config", "check"]).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TOKENGATE_") {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &[u8]) -> String {
    String::from_utf8(output.to_vec()).unwrap()
}

const CONFIG: &str = r#"
[store]
url = "memory:"
pepper = "00112233445566778899aabbccddeeff"

[admin]
credentials = [{ key = "ops", secret = "admin-check-secret-7f3a" }]

[[services]]
key = "svc"

[[clients]]
id = 1
client_id = "web"
name = "Web"
secret = "client-check-secret-9c1e"
services = ["svc"]
"#;

#[test]
fn it_prints_the_effective_configuration_with_every_secret_masked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), CONFIG);
    let output = check(&[path.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for secret in [ADMIN_SECRET, CLIENT_SECRET, PEPPER] {
        assert!(!stdout.contains(secret), "{secret} in:\n{stdout}");
    }
    let printed: toml::Table = stdout.parse().unwrap();
    assert_eq!(printed["store"]["pepper"].as_str(), Some("********"));
    assert_eq!(
        printed["admin"]["credentials"][0]["secret"].as_str(),
        Some("********")
    );
    assert_eq!(
        printed["admin"]["credentials"][0]["key"].as_str(),
        Some("ops")
    );
    assert_eq!(printed["clients"][0]["secret"].as_str(), Some("********"));
    // The defaults are there too: the configuration the server would run.
    assert_eq!(printed["public"]["cache_ttl_secs"].as_integer(), Some(30));
    assert_eq!(printed["admin"]["listen"].as_str(), Some("127.0.0.1:8081"));
    assert_eq!(printed["log"]["format"].as_str(), Some("text"));
}

#[test]
fn it_applies_the_environments_overrides_and_masks_the_store_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), CONFIG);
    let url = format!("postgres://tokengate:{DB_PASSWORD}@127.0.0.1/test");
    let output = check(
        &["--config", path.to_str().unwrap()],
        &[
            ("TOKENGATE_PUBLIC__CACHE_TTL_SECS", "7"),
            ("TOKENGATE_CLIENTS__0__SECRET", "424242"),
            ("TOKENGATE_STORE__URL", &url),
        ],
    );
    if !cfg!(feature = "postgres") {
        // Without the feature a PostgreSQL URL is a configuration error, named as such.
        assert_eq!(output.status.code(), Some(1));
        assert!(text(&output.stderr).contains("$TOKENGATE_STORE__URL: store.url"));
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        !stdout.contains(DB_PASSWORD) && !stdout.contains("424242"),
        "{stdout}"
    );
    let printed: toml::Table = stdout.parse().unwrap();
    assert_eq!(printed["public"]["cache_ttl_secs"].as_integer(), Some(7));
    assert_eq!(
        printed["store"]["url"].as_str(),
        Some("postgres://tokengate:***@127.0.0.1/test")
    );
}

#[test]
fn a_bad_configuration_exits_1_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &CONFIG.replace(
            "[[services]]\nkey = \"svc\"",
            "[[services]]\nkey = \"svc\"\ngrants = [\"magic\"]",
        ),
    );
    let output = check(&[path.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("tokengate.toml") && stderr.contains("services[0].grants"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(ADMIN_SECRET) && !stderr.contains(CLIENT_SECRET),
        "{stderr}"
    );
}

#[test]
fn a_bad_override_exits_1_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), CONFIG);
    let output = check(
        &[path.to_str().unwrap()],
        &[("TOKENGATE_ADMIN__MAX_BODY_BYTES", "lots")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: $TOKENGATE_ADMIN__MAX_BODY_BYTES: admin.max_body_bytes: "),
        "{stderr}"
    );
}

#[test]
fn without_a_file_it_checks_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["config", "check"])
        .current_dir(dir.path())
        .env_remove("TOKENGATE_CONFIG")
        .env("TOKENGATE_LOG__FORMAT", "json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let printed: toml::Table = text(&output.stdout).parse().unwrap();
    assert_eq!(
        printed["store"]["url"].as_str(),
        Some("sqlite://tokengate.db")
    );
    assert_eq!(printed["log"]["format"].as_str(), Some("json"));
    assert!(
        !dir.path().join("tokengate.db").exists(),
        "nothing is opened"
    );
}
