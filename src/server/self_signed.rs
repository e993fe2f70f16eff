//! `tokengate cert self-signed`: a certificate and key for local development (rcgen).

use std::io::Write;
use std::path::Path;

use crate::Error;

/// The names a development certificate is for when none are given.
pub const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A self-signed certificate for `names` (DNS names or IP addresses) valid for `days` from
/// now, and its new ECDSA P-256 key: `(certificate PEM, key PEM)`. For local development
/// only: clients must be told to trust this very certificate.
///
/// ```
/// let (cert, key) = tokengate::server::self_signed(&["localhost".into()], 30).unwrap();
/// assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(key.contains("PRIVATE KEY"));
/// ```
pub fn self_signed(names: &[String], days: u32) -> Result<(String, String), Error> {
    let failed =
        |e: rcgen::Error| Error::refused(format!("cannot make the certificate: {e}"), None);
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "tokengate development certificate",
    );
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `contents` to a new file at `path` (an existing one only with `overwrite`), readable
/// by its owner only on Unix when `private`.
pub fn write_new_file(
    path: &Path,
    contents: &str,
    overwrite: bool,
    private: bool,
) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .map_err(|e| Error::refused(format!("cannot write {}", path.display()), Some(e.into())))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| Error::refused(format!("cannot write {}", path.display()), Some(e.into())))
}
