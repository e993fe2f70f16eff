//! The listeners' `rustls::ServerConfig`.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};

use super::{client::root_store, provider, ReloadableCertificate, TlsError, VERSIONS};

/// Where a listener's TLS material is: `{ cert = "chain.pem", key = "key.pem" }`, and
/// `client_ca` to require client certificates signed by that CA (mTLS). Relative paths are
/// relative to the working directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; `None`: no client
    /// certificate is asked for.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// A certificate and key, no client certificates.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
        }
    }

    /// Requires client certificates signed by the CAs in `file`.
    pub fn client_ca(mut self, file: impl Into<PathBuf>) -> TlsFiles {
        self.client_ca = Some(file.into());
        self
    }
}

/// A listener's TLS: the server configuration and its reloadable certificate.
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    certificate: Arc<ReloadableCertificate>,
}

impl ServerTls {
    /// TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`, a session cache and session tickets, the
    /// certificate of `files` (reloadable), client certificates required when
    /// `files.client_ca` is set (the CA file is read once, here).
    ///
    /// # Errors
    /// A file that cannot be read or used (see [`ReloadableCertificate::load`]).
    pub fn new(files: &TlsFiles) -> Result<ServerTls, TlsError> {
        let certificate = Arc::new(ReloadableCertificate::load(&files.cert, &files.key)?);
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(TlsError::new)?;
        let builder = match &files.client_ca {
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(root_store(ca)?, provider())
                        .build()
                        .map_err(|e| TlsError::in_file(ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(certificate.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Stateless resumption as well as the session cache rustls keeps by default.
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::new)?;
        Ok(ServerTls {
            config: Arc::new(config),
            certificate,
        })
    }

    /// The configuration, for a `tokio_rustls::TlsAcceptor`.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The certificate served.
    pub fn certificate(&self) -> &Arc<ReloadableCertificate> {
        &self.certificate
    }

    /// Reads the certificate and key files again (see [`ReloadableCertificate::reload`]).
    pub fn reload(&self) -> Result<(), TlsError> {
        self.certificate.reload()
    }
}
