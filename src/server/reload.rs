//! Reloading the listeners' certificates from disk (on SIGHUP, or through
//! [`CertificateReloader`]).

use super::listener::ListenerTls;
use crate::Error;

/// The TLS listeners' certificates, to read again from disk: [`CertificateReloader::reload`]
/// (or SIGHUP while [`super::Server::run`] serves). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CertificateReloader {
    listeners: Vec<(&'static str, ListenerTls)>,
}

impl CertificateReloader {
    pub(crate) fn new(listeners: Vec<(&'static str, ListenerTls)>) -> CertificateReloader {
        CertificateReloader { listeners }
    }

    /// Reads every TLS listener's certificate and key files again: new connections get the
    /// new pair, established ones keep theirs; a pair that cannot be used (unreadable, not
    /// matching, expired) leaves that listener's old one in place and is logged.
    ///
    /// # Errors
    /// The first listener whose new certificate or key cannot be used (that listener keeps
    /// its old pair; the others are reloaded all the same).
    pub fn reload(&self) -> Result<(), Error> {
        reload_certificates(&self.listeners)
    }
}

/// Reads every TLS listener's certificate and key files again. New connections get the new
/// pair; established connections keep theirs. A pair that cannot be used (unreadable, not
/// matching, expired) leaves that listener's old one in place and is logged with the reason.
pub(crate) fn reload_certificates(listeners: &[(&'static str, ListenerTls)]) -> Result<(), Error> {
    let mut first_error = None;
    for (listener, tls) in listeners {
        let certificate = tls.tls.certificate();
        match certificate.reload() {
            Ok(()) => tracing::info!(
                listener,
                file = %certificate.cert_file().display(),
                not_after = certificate.not_after().unwrap_or_default(),
                "tls: certificate reloaded"
            ),
            Err(e) => {
                tracing::error!(
                    listener,
                    error = %e,
                    "tls: the new certificate cannot be used; keeping the old one"
                );
                first_error.get_or_insert(Error::config(format!("{listener}.tls: {e}")));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
