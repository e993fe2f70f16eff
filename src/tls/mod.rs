//! TLS with rustls (ring provider): the listeners' server configuration with a certificate
//! that can be reloaded from disk, and the client configuration of the upstreams and the remote
//! resolver.
//!
//! - [`ServerTls`]: a `rustls::ServerConfig` from PEM files, TLS 1.2 and 1.3 only, ALPN `h2`
//!   and `http/1.1`, session resumption (a session cache and tickets), optional client
//!   certificates checked against a CA file (mTLS). [`ServerTls::reload`] reads the files
//!   again, the client CA too: connections made from then on get the new certificate and
//!   CA, established ones keep theirs, and a bad new file leaves the old ones in place.
//! - [`client_config`]: verification on, always: the operating system's roots or one CA file.
//!
//! ```no_run
//! # fn run() -> Result<(), tokengate::tls::TlsError> {
//! use tokengate::tls::{ServerTls, TlsFiles};
//!
//! let tls = ServerTls::new(&TlsFiles::new("chain.pem", "key.pem"))?;
//! let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
//! // … on SIGHUP, after the certificate was renewed on disk:
//! tls.reload()?;
//! # let _ = acceptor;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

mod client;
mod client_ca;
mod connector;
mod error;
mod expiry;
mod pem;
mod resolver;
mod server;
mod stats;

pub use client::{client_config, Roots};
pub(crate) use connector::{connector, for_uri, Connector};
pub use error::TlsError;
pub use resolver::ReloadableCertificate;
pub use server::{ServerTls, TlsFiles};
pub use stats::HandshakeCounters;

/// The protocol versions offered and accepted: TLS 1.3 and 1.2, nothing older.
pub(crate) static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider of every configuration built here: ring.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
