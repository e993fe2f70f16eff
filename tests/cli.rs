//! End to end: the built `tokengate` binary over real sockets and signals.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");
const CLIENT_SECRET: &str = "q13rupuifd-e2e-secret";
const ADMIN_SECRET: &str = "admin-e2e-secret";
const PEPPER: &str = "00112233445566778899aabbccddeeff";

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("tokengate.toml");
    let text = format!(
        r#"
[store]
url = "memory:"
pepper = "{PEPPER}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "ops", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"

[[services]]
key = "rmeqcgpw3zu2y47y9bs8vs2h"
name = "Reviews API"

[[clients]]
id = 12346
client_id = "tkr7f25gd6452zy8rjsf7bwd"
secret = "{CLIENT_SECRET}"
name = "Reviews Web"
redirect_uris = ["https://client.example.com/cb"]
services = ["rmeqcgpw3zu2y47y9bs8vs2h"]
{extra}
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Kills the child if the test fails before it exits.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `tokengate serve`, waits for the "listening" line and returns the admin address, the
/// child and a receiver of everything it wrote to stderr.
fn start_serve(config: &Path) -> (SocketAddr, Running, mpsc::Receiver<String>) {
    common::process::assert_ports_from_the_os(&std::fs::read_to_string(config).unwrap());
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "trace")
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
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });

    let running = Running(Some(child));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match line_rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("tokengate admin listening on ") {
                    return (addr.trim().parse().unwrap(), running, err_rx);
                }
            }
            Err(e) => {
                drop(running);
                let stderr = err_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!("no listening line ({e}); stderr:\n{stderr}");
            }
        }
    }
}

fn wait_with_timeout(running: &mut Running, limit: Duration) -> std::process::ExitStatus {
    let child = running.0.as_mut().unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            running.0 = None;
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit in time"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(running: &Running) {
    let pid = running.0.as_ref().unwrap().id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn serve_answers_healthz_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (addr, mut running, stderr) = start_serve(&config);
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);

    let http = reqwest::Client::new();
    let response = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");

    sigterm(&running);
    let status = wait_with_timeout(&mut running, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status:?}");

    let logs = stderr.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(logs.contains("SIGTERM"), "{logs}");
    for secret in [CLIENT_SECRET, ADMIN_SECRET, PEPPER] {
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
}

#[tokio::test]
async fn serve_exits_0_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (addr, mut running, _stderr) = start_serve(&config);
    let response = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let pid = running.0.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = wait_with_timeout(&mut running, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_missing_config_file_says_its_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let output = run(&["serve", "--config", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("absent.toml"), "{stderr}");
    assert!(
        stderr.contains("cannot read the configuration file"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
}

#[test]
fn a_bad_config_fails_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "colour = \"blue\"\n");
    let output = run(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tokengate.toml"), "{stderr}");
    assert!(
        stderr.contains("clients[0]") && stderr.contains("colour"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let config = write_config(dir.path(), "").to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("name = \"Reviews API\"", "grants = [\"magic\"]");
    std::fs::write(&config, text).unwrap();
    let output = run(&["serve", "--config", &config]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("services[0].grants"), "{stderr}");
}

#[test]
fn management_commands_work_on_a_store() {
    // The memory store forgets everything at exit, so each command starts empty.
    let output = run(&[
        "--store",
        "memory:",
        "service",
        "add",
        "--key",
        "svc-key",
        "--name",
        "API",
        "--token-type",
        "mac",
        "--mac-algorithm",
        "hmac-sha-256",
        "--grants",
        "password,client_credentials",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let service: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(service["token_type"], "mac");
    assert_eq!(service["mac_algorithm"], "hmac-sha-256");
    assert_eq!(
        service["grants"],
        serde_json::json!(["password", "client_credentials"])
    );

    let output = run(&[
        "--store",
        "memory:",
        "service",
        "add",
        "--key",
        "k",
        "--name",
        "n",
        "--token-type",
        "mac",
    ]);
    assert!(!output.status.success(), "mac needs an algorithm");

    let output = run(&[
        "--store",
        "memory:",
        "client",
        "add",
        "--name",
        "App",
        "--service",
        "nope",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope"));

    let output = run(&["--store", "memory:", "client", "list", "--json"]);
    assert!(output.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap(),
        serde_json::json!([])
    );
}

/// `client disable|enable|delete` on a client the store does not have fail, naming it, and
/// change nothing (their effect on running servers is in `tests/token_validity.rs`).
#[test]
fn client_status_commands_name_an_unknown_client() {
    for command in ["disable", "enable", "delete"] {
        let output = run(&[
            "--store",
            "memory:",
            "client",
            command,
            "--client-id",
            "no-such-client",
        ]);
        assert!(!output.status.success(), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("client `no-such-client` does not exist"),
            "{command}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{command}");
    }
}

#[test]
fn completions_and_the_man_page_are_generated_without_a_configuration() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = Command::new(BIN)
            .args(["completions", shell])
            .env("TOKENGATE_CONFIG", "/nonexistent/tokengate.toml")
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).unwrap();
        for word in ["tokengate", "serve", "loadtest", "completions"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let output = run(&["completions", "tcsh"]);
    assert!(!output.status.success(), "an unknown shell is an error");

    let output = Command::new(BIN)
        .arg("man")
        .env("TOKENGATE_CONFIG", "/nonexistent/tokengate.toml")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(page.contains(".TH tokengate 1"), "{page}");
    assert!(page.contains("serve"), "the man page lists the commands");
}

#[test]
fn a_port_in_use_stops_serve_before_anything_is_written_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = dir.path().join("tokengate.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://tokengate.db\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [public]\nlisten = \"127.0.0.1:{port}\"\n[[services]]\nkey = \"svc\"\n"
        ),
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (public.listen)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "the OS's reason: {stderr}");
    assert!(!stderr.contains("configuration error"), "{stderr}");
    for file in ["tokengate.db", "tokengate.db.pepper"] {
        assert!(!dir.path().join(file).exists(), "{file} was written");
    }
    drop(taken);
}

#[test]
fn adding_a_service_twice_says_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("t.db").display());
    let add = || {
        Command::new(BIN)
            .args([
                "--store", &store, "service", "add", "--key", "svc", "--name", "API",
            ])
            .env_remove("TOKENGATE_CONFIG")
            .env_remove("TOKENGATE_PEPPER")
            .output()
            .unwrap()
    };
    assert!(add().status.success());
    let again = add();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("service `svc` already exists"), "{stderr}");
    assert!(!stderr.contains("configuration error"), "{stderr}");
}
