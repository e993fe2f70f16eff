//! Raw HTTP/1.1 on a fresh connection, for exact control of header names, case, repetition and
//! bytes that HTTP clients would refuse to send.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as it came, without its `date` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Raw {
    /// The status code.
    pub status: u16,
    /// `(lower-case name, value)`, in order, without `date`.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy).
    pub body: String,
}

impl Raw {
    /// The first value of `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `WWW-Authenticate` value.
    pub fn challenge(&self) -> Option<&str> {
        self.header("www-authenticate")
    }
}

/// Sends `GET path` with `headers` (one `Name: value` per entry, sent as written) and
/// `Connection: close`, and reads the whole answer.
pub async fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Raw {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: gateway.test\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("connection:"))
    {
        request.push_str("Connection: close\r\n");
    }
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    send_raw(addr, request.as_bytes()).await
}

/// Sends `request` as it is on a fresh connection and reads until the server closes it.
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf))
        .await
        .expect("the gateway answered and closed")
        .unwrap();
    parse(&buf)
}

fn parse(buf: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(n, _)| n != "date")
        .collect();
    Raw {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `GET path` over h2 on a fresh connection (`:authority` is `addr`) with `token` as bearer
/// and `headers` (`(name, value)`, sent as given): the status.
pub async fn h2_get(addr: SocketAddr, token: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut sender = h2(addr).await;
    let mut request = http::Request::get(format!("http://{addr}{path}"))
        .header("authorization", format!("Bearer {token}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = http_body_util::Full::new(bytes::Bytes::new());
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .unwrap();
    response.status().as_u16()
}

/// An HTTP/2 connection with prior knowledge (h2c, no upgrade) to `addr`, driven in the
/// background, for requests with bodies.
pub async fn h2(
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    sender
}
