//! Raw-socket HTTP/1.1 against `tokengate serve`'s public listener, in front of an upstream that
//! records every request it receives: request smuggling shapes (CL+TE, two lengths, odd
//! `Transfer-Encoding` values, bare LF, obs-fold), oversize and too many headers, `Upgrade`
//! attempts, absolute-form and `CONNECT` requests, slow headers and idle connections.
//!
//! Every case asserts what the client gets (the exact statuses, or a closed connection) and
//! what the upstream received: never a smuggled request (path `/smuggled`), never more
//! requests than the gateway answered with a forwarded `200`.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::process::Gateway;
use common::upstream::{Received, Recorder};
use common::{ADMIN_KEY, ADMIN_SECRET, SERVICE, WEB_CLIENT, WEB_SECRET};

const PEPPER: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// ---------------------------------------------------------------------------------------------
// The gateway.

fn config(upstream: SocketAddr) -> String {
    format!(
        r#"
[store]
url = "sqlite://tokengate.db"
pepper = "{PEPPER}"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"
service_key = "{SERVICE}"
upstream = "http://{upstream}"
header_read_timeout_secs = 1
max_headers = 24
max_header_bytes = 16384
max_body_bytes = 4096

[[services]]
key = "{SERVICE}"
name = "Reviews API"
grants = ["client_credentials"]

[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
services = ["{SERVICE}"]
"#
    )
}

struct Harness {
    gateway: Gateway,
    upstream: Recorder,
    /// A valid token, as `Authorization: Bearer …`.
    auth: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Harness {
        let upstream = Recorder::keeping_bodies().await;
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::start(dir.path(), &config(upstream.addr));
        let reply: Value = reqwest::Client::new()
            .post(format!("http://{}/v2/json-rpc", gateway.admin))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "oauth2.createAccessToken",
                "params": [SERVICE, {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
                           {"grant_type": "client_credentials"}]}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = reply["result"]["access_token"].as_str().expect("a token");
        Harness {
            auth: format!("Authorization: Bearer {token}"),
            gateway,
            upstream,
            _dir: dir,
        }
    }

    fn public(&self) -> SocketAddr {
        self.gateway.public()
    }

    /// Sends `request` (with `{auth}` replaced by the token header) on a fresh connection and
    /// reads until the gateway closes it or `wait` has passed.
    async fn exchange(&self, request: &str, wait: Duration) -> Exchange {
        let request = request.replace("{auth}", &self.auth);
        exchange(self.public(), request.as_bytes(), wait).await
    }

    /// Asserts the upstream received exactly the requests whose URIs are `uris`, in order, and
    /// none of them a smuggled one.
    fn upstream_saw(&self, uris: &[&str], case: &str) -> Vec<Received> {
        let seen = self.upstream.take();
        let got: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
        assert!(
            !got.iter().any(|u| u.contains("smuggled")),
            "{case}: a smuggled request reached the upstream: {got:?}"
        );
        assert_eq!(got, uris, "{case}: what the upstream received");
        seen
    }
}

// ---------------------------------------------------------------------------------------------
// Raw exchanges.

/// What came back on one connection.
#[derive(Debug)]
struct Exchange {
    /// The status of every response, in order.
    statuses: Vec<u16>,
    /// Everything received.
    text: String,
    /// Whether the gateway closed the connection (EOF or reset) within the wait.
    closed: bool,
    /// When the connection was seen closed, from the end of the write.
    closed_after: Option<Duration>,
}

async fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> Exchange {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The gateway may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(request).await;
    read_until_closed(&mut stream, wait).await
}

async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Exchange {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut closed_after = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Exchange {
        statuses: statuses(&text),
        text,
        closed: closed_after.is_some(),
        closed_after,
    }
}

/// The status of every response in `text`, read in sequence (heads, then bodies by
/// `Content-Length` or chunked framing); a trailing fragment that is not a response is ignored.
fn statuses(text: &str) -> Vec<u16> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some((head, after)) = rest.split_once("\r\n\r\n") {
        let mut lines = head.split("\r\n");
        let Some(code) = lines
            .next()
            .filter(|l| l.starts_with("HTTP/1."))
            .and_then(|l| l.get(9..12))
            .and_then(|c| c.parse().ok())
        else {
            break;
        };
        found.push(code);
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        rest = after;
        if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            rest = rest.get(len..).unwrap_or("");
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let Some((size, after)) = rest.split_once("\r\n") else {
                    return found;
                };
                let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                rest = after.get(size + 2..).unwrap_or("");
                if size == 0 {
                    break;
                }
            }
        } else if code != 101 && code != 204 && code != 304 {
            // A body to the end of the connection.
            break;
        }
    }
    found
}

/// Long enough for the gateway to answer everything it is going to answer on a connection it
/// keeps open.
const ANSWERED: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// The tests.

/// The smuggled request every case tries to slip past the gateway: no token, a spoofed
/// identity header.
const SMUGGLED: &str =
    "GET /smuggled HTTP/1.1\r\nHost: g\r\nX-Mashery-Oauth-Client-Id: admin\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn content_length_and_transfer_encoding_conflicts_smuggle_nothing() {
    let h = Harness::start().await;

    // A well-formed request with a body, as a baseline.
    let res = h
        .exchange(
            "POST /plain HTTP/1.1\r\nHost: g\r\n{auth}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    assert_eq!(
        &h.upstream_saw(&["/plain"], "baseline")[0].body[..],
        b"hello"
    );

    // CL + TE (both orders): chunked wins (RFC 9112 §6.1), so the chunked body ends at the
    // `0` chunk, and the gateway closes the connection after answering (RFC 9112 §6.3: such a
    // message may be an attempt at smuggling), so what follows is never read as a request.
    for (case, headers) in [
        (
            "CL then TE",
            "Content-Length: 4\r\nTransfer-Encoding: chunked",
        ),
        (
            "TE then CL",
            "Transfer-Encoding: chunked\r\nContent-Length: 4",
        ),
    ] {
        let request = format!(
            "POST /clte HTTP/1.1\r\nHost: g\r\n{{auth}}\r\n{headers}\r\n\r\n0\r\n\r\n{SMUGGLED}"
        );
        let res = h.exchange(&request, ANSWERED).await;
        let forwarded = h.upstream_saw(&["/clte"], case);
        assert_eq!(res.statuses, [200], "{case}: {}", res.text);
        assert!(res.closed, "{case}");
        assert!(forwarded[0].body.is_empty(), "{case}");
        assert!(
            forwarded[0].headers.get("content-length").is_none()
                || forwarded[0].headers["content-length"] == "0",
            "{case}: the client's Content-Length is not forwarded beside a chunked body: {:?}",
            forwarded[0].headers
        );
    }

    // The same with a real chunked body longer than the Content-Length.
    let request = "POST /clte-body HTTP/1.1\r\nHost: g\r\n{auth}\r\nContent-Length: 3\r\n\
                   Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                   5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    let res = h.exchange(request, ANSWERED).await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    let forwarded = h.upstream_saw(&["/clte-body"], "CL+TE with a body");
    assert_eq!(&forwarded[0].body[..], b"hello world");
    if let Some(len) = forwarded[0].headers.get("content-length") {
        assert_eq!(len, "11", "the upstream is told the real length");
    }

    // A small Content-Length cannot carry a chunked body past max_body_bytes (4096).
    let chunk = format!("{:x}\r\n{}\r\n", 3000, "y".repeat(3000));
    let request = format!(
        "POST /clte-big HTTP/1.1\r\nHost: g\r\n{{auth}}\r\nContent-Length: 3\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    let res = h.exchange(&request, ANSWERED).await;
    h.upstream_saw(&[], "CL+TE over the body limit");
    assert_eq!(res.statuses, [413], "{}", res.text);

    // Two different lengths, in two fields or one list: 400 and the connection is closed
    // before anything is read as a next request.
    for (case, headers) in [
        ("two CLs", "Content-Length: 4\r\nContent-Length: 40"),
        ("a CL list", "Content-Length: 4, 40"),
        ("a signed CL", "Content-Length: +4"),
        ("a CL in hex", "Content-Length: 0x4"),
    ] {
        let request = format!(
            "POST /cl HTTP/1.1\r\nHost: g\r\n{{auth}}\r\n{headers}\r\n\r\n0\r\n\r\n{SMUGGLED}"
        );
        let res = h.exchange(&request, ANSWERED).await;
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        assert!(res.closed, "{case}");
        h.upstream_saw(&[], case);
    }

    // Transfer codings the gateway does not frame by: 400, closed, nothing forwarded.
    for (case, te) in [
        ("chunked, identity", "Transfer-Encoding: chunked, identity"),
        ("xchunked", "Transfer-Encoding: xchunked"),
        (
            "chunked then identity",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
        ),
        ("gzip", "Transfer-Encoding: gzip"),
        ("space before the colon", "Transfer-Encoding : chunked"),
        ("vertical tab", "Transfer-Encoding:\x0bchunked"),
        ("obs-fold", "Transfer-Encoding: identity\r\n chunked"),
    ] {
        let request = format!(
            "POST /te HTTP/1.1\r\nHost: g\r\n{{auth}}\r\n{te}\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{SMUGGLED}"
        );
        let res = h.exchange(&request, ANSWERED).await;
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        assert!(res.closed, "{case}");
        h.upstream_saw(&[], case);
    }

    // `Transfer-Encoding` in HTTP/1.0 (which has no chunked coding): 400.
    let request = format!(
        "POST /te10 HTTP/1.0\r\nHost: g\r\n{{auth}}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}"
    );
    let res = h.exchange(&request, ANSWERED).await;
    assert_eq!(res.statuses, [400], "TE in 1.0: {}", res.text);
    h.upstream_saw(&[], "TE in 1.0");

    // Codings that still end in chunked, spelled oddly, are chunked: the body ends at `0`, the
    // rest is a separate request, authenticated on its own.
    for (case, te) in [
        ("leading space", "Transfer-Encoding:  chunked"),
        ("tab", "Transfer-Encoding:\tchunked"),
        ("upper case", "Transfer-Encoding: CHUNKED"),
        ("gzip, chunked", "Transfer-Encoding: gzip, chunked"),
    ] {
        let request = format!(
            "POST /te-ok HTTP/1.1\r\nHost: g\r\n{{auth}}\r\n{te}\r\n\r\n0\r\n\r\n{SMUGGLED}"
        );
        let res = h.exchange(&request, ANSWERED).await;
        assert_eq!(res.statuses, [200, 401], "{case}: {}", res.text);
        h.upstream_saw(&["/te-ok"], case);
    }

    // A chunk size that does not fit, or is not hex: 400, closed.
    for (case, body) in [
        (
            "chunk size overflow",
            "fffffffffffffffff1\r\nx\r\n0\r\n\r\n",
        ),
        ("chunk size not hex", "zz\r\nx\r\n0\r\n\r\n"),
    ] {
        let request = format!(
            "POST /chunks HTTP/1.1\r\nHost: g\r\n{{auth}}\r\nTransfer-Encoding: chunked\r\n\r\n{body}{SMUGGLED}"
        );
        let res = h.exchange(&request, ANSWERED).await;
        // The client's fault, not the upstream's: 400 (it was 502 "bad gateway").
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        assert!(res.closed, "{case}");
        h.upstream_saw(&[], case);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bare_lf_and_obs_fold_smuggle_nothing() {
    let h = Harness::start().await;

    // Bare LF line endings are read as line endings (as the RFC allows a recipient to), and
    // consistently: the request is one request, the next one is authenticated on its own.
    let request = format!("GET /lf HTTP/1.1\nHost: g\n{}\n\n{SMUGGLED}", h.auth);
    let res = exchange(h.public(), request.as_bytes(), ANSWERED).await;
    assert_eq!(res.statuses, [200, 401], "{}", res.text);
    h.upstream_saw(&["/lf"], "bare LF");

    // A bare CR is not a line ending: 400.
    let request = format!("GET /cr HTTP/1.1\rHost: g\r\n{}\r\n\r\n", h.auth);
    let res = exchange(h.public(), request.as_bytes(), ANSWERED).await;
    assert_eq!(res.statuses, [400], "{}", res.text);
    h.upstream_saw(&[], "bare CR");

    // Bare LF inside a chunked body's framing: the same framing as CRLF.
    let request = format!(
        "POST /lf-chunks HTTP/1.1\r\nHost: g\r\n{}\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\nhello\n0\n\n{SMUGGLED}",
        h.auth
    );
    let res = exchange(h.public(), request.as_bytes(), ANSWERED).await;
    let lf_chunks = res.statuses.clone();
    let seen = h.upstream.take();
    assert!(!seen.iter().any(|s| s.uri.contains("smuggled")), "{seen:?}");
    match lf_chunks.as_slice() {
        // Read as chunked framing: the body is `hello`, then the next request.
        [200, 401] => {
            assert_eq!(seen.len(), 1);
            assert_eq!(&seen[0].body[..], b"hello");
        }
        // Refused: the body fails to decode, nothing complete is forwarded and the
        // connection is closed.
        [400] => {
            assert!(seen.is_empty());
            assert!(res.closed);
        }
        other => panic!("bare LF chunks: {other:?}: {}", res.text),
    }

    // obs-fold (a header line continued on the next) is refused with 400, wherever it is.
    for (case, fold) in [
        ("an ordinary header", "X-Folded: a\r\n b"),
        ("the token", "Authorization: Bearer\r\n x"),
        (
            "an identity header",
            "X-Mashery-Oauth-Scope: read\r\n\tadmin",
        ),
        ("Content-Length", "Content-Length:\r\n 5"),
    ] {
        let request = format!(
            "POST /fold HTTP/1.1\r\nHost: g\r\n{}\r\n{fold}\r\n\r\nhello{SMUGGLED}",
            h.auth
        );
        let res = exchange(h.public(), request.as_bytes(), ANSWERED).await;
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        assert!(res.closed, "{case}");
        h.upstream_saw(&[], case);
    }

    // A NUL or a CR inside a header value: 400.
    for (case, header) in [("NUL", "X-Nul: a\0b"), ("CR", "X-Cr: a\rb")] {
        let request = format!(
            "GET /ctl HTTP/1.1\r\nHost: g\r\n{}\r\n{header}\r\n\r\n",
            h.auth
        );
        let res = exchange(h.public(), request.as_bytes(), ANSWERED).await;
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        h.upstream_saw(&[], case);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_and_too_many_headers_get_431() {
    let h = Harness::start().await;

    // 24 fields are allowed (Host, Authorization, Connection and 21 more); 25 are not.
    let fields = |n: usize| -> String { (0..n).map(|i| format!("X-F{i}: {i}\r\n")).collect() };
    let request = format!(
        "GET /fields HTTP/1.1\r\nHost: g\r\n{{auth}}\r\nConnection: close\r\n{}\r\n",
        fields(21)
    );
    let res = h.exchange(&request, ANSWERED).await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    h.upstream_saw(&["/fields"], "24 fields");
    let request = format!(
        "GET /fields HTTP/1.1\r\nHost: g\r\n{{auth}}\r\nConnection: close\r\n{}\r\n",
        fields(22)
    );
    let res = h.exchange(&request, ANSWERED).await;
    assert_eq!(res.statuses, [431], "{}", res.text);
    assert!(res.closed);
    h.upstream_saw(&[], "25 fields");

    // Thousands of empty-valued headers: 431, quickly.
    let request = format!(
        "GET /many HTTP/1.1\r\nHost: g\r\n{}\r\n",
        "X: \r\n".repeat(2000)
    );
    let res = h.exchange(&request, ANSWERED).await;
    assert_eq!(res.statuses, [431], "{}", res.text);
    h.upstream_saw(&[], "2000 fields");

    // A header block over max_header_bytes (16 KiB), in one field, in many, or in the request
    // line: 431 and closed.
    for (case, request) in [
        (
            "one big field",
            format!(
                "GET /big HTTP/1.1\r\nHost: g\r\n{{auth}}\r\nX-Big: {}\r\n\r\n",
                "z".repeat(17 * 1024)
            ),
        ),
        (
            "a big token",
            format!(
                "GET /big HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {}\r\n\r\n",
                "t".repeat(17 * 1024)
            ),
        ),
        (
            "a big request line",
            format!(
                "GET /{} HTTP/1.1\r\nHost: g\r\n{{auth}}\r\n\r\n",
                "p".repeat(17 * 1024)
            ),
        ),
        (
            "a big block in small fields",
            format!(
                "GET /big HTTP/1.1\r\nHost: g\r\n{{auth}}\r\n{}\r\n",
                (0..20)
                    .map(|i| format!("X-{i}: {}\r\n", "v".repeat(900)))
                    .collect::<String>()
            ),
        ),
    ] {
        let res = h.exchange(&request, ANSWERED).await;
        assert_eq!(
            res.statuses,
            [431],
            "{case}: {}",
            &res.text[..res.text.len().min(300)]
        );
        assert!(res.closed, "{case}");
        h.upstream_saw(&[], case);
    }

    // Under the limit, a big but legal block passes.
    let request = format!(
        "GET /big-ok HTTP/1.1\r\nHost: g\r\n{{auth}}\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "z".repeat(12 * 1024)
    );
    let res = h.exchange(&request, ANSWERED).await;
    assert_eq!(res.statuses, [200]);
    h.upstream_saw(&["/big-ok"], "12 KiB field");
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_attempts_are_plain_requests_upstream() {
    let h = Harness::start().await;

    // h2c upgrade: answered as HTTP/1.1 (no 101), forwarded without the upgrade headers.
    let res = h
        .exchange(
            "GET /h2c HTTP/1.1\r\nHost: g\r\n{auth}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
             Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    let seen = h.upstream_saw(&["/h2c"], "h2c");
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(
            !seen[0].headers.contains_key(name),
            "{name}: {:?}",
            seen[0].headers
        );
    }

    // WebSocket: the same (the gateway does not tunnel); the bytes a client then sends as if
    // upgraded are not a request.
    let request = "GET /ws HTTP/1.1\r\nHost: g\r\n{auth}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let request = request.replace("{auth}", &h.auth);
    let mut stream = TcpStream::connect(h.public()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A masked WebSocket text frame, then a smuggling attempt.
    let _ = stream
        .write_all(&[
            0x81,
            0x85,
            1,
            2,
            3,
            4,
            b'h' ^ 1,
            b'e' ^ 2,
            b'l' ^ 3,
            b'l' ^ 4,
            b'o' ^ 1,
        ])
        .await;
    let _ = stream.write_all(SMUGGLED.as_bytes()).await;
    let res = read_until_closed(&mut stream, ANSWERED).await;
    assert_eq!(res.statuses, [200, 400], "{}", res.text);
    assert!(!res.text.contains("101"), "{}", res.text);
    let seen = h.upstream_saw(&["/ws"], "websocket");
    for name in ["upgrade", "connection"] {
        assert!(
            !seen[0].headers.contains_key(name),
            "{name}: {:?}",
            seen[0].headers
        );
    }

    // Without a token an upgrade is refused like any request.
    let res = h
        .exchange(
            "GET /ws HTTP/1.1\r\nHost: g\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [401], "{}", res.text);
    h.upstream_saw(&[], "websocket without a token");

    // HTTP/2 prior knowledge is spoken (the listener serves h1 and h2), but a preface that
    // stops half-way is closed within the header timeout.
    let started = Instant::now();
    let res = exchange(h.public(), b"PRI * HTTP/2.0\r\n", Duration::from_secs(5)).await;
    assert!(res.closed, "a partial h2 preface is closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    h.upstream_saw(&[], "partial h2 preface");
}

#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_and_connect_never_choose_the_upstream() {
    let h = Harness::start().await;

    // Absolute-form: the authority in the request line chooses nothing; the path goes to the
    // configured upstream, whose Host is the upstream's.
    let res = h
        .exchange(
            "GET http://evil.example:8080/abs?q=1 HTTP/1.1\r\nHost: evil.example:8080\r\n{auth}\r\nConnection: close\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    let seen = h.upstream_saw(&["/abs?q=1"], "absolute-form");
    assert_eq!(seen[0].headers["host"], h.upstream.addr.to_string());
    assert_eq!(seen[0].method, Method::GET);

    // Absolute-form with another scheme (its default port agrees with a Host without one).
    let res = h
        .exchange(
            "GET https://evil.example/abs2 HTTP/1.1\r\nHost: evil.example\r\n{auth}\r\nConnection: close\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    let seen = h.upstream_saw(&["/abs2"], "https absolute-form");
    assert_eq!(seen[0].headers["host"], h.upstream.addr.to_string());

    // A Host that disagrees with the absolute-form authority, or none (RFC 9112 §3.2): 400.
    for (case, head) in [
        (
            "another Host",
            "GET http://evil.example/abs3 HTTP/1.1\r\nHost: g",
        ),
        ("no Host", "GET http://evil.example/abs3 HTTP/1.1"),
    ] {
        let request = format!("{head}\r\n{{auth}}\r\nConnection: close\r\n\r\n");
        let res = h.exchange(&request, ANSWERED).await;
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        h.upstream_saw(&[], case);
    }

    // CONNECT: without a token 401, with one 501; never a tunnel, nothing forwarded.
    let res = h
        .exchange(
            "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [401], "{}", res.text);
    let res = h
        .exchange(
            "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n{auth}\r\n\r\n\
             GET /smuggled HTTP/1.1\r\nHost: g\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses.first(), Some(&501), "{}", res.text);
    assert!(!res.statuses.contains(&200), "{}", res.text);
    // CONNECT to the upstream's own address: still 501.
    let request = format!(
        "CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n{{auth}}\r\nConnection: close\r\n\r\n",
        h.upstream.addr
    );
    let res = h.exchange(&request, ANSWERED).await;
    assert_eq!(res.statuses, [501], "{}", res.text);
    h.upstream_saw(&[], "CONNECT");

    // Authority-form outside CONNECT names no path: it goes to the upstream's base path, on
    // the upstream's host, never to the authority named.
    let res = h
        .exchange(
            "GET evil.example:80 HTTP/1.1\r\nHost: evil.example:80\r\n{auth}\r\nConnection: close\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    let seen = h.upstream_saw(&["/"], "authority-form");
    assert_eq!(seen[0].headers["host"], h.upstream.addr.to_string());

    // Dot segments: 400.
    for (case, line) in [
        ("dot segments", "GET /a/../admin HTTP/1.1"),
        ("encoded dot segments", "GET /a/%2e%2e/admin HTTP/1.1"),
    ] {
        let request = format!("{line}\r\nHost: g\r\n{{auth}}\r\nConnection: close\r\n\r\n");
        let res = h.exchange(&request, ANSWERED).await;
        assert_eq!(res.statuses, [400], "{case}: {}", res.text);
        h.upstream_saw(&[], case);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_connections_are_closed_within_the_header_timeout() {
    let h = Harness::start().await;

    // Connected, nothing sent: closed within the header timeout (1 s).
    let mut stream = TcpStream::connect(h.public()).await.unwrap();
    let res = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(res.closed, "an idle connection is closed");
    let after = res.closed_after.unwrap();
    assert!(after < Duration::from_secs(3), "closed after {after:?}");
    assert!(res.statuses.iter().all(|&s| s == 408), "{}", res.text);

    // Headers trickled a byte every 200 ms, never finished: closed within the timeout of the
    // first byte, though bytes keep coming.
    let mut stream = TcpStream::connect(h.public()).await.unwrap();
    let started = Instant::now();
    let head = format!("GET /slow HTTP/1.1\r\nHost: g\r\n{}\r\nX-Slow: ", h.auth);
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut closed_at = None;
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(b"a").await.is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_at = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => {
                let text = String::from_utf8_lossy(&probe[..n]).into_owned();
                assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            }
            Err(_) => {}
        }
    }
    let closed_at = closed_at.expect("a slow header block is cut off");
    assert!(
        closed_at >= Duration::from_millis(800) && closed_at < Duration::from_secs(3),
        "closed after {closed_at:?}"
    );
    h.upstream_saw(&[], "slow headers");

    // A keep-alive connection that answered a request and then idles is closed as well.
    let mut stream = TcpStream::connect(h.public()).await.unwrap();
    let request = format!("GET /kept HTTP/1.1\r\nHost: g\r\n{}\r\n\r\n", h.auth);
    stream.write_all(request.as_bytes()).await.unwrap();
    let res = read_until_closed(&mut stream, Duration::from_secs(6)).await;
    assert_eq!(res.statuses, [200], "{}", res.text);
    assert!(res.closed, "an idle keep-alive connection is closed");
    h.upstream_saw(&["/kept"], "keep-alive");

    // A request whose body never comes: the upstream never sees a complete request.
    let mut stream = TcpStream::connect(h.public()).await.unwrap();
    let request = format!(
        "POST /no-body HTTP/1.1\r\nHost: g\r\n{}\r\nContent-Length: 100\r\n\r\nabc",
        h.auth
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.upstream_saw(&[], "incomplete body");

    // The listener still serves.
    let res = h
        .exchange(
            "GET /after HTTP/1.1\r\nHost: g\r\n{auth}\r\nConnection: close\r\n\r\n",
            ANSWERED,
        )
        .await;
    assert_eq!(res.statuses, [200]);
    h.upstream_saw(&["/after"], "after");
}

#[tokio::test(flavor = "multi_thread")]
async fn h2_prior_knowledge_is_authenticated_and_a_lying_content_length_goes_nowhere() {
    let h = Harness::start().await;
    let mut send = common::raw::h2(h.public()).await;
    let token = h.auth.strip_prefix("Authorization: ").unwrap().to_owned();
    let request = |path: &str, auth: bool, headers: &[(&str, &str)], body: &'static [u8]| {
        let mut req = Request::post(format!("http://g{path}"));
        if auth {
            req = req.header("authorization", &token);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.body(Full::new(Bytes::from_static(body))).unwrap()
    };

    // Over h2 as over HTTP/1.1: a token gets through, no token is a 401.
    send.ready().await.unwrap();
    let res = send
        .send_request(request("/h2", true, &[], b"hello"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = h.upstream_saw(&["/h2"], "h2");
    assert_eq!(&seen[0].body[..], b"hello");
    send.ready().await.unwrap();
    let res = send
        .send_request(request("/h2", false, &[], b""))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    h.upstream_saw(&[], "h2 without a token");

    // H2.CL: a content-length shorter than the DATA that follows, the rest shaped as a second
    // HTTP/1.1 request for a downgrading proxy to misread. Whatever part refuses the extra DATA
    // (hyper's client already holds a body to its declared length, so this checks the path end
    // to end, not the server's own check), the upstream gets a request framed by the declared
    // length and never the smuggled bytes.
    let smuggling: &'static [u8] = b"GET /smuggled HTTP/1.1\r\nHost: g\r\n\r\n";
    send.ready().await.unwrap();
    let outcome = send
        .send_request(request(
            "/h2cl",
            true,
            &[("content-length", "0")],
            smuggling,
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = h.upstream.take();
    assert!(
        seen.iter().all(|s| s.uri == "/h2cl" && s.body.is_empty()),
        "{seen:?}"
    );
    if let Ok(res) = outcome {
        assert!(
            res.status() == 200 || res.status() == 400,
            "{}",
            res.status()
        );
    }
}
