//! Interoperability: the RFC endpoints (metadata, token, introspection, revocation) of a real
//! `tokengate serve` over verified https, used by two client libraries people bring: Python's
//! Authlib (tests/interop/authlib_client.py) and Node's oauth4webapi
//! (tests/interop/oauth4webapi_client.mjs, without its `allowInsecureRequests` switch). The
//! certificate is signed by a CA made at test time; each client trusts that CA, and the same
//! client trusting another CA must fail.
//!
//! The tools are installed by `.ci/run` (pinned: tests/interop/requirements.txt into
//! tests/interop/.venv, tests/interop/package-lock.json into tests/interop/node_modules).
//! Missing, they fail the test (never a skip): `cargo test` without them does not pass.
#![cfg(unix)]

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::config::ServeConfig;
use common::process::Gateway;
use common::{WEB_CLIENT, WEB_SECRET};
use pki::Pki;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// `found`, or a failure naming what is missing: a test that could not run never passes
/// (as the PostgreSQL tests fail when their database does not answer).
fn required(found: Option<PathBuf>, what: &str) -> PathBuf {
    found.unwrap_or_else(|| {
        panic!("{what} is missing: install it as `.ci/run` does (see tests/interop.rs)")
    })
}

fn authlib_python() -> PathBuf {
    let python = interop_dir().join(".venv/bin/python");
    let found = python.exists().then_some(python);
    required(found, "Authlib's Python (tests/interop/.venv)")
}

fn node() -> PathBuf {
    let module = interop_dir().join("node_modules/oauth4webapi/package.json");
    let node = Command::new("node").arg("--version").output();
    let found =
        (module.exists() && node.is_ok_and(|o| o.status.success())).then(|| PathBuf::from("node"));
    required(found, "node and oauth4webapi (tests/interop/node_modules)")
}

/// A gateway serving its public listener over https with a certificate of `ca`, for the
/// loopback names; the seed service declares the scopes asked for. Its grants include
/// `authorization_code`, so the metadata names the provider's authorization page, as RFC 8414
/// §2 requires (and Authlib checks).
fn gateway(dir: &Path, ca: &Pki) -> Gateway {
    let cert = ca.server("server", &["localhost", "127.0.0.1"], "server");
    let config = ServeConfig::sqlite()
        .service("scopes = [\"reviews\", \"read\"]")
        .public(&format!(
            "tls = {{ cert = {:?}, key = {:?} }}",
            cert.cert, cert.key
        ))
        .public("authorization_endpoint = \"https://provider.example.com/oauth/authorize\"")
        .toml();
    Gateway::start(dir, &config)
}

fn issuer(gateway: &Gateway) -> String {
    format!("https://127.0.0.1:{}", gateway.public().port())
}

fn run(command: &mut Command) -> Output {
    command
        .current_dir(interop_dir())
        .output()
        .expect("the client script runs")
}

/// The script's JSON line, asserted to be the flow's: a bearer token for the scopes, active,
/// for the client, revoked with 200, then inactive.
fn assert_flow(output: &Output, client: &str, issuer: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{client} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let reply: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{client} printed no JSON ({e}): {stdout}\nstderr: {stderr}"));
    assert_eq!(reply["client"], client, "{reply}");
    assert_eq!(reply["issuer"], issuer, "{reply}");
    assert_eq!(reply["token_type"], "bearer", "{reply}");
    assert_eq!(reply["token_length"], 40, "{reply}");
    assert_eq!(reply["scope"], "reviews read", "{reply}");
    assert_eq!(reply["expires_in"], 3600, "{reply}");
    assert_eq!(reply["active_before"], true, "{reply}");
    assert_eq!(reply["introspected_client_id"], WEB_CLIENT, "{reply}");
    assert_eq!(reply["revocation_status"], 200, "{reply}");
    assert_eq!(reply["active_after"], false, "{reply}");
}

/// The script failed on the certificate (`reason`, as the client says it): nothing was asked of
/// the server.
fn assert_refused_certificate(output: &Output, client: &str, reason: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "{client} trusted another CA's server"
    );
    assert!(
        stderr.contains(reason),
        "{client} failed for another reason than the certificate: {stderr}"
    );
}

/// Runs the client `name` (the command `client` makes for an issuer and a CA file) against a
/// gateway whose certificate `ca` signed: the whole flow; then trusting another CA: refused,
/// with `reason`.
fn check_client(name: &str, reason: &str, client: impl Fn(&str, PathBuf) -> Command) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Pki::new(dir.path(), "interop");
    let other = Pki::new(dir.path(), "other");
    let gateway = gateway(dir.path(), &ca);
    let issuer = issuer(&gateway);
    assert_flow(&run(&mut client(&issuer, ca.ca_file())), name, &issuer);
    let refused = run(&mut client(&issuer, other.ca_file()));
    assert_refused_certificate(&refused, name, reason);
    gateway.terminate();
}

#[test]
fn authlib_uses_the_rfc_endpoints_over_verified_https() {
    let python = authlib_python();
    check_client("authlib", "CERTIFICATE_VERIFY_FAILED", |issuer, ca_file| {
        let mut command = Command::new(&python);
        command
            .arg("authlib_client.py")
            .arg(issuer)
            .arg(ca_file)
            .args([WEB_CLIENT, WEB_SECRET, "reviews read"])
            // requests would trust these over the session's CA file.
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE");
        command
    });
}

#[test]
fn oauth4webapi_uses_the_rfc_endpoints_over_verified_https_without_its_insecure_switch() {
    let node = node();
    let script = std::fs::read_to_string(interop_dir().join("oauth4webapi_client.mjs")).unwrap();
    assert!(
        !script.contains("oauth.allowInsecureRequests"),
        "the client must not switch oauth4webapi's https check off"
    );
    let reason = "unable to verify the first certificate";
    check_client("oauth4webapi", reason, |issuer, ca_file| {
        let mut command = Command::new(&node);
        command
            .arg("oauth4webapi_client.mjs")
            .arg(issuer)
            .args([WEB_CLIENT, WEB_SECRET, "reviews read"])
            .env("NODE_EXTRA_CA_CERTS", ca_file)
            .env_remove("NODE_TLS_REJECT_UNAUTHORIZED")
            .env_remove("NODE_OPTIONS");
        command
    });
}
