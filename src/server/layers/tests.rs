//! The listener layers over real sockets: a panic is a `500` and the server lives on; traced
//! requests log neither the query, nor a token in the path, nor a credentials header; a body
//! that stops arriving is `408`.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_http::timeout::TimeoutBody;

use super::*;
use crate::server::listener::{serve_http, HttpOptions};

/// Panics on `/panic`; elsewhere logs the request headers (at `debug`) and answers `inner`.
async fn handler<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/panic" {
        panic!("handler panicked on purpose");
    }
    tracing::debug!(headers = ?req.headers(), "inner service");
    Ok(Response::new(Full::new(Bytes::from_static(b"inner"))))
}

/// Serves `service` on a port from the OS until the test ends.
async fn serve<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<hyper::body::Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<crate::BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        serve_http(
            listener,
            service,
            &HttpOptions::default(),
            None,
            std::future::pending(),
        )
        .await
    });
    addr
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_lives_on() {
    let service = tower::service_fn(handler::<TimeoutBody<hyper::body::Incoming>>);
    let addr = serve(catch_panic(traced(service, BODY_TIMEOUT))).await;
    let client = reqwest::Client::new();
    let other = reqwest::Client::new();
    // A second connection, open before the panic.
    let before = other.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(before.status(), 200);

    let panicked = client
        .get(format!("http://{addr}/panic"))
        .send()
        .await
        .unwrap();
    assert_eq!(panicked.status(), 500);
    assert_eq!(panicked.text().await.unwrap(), "internal server error\n");

    // The same client (its kept-alive connection) and the other connection still served.
    for client in [&client, &other] {
        let response = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "inner");
    }
}

/// Collects what a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

// One thread: the server's tasks log to this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn traced_requests_log_no_query_token_or_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    // The server's logs only (the client logs its own requests, queries and all).
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("tokengate=trace,tower_http=trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let service = tower::service_fn(handler::<TimeoutBody<hyper::body::Incoming>>);
    let addr = serve(catch_panic(traced(service, BODY_TIMEOUT))).await;
    let client = reqwest::Client::new();
    let token = "tok0secret0value0abcdefghijklmnopqrstuvw";
    let targets = [
        format!("/v2/json-rpc?api_key=key0query&sig=sig0query&access_token={token}"),
        format!("/oauth2/access_token/{token}"),
        format!("/oauth2/access_token/owners/owner0name?cursor={token}"),
    ];
    for target in &targets {
        let response = client
            .get(format!("http://{addr}{target}"))
            .header("authorization", format!("Bearer {token}"))
            .header("proxy-authorization", "Basic cHJveHkwdXNlcjpwcm94eTBwYXNz")
            .header("cookie", "session=cookie0value")
            .header("x-visible", "plain0header")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let logged = captured.text();
    // The events ran, with the span and the inner service's header dump.
    assert!(logged.contains("path=/v2/json-rpc"), "{logged}");
    assert!(
        logged.contains("path=/oauth2/access_token/{token}"),
        "{logged}"
    );
    assert!(
        logged.contains("path=/oauth2/access_token/owners/{owner}"),
        "{logged}"
    );
    assert!(logged.contains("finished processing request"), "{logged}");
    assert!(logged.contains("plain0header"), "{logged}");
    assert!(logged.contains("Sensitive"), "{logged}");
    for secret in [
        token,
        "key0query",
        "sig0query",
        "owner0name",
        "cHJveHkwdXNlcjpwcm94eTBwYXNz",
        "cookie0value",
        "?",
    ] {
        assert!(!logged.contains(secret), "{secret} logged: {logged}");
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_a_408() {
    use crate::rpc::{Credentials, JsonRpcService};
    let tokens = Arc::new(crate::oauth::TokenService::new(
        Arc::new(crate::store::MemoryStore::new()),
        crate::secret::Pepper::new(vec![7u8; 32]),
    ));
    let rpc = JsonRpcService::new(
        tokens,
        Credentials::new(vec![("admin0key".into(), "admin0secret".into())]),
    );
    let addr = serve(catch_panic(traced(rpc, Duration::from_millis(200)))).await;

    let basic = base64::engine::general_purpose::STANDARD.encode("admin0key:admin0secret");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v2/json-rpc HTTP/1.1\r\nHost: a\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The rest of the body never comes; the server answers without waiting for it.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert_ne!(n, 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
}

#[test]
fn loggable_paths_carry_no_token_or_owner() {
    assert_eq!(loggable_path("/v2/json-rpc"), "/v2/json-rpc");
    assert_eq!(
        loggable_path("/oauth2/access_token/abc"),
        "/oauth2/access_token/{token}"
    );
    assert_eq!(
        loggable_path("/oauth2/access_token/owners"),
        "/oauth2/access_token/owners"
    );
    assert_eq!(
        loggable_path("/oauth2/access_token/owners/bob"),
        "/oauth2/access_token/owners/{owner}"
    );
    assert_eq!(loggable_path("/oauth2/token"), "/oauth2/token");
}
