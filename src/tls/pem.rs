//! Reading certificates and keys from PEM files.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Every certificate in `file`, in order (a chain: the leaf first); at least one.
pub(crate) fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| TlsError::in_file(file, pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::in_file(file, pem_reason(e)))?;
    if certs.is_empty() {
        return Err(TlsError::in_file(file, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The private key in `file` (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(file: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(file).map_err(|e| TlsError::in_file(file, pem_reason(e)))
}

/// What went wrong, without echoing the file's content.
fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(e) => format!("cannot read: {e}"),
        Error::NoItemsFound => "no PEM item of the expected kind in the file".into(),
        Error::MissingSectionEnd { .. } | Error::IllegalSectionStart { .. } => {
            "a PEM section is not closed".into()
        }
        Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        _ => "not a valid PEM file".into(),
    }
}
