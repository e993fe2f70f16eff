//! TLS on the listeners over real sockets, with certificates made at test time: HTTP/1.1 and
//! h2 on both, refused clients (another CA, no client certificate), refused certificates
//! (expired, mismatched key), a certificate reloaded under an open connection (in-process and
//! by SIGHUP), the remote resolver over TLS, the quick start over https.
#![cfg(unix)]

mod common;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/tls.rs"]
mod tls;

use std::time::Duration;

use http::Version;
use serde_json::Value;
use tokengate::server::{Config, Server};
use tokengate::tls::{client_config, Roots};

use common::config::ServeConfig;
use common::process::Gateway;
use common::upstream::Recorder;
use common::{ADMIN_KEY, ADMIN_SECRET, SERVICE, WEB_CLIENT};
use pki::Pki;
use tls::*;

#[tokio::test]
async fn both_listeners_serve_http1_and_h2_and_the_scheme_is_https() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let cert = localhost(&pki, "server", "server");
    let upstream = Recorder::start().await;
    let gateway = start(
        dir.path(),
        ServeConfig::sqlite()
            .admin(&tls_line(&cert, ""))
            .public(&tls_line(&cert, ""))
            .public(&format!("upstream = \"http://{}\"", upstream.addr)),
    )
    .await;

    for (http, version) in [
        (client(&pki).http1_only().build().unwrap(), Version::HTTP_11),
        (client(&pki).build().unwrap(), Version::HTTP_2),
    ] {
        for addr in [gateway.admin, gateway.public] {
            let response = http
                .get(format!("https://localhost:{}/healthz", addr.port()))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), version, "ALPN picks the version");
        }
        let token = token(&http, gateway.admin).await;
        let response = http
            .get(format!(
                "https://localhost:{}/reviews",
                gateway.public.port()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen = upstream.take().pop().expect("the upstream got the request");
        assert_eq!(seen.one("x-forwarded-proto"), "https");
    }

    // Plain HTTP on a TLS port is no request at all.
    let plain = reqwest::get(format!("http://{}/healthz", gateway.public)).await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);

    // The RFC 8414 issuer follows the scheme.
    let http = client(&pki).build().unwrap();
    let metadata: Value = http
        .get(format!(
            "https://localhost:{}/.well-known/oauth-authorization-server",
            gateway.public.port()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap();
    assert!(issuer.starts_with("https://"), "{metadata}");
    assert!(metadata["token_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("https://"));

    let metrics = gateway.metrics.render();
    assert!(
        metrics.contains("tokengate_tls_handshakes_total{listener=\"public\",result=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("tokengate_tls_certificate_expiry_seconds{listener=\"admin\"}"));
}

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let other = Pki::new(dir.path(), "other");
    let cert = localhost(&pki, "server", "server");
    let gateway = start(
        dir.path(),
        ServeConfig::sqlite().public(&tls_line(&cert, "")),
    )
    .await;
    let err = client(&other)
        .build()
        .unwrap()
        .get(format!(
            "https://localhost:{}/healthz",
            gateway.public.port()
        ))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // The server counts the handshake once it has read the client's alert.
    let failed = "tokengate_tls_handshakes_total{listener=\"public\",result=\"failed\"} 1";
    for _ in 0..100 {
        if gateway.metrics.render().contains(failed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = gateway.metrics.render();
    assert!(metrics.contains(failed), "{metrics}");
}

#[tokio::test]
async fn an_expired_or_mismatched_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let expired = pki.expired_server("expired", &["localhost"]);
    let text = ServeConfig::new("memory:")
        .public(&tls_line(&expired, ""))
        .toml();
    let err = Server::bind(Config::from_toml(&text, None).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("public.tls"), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");

    let one = localhost(&pki, "one", "one");
    let two = localhost(&pki, "two", "two");
    let text = ServeConfig::new("memory:")
        .admin(&format!(
            "tls = {{ cert = {:?}, key = {:?} }}",
            one.cert, two.key
        ))
        .toml();
    let err = Server::bind(Config::from_toml(&text, None).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("admin.tls"), "{err}");
    assert!(
        !err.to_string().contains("PRIVATE KEY"),
        "no key material: {err}"
    );
}

#[tokio::test]
async fn the_admin_listener_can_require_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let clients = Pki::new(dir.path(), "clients");
    let cert = localhost(&pki, "server", "server");
    let ca = format!(", client_ca = {:?}", clients.ca_file());
    let gateway = start(
        dir.path(),
        ServeConfig::sqlite().admin(&tls_line(&cert, &ca)),
    )
    .await;
    let url = format!("https://localhost:{}/healthz", gateway.admin.port());

    let without = client(&pki).build().unwrap().get(&url).send().await;
    assert!(without.is_err(), "no client certificate: refused");

    let stranger = pki.client("stranger");
    let identity = reqwest::Identity::from_pem(
        format!("{}{}", stranger.cert_pem, stranger.key_pem).as_bytes(),
    )
    .unwrap();
    let signed_elsewhere = client(&pki).identity(identity).build().unwrap();
    assert!(signed_elsewhere.get(&url).send().await.is_err());

    let ops = clients.client("ops");
    let identity =
        reqwest::Identity::from_pem(format!("{}{}", ops.cert_pem, ops.key_pem).as_bytes()).unwrap();
    let with = client(&pki).identity(identity).build().unwrap();
    let response = with.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

/// Whether a new connection with `tls` to `addr` gets an answer to `GET /healthz`.
async fn answered(
    tls: &std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    addr: std::net::SocketAddr,
) -> Result<u16, String> {
    let (mut sender, _) = connect(tls.clone(), addr).await?;
    try_healthz(&mut sender).await
}

#[tokio::test]
async fn a_swapped_client_ca_is_read_on_reload_and_open_connections_stay() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let old = Pki::new(dir.path(), "old");
    let new = Pki::new(dir.path(), "new");
    let cert = localhost(&pki, "server", "server");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, old.ca_pem()).unwrap();
    let gateway = start(
        dir.path(),
        ServeConfig::sqlite().admin(&tls_line(&cert, &format!(", client_ca = {ca_file:?}"))),
    )
    .await;
    // One configuration per client: it keeps its sessions and offers to resume them.
    let old_client = mtls_config(&pki.ca_file(), &old.client("old-ops"));
    let new_client = mtls_config(&pki.ca_file(), &new.client("new-ops"));

    let (mut open, _) = connect(old_client.clone(), gateway.admin).await.unwrap();
    assert_eq!(healthz(&mut open).await, 200);
    assert_eq!(
        answered(&old_client, gateway.admin).await,
        Ok(200),
        "before: the old CA's client"
    );
    assert!(
        answered(&new_client, gateway.admin).await.is_err(),
        "before: the new CA's client is refused"
    );

    std::fs::write(&ca_file, new.ca_pem()).unwrap();
    gateway.server_certificates.reload().unwrap();
    // The old CA's client is refused, though it holds a session to resume: the new CA comes
    // with a new session cache and ticket key, so it must show its certificate again.
    let refused = answered(&old_client, gateway.admin).await;
    assert!(
        refused.is_err(),
        "after: the old CA's client is refused: {refused:?}"
    );
    assert_eq!(
        answered(&new_client, gateway.admin).await,
        Ok(200),
        "after: the new CA's client"
    );
    assert_eq!(
        healthz(&mut open).await,
        200,
        "the open connection still serves"
    );

    // A CA file that holds no certificate: the reload fails, naming it, and the new CA stays.
    std::fs::write(&ca_file, "not a certificate").unwrap();
    let err = gateway.server_certificates.reload().unwrap_err();
    assert!(err.to_string().contains("admin.tls"), "{err}");
    assert!(err.to_string().contains("client-ca.pem"), "{err}");
    assert_eq!(
        answered(&new_client, gateway.admin).await,
        Ok(200),
        "the CA before stays"
    );
    assert!(answered(&old_client, gateway.admin).await.is_err());
    assert_eq!(healthz(&mut open).await, 200);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_to_new_connections_and_open_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let first = localhost(&pki, "live", "first");
    let gateway = start(
        dir.path(),
        ServeConfig::sqlite().public(&tls_line(&first, "")),
    )
    .await;

    let (mut open, served) = open_connection(&pki.ca_file(), gateway.public).await;
    assert_eq!(served, der(&first.cert_pem));
    assert_eq!(healthz(&mut open).await, 200);

    // Renewed on disk (same files), then reloaded.
    let second = localhost(&pki, "live", "second");
    gateway.server_certificates.reload().unwrap();
    let (mut fresh, served) = open_connection(&pki.ca_file(), gateway.public).await;
    assert_eq!(
        served,
        der(&second.cert_pem),
        "new connections get the new one"
    );
    assert_eq!(healthz(&mut fresh).await, 200);
    assert_eq!(
        healthz(&mut open).await,
        200,
        "the open connection still serves"
    );

    // A broken renewal: the old pair stays and the error names the file.
    std::fs::write(&second.cert, "not a certificate").unwrap();
    let err = gateway.server_certificates.reload().unwrap_err();
    assert!(err.to_string().contains("public.tls"), "{err}");
    assert!(err.to_string().contains("live.pem"), "{err}");
    let (_, served) = open_connection(&pki.ca_file(), gateway.public).await;
    assert_eq!(served, der(&second.cert_pem));
    // A key of another certificate: refused too.
    let other = localhost(&pki, "other", "other");
    std::fs::write(&second.cert, &second.cert_pem).unwrap();
    std::fs::write(&second.key, &other.key_pem).unwrap();
    assert!(gateway.server_certificates.reload().is_err());
    let (_, served) = open_connection(&pki.ca_file(), gateway.public).await;
    assert_eq!(served, der(&second.cert_pem));
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_a_running_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let first = localhost(&pki, "live", "first");
    let config = ServeConfig::sqlite().public(&tls_line(&first, "")).toml();
    let gateway = Gateway::start_logged(dir.path(), &config, "info");
    let (mut open, served) = open_connection(&pki.ca_file(), gateway.public()).await;
    assert_eq!(served, der(&first.cert_pem));

    let second = localhost(&pki, "live", "second");
    gateway.hang_up();
    log_line(&gateway, "certificate reloaded").await;
    let (_, served) = open_connection(&pki.ca_file(), gateway.public()).await;
    assert_eq!(served, der(&second.cert_pem));
    assert_eq!(healthz(&mut open).await, 200);
    gateway.terminate();
}

#[tokio::test]
async fn sighup_reads_the_client_ca_of_a_running_gateway_again() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let (old, new) = (Pki::new(dir.path(), "old"), Pki::new(dir.path(), "new"));
    let cert = localhost(&pki, "server", "server");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, old.ca_pem()).unwrap();
    let config = ServeConfig::sqlite()
        .admin(&tls_line(&cert, &format!(", client_ca = {ca_file:?}")))
        .toml();
    let gateway = Gateway::start_logged(dir.path(), &config, "info");
    let old_client = mtls_config(&pki.ca_file(), &old.client("old-ops"));
    let new_client = mtls_config(&pki.ca_file(), &new.client("new-ops"));
    let (mut open, _) = connect(old_client.clone(), gateway.admin).await.unwrap();
    assert_eq!(healthz(&mut open).await, 200);

    std::fs::write(&ca_file, new.ca_pem()).unwrap();
    gateway.hang_up();
    let line = log_line(&gateway, "certificate reloaded").await;
    assert!(line.contains("client-ca.pem"), "{line}");
    assert!(answered(&old_client, gateway.admin).await.is_err());
    assert_eq!(answered(&new_client, gateway.admin).await, Ok(200));
    assert_eq!(
        healthz(&mut open).await,
        200,
        "the open connection still serves"
    );
    gateway.terminate();
}

#[tokio::test]
async fn the_remote_resolver_calls_its_token_service_over_verified_tls() {
    use tokengate::resolve::{RemoteResolver, Resolve};
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let other = Pki::new(dir.path(), "other");
    let cert = localhost(&pki, "server", "server");
    let gateway = start(
        dir.path(),
        ServeConfig::sqlite().admin(&tls_line(&cert, "")),
    )
    .await;
    let http = client(&pki).build().unwrap();
    let token = token(&http, gateway.admin).await;
    let endpoint: http::Uri = format!("https://localhost:{}/v2/json-rpc", gateway.admin.port())
        .parse()
        .unwrap();
    let resolver = |ca: &Pki, h2: bool| {
        RemoteResolver::new(endpoint.clone(), SERVICE, ADMIN_KEY, ADMIN_SECRET)
            .offer_http2(h2)
            .tls_config(client_config(&Roots::CaFile(ca.ca_file())).unwrap())
    };
    for h2 in [false, true] {
        let info = resolver(&pki, h2)
            .resolve(&token)
            .await
            .unwrap()
            .expect("valid");
        assert_eq!(info.client_id, WEB_CLIENT);
    }
    let err = resolver(&other, false).resolve(&token).await.unwrap_err();
    assert!(
        !err.is_config(),
        "a store error (503), not an invalid token: {err}"
    );
    // The system's roots do not know the test CA.
    let system = RemoteResolver::new(endpoint, SERVICE, ADMIN_KEY, ADMIN_SECRET);
    assert!(system.resolve(&token).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_runs_over_https_with_a_generated_certificate() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let generate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(["cert", "self-signed", "--out-cert", "dev-cert.pem"])
            .args(["--out-key", "dev-key.pem"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let made = generate();
    assert!(made.status.success(), "{made:?}");
    let mode = std::fs::metadata(dir.path().join("dev-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key is private");
    let again = generate();
    assert!(!again.status.success(), "existing files are not replaced");
    assert!(String::from_utf8_lossy(&again.stderr).contains("dev-key.pem"));

    let example = include_str!("../tokengate.example.toml")
        .replace("listen = \"127.0.0.1:8081\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    let gateway = Gateway::start_with_args(
        dir.path(),
        &example,
        "warn",
        &["--tls-cert", "dev-cert.pem", "--tls-key", "dev-key.pem"],
    );
    let cert = std::fs::read(dir.path().join("dev-cert.pem")).unwrap();
    let http = trusting(&cert).build().unwrap();
    let token = token(&http, gateway.admin).await;
    for host in ["localhost", "127.0.0.1"] {
        let echoed: Value = http
            .get(format!(
                "https://{host}:{}/reviews",
                gateway.public().port()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(echoed["headers"]["x-mashery-oauth-client-id"], WEB_CLIENT);
    }
    // Its h2 connections answer the shutdown's GOAWAY from the runtime's other thread while
    // `terminate` blocks this one.
    drop(http);
    gateway.terminate();
}
