//! `https` upstreams behind the gateway over real sockets, with certificates made at test
//! time: verified against their CA with SNI, optionally over h2; another name, an expired
//! certificate or an unknown CA is a 502 and a clear log line.
#![cfg(unix)]

mod common;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/tls.rs"]
mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use rustls_pki_types::pem::PemObject;

use common::config::ServeConfig;
use common::process::Gateway;
use pki::{Issued, Pki};
use tls::*;

/// What the TLS upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    sni: Option<String>,
    version: Version,
    forwarded_proto: Option<String>,
}

/// An HTTPS upstream serving `cert` (whatever it is: expired, another name) with ALPN `h2`
/// and `http/1.1`; records every request.
async fn tls_upstream(cert: &Issued) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let chain = vec![der(&cert.cert_pem)];
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let sink = sink.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = stream.get_ref().1.server_name().map(str::to_owned);
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    sink.lock().unwrap().push(Seen {
                        sni: sni.clone(),
                        version: req.version(),
                        forwarded_proto: req
                            .headers()
                            .get("x-forwarded-proto")
                            .map(|v| v.to_str().unwrap().to_owned()),
                    });
                    async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"secure upstream"),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn an_https_upstream_is_verified_against_its_ca_with_sni_and_optional_h2() {
    let dir = tempfile::tempdir().unwrap();
    let upstream_pki = Pki::new(dir.path(), "upstream");
    let cert = upstream_pki.server("api", &["localhost"], "api");
    let (addr, seen) = tls_upstream(&cert).await;

    for (http2, version) in [(false, Version::HTTP_11), (true, Version::HTTP_2)] {
        let gateway = start(
            dir.path(),
            ServeConfig::sqlite().public(&format!(
                "upstream = \"https://localhost:{}/v1\"\nupstream_ca = {:?}\nupstream_http2 = {http2}",
                addr.port(),
                upstream_pki.ca_file()
            )),
        )
        .await;
        let http = reqwest::Client::new();
        let token = common::admin::token(gateway.admin, "").await;
        let response = http
            .get(format!("http://{}/reviews", gateway.public))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "secure upstream");
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.sni.as_deref(), Some("localhost"), "SNI names the host");
        assert_eq!(last.version, version);
        assert_eq!(last.forwarded_proto.as_deref(), Some("http"));
    }
}

#[tokio::test]
async fn upstream_certificates_of_another_name_or_expired_or_untrusted_are_a_502_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let upstream_pki = Pki::new(dir.path(), "upstream");
    let stranger = Pki::new(dir.path(), "stranger");
    let cases = [
        (
            upstream_pki.server("wrong", &["api.example.com"], "wrong"),
            "not valid for name",
        ),
        (
            upstream_pki.expired_server("old", &["localhost"]),
            "expired",
        ),
        (
            stranger.server("alien", &["localhost"], "alien"),
            "unknownissuer",
        ),
    ];
    for (cert, reason) in cases {
        let (addr, seen) = tls_upstream(&cert).await;
        let config = ServeConfig::sqlite()
            .public(&format!(
                "upstream = \"https://localhost:{}\"\nupstream_ca = {:?}",
                addr.port(),
                upstream_pki.ca_file()
            ))
            .toml();
        let run = tempfile::tempdir().unwrap();
        let gateway = Gateway::start_logged(run.path(), &config, "warn");
        let token = common::admin::token(gateway.admin, "").await;
        let response = reqwest::Client::new()
            .get(format!("http://{}/reviews", gateway.public()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 502, "{reason}");
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing reached the upstream"
        );
        let line = log_line(&gateway, "proxy: upstream").await;
        assert!(line.contains("invalid peer certificate"), "{line}");
        assert!(line.to_lowercase().contains(reason), "{reason}: {line}");
        assert!(!line.contains(&token), "{line}");
        gateway.terminate();
    }
}
