//! The TLS tests' helpers: a gateway served in-process, reqwest clients trusting a test CA,
//! a TLS connection kept open, the gateway's log lines.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};
use tokengate::server::{Config, Server};
use tokengate::tls::{client_config, Roots};

use crate::common::config::ServeConfig;
use crate::common::process::Gateway;
use crate::common::{ADMIN_KEY, ADMIN_SECRET, SERVICE, WEB_CLIENT, WEB_SECRET};
use crate::pki::{Issued, Pki};

/// A server certificate for the loopback names.
pub fn localhost(pki: &Pki, stem: &str, common_name: &str) -> Issued {
    pki.server(stem, &["localhost", "127.0.0.1"], common_name)
}

pub fn tls_line(issued: &Issued, extra: &str) -> String {
    format!(
        "tls = {{ cert = {:?}, key = {:?}{extra} }}",
        issued.cert, issued.key
    )
}

/// A reqwest client trusting `ca` only.
pub fn client(ca: &Pki) -> reqwest::ClientBuilder {
    trusting(ca.ca_pem().as_bytes())
}

/// A reqwest client trusting the certificate `pem` only.
pub fn trusting(pem: &[u8]) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
}

pub struct Running {
    pub admin: SocketAddr,
    pub public: SocketAddr,
    pub server_certificates: tokengate::server::CertificateReloader,
    pub metrics: Arc<tokengate::server::Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start(dir: &Path, config: ServeConfig) -> Running {
    let text = config.toml().replace(
        "sqlite://tokengate.db",
        &format!("sqlite://{}/t.db", dir.display()),
    );
    let server = Server::bind(Config::from_toml(&text, None).unwrap())
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = Running {
        admin: server.admin_addr(),
        public: server.public_addr().unwrap(),
        server_certificates: server.certificates().clone(),
        metrics: server.metrics().clone(),
        stop: Some(stop),
    };
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    running
}

/// A client_credentials token issued through JSON-RPC on the https admin listener.
pub async fn token(http: &reqwest::Client, admin: SocketAddr) -> String {
    let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let data = json!({"grant_type": "client_credentials", "scope": ""});
    let reply: Value = http
        .post(format!("https://localhost:{}/v2/json-rpc", admin.port()))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .json(
            &json!({"jsonrpc": "2.0", "method": "oauth2.createAccessToken",
            "params": [SERVICE, client, data, null, null], "id": 1}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["result"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

/// An HTTP/1.1 connection over TLS to `addr`, kept open; and the certificate it got.
pub async fn open_connection(
    ca: &Path,
    addr: SocketAddr,
) -> (
    hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    CertificateDer<'static>,
) {
    let tls = client_config(&Roots::CaFile(ca.to_path_buf())).unwrap();
    connect(tls, addr).await.unwrap()
}

/// A client configuration trusting `ca` and showing the client certificate `identity`. One
/// configuration keeps its sessions: a second connection made with it offers to resume.
pub fn mtls_config(ca: &Path, identity: &Issued) -> Arc<tokio_rustls::rustls::ClientConfig> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(der(&std::fs::read_to_string(ca).unwrap()))
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![der(&identity.cert_pem)], key)
        .unwrap();
    Arc::new(config)
}

/// An HTTP/1.1 connection over TLS with `tls` to `addr` (`localhost`), and the certificate
/// it got; the TLS or HTTP handshake's error otherwise.
pub async fn connect(
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
    addr: SocketAddr,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
        CertificateDer<'static>,
    ),
    String,
> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("http: {e}"))?;
    tokio::spawn(connection);
    Ok((sender, served))
}

pub async fn healthz(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) -> u16 {
    try_healthz(sender).await.unwrap()
}

/// `GET /healthz` on the connection: its status, or why there was none.
pub async fn try_healthz(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
) -> Result<u16, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let request = Request::get("/healthz")
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

pub fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// The first line of the gateway's log containing `needle`, once it has been read from the
/// process's stderr (a bounded wait).
pub async fn log_line(gateway: &Gateway, needle: &str) -> String {
    for _ in 0..200 {
        if let Some(line) = gateway.logs().lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no {needle:?} in the log:\n{}", gateway.logs());
}
