//! One canonical request target, over real sockets: `tokengate serve` in front of a recording
//! upstream, every spelling an attacker would send for a ruled path and every request form,
//! over raw HTTP/1.1 and HTTP/2 (hyper's client where it can say it, raw frames where it
//! cannot), each asserting the status and the exact request line the upstream received, or
//! that it received nothing. Then the bare `ReverseProxy`, which refuses a target that is not
//! a path by itself.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Uri};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::send_raw;
use common::upstream::Recorder;
use common::{WEB_CLIENT, WEB_SECRET};

/// `tokengate serve` with `public` settings in front of a fresh recorder.
struct Harness {
    gateway: Gateway,
    upstream: Recorder,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(public: &str) -> Harness {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig::sqlite()
            .public(&format!(
                "upstream = \"http://{}\"\n{public}",
                upstream.addr
            ))
            .toml();
        let gateway = Gateway::start(dir.path(), &config);
        Harness {
            gateway,
            upstream,
            _dir: dir,
        }
    }

    fn public(&self) -> SocketAddr {
        self.gateway.public()
    }

    /// A client_credentials token with `scope`, issued through JSON-RPC.
    async fn token(&self, scope: &str) -> String {
        common::admin::token(self.gateway.admin, scope).await
    }

    /// The request lines (`METHOD target`) the upstream received since the last call.
    fn received(&self) -> Vec<String> {
        self.upstream
            .take()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.uri))
            .collect()
    }

    /// `method target` over raw HTTP/1.1 with `token`: the status.
    async fn h1(&self, method: &str, target: &str, token: &str) -> u16 {
        let length = if method == "POST" {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        // An absolute-form target's Host must agree with its authority (else 400, see
        // tests/request_headers.rs).
        let host = match target.parse::<Uri>() {
            Ok(uri) if target.starts_with("http://") => uri.authority().unwrap().to_string(),
            _ => "gateway.test".to_owned(),
        };
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer \
             {token}\r\n{length}Connection: close\r\n\r\n"
        );
        send_raw(self.public(), request.as_bytes()).await.status
    }

    /// `method target` over HTTP/2 with `token`: the status, through hyper's client when it
    /// can send the target, else as raw frames (where `None` is a refused stream).
    async fn h2(&self, method: &str, target: &str, token: &str) -> Option<u16> {
        let uri = if target.starts_with("http://") {
            target.parse::<Uri>().unwrap()
        } else if let Ok(pq) = PathAndQuery::try_from(target) {
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(Scheme::HTTP);
            parts.authority = Some(Authority::from_static("gateway.test"));
            parts.path_and_query = Some(pq);
            Uri::from_parts(parts).unwrap()
        } else {
            // Not a `:path` hyper's client will send (`x`, `admin`): raw frames.
            let auth = format!("Bearer {token}");
            return match raw_h2(self.public(), method, target, &[("authorization", &auth)]).await {
                H2::Status(status) => Some(status),
                H2::Refused => None,
            };
        };
        let mut sender = common::raw::h2(self.public()).await;
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        match sender.send_request(request).await {
            Ok(response) => Some(response.status().as_u16()),
            Err(_) => None,
        }
    }
}

impl Harness {
    /// Sends `method target` with `token` over HTTP/1.1 and HTTP/2 and asserts the status and
    /// the request line the upstream received (`None`: nothing). No HTTP/2 `:path` can be a
    /// bare name (`x`): the HTTP/2 server refuses that stream before the gateway sees it.
    async fn check(
        &self,
        method: &str,
        target: &str,
        token: &str,
        status: u16,
        forwarded: Option<&str>,
    ) {
        let expected: Vec<String> = forwarded.into_iter().map(str::to_owned).collect();
        let h1 = self.h1(method, target, token).await;
        assert_eq!(h1, status, "HTTP/1.1 {method} {target}");
        assert_eq!(self.received(), expected, "HTTP/1.1 {method} {target}");
        let h2 = self.h2(method, target, token).await;
        assert_eq!(self.received(), expected, "HTTP/2 {method} {target}");
        let path_like = ["/", "http://", "*", "?"]
            .iter()
            .any(|p| target.starts_with(p));
        let h2_status = path_like.then_some(status);
        assert_eq!(h2, h2_status, "HTTP/2 {method} {target}");
    }
}

/// `(method, target, status, what the upstream received)`, for a token of scope `read`
/// under `{ path = "/admin", scope = "admin", case_insensitive = true }`.
const SPELLINGS: &[(&str, &str, u16, Option<&str>)] = &[
    ("GET", "/admin/x", 403, None),
    ("GET", "//admin/x", 403, None),
    ("GET", "/%61dmin/x", 403, None),
    ("GET", "/ad%6din/x", 403, None),
    ("GET", "/ADMIN", 403, None),
    ("GET", "/%41DMIN", 403, None),
    ("GET", "/admin;jsessionid=1/x", 403, None),
    ("GET", "/;x/admin", 403, None),
    ("GET", "http://evil.example/admin/x", 403, None),
    ("GET", "http://evil.example//%61dmin", 403, None),
    ("GET", "/%2Fadmin/x", 400, None),
    ("GET", "/%2fadmin/x", 400, None),
    ("GET", "/\\admin/x", 400, None),
    ("GET", "/%5Cadmin/x", 400, None),
    ("GET", "/.;/admin/x", 400, None),
    ("GET", "/..;x/admin/x", 400, None),
    ("GET", "/.%3B/admin/x", 400, None),
    ("GET", "/admin%3Bx/y", 403, None),
    ("GET", "/admin/../admin", 400, None),
    ("GET", "/x/../admin", 400, None),
    ("GET", "/x/..%2Fadmin", 400, None),
    ("GET", "/x/%2e%2e/admin", 400, None),
    ("GET", "/x%00/admin", 400, None),
    ("GET", "/x%", 400, None),
    ("GET", "*", 400, None),
    ("DELETE", "*", 400, None),
    ("OPTIONS", "*", 200, None),
    ("POST", "x", 400, None),
    ("GET", "admin", 400, None),
    ("GET", "/administrator", 200, Some("GET /administrator")),
    ("GET", "/admins/x", 200, Some("GET /admins/x")),
    (
        "GET",
        "//reviews//%72%65views/?b=%61&a=%2F",
        200,
        Some("GET /reviews/reviews/?b=%61&a=%2F"),
    ),
    ("GET", "/r%c3%a9/%7e", 200, Some("GET /r%C3%A9/~")),
    (
        "GET",
        "http://evil.example//reviews",
        200,
        Some("GET /reviews"),
    ),
    ("POST", "/reviews", 200, Some("POST /reviews")),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_a_ruled_path_is_decided_and_forwarded_canonically() {
    let h = Harness::start(
        "require_scopes = [{ path = \"/admin\", scope = \"admin\", case_insensitive = true }]",
    )
    .await;
    let read = h.token("read").await;
    for &(method, target, status, forwarded) in SPELLINGS {
        h.check(method, target, &read, status, forwarded).await;
    }

    // A target of just a query names no path (hyper refuses it in HTTP/1.1, the gateway in
    // HTTP/2, where it is a valid `:path`).
    h.check("GET", "?x=1", &read, 400, None).await;

    // The admin token passes, and the upstream gets the path that was checked.
    let admin = h.token("admin").await;
    for (target, line) in [
        ("//admin/x", "GET /admin/x"),
        ("/%61dmin;v=1/%7e", "GET /admin;v=1/~"),
        ("/ADMIN", "GET /ADMIN"),
    ] {
        h.check("GET", target, &admin, 200, Some(line)).await;
    }
    // Refused spellings stay refused whatever the token.
    for target in ["/%2Fadmin/x", "/.;/admin/x", "*", "admin"] {
        h.check("GET", target, &admin, 400, None).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_forms_that_are_not_a_path_skip_no_rule_and_reach_nothing() {
    // A rule on `/` (finding 2 of issue 12): nothing may get around it.
    let h = Harness::start("require_scopes = [{ path = \"/\", scope = \"admin\" }]").await;
    let read = h.token("read").await;
    for (method, target, status) in [
        ("GET", "*", 400),
        ("DELETE", "*", 400),
        ("OPTIONS", "*", 200),
        ("POST", "x", 400),
        ("GET", "admin", 400),
        ("GET", "evil.example:80", 400),
        ("GET", "/", 403),
        ("GET", "//", 403),
        ("GET", "http://evil.example", 403),
    ] {
        h.check(method, target, &read, status, None).await;
    }
    // CONNECT is authority-form: refused, never a tunnel.
    let res = send_raw(
        h.public(),
        format!(
            "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\nAuthorization: Bearer {read}\r\n\r\n",
            h.upstream.addr
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(h.received().is_empty());

    // `OPTIONS *` is the gateway's own answer, with no token at all.
    let res = send_raw(
        h.public(),
        b"OPTIONS * HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!((res.status, res.body.as_str()), (200, ""));
    assert!(h.received().is_empty());

    // The raw HTTP/2 client works: the same frames with a path get an answer.
    let auth = format!("Bearer {read}");
    let admin = h.token("admin").await;
    let admin_auth = format!("Bearer {admin}");
    assert_eq!(
        raw_h2(h.public(), "GET", "/", &[("authorization", &auth)]).await,
        H2::Status(403)
    );
    assert_eq!(
        raw_h2(h.public(), "GET", "//a", &[("authorization", &admin_auth)]).await,
        H2::Status(200)
    );
    assert_eq!(h.received(), ["GET /a"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oauth_endpoints_and_healthz_are_routed_on_the_canonical_path() {
    let h = Harness::start("").await;
    let form =
        format!("grant_type=client_credentials&client_id={WEB_CLIENT}&client_secret={WEB_SECRET}");
    for target in [
        "/oauth2/token",
        "/oauth2/%74oken",
        "//oauth2/token",
        "/%6Fauth2//token",
    ] {
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: \
             close\r\n\r\n{form}",
            form.len()
        );
        let res = send_raw(h.public(), request.as_bytes()).await;
        assert_eq!(res.status, 200, "{target}: {}", res.body);
        assert!(res.body.contains("access_token"), "{target}: {}", res.body);
        assert!(h.received().is_empty(), "{target}");
    }
    for target in ["/healthz", "//healthz", "/%68ealthz"] {
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n");
        let res = send_raw(h.public(), request.as_bytes()).await;
        assert_eq!((res.status, res.body.as_str()), (200, "ok"), "{target}");
        assert!(h.received().is_empty(), "{target}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_options_keep_encoded_slashes_and_resolve_dot_segments() {
    let h = Harness::start(
        "escaped_slashes = \"keep\"\ndot_segments = \"resolve\"\nmerge_slashes = false\n\
         require_scopes = [{ path = \"/admin\", scope = \"admin\" }, \
         { path = \"/ids\", scope = \"write\", methods = [\"POST\"] }]",
    )
    .await;
    let read = h.token("read").await;
    for (method, target, status, forwarded) in [
        ("GET", "/ids/a%2fb", 200, Some("GET /ids/a%2Fb")),
        ("POST", "/ids/a%2fb", 403, None),
        ("GET", "/%2Fadmin/x", 403, None),
        ("GET", "//admin/x", 403, None),
        ("GET", "/x/..%2Fadmin", 400, None),
        ("GET", "/admin/../x", 200, Some("GET /x")),
        ("GET", "/x/../admin", 403, None),
        ("GET", "/x/%2e%2e/admin", 400, None),
        ("GET", "//x//y", 200, Some("GET //x//y")),
    ] {
        h.check(method, target, &read, status, forwarded).await;
    }
}

#[tokio::test]
async fn the_bare_proxy_refuses_targets_that_are_not_a_path() {
    let upstream = Recorder::start().await;
    let proxy =
        tokengate::proxy::ReverseProxy::new(format!("http://{}", upstream.addr).parse().unwrap())
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper_util::service::TowerToHyperService::new(proxy.clone());
            tokio::spawn(
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .into_owned(),
            );
        }
    });
    for (method, target) in [
        ("GET", "*"),
        ("OPTIONS", "*"),
        ("DELETE", "*"),
        ("GET", "admin"),
        ("POST", "x"),
    ] {
        let request = format!("{method} {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let res = send_raw(addr, request.as_bytes()).await;
        assert_eq!(res.status, 400, "{method} {target}");
        assert!(upstream.take().is_empty(), "{method} {target}");
    }
    let mut sender = common::raw::h2(addr).await;
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(Authority::from_static("h"));
    parts.path_and_query = Some(PathAndQuery::from_static("*"));
    let request = Request::options(Uri::from_parts(parts).unwrap())
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 400);
    assert!(upstream.take().is_empty());
    // A path still goes through.
    let res = send_raw(
        addr,
        b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(upstream.take().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 as raw frames, for a `:path` no HTTP/2 client library will send.

/// How a raw HTTP/2 request ended.
#[derive(Debug, PartialEq, Eq)]
enum H2 {
    /// A response head with this status (from the HPACK static table: 200, 400, 403 …).
    Status(u16),
    /// The stream was reset or the connection ended without a response.
    Refused,
}

/// Sends one request (`:method`, `:scheme http`, `:authority gateway.test`, `:path`, then
/// `headers`) as literal HPACK fields on stream 1 of a fresh connection, and reads until its
/// response head, a reset of the stream, or the end of the connection.
async fn raw_h2(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> H2 {
    fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
        // Literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2).
        block.push(0);
        for text in [name, value] {
            assert!(text.len() < 127, "one-byte lengths only");
            block.push(text.len() as u8);
            block.extend_from_slice(text.as_bytes());
        }
    }
    fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    }
    let mut block = Vec::new();
    for (name, value) in [
        (":method", method),
        (":scheme", "http"),
        (":authority", "gateway.test"),
        (":path", path),
    ]
    .into_iter()
    .chain(headers.iter().copied())
    {
        literal(&mut block, name, value);
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[]); // SETTINGS
    frame(&mut out, 0x1, 0x5, 1, &block); // HEADERS, END_STREAM | END_HEADERS
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&out).await.unwrap();
    let read = async {
        loop {
            let mut head = [0u8; 9];
            if stream.read_exact(&mut head).await.is_err() {
                return H2::Refused;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (kind, flags) = (head[3], head[4]);
            let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            if stream.read_exact(&mut payload).await.is_err() {
                return H2::Refused;
            }
            match (kind, id) {
                (0x4, 0) if flags & 1 == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, 0x4, 0x1, 0, &[]);
                    stream.write_all(&ack).await.unwrap();
                }
                (0x1, 1) => {
                    // The first field is `:status`, indexed from the static table.
                    let status = match payload.first() {
                        Some(0x88) => 200,
                        Some(0x89) => 204,
                        Some(0x8c) => 400,
                        Some(0x8d) => 404,
                        Some(0x8e) => 500,
                        // 0x48 / 0x08: `:status` by name, its value literal (403, 401, …).
                        Some(0x48 | 0x08) => status_digits(&payload[1..]),
                        other => panic!("unexpected response head {other:?}: {payload:?}"),
                    };
                    return H2::Status(status);
                }
                (0x3, 1) | (0x7, _) => return H2::Refused,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server answered")
}

/// A literal `:status` value (RFC 7541 §5.2): raw, or Huffman coded (digits only: `0`–`2` are
/// `00000`–`00010`, `3`–`9` are `011001`–`011111`).
fn status_digits(value: &[u8]) -> u16 {
    let (huffman, len) = (value[0] & 0x80 != 0, usize::from(value[0] & 0x7f));
    let bytes = &value[1..=len];
    if !huffman {
        return std::str::from_utf8(bytes).unwrap().parse().unwrap();
    }
    let bit = |i: usize| (bytes[i / 8] >> (7 - i % 8)) & 1;
    let (mut status, mut at) = (0u16, 0usize);
    for _ in 0..3 {
        let five = (0..5).fold(0u16, |code, k| code << 1 | u16::from(bit(at + k)));
        let digit = if five <= 2 {
            at += 5;
            five
        } else {
            let six = five << 1 | u16::from(bit(at + 5));
            at += 6;
            assert!((0b011001..=0b011111).contains(&six), "not a digit: {six:b}");
            six - 0b011001 + 3
        };
        status = status * 10 + digit;
    }
    status
}
