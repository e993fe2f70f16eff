//! The listeners' `rustls::ServerConfig`.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};

use super::client_ca::ClientCa;
use super::{provider, ReloadableCertificate, TlsError, VERSIONS};

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

/// A listener's TLS: the server configuration, its reloadable certificate and, with mTLS, the
/// client CA it was built with. Clones share the configuration (a reload through one is seen
/// by all).
#[derive(Debug, Clone)]
pub struct ServerTls {
    certificate: Arc<ReloadableCertificate>,
    client_ca_file: Option<PathBuf>,
    current: Arc<ArcSwap<Current>>,
}

/// The configuration served now and the client CA it checks client certificates against.
#[derive(Debug)]
struct Current {
    config: Arc<ServerConfig>,
    client_ca: Option<ClientCa>,
}

impl ServerTls {
    /// TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`, a session cache and session tickets, the
    /// certificate of `files` (reloadable), client certificates required when
    /// `files.client_ca` is set (read again by [`ServerTls::reload`]).
    ///
    /// # Errors
    /// A file that cannot be read or used (see [`ReloadableCertificate::load`]), a client
    /// CA file without a usable CA certificate.
    pub fn new(files: &TlsFiles) -> Result<ServerTls, TlsError> {
        let certificate = Arc::new(ReloadableCertificate::load(&files.cert, &files.key)?);
        let client_ca = files.client_ca.as_deref().map(ClientCa::read).transpose()?;
        let config = build(&certificate, client_ca.as_ref())?;
        Ok(ServerTls {
            certificate,
            client_ca_file: files.client_ca.clone(),
            current: Arc::new(ArcSwap::from_pointee(Current { config, client_ca })),
        })
    }

    /// The configuration for a connection accepted now, for a `tokio_rustls::TlsAcceptor`
    /// (take it again for each connection: a reload may have replaced it).
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.load().config.clone()
    }

    /// The certificate served.
    pub fn certificate(&self) -> &Arc<ReloadableCertificate> {
        &self.certificate
    }

    /// Reads the client CA file (with mTLS), then the certificate and key files again (see
    /// [`ReloadableCertificate::reload`]); connections made from then on get both, established
    /// ones keep what they had. All or nothing: when either cannot be used, both old ones
    /// stay.
    ///
    /// A client CA with other certificates than before gets a configuration of its own, with
    /// a new session cache and ticket key: a client whose certificate the new CA did not
    /// sign cannot resume a session it made before, it must show its certificate again.
    ///
    /// # Errors
    /// The first file that cannot be used, and why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let client_ca = self
            .client_ca_file
            .as_deref()
            .map(ClientCa::read)
            .transpose()?;
        let current = self.current.load();
        let replaced = client_ca != current.client_ca;
        let config = match replaced {
            true => Some(build(&self.certificate, client_ca.as_ref())?),
            false => None,
        };
        self.certificate.reload()?;
        if let Some(config) = config {
            self.current.store(Arc::new(Current { config, client_ca }));
        }
        Ok(())
    }

    /// The client CA file, with mTLS.
    pub fn client_ca_file(&self) -> Option<&std::path::Path> {
        self.client_ca_file.as_deref()
    }
}

/// A configuration serving `certificate`, checking client certificates against `client_ca`.
fn build(
    certificate: &Arc<ReloadableCertificate>,
    client_ca: Option<&ClientCa>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::new)?;
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(ca.verifier()?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certificate.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Stateless resumption as well as the session cache rustls keeps by default.
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::new)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A self-signed certificate for `localhost` (a CA when `ca`): (certificate, key) PEM.
    fn certificate(ca: bool) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_configuration_is_replaced_only_by_another_client_ca_and_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = (
            dir.path().join("cert.pem"),
            dir.path().join("key.pem"),
            dir.path().join("ca.pem"),
        );
        let (cert_pem, key_pem) = certificate(false);
        write(&cert, &cert_pem);
        write(&key, &key_pem);
        let (ca_a, ca_b) = (certificate(true).0, certificate(true).0);
        write(&ca, &ca_a);
        let tls = ServerTls::new(&TlsFiles::new(&cert, &key).client_ca(&ca)).unwrap();
        let first = tls.config();

        tls.reload().unwrap();
        assert!(
            Arc::ptr_eq(&first, &tls.config()),
            "the same CA: the same configuration, sessions kept"
        );

        write(&ca, &ca_b);
        tls.reload().unwrap();
        let second = tls.config();
        assert!(
            !Arc::ptr_eq(&first, &second),
            "another CA: a configuration of its own"
        );
        assert!(!Arc::ptr_eq(&first.ticketer, &second.ticketer));

        write(&ca, "no certificate here");
        let err = tls.reload().unwrap_err();
        assert_eq!(err.file(), Some(ca.as_path()), "{err}");
        assert!(
            Arc::ptr_eq(&second, &tls.config()),
            "a bad CA file: the CA before stays"
        );

        // A good CA with a bad certificate: neither is taken.
        write(&ca, &ca_a);
        write(&cert, "not a certificate");
        let err = tls.reload().unwrap_err();
        assert_eq!(err.file(), Some(cert.as_path()), "{err}");
        assert!(Arc::ptr_eq(&second, &tls.config()), "all or nothing");
    }

    #[test]
    fn without_a_client_ca_a_reload_keeps_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let (cert_pem, key_pem) = certificate(false);
        write(&cert, &cert_pem);
        write(&key, &key_pem);
        let tls = ServerTls::new(&TlsFiles::new(&cert, &key)).unwrap();
        let first = tls.config();
        let (renewed, renewed_key) = certificate(false);
        write(&cert, &renewed);
        write(&key, &renewed_key);
        tls.reload().unwrap();
        assert!(Arc::ptr_eq(&first, &tls.config()));
        assert!(tls.client_ca_file().is_none());
    }
}
