//! When a certificate expires, for the expiry gauge and the reload checks.

use rustls_pki_types::CertificateDer;

/// The leaf's `notAfter` as Unix seconds; `None` when the certificate cannot be parsed.
pub(crate) fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}
