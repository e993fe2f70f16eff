//! Reloading the listeners' certificates and client CAs from disk (on SIGHUP, or through
//! [`CertificateReloader`]).

use super::listener::ListenerTls;
use crate::Error;

/// The TLS listeners' certificates and client CAs, to read again from disk: [`CertificateReloader::reload`]
/// (or SIGHUP while [`super::Server::run`] serves). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CertificateReloader {
    listeners: Vec<(&'static str, ListenerTls)>,
}

impl CertificateReloader {
    pub(crate) fn new(listeners: Vec<(&'static str, ListenerTls)>) -> CertificateReloader {
        CertificateReloader { listeners }
    }

    /// Reads every TLS listener's certificate and key files, and its client CA file (mTLS),
    /// again: new connections get the new ones, established ones keep theirs; a file that
    /// cannot be used (unreadable, not matching, expired, no CA certificate) leaves that
    /// listener's old certificate and CA in place and is logged.
    ///
    /// # Errors
    /// The first listener whose new certificate or key cannot be used (that listener keeps
    /// its old pair; the others are reloaded all the same).
    pub fn reload(&self) -> Result<(), Error> {
        reload_certificates(&self.listeners)
    }
}

/// Reads every TLS listener's certificate, key and client CA files again (see
/// [`crate::tls::ServerTls::reload`]). A file that cannot be used leaves that listener's old
/// certificate and CA in place and is logged with the reason.
pub(crate) fn reload_certificates(listeners: &[(&'static str, ListenerTls)]) -> Result<(), Error> {
    let mut first_error = None;
    for (listener, tls) in listeners {
        let certificate = tls.tls.certificate();
        match tls.tls.reload() {
            Ok(()) => tracing::info!(
                listener,
                file = %certificate.cert_file().display(),
                not_after = certificate.not_after().unwrap_or_default(),
                client_ca = tls.tls.client_ca_file().map(|f| f.display().to_string()),
                "tls: certificate reloaded"
            ),
            Err(e) => {
                tracing::error!(
                    listener,
                    error = %e,
                    "tls: the new certificate or client CA cannot be used; keeping the old ones"
                );
                first_error.get_or_insert(Error::config(format!("{listener}.tls: {e}")));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
