//! Why the proxy got no response from its upstream: a response extension on the `502`/`504`
//! it answers instead, for metrics and logs (`tokengate_upstream_failures_total{kind}`).

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::BoxError;

/// The kind of an upstream failure, found as a response extension on the proxy's own `502`
/// and `504` answers (never on a response that came from the upstream).
///
/// ```
/// use tokengate::proxy::UpstreamFailure;
/// assert_eq!(UpstreamFailure::Connect.as_str(), "connect");
/// assert_eq!(UpstreamFailure::ALL.len(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpstreamFailure {
    /// No connection: refused, unreachable, or the connect timed out.
    Connect,
    /// No response head within the upstream timeout.
    Timeout,
    /// The connection was reset or closed before the response head.
    Reset,
    /// The TLS handshake with the upstream failed.
    Tls,
    /// Anything else (e.g. a response head that is not HTTP).
    Other,
}

impl UpstreamFailure {
    /// Every kind, in the order metrics list them.
    pub const ALL: [UpstreamFailure; 5] = [
        UpstreamFailure::Connect,
        UpstreamFailure::Timeout,
        UpstreamFailure::Reset,
        UpstreamFailure::Tls,
        UpstreamFailure::Other,
    ];

    /// The metric label: `connect`, `timeout`, `reset`, `tls` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Reset => "reset",
            UpstreamFailure::Tls => "tls",
            UpstreamFailure::Other => "other",
        }
    }

    /// The kind of a failed upstream request (timeouts are told apart by the caller).
    pub(super) fn classify(error: &(dyn StdError + 'static)) -> UpstreamFailure {
        let mut next = Some(error);
        while let Some(error) = next {
            if error.is::<ConnectFailed>() {
                return UpstreamFailure::Connect;
            }
            if let Some(error) = error.downcast_ref::<hyper::Error>() {
                if error.is_incomplete_message() {
                    return UpstreamFailure::Reset;
                }
            }
            if let Some(error) = error.downcast_ref::<io::Error>() {
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::UnexpectedEof
                ) {
                    return UpstreamFailure::Reset;
                }
            }
            next = error.source();
        }
        UpstreamFailure::Other
    }
}

/// A failure to open a connection to the upstream (marks the error for [`classify`]).
///
/// [`classify`]: UpstreamFailure::classify
#[derive(Debug)]
pub(super) struct ConnectFailed(pub(super) BoxError);

impl fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot connect to the upstream")
    }
}

impl StdError for ConnectFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_in_the_chain() {
        let refused: BoxError = Box::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            UpstreamFailure::classify(&ConnectFailed(refused)),
            UpstreamFailure::Connect
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(UpstreamFailure::classify(&reset), UpstreamFailure::Reset);
        let odd = io::Error::other("not http");
        assert_eq!(UpstreamFailure::classify(&odd), UpstreamFailure::Other);
    }
}
