//! The reverse proxy over real sockets: a hyper echo upstream, the proxy served by hyper-util's
//! auto builder, reqwest (and, for streaming uploads, hyper's client) in front.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokengate::proxy::{strip_hop_by_hop, ClientAddr, ReverseProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tower::ServiceExt;

type BoxError = Box<dyn StdError + Send + Sync>;

const MIB: usize = 1024 * 1024;
const BIG: usize = 5 * MIB;

// ---------------------------------------------------------------------------------------------
// Plumbing: a channel-fed body, a generic server, the echo upstream.

/// A body fed chunk by chunk through a channel; ends when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody(rx))
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

/// Serves the service `make` builds for each connection's peer on a fresh loopback port, with
/// hyper-util's auto builder (HTTP/1.1, and HTTP/2 with prior knowledge).
async fn serve<F, S, B>(make: F) -> SocketAddr
where
    F: Fn(SocketAddr) -> S + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let svc = make(peer);
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Serves `proxy`, telling it each client's address as the real server does.
async fn serve_proxy(proxy: ReverseProxy) -> SocketAddr {
    serve(move |peer| {
        TowerToHyperService::new(
            proxy
                .clone()
                .map_request(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ClientAddr(peer));
                    req
                }),
        )
    })
    .await
}

#[derive(Default)]
struct UpstreamState {
    hits: AtomicUsize,
    /// Lets `/slow-stream` send the rest of its body.
    release: Notify,
}

struct Upstream {
    addr: SocketAddr,
    state: Arc<UpstreamState>,
}

impl Upstream {
    async fn start() -> Upstream {
        let state = Arc::new(UpstreamState::default());
        let st = state.clone();
        let addr = serve(move |_| {
            let st = st.clone();
            hyper::service::service_fn(move |req| upstream(st.clone(), req))
        })
        .await;
        Upstream { addr, state }
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn authority(&self) -> String {
        self.addr.to_string()
    }
}

type UpBody = BoxBody<Bytes, Infallible>;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The echo upstream. `/hold` waits until three requests have arrived; `/sleep` waits 2 s first; `/hop` answers with hop-by-hop headers;
/// `/big` streams 5 MiB of `pattern`; `/slow-stream` sends `first` and the rest only once
/// released; `/first-chunk` answers as soon as the first request chunk arrives; anything else
/// echoes the request as JSON.
async fn upstream(
    state: Arc<UpstreamState>,
    req: Request<Incoming>,
) -> Result<Response<UpBody>, Infallible> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let res = match req.uri().path() {
        "/hold" => {
            // Answers once three requests have arrived (three connections at once).
            while state.hits.load(Ordering::SeqCst) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            echo(req).await
        }
        "/sleep" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            echo(req).await
        }
        "/hop" => Response::builder()
            .header("connection", "X-Secret-Resp")
            .header("x-secret-resp", "1")
            .header("keep-alive", "timeout=5")
            .header("proxy-connection", "keep-alive")
            .header("proxy-authenticate", "Basic realm=\"up\"")
            .header("trailer", "x-checksum")
            .header("upgrade", "h2c")
            .header("x-keep-resp", "1")
            .body(Full::new(Bytes::from_static(b"hop")).boxed())
            .unwrap(),
        "/big" => {
            let (tx, body) = channel(4);
            tokio::spawn(async move {
                let data = Bytes::from(pattern(BIG));
                for offset in (0..BIG).step_by(64 * 1024) {
                    let end = (offset + 64 * 1024).min(BIG);
                    if tx.send(data.slice(offset..end)).await.is_err() {
                        return;
                    }
                }
            });
            Response::new(body.boxed())
        }
        "/slow-stream" => {
            let (tx, body) = channel(1);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from_static(b"first")).await;
                state.release.notified().await;
                let _ = tx.send(Bytes::from_static(b"rest")).await;
            });
            Response::new(body.boxed())
        }
        "/first-chunk" => {
            let mut body = req.into_body();
            let first = loop {
                match body.frame().await {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => break data,
                        Err(_) => continue,
                    },
                    _ => break Bytes::new(),
                }
            };
            json_response(&json!({ "first": String::from_utf8_lossy(&first) }))
        }
        _ => echo(req).await,
    };
    Ok(res)
}

async fn echo(req: Request<Incoming>) -> Response<UpBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    json_response(&json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or(""),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body.len(),
        "body_sha256": sha256_hex(&body),
    }))
}

fn json_response(value: &Value) -> Response<UpBody> {
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())).boxed())
        .unwrap()
}

/// What the upstream saw: the echo's JSON.
struct Seen(Value);

impl Seen {
    /// Every value of header `name` (lowercase), in order.
    fn all(&self, name: &str) -> Vec<String> {
        self.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap().to_owned())
            .collect()
    }

    fn has(&self, name: &str) -> bool {
        !self.all(name).is_empty()
    }

    fn one(&self, name: &str) -> String {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "{name}: {all:?}");
        all.into_iter().next().unwrap()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn seen_of(res: reqwest::Response) -> Seen {
    assert_eq!(res.status(), StatusCode::OK);
    Seen(res.json().await.unwrap())
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn proxy_to(authority: impl std::fmt::Display) -> ReverseProxy {
    ReverseProxy::new(format!("http://{authority}").parse().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Method, path, query and bodies arrive intact; bodies stream.

#[tokio::test]
async fn method_path_query_and_bodies_arrive_intact() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let http = client();

    let body = pattern(MIB);
    let res = http
        .put(format!("http://{addr}/items/42?x=1&y=%20z"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let seen = seen_of(res).await;
    assert_eq!(seen.0["method"], "PUT");
    assert_eq!(seen.0["uri"], "/items/42?x=1&y=%20z");
    assert_eq!(seen.0["body_len"], MIB);
    assert_eq!(seen.0["body_sha256"], sha256_hex(&body));
    assert_eq!(seen.one("content-length"), MIB.to_string());

    let seen = seen_get(&http, addr, "/").await;
    assert_eq!(seen.0["method"], "GET");
    assert_eq!(seen.0["uri"], "/");

    let res = http
        .delete(format!("http://{addr}/items/42"))
        .send()
        .await
        .unwrap();
    assert_eq!(seen_of(res).await.0["method"], "DELETE");

    let started = Instant::now();
    let res = http.get(format!("http://{addr}/big")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got = res.bytes().await.unwrap();
    println!("5 MiB response through the proxy: {:?}", started.elapsed());
    assert_eq!(got.len(), BIG);
    assert_eq!(sha256_hex(&got), sha256_hex(&pattern(BIG)));
}

async fn seen_get(http: &reqwest::Client, addr: SocketAddr, path: &str) -> Seen {
    seen_of(
        http.get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn response_body_streams_before_the_upstream_finishes() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let mut res = client()
        .get(format!("http://{addr}/slow-stream"))
        .send()
        .await
        .unwrap();
    // The upstream holds back the rest until released: a buffering proxy would hang here.
    let first = tokio::time::timeout(Duration::from_secs(5), res.chunk())
        .await
        .expect("first chunk not streamed")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first");
    up.state.release.notify_one();
    let mut rest = Vec::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"rest");
}

/// A chunked `POST` of `hello` to `path` through the proxy at `addr`, its body kept open: the
/// sender that ends it (when dropped) and the response on its way.
type Upload = (
    mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<Result<Response<Incoming>, hyper_util::client::legacy::Error>>,
);

async fn open_upload(addr: SocketAddr, path: &str) -> Upload {
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<ChannelBody>();
    let (tx, body) = channel(1);
    let req = Request::post(format!("http://{addr}{path}"))
        .body(body)
        .unwrap();
    let pending = tokio::spawn(http.request(req));
    tx.send(Bytes::from_static(b"hello")).await.unwrap();
    (tx, pending)
}

#[tokio::test]
async fn request_body_streams_before_the_client_finishes() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let (tx, pending) = open_upload(addr, "/first-chunk").await;
    // The client keeps its body open: a buffering proxy would never let the upstream answer.
    let res = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("first request chunk not streamed")
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(tx);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let value: Value = serde_json::from_slice(&body).unwrap();
    let first = value["first"].as_str().unwrap();
    assert!(!first.is_empty() && "hello".starts_with(first), "{first}");
}

// ---------------------------------------------------------------------------------------------
// 2–3. Request headers: hop-by-hop gone, X-Forwarded-* replaced, Host is the upstream's.

#[tokio::test]
async fn hop_by_hop_request_headers_are_not_forwarded() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let res = client()
        .post(format!("http://{addr}/hop-req"))
        .header("connection", "close, X-Foo, HTTP2-Settings")
        .header("connection", "x-BAR")
        .header("x-foo", "secret")
        .header("x-bar", "secret too")
        .header("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("proxy-authorization", "Basic cHJveHk6cGFzcw==")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .header("upgrade", "websocket")
        .header("x-keep", "1")
        .body("payload")
        .send()
        .await
        .unwrap();
    let seen = seen_of(res).await;
    for gone in [
        "connection",
        "x-foo",
        "x-bar",
        "http2-settings",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
    ] {
        assert!(
            !seen.has(gone),
            "{gone} was forwarded: {:?}",
            seen.all(gone)
        );
    }
    assert_eq!(seen.one("x-keep"), "1");
    assert_eq!(seen.0["body_len"], 7);
}

#[tokio::test]
async fn forwarding_headers_are_replaced_and_host_is_the_upstreams() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let res = client()
        .get(format!("http://{addr}/fwd"))
        .header("host", "evil.example")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-for", "7.7.7.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "spoof.example")
        .header("forwarded", "for=6.6.6.6;proto=https")
        .send()
        .await
        .unwrap();
    let seen = seen_of(res).await;
    assert_eq!(seen.one("x-forwarded-for"), "127.0.0.1");
    assert_eq!(seen.one("x-forwarded-proto"), "http");
    assert_eq!(seen.one("x-forwarded-host"), "evil.example");
    assert_eq!(seen.one("host"), up.authority());
    assert!(!seen.has("forwarded"));
    assert_eq!(seen.0["uri"], "/fwd");
}

#[tokio::test]
async fn an_absolute_form_target_does_not_choose_the_upstream() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    // Used as a forward proxy, reqwest sends `GET http://evil.example/abs?q=1 HTTP/1.1`.
    let http = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{addr}")).unwrap())
        .build()
        .unwrap();
    let res = http
        .get("http://evil.example/abs?q=1")
        .send()
        .await
        .unwrap();
    let seen = seen_of(res).await;
    assert_eq!(seen.0["uri"], "/abs?q=1");
    assert_eq!(seen.one("host"), up.authority());
    assert_eq!(seen.one("x-forwarded-host"), "evil.example");
    assert_eq!(up.hits(), 1);
}

#[tokio::test]
async fn without_a_client_addr_there_is_no_x_forwarded_for() {
    let up = Upstream::start().await;
    // Called in-process, without the `ClientAddr` extension.
    let req = Request::get("/in-process")
        .header("x-forwarded-for", "6.6.6.6")
        .header("host", "front.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = proxy_to(up.addr).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let seen = Seen(serde_json::from_slice(&body).unwrap());
    assert!(!seen.has("x-forwarded-for"));
    assert_eq!(seen.one("x-forwarded-proto"), "http");
    assert_eq!(seen.one("x-forwarded-host"), "front.example");
}

// ---------------------------------------------------------------------------------------------
// 4. Response headers.

#[tokio::test]
async fn hop_by_hop_response_headers_are_stripped() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let res = client()
        .get(format!("http://{addr}/hop"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    for gone in [
        "connection",
        "x-secret-resp",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "trailer",
        "upgrade",
    ] {
        assert!(!headers.contains_key(gone), "{gone}: {headers:?}");
    }
    assert_eq!(headers["x-keep-resp"], "1");
    assert_eq!(res.text().await.unwrap(), "hop");
}

// ---------------------------------------------------------------------------------------------
// 5. Failures.

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_without_detail() {
    let addr = serve_proxy(proxy_to(format!("127.0.0.1:{}", closed_port()))).await;
    let res = client()
        .get(format!("http://{addr}/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(res.text().await.unwrap(), "bad gateway\n");
}

#[tokio::test]
async fn an_upstream_closing_without_answering_is_a_502() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            drop(stream);
        }
    });
    let addr = serve_proxy(proxy_to(up)).await;
    let res = client()
        .get(format!("http://{addr}/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(res.text().await.unwrap(), "bad gateway\n");
}

#[tokio::test]
async fn a_slow_upstream_is_a_504() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr).timeout(Duration::from_millis(300))).await;
    let started = Instant::now();
    let res = client()
        .get(format!("http://{addr}/sleep"))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    println!("504 after {elapsed:?} (timeout 300 ms, upstream sleeps 2 s)");
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.text().await.unwrap(), "gateway timeout\n");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Base paths, dot segments, CONNECT.

#[tokio::test]
async fn a_base_path_prefixes_the_request_path() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(format!("{}/base", up.addr))).await;
    let http = client();
    assert_eq!(
        seen_get(&http, addr, "/x?y=1").await.0["uri"],
        "/base/x?y=1"
    );
    assert_eq!(seen_get(&http, addr, "/").await.0["uri"], "/base/");
    assert_eq!(seen_get(&http, addr, "/a/b/").await.0["uri"], "/base/a/b/");
}

/// One raw HTTP/1.1 exchange; the response's status code.
async fn raw_status(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed early");
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn dot_segments_and_connect_are_refused_before_the_upstream() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(format!("{}/base", up.addr))).await;
    // Sent raw: HTTP clients normalize these away.
    for path in ["/../secret", "/a/%2e%2e/secret", "/a/..%2fsecret", "/./x"] {
        let status = raw_status(
            addr,
            &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 400, "{path}");
    }
    let status = raw_status(
        addr,
        "CONNECT evil.example:443 HTTP/1.1\r\nhost: evil.example:443\r\n\r\n",
    )
    .await;
    assert_eq!(status, 501);
    assert_eq!(up.hits(), 0);
    // A normal request on the same proxy still goes through.
    let ok = raw_status(
        addr,
        "GET /a/.b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(ok, 200);
}

// ---------------------------------------------------------------------------------------------
// h2c upstream.

#[tokio::test]
async fn an_h2c_upstream_with_http2_only() {
    let up = Upstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr).http2_only(true)).await;
    let http = client();
    let body = pattern(MIB);
    let res = http
        .post(format!("http://{addr}/h2?z=9"))
        .header("connection", "keep-alive, X-Foo")
        .header("x-foo", "1")
        .header("te", "trailers")
        .header("x-keep", "1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let seen = seen_of(res).await;
    assert_eq!(seen.0["version"], "HTTP/2.0");
    assert_eq!(seen.0["method"], "POST");
    assert_eq!(seen.0["uri"], "/h2?z=9");
    assert_eq!(seen.0["body_sha256"], sha256_hex(&body));
    assert!(!seen.has("x-foo") && !seen.has("connection") && !seen.has("te"));
    assert_eq!(seen.one("x-keep"), "1");
    assert_eq!(seen.one("x-forwarded-for"), "127.0.0.1");
    assert_eq!(seen.one("host"), up.authority());

    let res = http.get(format!("http://{addr}/big")).send().await.unwrap();
    let got = res.bytes().await.unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&pattern(BIG)));
}

// ---------------------------------------------------------------------------------------------
// Connection reuse.

/// An upstream serving `upstream` that counts the connections it accepts and those that
/// ended (closed by the proxy).
struct CountingUpstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl CountingUpstream {
    async fn start() -> CountingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (acc, clo) = (accepted.clone(), closed.clone());
        let state = Arc::new(UpstreamState::default());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let st = state.clone();
                let clo = clo.clone();
                let svc = hyper::service::service_fn(move |req| upstream(st.clone(), req));
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    clo.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        CountingUpstream {
            addr,
            accepted,
            closed,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Waits (at most 3 s) until `n` connections have ended; the time it took.
    async fn wait_closed(&self, n: usize) -> Duration {
        let started = Instant::now();
        while self.closed() < n && started.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }
}

#[tokio::test]
async fn upstream_connections_are_pooled() {
    let up = CountingUpstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr)).await;
    let http = client();
    for _ in 0..20 {
        seen_get(&http, addr, "/again").await;
    }
    assert_eq!(up.accepted(), 1);
    assert_eq!(up.closed(), 0);
}

#[tokio::test]
async fn the_pool_keeps_at_most_its_idle_limit() {
    let up = CountingUpstream::start().await;
    let addr = serve_proxy(proxy_to(up.addr).pool_max_idle_per_host(1)).await;
    let http = client();
    // Three at once: the upstream holds each until all three arrived, so three connections.
    let held = (0..3).map(|_| seen_get(&http, addr, "/hold"));
    futures::future::join_all(held).await;
    assert_eq!(up.accepted(), 3);
    up.wait_closed(2).await;
    assert_eq!(up.closed(), 2, "one connection kept idle, two closed");
    for _ in 0..3 {
        seen_get(&http, addr, "/again").await;
    }
    assert_eq!(up.accepted(), 3, "the idle one served the next requests");
}

#[tokio::test]
async fn idle_connections_expire() {
    let up = CountingUpstream::start().await;
    let idle = Duration::from_millis(300);
    let addr = serve_proxy(proxy_to(up.addr).pool_idle_timeout(idle)).await;
    let http = client();
    seen_get(&http, addr, "/x").await;
    let waited = up.wait_closed(1).await;
    println!("idle connection closed after {waited:?} (idle timeout {idle:?})");
    assert_eq!(up.closed(), 1, "closed with no request to notice it");
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    seen_get(&http, addr, "/x").await;
    assert_eq!(up.accepted(), 2, "an expired connection is not reused");
}

/// A raw upstream answering `200 ok` with keep-alive to every request head at once; after a
/// chunked request's head it reads on without answering anything more (the upload goes on).
async fn early_answer_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    buf.drain(..end + 4);
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    if head.contains("transfer-encoding: chunked") {
                        while let Ok(n) = stream.read(&mut chunk).await {
                            if n == 0 {
                                return;
                            }
                        }
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_connection_still_sending_a_request_body_serves_no_other_request() {
    let up = early_answer_upstream().await;
    let addr = serve_proxy(proxy_to(up).timeout(Duration::from_secs(3))).await;
    // An upload the upstream answers at once, the client keeping its body open: the response
    // ends while the upstream connection still carries the request body.
    let (tx, pending) = open_upload(addr, "/upload").await;
    let res = pending.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body().collect().await.unwrap();
    // Another request goes on another connection at once, not behind the stalled upload.
    let started = Instant::now();
    let res = client()
        .get(format!("http://{addr}/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(tx);
}

/// A raw upstream answering `200 ok` with keep-alive, `answers` requests per connection,
/// then reading one more request and closing (`close_after_answer`: closing right after the
/// last answer instead, without saying so). Counts the requests it read.
async fn dropping_upstream(
    answers: usize,
    close_after_answer: bool,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for answered in 0..=answers {
                    // One request head (GETs without a body).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 1024];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    count.fetch_add(1, Ordering::SeqCst);
                    if answered == answers {
                        return; // read, never answered: closed
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    if close_after_answer && answered + 1 == answers {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        return;
                    }
                }
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_not_reused() {
    let (up, requests) = dropping_upstream(1, true).await;
    let addr = serve_proxy(proxy_to(up)).await;
    let http = client();
    for round in 1..=3 {
        let res = http.get(format!("http://{addr}/x")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "round {round}");
        assert_eq!(res.text().await.unwrap(), "ok");
        // The upstream closes its side 50 ms after answering.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_written_before_the_upstream_closed_is_not_sent_again() {
    // The upstream answers the first request of a connection, reads the second and closes.
    let (up, requests) = dropping_upstream(1, false).await;
    let addr = serve_proxy(proxy_to(up)).await;
    let http = client();
    let res = http
        .get(format!("http://{addr}/first"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");
    let res = http
        .get(format!("http://{addr}/second"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(res.text().await.unwrap(), "bad gateway\n");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "the second request reached the upstream once"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. strip_hop_by_hop.

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    map
}

fn names(map: &HeaderMap) -> Vec<&str> {
    let mut names: Vec<&str> = map.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    names
}

#[test]
fn strip_removes_the_fixed_list() {
    let mut map = headers(&[
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authenticate", "Basic"),
        ("Proxy-Authorization", "Basic eA=="),
        ("TE", "trailers"),
        ("Trailer", "X-Sum"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "h2c"),
        ("Content-Type", "text/plain"),
        ("Authorization", "Bearer t"),
    ]);
    strip_hop_by_hop(&mut map);
    assert_eq!(names(&map), ["authorization", "content-type"]);
}

#[test]
fn strip_removes_headers_named_in_connection() {
    let mut map = headers(&[
        ("Connection", "close, X-Foo ,HTTP2-Settings"),
        ("Connection", "x-BAR,,  "),
        ("X-Foo", "1"),
        ("X-Foo", "2"),
        ("x-bar", "1"),
        ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
        ("X-Keep", "1"),
    ]);
    strip_hop_by_hop(&mut map);
    assert_eq!(names(&map), ["x-keep"]);
}

#[test]
fn strip_ignores_junk_in_connection_and_leaves_clean_maps_alone() {
    let mut map = headers(&[("Connection", "bad name, (x), X-Foo"), ("X-Foo", "1")]);
    map.append("x-keep", "1".parse().unwrap());
    strip_hop_by_hop(&mut map);
    assert_eq!(names(&map), ["x-keep"]);

    let mut clean = headers(&[("Accept", "*/*"), ("X-Keep", "1"), ("X-Keep", "2")]);
    let before = clean.clone();
    strip_hop_by_hop(&mut clean);
    assert_eq!(clean, before);

    let mut empty = HeaderMap::new();
    strip_hop_by_hop(&mut empty);
    assert!(empty.is_empty());
}

#[test]
fn strip_before_injecting_keeps_injected_headers() {
    // The order DESIGN §6 asks of the gateway layer: strip, then inject.
    let mut map = headers(&[
        ("Connection", "X-Mashery-Oauth-Client-Id"),
        ("X-Mashery-Oauth-Client-Id", "spoofed"),
    ]);
    strip_hop_by_hop(&mut map);
    map.insert("x-mashery-oauth-client-id", "real".parse().unwrap());
    // The proxy strips again on the way out: the injected value survives.
    strip_hop_by_hop(&mut map);
    assert_eq!(map["x-mashery-oauth-client-id"], "real");
    assert_eq!(map.len(), 1);
}
