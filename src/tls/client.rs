//! The client side: the upstreams' and the remote resolver's `rustls::ClientConfig`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;

use super::{pem, provider, TlsError, VERSIONS};

/// Which certificate authorities a TLS client trusts. There is no setting that trusts
/// anything: verification is always on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's trust store (rustls-native-certs: `/etc/ssl/certs` and
    /// `SSL_CERT_FILE`/`SSL_CERT_DIR` on Linux), where an organisation adds its own CA.
    #[default]
    System,
    /// Only the CA certificates in this PEM file.
    CaFile(PathBuf),
}

/// A client configuration verifying servers against `roots`, TLS 1.3 and 1.2; the connector
/// sets ALPN.
///
/// # Errors
/// The CA file cannot be read or holds no usable certificate; the system store has none.
///
/// ```no_run
/// use tokengate::tls::{client_config, Roots};
/// let config = client_config(&Roots::CaFile("internal-ca.pem".into())).unwrap();
/// # let _ = config;
/// ```
pub fn client_config(roots: &Roots) -> Result<Arc<ClientConfig>, TlsError> {
    let store = match roots {
        Roots::System => system_roots()?,
        Roots::CaFile(file) => root_store(file)?,
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(TlsError::new)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The CA certificates in `file`.
pub(crate) fn root_store(file: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    store_of(file, pem::certificates(file)?)
}

/// A store of `certificates`, read from `file` (named in the error).
pub(crate) fn store_of(
    file: &Path,
    certificates: Vec<CertificateDer<'static>>,
) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates {
        store
            .add(cert)
            .map_err(|e| TlsError::in_file(file, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Arc::new(store))
}

fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "tls: a system root certificate could not be read");
    }
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError::new(
            "no root certificate in the system trust store (install ca-certificates, or name a \
             CA file)",
        ));
    }
    Ok(Arc::new(store))
}
