//! How the proxy connects to its upstream: TCP, and TLS for an `https` upstream (SNI and
//! certificate verification by rustls through hyper-rustls; ALPN `h2` only when asked for).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::ClientConfig;

/// The connector of every upstream connection: plain TCP for `http`, TLS for `https`.
pub(super) type Connector = HttpsConnector<HttpConnector>;

/// A connector to the upstream: `tls` is the client configuration of an `https` upstream
/// (`None` for `http`); `offer_h2` adds `h2` to ALPN before `http/1.1`.
pub(super) fn connector(
    tls: Option<&Arc<ClientConfig>>,
    offer_h2: bool,
    keepalive: Duration,
) -> Connector {
    let mut tcp = HttpConnector::new();
    // The scheme is checked by the TLS connector: `https` must reach it.
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(keepalive));
    let builder = HttpsConnectorBuilder::new();
    match tls {
        Some(tls) => {
            let builder = builder.with_tls_config((**tls).clone()).https_only();
            match offer_h2 {
                true => builder.enable_http1().enable_http2().wrap_connector(tcp),
                false => builder.enable_http1().wrap_connector(tcp),
            }
        }
        // Never used for a handshake: the upstream is `http`.
        None => builder
            .with_tls_config((*no_roots()).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp),
    }
}

/// A configuration that trusts no certificate: for connectors that never speak TLS (an
/// `http` upstream), and for an `https` one when the system has no roots.
pub(super) fn no_roots() -> Arc<ClientConfig> {
    static EMPTY: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    EMPTY
        .get_or_init(|| {
            Arc::new(
                ClientConfig::builder_with_provider(crate::tls::provider())
                    .with_protocol_versions(crate::tls::VERSIONS)
                    .expect("ring supports TLS 1.2 and 1.3")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        })
        .clone()
}
