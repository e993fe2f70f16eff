//! Hot reload of the configuration: SIGHUP to a running `tokengate serve` while clients keep
//! sending requests (HTTP/1.1 and h2), and [`ConfigReloader`] in process.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use common::admin::token;
use common::config::ServeConfig;
use common::process::Gateway;
use common::upstream::Recorder;
use common::{SERVICE, WEB_CLIENT, WEB_SECRET};
use tokengate::server::{Config, Server};

/// How often a poll of the gateway's state is repeated before the test gives up.
const POLLS: usize = 2_000;

/// The value of the counter `series` in `/metrics`.
async fn metric(admin: SocketAddr, series: &str) -> u64 {
    common::admin::metric(admin, series).await as u64
}

/// Polls until `/metrics` shows `count` reloads with `result` (a reload is asynchronous to
/// the signal).
async fn wait_for_reloads(admin: SocketAddr, result: &str, count: u64) {
    let series = format!("tokengate_config_reloads_total{{result=\"{result}\"}}");
    for _ in 0..POLLS {
        if metric(admin, &series).await >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{series} never reached {count}");
}

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> (u16, String) {
    let mut req = http.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The routes before the reload: `alpha` (the load's, no scope rule on `/alpha/write`) and
/// `gone` (public), both to upstream `a`.
fn routes_before(a: SocketAddr) -> String {
    format!(
        r#"
[[routes]]
name = "alpha"
path = "/alpha"
service_key = "{SERVICE}"
upstream = "http://{a}"

[[routes]]
name = "gone"
path = "/gone"
auth = "none"
upstream = "http://{a}"
"#
    )
}

/// After the reload: `alpha` asks for the scope `write` on `/alpha/write`, `gone` is gone,
/// `beta` is new (to upstream `b`, prefix stripped).
fn routes_after(a: SocketAddr, b: SocketAddr) -> String {
    format!(
        r#"
[[routes]]
name = "alpha"
path = "/alpha"
service_key = "{SERVICE}"
upstream = "http://{a}"
require_scopes = [{{ path = "/alpha/write", scope = "write" }}]

[[routes]]
name = "beta"
path = "/beta"
service_key = "{SERVICE}"
upstream = "http://{b}"
strip_prefix = true
"#
    )
}

/// Clients sending `GET /alpha/items` with `token` until `stop`, counting what they got.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    /// `h1` clients over HTTP/1.1 and `h2` over h2 (prior knowledge), each on a connection
    /// of its own kept alive across the reload.
    fn start(public: SocketAddr, token: &str, h1: usize, h2: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..h1 + h2)
            .map(|i| {
                let builder = reqwest::Client::builder().pool_max_idle_per_host(1);
                let http = match i < h1 {
                    true => builder.http1_only(),
                    false => builder.http2_prior_knowledge(),
                }
                .build()
                .unwrap();
                let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
                let token = token.to_owned();
                tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let res = http
                            .get(format!("http://{public}/alpha/items"))
                            .bearer_auth(&token)
                            .send()
                            .await;
                        match res {
                            Ok(res) if res.status() == 200 => {
                                let want = match i < h1 {
                                    true => http::Version::HTTP_11,
                                    false => http::Version::HTTP_2,
                                };
                                assert_eq!(res.version(), want);
                                let _ = res.bytes().await;
                            }
                            Ok(res) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                failures.push(format!("{}", res.status()));
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                failures.push(e.to_string());
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    failures
                })
            })
            .collect();
        Load {
            stop,
            done,
            failed,
            tasks,
        }
    }

    /// Waits until the clients have sent `more` requests after this call.
    async fn wait_for(&self, more: u64) {
        let target = self.done.load(Ordering::Relaxed) + more;
        while self.done.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops the clients; the requests sent and every failure.
    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for task in self.tasks {
            failures.extend(task.await.unwrap());
        }
        assert_eq!(self.failed.load(Ordering::Relaxed), failures.len() as u64);
        (self.done.load(Ordering::Relaxed), failures)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sighup_reloads_routes_and_scope_rules_under_load_without_a_failed_request() {
    let a = Recorder::start().await;
    let b = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let before = ServeConfig::sqlite().append(&routes_before(a.addr)).toml();
    let gateway = Gateway::start_logged(dir.path(), &before, "warn,tokengate=info");
    let (public, admin) = (gateway.public(), gateway.admin);
    // The SQLite change feed flushes the cache once as it starts: after that, a miss is a
    // token not cached.
    for _ in 0..POLLS {
        if metric(admin, "tokengate_change_feed_flushes_total").await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        metric(admin, "tokengate_change_feed_flushes_total").await,
        1
    );
    let read = token(admin, "read").await;
    let http = reqwest::Client::new();

    // Before: `/gone` is served, `/alpha/write` needs no scope, `/beta` is no route.
    let (status, _) = get(&http, format!("http://{public}/gone/x"), None).await;
    assert_eq!(status, 200);
    let (status, _) = get(&http, format!("http://{public}/alpha/write"), Some(&read)).await;
    assert_eq!(status, 200);
    let (status, _) = get(&http, format!("http://{public}/beta/x"), Some(&read)).await;
    assert_eq!(status, 404);
    let misses = metric(admin, "tokengate_cache_misses_total").await;

    // Under load (two HTTP/1.1 and two h2 clients), the new file and SIGHUP.
    let load = Load::start(public, &read, 2, 2);
    load.wait_for(1_500).await;
    let after = ServeConfig::sqlite()
        .append(&routes_after(a.addr, b.addr))
        .toml();
    std::fs::write(dir.path().join("tokengate.toml"), &after).unwrap();
    gateway.hang_up();
    wait_for_reloads(admin, "ok", 1).await;
    load.wait_for(1_500).await;
    let (sent, failures) = load.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} failed: {failures:?}",
        failures.len()
    );
    assert!(sent >= 3_000, "{sent}");
    eprintln!("{sent} requests (HTTP/1.1 and h2) across the reload, none failed");

    // The new route, its prefix stripped; the removed one is 404 (JSON); the new scope rule.
    b.take();
    let (status, body) = get(&http, format!("http://{public}/beta/items/1"), Some(&read)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(b.take_one("the new route").uri, "/items/1");
    a.take();
    let (status, body) = get(&http, format!("http://{public}/gone/x"), None).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "not_found"
    );
    let (status, _) = get(&http, format!("http://{public}/alpha/write"), Some(&read)).await;
    assert_eq!(status, 403, "the route's new scope rule");
    a.assert_nothing("refused after the reload");
    let write = token(admin, "read write").await;
    let (status, _) = get(&http, format!("http://{public}/alpha/write"), Some(&write)).await;
    assert_eq!(status, 200);
    // The token cache survived the reload: the load's token was looked up once, before it.
    assert_eq!(
        metric(admin, "tokengate_change_feed_flushes_total").await,
        1
    );
    assert_eq!(
        metric(admin, "tokengate_cache_misses_total").await,
        misses + 1,
        "one miss for the `write` token only"
    );
    // The route's counters carry on: every request of the load is counted.
    let allowed = metric(
        admin,
        "tokengate_route_requests_total{route=\"alpha\",outcome=\"allowed\"}",
    )
    .await;
    assert!(allowed >= sent + 2, "{allowed} < {sent} + 2");

    // A configuration that does not validate: refused, the old one still serving.
    let bad = after.replace(
        &format!("name = \"beta\"\npath = \"/beta\"\nservice_key = \"{SERVICE}\""),
        "name = \"beta\"\npath = \"/beta\"\nservice_key = \"nosuchservice00000000000\"",
    );
    assert_ne!(bad, after);
    std::fs::write(dir.path().join("tokengate.toml"), &bad).unwrap();
    gateway.hang_up();
    wait_for_reloads(admin, "error", 1).await;
    assert_eq!(
        metric(admin, "tokengate_config_reloads_total{result=\"ok\"}").await,
        1
    );
    let (status, _) = get(&http, format!("http://{public}/beta/items/2"), Some(&read)).await;
    assert_eq!(status, 200, "the configuration in force still serves");
    let logs = gateway.logs();
    let refused = logs
        .lines()
        .find(|l| l.contains("configuration reload refused"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(refused.contains("tokengate.toml"), "{refused}");
    assert!(refused.contains("routes[1].service_key"), "{refused}");
    assert!(refused.contains("nosuchservice00000000000"), "{refused}");

    // A change only a restart makes: said at WARN, the running value kept, the rest applied.
    let moved = after
        .replace(
            "listen = \"127.0.0.1:0\"\ncredentials",
            "listen = \"127.0.0.1:1\"\ncredentials",
        )
        .replace("path = \"/beta\"", "path = \"/gamma\"");
    assert_ne!(moved, after);
    std::fs::write(dir.path().join("tokengate.toml"), &moved).unwrap();
    gateway.hang_up();
    wait_for_reloads(admin, "ok", 2).await;
    let (status, _) = get(&http, format!("http://{public}/gamma/x"), Some(&read)).await;
    assert_eq!(status, 200);
    let logs = gateway.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("admin.listen") && l.contains("restart")),
        "{logs}"
    );
    assert!(!logs.contains(&read), "a token in the log");
    gateway.terminate();
}

/// A `[[services]]`/`[[clients]]` configuration of one service on a memory store, with the
/// client's `status`, listening on ports from the OS.
fn library_config(a: SocketAddr, status: &str, issue_rate: &str) -> Config {
    Config::from_toml(
        &format!(
            r#"
[store]
url = "memory:"
[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "ops", secret = "change-me" }}]
[public]
listen = "127.0.0.1:0"
upstream = "http://{a}"
[[services]]
key = "{SERVICE}"
grants = ["client_credentials"]
{issue_rate}
[[clients]]
id = 1
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "App"
status = "{status}"
services = ["{SERVICE}"]
"#
        ),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn the_library_handle_reloads_clients_and_limits_and_keeps_the_cache() {
    let a = Recorder::start().await;
    let server = Server::bind(library_config(a.addr, "active", ""))
        .await
        .unwrap();
    let public = server.public_addr().unwrap();
    let reloader = server.config_reloader().clone();
    let metrics = server.metrics().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let issue = || async {
        http.post(format!("http://{public}/oauth2/token"))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    };
    let res = issue().await;
    assert_eq!(res.status(), 200);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = get(&http, format!("http://{public}/x"), Some(&token)).await;
    assert_eq!(status, 200);

    // The same configuration again: the cache keeps the token (no second miss).
    let misses = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("tokengate_cache_misses_total "))
            .unwrap()
            .to_owned()
    };
    let before = misses(&metrics.render());
    reloader
        .reload_with(library_config(a.addr, "active", ""))
        .await
        .unwrap();
    let (status, _) = get(&http, format!("http://{public}/x"), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(misses(&metrics.render()), before, "the cache survived");

    // Without a file to read again, `reload` is refused and counted.
    let err = reloader.reload().await.unwrap_err();
    assert!(err.to_string().contains("not read from a file"), "{err}");
    assert!(metrics
        .render()
        .contains("tokengate_config_reloads_total{result=\"error\"} 1"));

    // A client disabled by a reload: its cached token is refused at once (the memory store
    // has no change feed: the reload evicts what it ended), and the issuance limit applies.
    reloader
        .reload_with(library_config(
            a.addr,
            "disabled",
            "issue_rate = { per_minute = 1, burst = 1 }",
        ))
        .await
        .unwrap();
    let (status, _) = get(&http, format!("http://{public}/x"), Some(&token)).await;
    assert_eq!(status, 401, "the disabled client's token");
    reloader
        .reload_with(library_config(
            a.addr,
            "active",
            "issue_rate = { per_minute = 1, burst = 1 }",
        ))
        .await
        .unwrap();
    assert_eq!(issue().await.status(), 200);
    let limited = issue().await;
    assert_eq!(limited.status(), 429, "the reloaded issue_rate");
    let text = metrics.render();
    assert!(
        text.contains("tokengate_config_reloads_total{result=\"ok\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("tokengate_limited_total{limit=\"issue\"} 1"),
        "{text}"
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_built_by_a_reload_hears_revocations_by_other_processes() {
    let a = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: &str| {
        ServeConfig::sqlite()
            .public(extra)
            .append(&routes_before(a.addr))
            .toml()
    };
    let gateway = Gateway::start(dir.path(), &config(""));
    let (public, admin) = (gateway.public(), gateway.admin);
    let read = token(admin, "read").await;
    let http = reqwest::Client::new();
    let (status, _) = get(&http, format!("http://{public}/alpha/x"), Some(&read)).await;
    assert_eq!(status, 200);

    // New cache settings: the service's cache is built anew, and fed like the first.
    std::fs::write(
        dir.path().join("tokengate.toml"),
        config("cache_ttl_secs = 3000"),
    )
    .unwrap();
    gateway.hang_up();
    wait_for_reloads(admin, "ok", 1).await;
    let (status, _) = get(&http, format!("http://{public}/alpha/x"), Some(&read)).await;
    assert_eq!(status, 200, "cached in the new cache");
    // Another process on the file.
    let out = common::process::tokengate_with(dir.path(), &["token", "revoke", "-"], &read);
    assert!(out.status.success(), "{out:?}");
    for _ in 0..POLLS {
        let (status, _) = get(&http, format!("http://{public}/alpha/x"), Some(&read)).await;
        if status == 401 {
            gateway.terminate();
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the token revoked by another process is still accepted by the new cache");
}

/// Public routes on a memory store: `name` at `/name` to `upstream`, for each pair.
fn public_routes(routes: &[(&str, SocketAddr)]) -> Config {
    let mut text = String::from(
        "[store]\nurl = \"memory:\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [public]\nlisten = \"127.0.0.1:0\"\n",
    );
    for (name, upstream) in routes {
        text.push_str(&format!(
            "[[routes]]\nname = \"{name}\"\npath = \"/{name}\"\nauth = \"none\"\n\
             upstream = \"http://{upstream}\"\n"
        ));
    }
    Config::from_toml(&text, None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_under_way_finishes_on_the_configuration_it_started_with() {
    // An upstream that answers only when the test says so.
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let slow = common::serve(tower::service_fn(move |_req: http::Request<_>| {
        let (arrived_tx, gate) = (arrived_tx.clone(), gate.clone());
        async move {
            let _ = arrived_tx.send(());
            let _permit = gate.acquire().await.unwrap();
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"slow"),
            )))
        }
    }))
    .await;
    let other = Recorder::start().await;
    let server = Server::bind(public_routes(&[("slow", slow)]))
        .await
        .unwrap();
    let public = server.public_addr().unwrap();
    let reloader = server.config_reloader().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    let under_way = tokio::spawn({
        let http = http.clone();
        async move { get(&http, format!("http://{public}/slow/1"), None).await }
    });
    arrived.recv().await.unwrap();
    // The route is gone for the requests that come now; the one under way carries on.
    reloader
        .reload_with(public_routes(&[("other", other.addr)]))
        .await
        .unwrap();
    let (status, _) = get(&http, format!("http://{public}/slow/2"), None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&http, format!("http://{public}/other/3"), None).await;
    assert_eq!(status, 200);
    assert!(!under_way.is_finished());
    release.add_permits(1);
    assert_eq!(under_way.await.unwrap(), (200, "slow".to_owned()));
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_marked_out_stays_out_across_a_reload() {
    let alive = Recorder::start().await;
    // A port nothing listens on: every connect is refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = |extra: &str| {
        Config::from_toml(
            &format!(
                "[store]\nurl = \"memory:\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
                 [public]\nlisten = \"127.0.0.1:0\"\n\
                 [[routes]]\nname = \"pair\"\npath = \"/pair\"\nauth = \"none\"\n\
                 upstreams = [\"http://{dead}\", \"http://{}\"]\nmark_out_secs = 600\n{extra}",
                alive.addr
            ),
            None,
        )
        .unwrap()
    };
    let server = Server::bind(config("")).await.unwrap();
    let public = server.public_addr().unwrap();
    let reloader = server.config_reloader().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    // The first turn goes to the dead upstream: one 502, and it is out.
    let (status, _) = get(&http, format!("http://{public}/pair/0"), None).await;
    assert_eq!(status, 502);
    // A reload that changes the route (its body limit): the dead upstream stays out.
    reloader
        .reload_with(config("max_body_bytes = 1024\n"))
        .await
        .unwrap();
    for i in 1..=6 {
        let (status, body) = get(&http, format!("http://{public}/pair/{i}"), None).await;
        assert_eq!(status, 200, "request {i} after the reload: {body}");
    }
    assert_eq!(alive.take().len(), 6);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
