//! The connector of the HTTP clients (the proxy's upstream, the remote resolver): TCP, and TLS
//! for an `https` URI (SNI and certificate verification by rustls through hyper-rustls; ALPN
//! `h2` only when asked for).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::ClientConfig;

/// The connector of every client connection: plain TCP for `http`, TLS for `https`.
pub(crate) type Connector = HttpsConnector<HttpConnector>;

/// A connector: `tls` is the client configuration for an `https` peer (`None` for `http`);
/// `offer_h2` adds `h2` to ALPN before `http/1.1`.
pub(crate) fn connector(
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
/// `http` peer), and for an `https` one when the system has no roots.
pub(crate) fn no_roots() -> Arc<ClientConfig> {
    static EMPTY: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    EMPTY
        .get_or_init(|| {
            Arc::new(
                ClientConfig::builder_with_provider(super::provider())
                    .with_protocol_versions(super::VERSIONS)
                    .expect("ring supports TLS 1.2 and 1.3")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        })
        .clone()
}

/// The client configuration for `uri`: `None` for `http`; for `https` the system's roots, or,
/// when the system has none, no root at all (every handshake fails, and is logged, until the
/// caller names a CA): verification is never off.
pub(crate) fn for_uri(uri: &http::Uri) -> Option<Arc<ClientConfig>> {
    if uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
        return None;
    }
    Some(super::client_config(&super::Roots::System).unwrap_or_else(|e| {
        tracing::warn!(error = %e, host = ?uri.host(), "tls: no system roots to verify an https peer");
        no_roots()
    }))
}
