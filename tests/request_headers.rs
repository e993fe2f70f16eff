//! The request headers and parameters the gateway refuses or drops before the upstream (the
//! smaller findings of issue 12), over real sockets: `tokengate serve` (SQLite in a temporary
//! directory) in front of a recording upstream, each case sent as raw HTTP/1.1 and, where the
//! form can be sent over HTTP/2, with hyper's h2 client; each asserts the status and exactly
//! what the upstream received, or that it received nothing:
//!
//! - `_`/`.` aliases of framing and forwarding headers (`Transfer_Encoding`, `Content.Length`,
//!   `X_Forwarded_For`) are 400;
//! - a missing, repeated or invalid `Host`, or one that disagrees with the absolute-form
//!   target or `:authority`, is 400, and `X-Forwarded-Host` is the validated host;
//! - client claims about the connection or the target (`X-Real-IP`, `X-Original-URL`,
//!   `X-HTTP-Method-Override`, …) are dropped, every copy, any case, and the list is
//!   configurable (`public.drop_request_headers`);
//! - a query parameter spelled so that an upstream may read it as `access_token`
//!   (`ACCESS_TOKEN`, `access%5Ftoken`, `%61ccess_token`, `access_token%3D`, `access_token[]`)
//!   is 400 beside a token: the upstream never receives a token in its URL.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;

use serde_json::{json, Value};

use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::{send_raw, Raw};
use common::upstream::{Received, Recorder};
use common::{ADMIN_KEY, ADMIN_SECRET, SERVICE, WEB_CLIENT, WEB_SECRET};

const INVALID_REQUEST: &str = "Bearer realm=\"tokengate\", error=\"invalid_request\"";

/// `tokengate serve` in front of a fresh recorder, with a token.
struct Node {
    gateway: Gateway,
    upstream: Recorder,
    token: String,
    _dir: tempfile::TempDir,
}

impl Node {
    /// With more `[public]` and service lines; query tokens are allowed.
    async fn start(public: &str) -> Node {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig::sqlite()
            .public(&format!(
                "upstream = \"http://{}\"\n{public}",
                upstream.addr
            ))
            .service("allow_query_tokens = true")
            .toml();
        let gateway = Gateway::start(dir.path(), &config);
        let token = issue(gateway.admin).await;
        Node {
            gateway,
            upstream,
            token,
            _dir: dir,
        }
    }

    fn public(&self) -> SocketAddr {
        self.gateway.public()
    }

    /// `request` (`\r\n` line ends, without the blank line) with the token and
    /// `Connection: close`, on a fresh connection.
    async fn raw(&self, request: &str) -> Raw {
        let request = format!(
            "{request}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.token
        );
        send_raw(self.public(), request.as_bytes()).await
    }

    /// `GET target` over HTTP/1.1 with `Host: gateway.test`, the token and `headers`.
    async fn get(&self, target: &str, headers: &[&str]) -> Raw {
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: gateway.test");
        for header in headers {
            request.push_str("\r\n");
            request.push_str(header);
        }
        self.raw(&request).await
    }

    /// `GET path` over HTTP/2 (`:authority` the listener's address) with the token and
    /// `headers` (`(name, value)`, sent as given).
    async fn h2_get(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
        common::raw::h2_get(self.public(), &self.token, path, headers).await
    }

    /// The only request the upstream received since the last call.
    fn one(&self, case: &str) -> Received {
        self.upstream.take_one(case)
    }

    fn nothing(&self, case: &str) {
        self.upstream.assert_nothing(case)
    }
}

/// A password-grant token of the seed service for the web client (JSON-RPC, no scope).
async fn issue(admin: SocketAddr) -> String {
    let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let body = json!({
        "jsonrpc": "2.0",
        "method": "oauth2.createAccessToken",
        "params": [SERVICE, client, {"grant_type": "password"}, null, "alice"],
        "id": 1,
    });
    let reply: Value = reqwest::Client::new()
        .post(format!("http://{admin}/v2/json-rpc"))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["result"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {reply}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_of_framing_and_forwarding_headers_are_refused() {
    let node = Node::start("").await;
    // Refused by the layer (400 invalid_request), before the token is looked at.
    let framing = [
        "Transfer_Encoding: chunked",
        "Transfer.Encoding: chunked",
        "Content_Length: 5",
        "Content.Length: 5",
        "content_length: 0",
        "Proxy_Authorization: Basic dTpw",
        "Proxy_Connection: keep-alive",
        "Keep_Alive: timeout=5",
        "Proxy.Authenticate: Basic",
    ];
    // Refused by the proxy (400): aliases of what it sets or drops.
    let forwarding = [
        "X_Forwarded_For: 6.6.6.6",
        "X.Forwarded.Host: evil.example",
        "X_Forwarded_Proto: https",
        "X_Real_IP: 6.6.6.6",
        "X_Original_URL: /admin",
        "X_HTTP_Method_Override: DELETE",
        "True_Client_IP: 6.6.6.6",
    ];
    for alias in framing.iter().chain(&forwarding) {
        let res = node.get("/reviews", &[alias]).await;
        assert_eq!(res.status, 400, "{alias}: {res:?}");
        if framing.contains(alias) {
            assert_eq!(res.challenge(), Some(INVALID_REQUEST), "{alias}");
        }
        // Beside the real header too (framing a body when it is a framing header).
        let (name, value) = alias.split_once(": ").unwrap();
        let real = name.replace(['_', '.'], "-").to_ascii_lowercase();
        let auth = format!("Authorization: Bearer {}", node.token);
        let head = format!("POST /upload HTTP/1.1\r\nHost: g\r\nConnection: close\r\n{auth}");
        let request = match real.as_str() {
            "content-length" => format!("{head}\r\nContent-Length: 5\r\n{alias}\r\n\r\nhello"),
            "transfer-encoding" => format!(
                "{head}\r\nTransfer-Encoding: chunked\r\n{alias}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            ),
            _ => format!("{head}\r\n{real}: {value}\r\n{alias}\r\nContent-Length: 0\r\n\r\n"),
        };
        let res = send_raw(node.public(), request.as_bytes()).await;
        assert_eq!(res.status, 400, "{alias} beside the real one: {res:?}");
        node.nothing(alias);
        // Over HTTP/2 (where the real framing headers cannot be sent at all).
        let name = name.to_ascii_lowercase();
        assert_eq!(
            node.h2_get("/h2", &[(&name, value)]).await,
            400,
            "h2 {alias}"
        );
        node.nothing(&format!("h2 {alias}"));
    }
    // No token either: still the alias that is answered.
    let res = send_raw(
        node.public(),
        b"GET /r HTTP/1.1\r\nHost: g\r\nTransfer_Encoding: chunked\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 400);
    node.nothing("no token");

    // The real names, and names that only look alike, pass: exactly as sent.
    let res = node
        .get(
            "/reviews",
            &[
                "Content-Length: 0",
                "X-Forwarded-Proto_x: 1",
                "Content_Type: text/plain",
                "X_Custom_Header: 1",
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = node.one("look-alikes");
    assert_eq!(seen.one("x-forwarded-proto_x"), "1");
    assert_eq!(seen.one("content_type"), "text/plain");
    assert_eq!(seen.one("x_custom_header"), "1");
    assert_eq!(seen.one("x-forwarded-proto"), "http");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_is_validated_and_is_what_x_forwarded_host_says() {
    let node = Node::start("").await;
    // No host at all: the public listener refuses it (400, without a challenge), before the
    // layer or the proxy.
    for (case, request) in [
        ("no Host", "GET /reviews HTTP/1.1"),
        (
            "absolute-form, no Host",
            "GET http://a.example/reviews HTTP/1.1",
        ),
    ] {
        let res = node.raw(request).await;
        assert_eq!(res.status, 400, "{case}: {res:?}");
        assert_eq!(res.challenge(), None, "{case}");
        assert_eq!(res.body, "bad or missing Host\n", "{case}");
        node.nothing(case);
    }
    let line = "GET /reviews HTTP/1.1";
    for (case, request) in [
        (
            "two Hosts",
            format!("{line}\r\nHost: a.example\r\nHost: a.example"),
        ),
        (
            "two Hosts differing",
            format!("{line}\r\nHost: a.example\r\nhost: b.example"),
        ),
        ("a list", format!("{line}\r\nHost: a.example, b.example")),
        ("user info", format!("{line}\r\nHost: user@evil.example")),
        (
            "user and password",
            format!("{line}\r\nHost: u:p@evil.example"),
        ),
        ("a path", format!("{line}\r\nHost: evil.example/x")),
        ("a space", format!("{line}\r\nHost: evil example")),
        ("a backslash", format!("{line}\r\nHost: evil.example\\x")),
        ("empty", format!("{line}\r\nHost: ")),
        ("empty port", format!("{line}\r\nHost: a.example:")),
        ("big port", format!("{line}\r\nHost: a.example:65536")),
        ("named port", format!("{line}\r\nHost: a.example:http")),
        ("bad IPv6", format!("{line}\r\nHost: [::1")),
        ("IPv6 zone", format!("{line}\r\nHost: [fe80::1%25eth0]")),
        ("percent", format!("{line}\r\nHost: %65vil.example")),
        (
            "absolute-form, another Host",
            "GET http://a.example/reviews HTTP/1.1\r\nHost: b.example".to_owned(),
        ),
        (
            "absolute-form, another port",
            "GET http://a.example:81/reviews HTTP/1.1\r\nHost: a.example".to_owned(),
        ),
        (
            "absolute-form with user info",
            "GET http://u@a.example/reviews HTTP/1.1\r\nHost: a.example".to_owned(),
        ),
    ] {
        let res = node.raw(&request).await;
        assert_eq!(res.status, 400, "{case}: {res:?}");
        assert_eq!(res.body, "bad or missing Host\n", "{case}");
        node.nothing(case);
    }
    // Without a token, the Host is still answered first.
    let res = send_raw(
        node.public(),
        b"GET /r HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 400);
    node.nothing("no token");

    let upstream = node.upstream.addr.to_string();
    for (case, request, forwarded_host) in [
        (
            "name and port",
            "GET /r HTTP/1.1\r\nHost: Gateway.Example:8080".to_owned(),
            Some("Gateway.Example:8080"),
        ),
        (
            "IPv6",
            "GET /r HTTP/1.1\r\nHost: [2001:db8::1]:80".to_owned(),
            Some("[2001:db8::1]:80"),
        ),
        (
            "absolute-form, the same host",
            "GET http://A.example/r HTTP/1.1\r\nHost: a.EXAMPLE:80".to_owned(),
            Some("a.EXAMPLE:80"),
        ),
        ("HTTP/1.0 without Host", "GET /r HTTP/1.0".to_owned(), None),
    ] {
        let res = node.raw(&request).await;
        assert_eq!(res.status, 200, "{case}: {res:?}");
        let seen = node.one(case);
        assert_eq!(seen.uri, "/r", "{case}");
        assert_eq!(seen.one("host"), upstream, "{case}");
        match forwarded_host {
            Some(host) => assert_eq!(seen.one("x-forwarded-host"), host, "{case}"),
            None => assert!(!seen.headers.contains_key("x-forwarded-host"), "{case}"),
        }
    }

    // HTTP/2: `:authority` is the host; a `Host` must agree with it.
    let authority = node.public().to_string();
    assert_eq!(node.h2_get("/h2", &[]).await, 200);
    assert_eq!(node.one("h2").one("x-forwarded-host"), authority);
    assert_eq!(node.h2_get("/h2", &[("host", &authority)]).await, 200);
    assert_eq!(
        node.one("h2, the same Host").one("x-forwarded-host"),
        authority
    );
    for (case, headers) in [
        ("h2, another Host", vec![("host", "evil.example")]),
        (
            "h2, two Hosts",
            vec![("host", authority.as_str()), ("host", authority.as_str())],
        ),
        ("h2, an invalid Host", vec![("host", "a b")]),
    ] {
        assert_eq!(node.h2_get("/h2", &headers).await, 400, "{case}");
        node.nothing(case);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_forwarding_and_override_headers_are_dropped() {
    let node = Node::start("").await;
    let claims = [
        "X-Real-IP: 6.6.6.6",
        "x-real-ip: 7.7.7.7",
        "TRUE-CLIENT-IP: 6.6.6.6",
        "X-Client-IP: 6.6.6.6",
        "X-Cluster-Client-IP: 6.6.6.6",
        "CF-Connecting-IP: 6.6.6.6",
        "Fastly-Client-IP: 6.6.6.6",
        "X-Forwarded-Port: 443",
        "X-Forwarded-Server: evil.example",
        "X-Forwarded-Scheme: https",
        "X-Forwarded-Ssl: on",
        "Front-End-Https: on",
        "X-Forwarded-Prefix: /admin",
        "X-Original-Host: evil.example",
        "X-Original-URL: /admin/delete",
        "X-Rewrite-URL: /admin/delete",
        "X-Original-URI: /admin/delete",
        "X-Forwarded-Uri: /admin/delete",
        "X-HTTP-Method-Override: DELETE",
        "x-http-method-override: PUT",
        "X-HTTP-Method: DELETE",
        "X-Method-Override: DELETE",
        "X-Original-Method: DELETE",
    ];
    let dropped: Vec<String> = claims
        .iter()
        .map(|c| c.split_once(':').unwrap().0.to_ascii_lowercase())
        .collect();
    let assert_dropped = |seen: &Received, case: &str| {
        for name in &dropped {
            assert!(!seen.headers.contains_key(name.as_str()), "{case}: {name}");
        }
        assert_eq!(seen.one("x-keep"), "1", "{case}");
        assert_eq!(seen.method, "GET", "{case}");
        assert_eq!(seen.uri, "/reviews", "{case}");
    };

    let mut headers = claims.to_vec();
    headers.push("X-Keep: 1");
    let res = node.get("/reviews", &headers).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = node.one("h1");
    assert_dropped(&seen, "h1");
    assert_eq!(seen.one("x-forwarded-for"), "127.0.0.1");

    let h2_headers: Vec<(String, &str)> = claims
        .iter()
        .map(|c| c.split_once(": ").unwrap())
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .chain([("x-keep".to_owned(), "1")])
        .collect();
    let h2_headers: Vec<(&str, &str)> = h2_headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(node.h2_get("/reviews", &h2_headers).await, 200);
    assert_dropped(&node.one("h2"), "h2");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dropped_headers_are_configurable() {
    let node = Node::start("drop_request_headers = [\"X-Tenant-Override\"]").await;
    let res = node
        .get(
            "/reviews",
            &[
                "X-Real-IP: 6.6.6.6",
                "X-Tenant-Override: 1",
                "x-tenant-override: 2",
            ],
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = node.one("custom list");
    assert_eq!(seen.one("x-real-ip"), "6.6.6.6", "no longer in the list");
    assert!(!seen.headers.contains_key("x-tenant-override"));
    let res = node.get("/reviews", &["X_Tenant_Override: 1"]).await;
    assert_eq!(res.status, 400, "its alias is refused");
    node.nothing("alias of a listed name");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_token_in_any_spelling_never_reaches_the_upstream() {
    let node = Node::start("").await;
    let token = node.token.clone();
    let spellings = [
        format!("access_token={token}"),
        format!("ACCESS_TOKEN={token}"),
        format!("Access_Token={token}"),
        format!("access%5Ftoken={token}"),
        format!("access%5ftoken={token}"),
        format!("%61ccess_token={token}"),
        format!("%61%63%63%65%73%73%5F%74%6F%6B%65%6E={token}"),
        format!("access_token%3D{token}"),
        format!("access_token[]={token}"),
        format!("access_token%5B%5D={token}"),
        format!("access.token={token}"),
        format!("+access_token={token}"),
        format!("%2561ccess_token={token}"),
    ];
    for spelling in &spellings {
        for query in [
            spelling.clone(),
            format!("page=2&{spelling}"),
            format!("page=2;{spelling}"),
        ] {
            let target = format!("/reviews?{query}");
            // Beside the header token.
            let res = node.get(&target, &[]).await;
            assert_eq!(res.status, 400, "{target}: {res:?}");
            assert_eq!(res.challenge(), Some(INVALID_REQUEST), "{target}");
            node.nothing(&target);
            assert_eq!(node.h2_get(&target, &[]).await, 400, "h2 {target}");
            node.nothing(&format!("h2 {target}"));
        }
        // Beside a query token (the service allows them): two copies.
        let target = format!("/reviews?access_token={token}&{spelling}");
        let request = format!("GET {target} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n");
        let res = send_raw(node.public(), request.as_bytes()).await;
        assert_eq!(res.status, 400, "{target}: {res:?}");
        node.nothing(&target);
    }
    // The exact name, form-decoded, alone: the token, taken out of the target.
    for (query, forwarded) in [
        (format!("access%5Ftoken={token}&page=2"), "/reviews?page=2"),
        (format!("page=2&access_token={token}"), "/reviews?page=2"),
    ] {
        let request =
            format!("GET /reviews?{query} HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n");
        let res = send_raw(node.public(), request.as_bytes()).await;
        assert_eq!(res.status, 200, "{query}: {res:?}");
        assert_eq!(node.one(&query).uri, forwarded);
    }
    // Names and values that only look alike go through untouched, beside the header token.
    let target = "/reviews?my_access_token=1&access_tokens=2&x=access_token&access-token=3";
    let res = node.get(target, &[]).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(node.one("look-alikes").uri, target);
}

#[tokio::test]
async fn every_public_path_refuses_a_missing_or_bad_host_also_without_an_upstream() {
    // The built-in echo (no upstream), `/healthz` and the OAuth endpoints: no proxy checks the
    // host there, so the listener does.
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &ServeConfig::sqlite().toml());
    let token = issue(gateway.admin).await;
    let good = "Host: gateway.test\r\n";
    for (path, extra) in [
        ("/reviews", format!("Authorization: Bearer {token}\r\n")),
        ("/healthz", String::new()),
        ("/oauth2/token", "Content-Length: 0\r\n".to_owned()),
        ("/.well-known/oauth-authorization-server", String::new()),
    ] {
        for (case, host) in [
            ("no Host", ""),
            ("two Hosts", "Host: a.example\r\nHost: b.example\r\n"),
            ("a list", "Host: a.example, b.example\r\n"),
            ("user info", "Host: u@a.example\r\n"),
        ] {
            let method = if path == "/oauth2/token" {
                "POST"
            } else {
                "GET"
            };
            let request =
                format!("{method} {path} HTTP/1.1\r\n{host}{extra}Connection: close\r\n\r\n");
            let res = send_raw(gateway.public(), request.as_bytes()).await;
            assert_eq!(res.status, 400, "{path}, {case}: {res:?}");
            assert_eq!(res.body, "bad or missing Host\n", "{path}, {case}");
        }
        let method = if path == "/oauth2/token" {
            "POST"
        } else {
            "GET"
        };
        let request = format!("{method} {path} HTTP/1.1\r\n{good}{extra}Connection: close\r\n\r\n");
        let res = send_raw(gateway.public(), request.as_bytes()).await;
        assert_ne!(
            res.body, "bad or missing Host\n",
            "{path} with a good Host: {res:?}"
        );
    }
    // HTTP/1.0 needs no Host.
    let res = send_raw(gateway.public(), b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(res.status, 200, "{res:?}");
}
