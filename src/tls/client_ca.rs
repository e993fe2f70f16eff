//! The CA certificates an mTLS listener checks client certificates against.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;

use super::{client::store_of, pem, provider, TlsError};

/// The CA certificates of a `client_ca` file, as read; two are equal when the file held the
/// same certificates.
#[derive(Debug, Clone)]
pub(crate) struct ClientCa {
    file: PathBuf,
    certificates: Vec<CertificateDer<'static>>,
    store: Arc<RootCertStore>,
}

impl ClientCa {
    /// Reads `file`: at least one certificate, every one usable as a CA.
    pub(crate) fn read(file: &Path) -> Result<ClientCa, TlsError> {
        let certificates = pem::certificates(file)?;
        let store = store_of(file, certificates.clone())?;
        Ok(ClientCa {
            file: file.to_path_buf(),
            certificates,
            store,
        })
    }

    /// A verifier requiring a client certificate that chains to these CAs.
    pub(crate) fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        WebPkiClientVerifier::builder_with_provider(self.store.clone(), provider())
            .build()
            .map_err(|e| TlsError::in_file(&self.file, e))
    }
}

impl PartialEq for ClientCa {
    fn eq(&self, other: &ClientCa) -> bool {
        self.certificates == other.certificates
    }
}
