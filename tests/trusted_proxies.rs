//! Trusted proxies (issue 14), over real sockets: `tokengate serve` (SQLite in a temporary
//! directory) in front of a recording upstream that keeps every header as received.
//!
//! - a trusted peer's `X-Forwarded-For` chain is walked from the right: the upstream receives
//!   the client, the trusted hops and the peer (never the forged part left of the client),
//!   its `X-Forwarded-Proto` and `-Host`, and the `Forwarded` header built from them; the
//!   failed-authentication limit counts the client it names, and the log line names it;
//! - RFC 7239 `Forwarded` instead, with `trusted_proxy_header = "forwarded"`;
//! - an untrusted peer's forwarding headers, however forged or rotated, are replaced by the
//!   gateway's own, and the limit counts its real address;
//! - `::1` in the list, on an IPv6 listener;
//! - a trusted peer's request still needs one valid `Host` (HTTP/1.1 and h2), and its
//!   invalid `X-Forwarded-Host` is no host.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;

use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::{self as raw, send_raw, Raw};
use common::upstream::{Received, Recorder};
use common::WEB_CLIENT;

/// `tokengate serve` on `listen` with more `[public]` lines, in front of a fresh recorder.
struct Node {
    gateway: Gateway,
    upstream: Recorder,
    token: String,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(listen: &str, public: &str) -> Node {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig::sqlite()
            .public(&format!(
                "upstream = \"http://{}\"\n\
                 failed_auth_limit = {{ per_minute = 1, burst = 2 }}\n{public}",
                upstream.addr
            ))
            .toml()
            .replacen(
                "[public]\nlisten = \"127.0.0.1:0\"",
                &format!("[public]\nlisten = \"{listen}\""),
                1,
            );
        let gateway = Gateway::start_logged(dir.path(), &config, "tokengate=debug");
        let token = common::admin::token(gateway.admin, "").await;
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

    /// `GET /r` over HTTP/1.1 with the token, `Host: gateway.test` and `headers`.
    async fn get(&self, headers: &[&str]) -> Raw {
        let auth = format!("Authorization: Bearer {}", self.token);
        let all: Vec<&str> = [auth.as_str()]
            .into_iter()
            .chain(headers.iter().copied())
            .collect();
        raw::get(self.public(), "/r", &all).await
    }

    /// [`Node::get`] answers 200 and the upstream receives `expected` ([`forwarding`]).
    async fn expect(&self, case: &str, headers: &[&str], expected: [&str; 4]) {
        let res = self.get(headers).await;
        assert_eq!(res.status, 200, "{case}: {res:?}");
        assert_eq!(
            forwarding(&self.upstream.take_one(case)),
            expected,
            "{case}"
        );
    }

    /// `GET /r` over h2 (`:authority` the listener's address) with the token and `headers`.
    async fn h2_get(&self, headers: &[(&str, &str)]) -> u16 {
        raw::h2_get(self.public(), &self.token, "/r", headers).await
    }

    /// `POST /oauth2/token` with a wrong client secret and `headers`: the status.
    async fn wrong_secret(&self, headers: &[&str]) -> u16 {
        let body = "grant_type=client_credentials";
        let mut request = format!(
            "POST /oauth2/token HTTP/1.1\r\nHost: gateway.test\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Authorization: Basic {}\r\nConnection: close\r\n",
            body.len(),
            basic(WEB_CLIENT, "guess"),
        );
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        send_raw(self.public(), request.as_bytes()).await.status
    }

    /// Waits (up to 10 s) for a log line holding every one of `parts`: the lines reach the
    /// test through a pipe, after the response.
    async fn await_log(&self, parts: &[&str]) {
        for _ in 0..200 {
            let logs = self.gateway.logs();
            if logs.lines().any(|l| parts.iter().all(|p| l.contains(p))) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no log line with {parts:?}:\n{}", self.gateway.logs());
    }
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

/// What the upstream received of the forwarding headers: XFF, XFP, XFH, `Forwarded` (absent
/// as `-`).
fn forwarding(seen: &Received) -> [String; 4] {
    [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
    ]
    .map(|name| {
        let values: Vec<_> = seen.headers.get_all(name).iter().collect();
        assert!(values.len() <= 1, "{name} repeated: {values:?}");
        values
            .first()
            .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_peer_names_the_client_and_the_upstream_sees_the_appended_chain() {
    let node = Node::start(
        "127.0.0.1:0",
        "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\nforwarded_header = true",
    )
    .await;
    for (case, headers, expected) in [
        (
            "a chain with a forged start and a trusted hop",
            &[
                "X-Forwarded-For: 6.6.6.6, 198.51.100.7",
                "x-forwarded-for: 10.0.0.2",
                "X-Forwarded-Proto: https",
                "X-Forwarded-Host: api.example.com:8443",
                "Forwarded: for=6.6.6.6;host=evil.example",
            ][..],
            [
                "198.51.100.7, 10.0.0.2, 127.0.0.1",
                "https",
                "api.example.com:8443",
                "for=198.51.100.7;host=\"api.example.com:8443\";proto=https, for=10.0.0.2, \
                 for=127.0.0.1",
            ],
        ),
        (
            "IPv6 client with a port",
            &["X-Forwarded-For: [2001:db8::7]:4711"],
            [
                "2001:db8::7, 127.0.0.1",
                "http",
                "gateway.test",
                "for=\"[2001:db8::7]\";host=\"gateway.test\";proto=http, for=127.0.0.1",
            ],
        ),
        (
            "no chain",
            &[],
            [
                "127.0.0.1",
                "http",
                "gateway.test",
                "for=127.0.0.1;host=\"gateway.test\";proto=http",
            ],
        ),
        (
            "a malformed last entry is no chain; bad proto and host are none",
            &[
                "X-Forwarded-For: 198.51.100.7, not-an-address",
                "X-Forwarded-Proto: https, http",
                "X-Forwarded-Host: user@evil.example",
            ],
            [
                "127.0.0.1",
                "http",
                "gateway.test",
                "for=127.0.0.1;host=\"gateway.test\";proto=http",
            ],
        ),
        (
            "garbage left of the client is dropped",
            &["X-Forwarded-For: \"\\\";;, 198.51.100.9"],
            [
                "198.51.100.9, 127.0.0.1",
                "http",
                "gateway.test",
                "for=198.51.100.9;host=\"gateway.test\";proto=http, for=127.0.0.1",
            ],
        ),
    ] {
        node.expect(case, headers, expected).await;
    }

    // The same over h2.
    let status = node
        .h2_get(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ])
        .await;
    assert_eq!(status, 200);
    let seen = node.upstream.take_one("h2");
    assert_eq!(seen.one("x-forwarded-for"), "198.51.100.7, 127.0.0.1");
    assert_eq!(seen.one("x-forwarded-proto"), "https");
    assert_eq!(seen.one("x-forwarded-host"), node.public().to_string());

    // The log line of a request names the client, not the proxy.
    node.await_log(&["public request", "client=198.51.100.9"])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limiter_counts_the_client_a_trusted_proxy_names() {
    let node = Node::start("127.0.0.1:0", "trusted_proxies = [\"127.0.0.0/8\"]").await;
    let alice = "X-Forwarded-For: 198.51.100.7";
    // Two failures allowed, then 429 for a minute.
    assert_eq!(node.wrong_secret(&[alice]).await, 401);
    assert_eq!(node.wrong_secret(&[alice]).await, 401);
    assert_eq!(node.wrong_secret(&[alice]).await, 429);
    // Other clients behind the same proxy are not refused, nor is the proxy itself.
    assert_eq!(
        node.wrong_secret(&["X-Forwarded-For: 198.51.100.8"]).await,
        401
    );
    assert_eq!(node.wrong_secret(&[]).await, 401);
    // Alice as the proxy writes her behind a forged start is still alice.
    assert_eq!(
        node.wrong_secret(&["X-Forwarded-For: 203.0.113.1, 198.51.100.7"])
            .await,
        429
    );
    node.await_log(&["too many failed authentications", "ip=198.51.100.7"])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_forwarded_header_family_when_configured() {
    let node = Node::start(
        "127.0.0.1:0",
        "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\ntrusted_proxy_header = \
         \"forwarded\"",
    )
    .await;
    for (case, headers, expected) in [
        (
            "the element naming the client gives proto and host; XFF is ignored",
            &[
                "Forwarded: for=6.6.6.6;proto=http, for=198.51.100.7;proto=https;\
                 host=\"api.example.com\"",
                "Forwarded: for=10.0.0.2;proto=http;host=internal",
                "X-Forwarded-For: 6.6.6.6",
                "X-Forwarded-Proto: http",
                "X-Forwarded-Host: evil.example",
            ][..],
            [
                "198.51.100.7, 10.0.0.2, 127.0.0.1",
                "https",
                "api.example.com",
                "-",
            ],
        ),
        (
            "a malformed line is no chain",
            &["Forwarded: for=198.51.100.7, for=\"unterminated"],
            ["127.0.0.1", "http", "gateway.test", "-"],
        ),
        (
            "unknown stops the walk at the hop that said it",
            &["Forwarded: for=198.51.100.7, for=unknown, for=10.0.0.2;proto=https"],
            ["10.0.0.2, 127.0.0.1", "https", "gateway.test", "-"],
        ),
    ] {
        node.expect(case, headers, expected).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_peer_cannot_forge_forwarding_headers() {
    // 127.0.0.1 is not in the list: the test's connections are untrusted.
    let node = Node::start(
        "127.0.0.1:0",
        "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nforwarded_header = true",
    )
    .await;
    let own = [
        "127.0.0.1",
        "http",
        "gateway.test",
        "for=127.0.0.1;host=\"gateway.test\";proto=http",
    ];
    let forged = [
        "X-Forwarded-For: 10.0.0.5",
        "x-forwarded-for: 198.51.100.7",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: admin.internal",
        "Forwarded: for=198.51.100.7;proto=https;host=admin.internal",
    ];
    node.expect("h1", &forged, own).await;

    let status = node
        .h2_get(&[
            ("x-forwarded-for", "10.0.0.5"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "admin.internal"),
            ("forwarded", "for=10.0.0.5"),
        ])
        .await;
    assert_eq!(status, 200);
    let authority = node.public().to_string();
    assert_eq!(
        forwarding(&node.upstream.take_one("h2")),
        [
            "127.0.0.1".to_owned(),
            "http".to_owned(),
            authority.clone(),
            format!("for=127.0.0.1;host=\"{authority}\";proto=http"),
        ]
    );

    // However the forger rotates its claims, the limit counts its real address.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let xff = format!("X-Forwarded-For: 10.0.{i}.1");
        let fwd = format!("Forwarded: for=198.51.100.{i}");
        statuses.push(node.wrong_secret(&[&xff, &fwd]).await);
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_loopback_in_the_list() {
    let node = Node::start(
        "[::1]:0",
        "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nforwarded_header = true",
    )
    .await;
    node.expect(
        "::1 trusted",
        &["X-Forwarded-For: 2001:db8::9, 10.0.0.2"],
        [
            "2001:db8::9, 10.0.0.2, ::1",
            "http",
            "gateway.test",
            "for=\"[2001:db8::9]\";host=\"gateway.test\";proto=http, for=10.0.0.2, \
             for=\"[::1]\"",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_peer_still_needs_one_valid_host() {
    let node = Node::start("127.0.0.1:0", "trusted_proxies = [\"127.0.0.1\"]").await;
    for (case, host) in [
        ("two Hosts", "Host: a.example\r\nHost: a.example\r\n"),
        ("a list", "Host: a.example, b.example\r\n"),
        ("user info", "Host: u@a.example\r\n"),
        ("an empty Host", "Host: \r\n"),
        ("no Host", ""),
    ] {
        let request = format!(
            "GET /r HTTP/1.1\r\n{host}X-Forwarded-Host: api.example.com\r\n\
             X-Forwarded-For: 198.51.100.7\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            node.token
        );
        let res = send_raw(node.public(), request.as_bytes()).await;
        assert_eq!(res.status, 400, "{case}: {res:?}");
        assert_eq!(res.body, "bad or missing Host\n", "{case}");
        node.upstream.assert_nothing(case);
    }
    let authority = node.public().to_string();
    for (case, headers) in [
        (
            "h2, another Host",
            vec![
                ("host", "evil.example"),
                ("x-forwarded-host", "api.example.com"),
            ],
        ),
        (
            "h2, two Hosts",
            vec![("host", authority.as_str()), ("host", authority.as_str())],
        ),
        ("h2, an invalid Host", vec![("host", "a b")]),
    ] {
        assert_eq!(node.h2_get(&headers).await, 400, "{case}");
        node.upstream.assert_nothing(case);
    }
    // h2 with `:authority` and the same `Host`: the trusted proxy's host goes upstream; an
    // invalid one is none, and the request's own host goes instead.
    let status = node
        .h2_get(&[
            ("host", authority.as_str()),
            ("x-forwarded-host", "api.example.com"),
        ])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        node.upstream.take_one("h2").one("x-forwarded-host"),
        "api.example.com"
    );
    assert_eq!(
        node.h2_get(&[("x-forwarded-host", "api.example.com/admin")])
            .await,
        200
    );
    assert_eq!(
        node.upstream
            .take_one("h2, bad XFH")
            .one("x-forwarded-host"),
        authority
    );
}
