//! Running the `tokengate` binary as a child process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `tokengate serve`; terminated (SIGTERM, then SIGKILL) on drop.
pub struct Gateway {
    child: Child,
    /// The admin listener's address.
    pub admin: SocketAddr,
    /// The public listener's address, unless it is disabled.
    pub public: Option<SocketAddr>,
    /// Everything written to stderr so far, when started with [`Gateway::start_logged`].
    logs: Option<Arc<Mutex<String>>>,
}

/// Panics unless every listener `config` enables binds port 0 (a port the OS hands out): a
/// fixed port, or a default one (8080, 8081), would make the test fail wherever a server the
/// user runs (the README's quick start) holds it.
pub fn assert_ports_from_the_os(config: &str) {
    let parsed = tokengate::server::Config::from_toml(config, None).expect("a valid test config");
    assert_eq!(
        parsed.admin.listen.port(),
        0,
        "a test's [admin] listen must be port 0, not {}",
        parsed.admin.listen
    );
    assert!(
        !parsed.public.enabled || parsed.public.listen.port() == 0,
        "a test's [public] listen must be port 0 (or the listener disabled), not {}",
        parsed.public.listen
    );
}

enum Line {
    Public(SocketAddr),
    Admin(SocketAddr),
}

impl Gateway {
    /// Starts `tokengate serve --config <config>` in `dir` (logging at `warn` to the test's
    /// stderr) and waits for its listeners.
    pub fn start(dir: &Path, config: &str) -> Gateway {
        Gateway::spawn(dir, config, "warn", false, &[])
    }

    /// Like [`Gateway::start`], logging at `filter` into a buffer that [`Gateway::logs`]
    /// reads.
    pub fn start_logged(dir: &Path, config: &str, filter: &str) -> Gateway {
        Gateway::spawn(dir, config, filter, true, &[])
    }

    /// Like [`Gateway::start_logged`], with more arguments after `serve --config FILE`.
    pub fn start_with_args(dir: &Path, config: &str, filter: &str, args: &[&str]) -> Gateway {
        Gateway::spawn(dir, config, filter, true, args)
    }

    fn spawn(dir: &Path, config: &str, filter: &str, capture: bool, args: &[&str]) -> Gateway {
        assert_ports_from_the_os(config);
        let path = dir.join("tokengate.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(["serve", "--config"])
            .arg(&path)
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", filter)
            .env_remove("TOKENGATE_CONFIG")
            .env_remove("TOKENGATE_PEPPER")
            .env_remove("TOKENGATE_ADMIN_KEY")
            .env_remove("TOKENGATE_ADMIN_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("spawn tokengate");
        let logs = child.stderr.take().map(|mut stderr| {
            let logs = Arc::new(Mutex::new(String::new()));
            let sink = logs.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
            logs
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parse = |addr: &str| addr.trim().parse::<SocketAddr>().unwrap();
                if let Some(addr) = line.strip_prefix("tokengate public listening on ") {
                    let _ = tx.send(Line::Public(parse(addr)));
                } else if let Some(addr) = line.strip_prefix("tokengate admin listening on ") {
                    let _ = tx.send(Line::Admin(parse(addr)));
                }
            }
        });
        // The public line, when there is one, comes first.
        let mut public = None;
        let admin = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Line::Public(addr)) => public = Some(addr),
                Ok(Line::Admin(addr)) => break addr,
                Err(_) => {
                    let logs = logs
                        .as_ref()
                        .map(|l| l.lock().unwrap().clone())
                        .unwrap_or_default();
                    panic!("tokengate did not print its admin address; stderr:\n{logs}");
                }
            }
        };
        Gateway {
            child,
            admin,
            public,
            logs,
        }
    }

    /// The public listener's address (panics when it is disabled).
    pub fn public(&self) -> SocketAddr {
        self.public.expect("the public listener is enabled")
    }

    /// What the process has logged so far (with [`Gateway::start_logged`]).
    pub fn logs(&self) -> String {
        self.logs
            .as_ref()
            .expect("started with start_logged")
            .lock()
            .unwrap()
            .clone()
    }

    /// Sends SIGHUP (the gateway reloads its certificates).
    pub fn hang_up(&self) {
        self.signal("HUP");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }

    /// Kills the process with SIGKILL, as a crash would (no shutdown, nothing flushed), and
    /// waits for it to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL tokengate");
        self.child.wait().expect("reap tokengate");
    }

    fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `tokengate <args…> --config tokengate.toml` in `dir` (beside a running gateway on the
/// same store), `stdin` on its standard input.
pub fn tokengate_with(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .args(["--config", "tokengate.toml"])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env_remove("TOKENGATE_CONFIG")
        .env_remove("TOKENGATE_PEPPER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
