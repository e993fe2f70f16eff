//! `[[routes]]` end to end: `tokengate serve` in front of four recording upstreams with routes
//! for two services on two hosts, a public route, `strip_prefix`, and two upstreams behind one
//! route, one of which dies during the test.
#![cfg(unix)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::{json, Value};

use common::config::ServeConfig;
use common::process::Gateway;
use common::upstream::Recorder;
use common::{OTHER_SERVICE, SERVICE, WEB_CLIENT, WEB_SECRET};

const CLIENT_ID: &str = "x-mashery-oauth-client-id";

/// A recording upstream that can be killed: its listener and every connection close.
struct Mortal {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Mortal {
    async fn start() -> Mortal {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sink = sink.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    sink.lock().unwrap().push(req.uri().to_string());
                    async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("mortal")))) }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Mortal { addr, seen, task }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// Closes the listener and every connection (the connection set is dropped with the task).
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn token_for(admin: SocketAddr, service: &str, scope: &str) -> String {
    let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let data = json!({"grant_type": "client_credentials", "scope": scope});
    let reply = common::admin::call(
        admin,
        "oauth2.createAccessToken",
        json!([service, client, data, null, null]),
    )
    .await;
    reply["result"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

struct Client {
    http: reqwest::Client,
    public: SocketAddr,
}

impl Client {
    async fn get(&self, host: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .get(format!("http://{}{path}", self.public))
            .header("host", host)
            .header(CLIENT_ID, "forged")
            .header("x-oauth-client-id", "forged");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_prefix_balance_and_survive_a_dead_upstream() {
    let a = Recorder::start().await;
    let b = Mortal::start().await;
    let other = Recorder::start().await;
    let docs = Recorder::start().await;
    let routes = format!(
        r#"
[[routes]]
name = "reviews"
host = "api.example.com"
path = "/reviews"
service_key = "{SERVICE}"
upstreams = ["http://{a}", "http://{b}"]
strip_prefix = true
mark_out_secs = 600
require_scopes = [{{ path = "/reviews/admin", scope = "admin" }}]

[[routes]]
name = "reviews-any-host"
path = "/reviews"
service_key = "{SERVICE}"
upstream = "http://{docs}"

[[routes]]
name = "other"
host = "*.other.example"
service_key = "{OTHER_SERVICE}"
upstream = "http://{other}"
headers = "neutral"

[[routes]]
name = "docs"
path = "/docs"
auth = "none"
upstream = "http://{docs}"
"#,
        a = a.addr,
        b = b.addr,
        other = other.addr,
        docs = docs.addr,
    );
    let config = ServeConfig::sqlite().other_service().append(&routes).toml();
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &config);
    let client = Client {
        http: reqwest::Client::new(),
        public: gateway.public(),
    };
    let reviews = token_for(gateway.admin, SERVICE, "read").await;
    let others = token_for(gateway.admin, OTHER_SERVICE, "read").await;

    // Round-robin over both upstreams, the prefix stripped, the identity the gateway's.
    for i in 0..4 {
        let (status, body) = client
            .get(
                "api.example.com",
                &format!("/reviews/items/{i}?x=1"),
                Some(&reviews),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let at_a = a.take();
    let at_b = b.take();
    assert_eq!((at_a.len(), at_b.len()), (2, 2), "{at_b:?}");
    for received in &at_a {
        assert!(received.uri.starts_with("/items/") && received.uri.ends_with("?x=1"));
        assert_eq!(received.one(CLIENT_ID), WEB_CLIENT);
    }
    assert!(
        at_b.iter().all(|uri| uri.starts_with("/items/")),
        "{at_b:?}"
    );

    // The other service's token is not one of this route's service: 401, nothing forwarded.
    let (status, _) = client
        .get("api.example.com", "/reviews/1", Some(&others))
        .await;
    assert_eq!(status, 401);
    // The route's own scope rule, on the path the client sent.
    let (status, _) = client
        .get("api.example.com", "/reviews/admin/x", Some(&reviews))
        .await;
    assert_eq!(status, 403);
    assert!(a.take().is_empty() && b.take().is_empty());
    // Spellings of the same path that must meet the same rule (or be refused): never forwarded.
    let mut refused_by_scope = 0;
    for path in [
        "/reviews/%61dmin/x",
        "/reviews//admin/x",
        "/reviews/%2e/admin/x",
        "/reviews/x/%2e%2e/admin/x",
        "/reviews/admin%2Fx",
    ] {
        let (status, body) = client.get("api.example.com", path, Some(&reviews)).await;
        assert!(matches!(status, 400 | 403 | 404), "{path}: {status} {body}");
        refused_by_scope += u64::from(status == 403);
        assert!(
            a.take().is_empty() && b.take().is_empty(),
            "{path} reached an upstream"
        );
        assert!(
            docs.take().is_empty() && other.take().is_empty(),
            "{path} was forwarded"
        );
    }

    // Another host: the route without a host, no strip.
    let (status, _) = client
        .get("elsewhere.test", "/reviews/1", Some(&reviews))
        .await;
    assert_eq!(status, 200);
    let at_docs = docs.take();
    assert_eq!(at_docs.len(), 1);
    assert_eq!(at_docs[0].uri, "/reviews/1");

    // The wildcard host, the second service, the neutral header preset.
    let (status, _) = client
        .get("eu.other.example", "/anything/at/all", Some(&others))
        .await;
    assert_eq!(status, 200);
    let at_other = other.take();
    assert_eq!(at_other.len(), 1);
    assert_eq!(at_other[0].uri, "/anything/at/all");
    // The forged value is gone, the gateway's is the only one.
    assert_eq!(at_other[0].one("x-oauth-client-id"), WEB_CLIENT);
    let (status, _) = client.get("eu.other.example", "/x", Some(&reviews)).await;
    assert_eq!(
        status, 401,
        "a token of the first service on the second's route"
    );

    // No route: 404 JSON, nothing forwarded anywhere.
    let (status, body) = client
        .get("other.example", "/anything", Some(&others))
        .await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "not_found");

    // The public route: no token, forged identity headers removed.
    let (status, body) = client.get("any.host", "/docs/intro", None).await;
    assert_eq!(status, 200, "{body}");
    let at_docs = docs.take();
    assert_eq!(at_docs.len(), 1);
    assert_eq!(at_docs[0].uri, "/docs/intro");
    // The route's (the default, Mashery) identity headers are removed; the neutral name is
    // not one of this route's.
    assert!(
        at_docs[0].headers.get(CLIENT_ID).is_none(),
        "{:?}",
        at_docs[0].headers
    );
    assert!(a.take().is_empty() && other.take().is_empty());

    // One upstream dies: at most one request fails (502), then all go to the other.
    b.kill().await;
    let mut failed = 0;
    for i in 0..8 {
        let (status, _) = client
            .get(
                "api.example.com",
                &format!("/reviews/after/{i}"),
                Some(&reviews),
            )
            .await;
        match status {
            200 => {}
            502 => failed += 1,
            other => panic!("status {other}"),
        }
    }
    assert!(failed <= 1, "{failed} failed");
    assert_eq!(a.take().len(), 8 - failed);

    // Per-route metrics, labelled with the configured names only.
    let metrics = reqwest::get(format!("http://{}/metrics", gateway.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"tokengate_route_requests_total{route="reviews",outcome="allowed"}"#),
        "{metrics}"
    );
    let line = |prefix: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {metrics}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        line(r#"tokengate_route_requests_total{route="reviews",outcome="insufficient_scope"}"#),
        1 + refused_by_scope
    );
    assert_eq!(
        line(r#"tokengate_route_upstream_duration_seconds_count{route="other"}"#),
        1
    );
    gateway.terminate();
}

/// `examples/multi_api.toml` (the example of docs/gateway.md) under `tokengate serve`, its upstreams
/// replaced by recorders: each route reaches its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_api_example_serves_each_route() {
    let upstreams = [
        Recorder::start().await,
        Recorder::start().await,
        Recorder::start().await,
        Recorder::start().await,
    ];
    let mut text = include_str!("../examples/multi_api.toml").to_owned();
    for (port, listen) in [("8080", "0"), ("8081", "0")] {
        text = text.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{listen}"));
    }
    for (i, upstream) in upstreams.iter().enumerate() {
        let from = format!("127.0.0.1:{}", 9001 + i);
        assert!(text.contains(&from), "{from}");
        text = text.replace(&from, &upstream.addr.to_string());
    }
    text = text.replace(
        "credentials = [{ key = \"ops\", secret = \"change-me\" }]",
        &format!(
            "credentials = [{{ key = \"{}\", secret = \"{}\" }}]",
            common::ADMIN_KEY,
            common::ADMIN_SECRET
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &text);
    let client = Client {
        http: reqwest::Client::new(),
        public: gateway.public(),
    };
    let token = |service: &'static str, scope: &'static str| {
        let client =
            json!({"client_id": "shopfront00000000000000", "client_secret": "change-me-too"});
        let data = json!({"grant_type": "client_credentials", "scope": scope});
        let admin = gateway.admin;
        async move {
            let reply = common::admin::call(
                admin,
                "oauth2.createAccessToken",
                json!([service, client, data, null, null]),
            )
            .await;
            reply["result"]["access_token"].as_str().unwrap().to_owned()
        }
    };
    let reviews = token("reviewsapi00000000000000", "read").await;
    let orders = token("ordersapi000000000000000", "orders").await;

    for _ in 0..2 {
        let (status, _) = client
            .get("api.example.com", "/reviews/7", Some(&reviews))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = client
        .get("eu.orders.example.com", "/o/1", Some(&orders))
        .await;
    assert_eq!(status, 200);
    let (status, _) = client.get("api.example.com", "/docs/", None).await;
    assert_eq!(status, 200);
    let (status, _) = client
        .get("api.example.com", "/other", Some(&reviews))
        .await;
    assert_eq!(status, 404);
    let seen: Vec<Vec<String>> = upstreams
        .iter()
        .map(|u| u.take().into_iter().map(|r| r.uri).collect())
        .collect();
    assert_eq!(
        seen,
        [vec!["/7"], vec!["/7"], vec!["/o/1"], vec!["/docs/"]],
        "{seen:?}"
    );
    gateway.terminate();
}

/// A route naming a service that is neither configured nor stored is refused at start, with
/// the route and key named.
#[tokio::test]
async fn an_unknown_service_key_is_refused_at_start() {
    let text = "[store]\nurl = \"memory:\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
                [public]\nlisten = \"127.0.0.1:0\"\n\
                [[routes]]\nname = \"ghost\"\nservice_key = \"nosuchservice\"\n\
                upstream = \"http://127.0.0.1:9\"\n";
    let config = tokengate::server::Config::from_toml(text, None).unwrap();
    let err = match tokengate::server::Server::bind(config).await {
        Ok(_) => panic!("started"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.contains("routes[0].service_key") && err.contains("`ghost`"),
        "{err}"
    );
}

/// The README's multi-API example is `examples/multi_api.toml` (which the test above serves),
/// line for line, so it stays a complete configuration that runs.
#[test]
fn the_readme_multi_api_example_is_the_served_example() {
    let example = include_str!("../examples/multi_api.toml");
    let body: String = example
        .lines()
        .skip_while(|line| line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let readme = include_str!("../README.md");
    let block = format!("```toml\n{}\n```", body.trim());
    assert!(readme.contains(&block), "README.md lacks:\n{block}");
    let config = tokengate::server::Config::from_toml(body.trim(), None).unwrap();
    assert!(config.routes.len() >= 3 && config.services.len() >= 2);
}
