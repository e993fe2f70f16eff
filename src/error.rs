//! The crate's one public error type.

use std::fmt;
use std::time::Duration;

use crate::oauth::OAuthError;

use crate::BoxError;

/// An error from tokengate: either an OAuth protocol failure the caller caused (see
/// [`Error::oauth`]), a caller over its rate limit (see [`Error::retry_after`]), the store being
/// unavailable, or a configuration problem.
///
/// Transports map it to their own format: JSON-RPC `-2001` for OAuth failures, `-32029` for
/// rate limits and `-32603` for the rest; RFC 6749 JSON bodies, HTTP 429 or HTTP 503.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug)]
enum Kind {
    OAuth(OAuthError),
    RateLimited(Duration),
    Store,
    Config(String),
    /// Something the configuration asked for that the system refused (a port in use), or a
    /// record that is already there: said as it is, with its cause as the source. Made by
    /// the binary's server (feature `cli`).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    Refused(String),
}

impl Error {
    /// A store failure wrapping its cause; for [`crate::store::Store`] implementations.
    pub fn store(source: impl Into<BoxError>) -> Self {
        Error::new(Kind::Store, Some(source.into()))
    }

    /// The caller is over a rate limit and may try again after `wait`.
    pub(crate) fn rate_limited(wait: Duration) -> Self {
        Error::new(Kind::RateLimited(wait), None)
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(Kind::Config(message.into()), None)
    }

    /// What the configuration asked for could not be done (`message` says what), because of
    /// `source` if given: a listener that cannot bind, a record that already exists.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn refused(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::new(Kind::Refused(message.into()), source)
    }

    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Error {
            inner: Box::new(Inner { kind, source }),
        }
    }

    /// The OAuth failure, when the request itself was at fault.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match &self.inner.kind {
            Kind::OAuth(e) => Some(e),
            _ => None,
        }
    }

    /// When the caller is over a rate limit (see [`crate::limit`]): how long until it may try
    /// again. `None` for every other error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.inner.kind {
            Kind::RateLimited(wait) => Some(wait),
            _ => None,
        }
    }

    /// Whether the store could not be reached or failed; the request may succeed later.
    pub fn is_store(&self) -> bool {
        matches!(self.inner.kind, Kind::Store)
    }

    /// Whether this is a configuration error.
    pub fn is_config(&self) -> bool {
        matches!(self.inner.kind, Kind::Config(_))
    }
}

impl From<OAuthError> for Error {
    fn from(e: OAuthError) -> Self {
        Error::new(Kind::OAuth(e), None)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("tokengate::Error");
        d.field("kind", &self.inner.kind);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::OAuth(e) => write!(f, "{e}"),
            Kind::RateLimited(wait) => write!(f, "rate limited: retry in {wait:?}"),
            Kind::Store => f.write_str("store unavailable"),
            Kind::Config(m) => write!(f, "configuration error: {m}"),
            Kind::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}
