//! The listener's certificate behind an [`ArcSwap`]: swapped on reload, read lock-free on every
//! handshake.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{expiry, pem, provider, TlsError};

/// A certificate chain and key read from two PEM files, served to every handshake, and read
/// again by [`ReloadableCertificate::reload`].
pub struct ReloadableCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<Loaded>,
}

struct Loaded {
    key: Arc<CertifiedKey>,
    /// The leaf's `notAfter` (Unix seconds).
    not_after: Option<i64>,
}

impl ReloadableCertificate {
    /// Reads `cert_file` (the chain, leaf first) and `key_file`.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, a key that does not match the certificate, or a
    /// certificate already expired.
    pub fn load(
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Result<ReloadableCertificate, TlsError> {
        let cert_file = cert_file.into();
        let key_file = key_file.into();
        let loaded = read(&cert_file, &key_file)?;
        Ok(ReloadableCertificate {
            cert_file,
            key_file,
            current: ArcSwap::from_pointee(loaded),
        })
    }

    /// Reads the files again and serves the new pair to connections made from now on;
    /// established connections are not touched. On error the old pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = read(&self.cert_file, &self.key_file)?;
        self.current.store(Arc::new(loaded));
        Ok(())
    }

    /// When the certificate served now expires (Unix seconds).
    pub fn not_after(&self) -> Option<i64> {
        self.current.load().not_after
    }

    /// The certificate file.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }
}

fn read(cert_file: &Path, key_file: &Path) -> Result<Loaded, TlsError> {
    let chain = pem::certificates(cert_file)?;
    let key = pem::private_key(key_file)?;
    let not_after = expiry::not_after(&chain[0]);
    if not_after.is_none() {
        return Err(TlsError::in_file(
            cert_file,
            "the first certificate is not a valid X.509 certificate",
        ));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if not_after.is_some_and(|t| t <= now) {
        return Err(TlsError::in_file(cert_file, "the certificate has expired"));
    }
    let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        TlsError::in_file(
            key_file,
            format!("cannot use the key with {}: {e}", cert_file.display()),
        )
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        not_after,
    })
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().key.clone())
    }
}

impl fmt::Debug for ReloadableCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCertificate")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("not_after", &self.not_after())
            .finish()
    }
}
