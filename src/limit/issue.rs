//! [`IssueLimits`]: how often each client of each service may be issued tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::DefaultKeyedRateLimiter;

use super::Rate;

/// A limiter with one GCRA state per key (`governor`): per client of a service, or per service
/// of an overriding client.
type Keyed = DefaultKeyedRateLimiter<String>;

/// Issuance rate limits, keyed per (service, client): a rate per service that each of its
/// clients gets on its own, and per-client rates that override it (on every service of that
/// client), or exempt a client. Without any, nothing is limited.
///
/// [`TokenService::with_issue_limits`](crate::oauth::TokenService::with_issue_limits) applies
/// them to every call that issues: `createAccessToken` (every grant, so `/oauth2/token` too) and
/// `createAuthorizationCode`, each call taking one unit. They are checked **after** the client
/// authenticated, so nobody can spend a confidential client's quota without its secret (a public
/// client's `client_id` is no secret: anyone may spend its quota). Over the limit, the call
/// fails with an error whose [`Error::retry_after`](crate::Error::retry_after) says when the
/// next unit is available.
///
/// The state is one small entry per (service, client) pair that authenticated, so it is bounded
/// by the registered clients.
///
/// ```
/// use std::num::NonZeroU32;
/// use tokengate::limit::{IssueLimits, Rate};
///
/// let n = |v| NonZeroU32::new(v).unwrap();
/// let limits = IssueLimits::new()
///     .service("rmeqcgpw3zu2y47y9bs8vs2h", Rate::per_second(n(10)).with_burst(n(20)))
///     .client("batch-job", Rate::per_minute(n(5)))
///     .exempt("first-party-app");
/// assert!(!limits.is_empty());
/// ```
#[derive(Default)]
pub struct IssueLimits {
    /// Per service key: a limiter keyed by client id.
    services: HashMap<String, Keyed>,
    /// Per client id: a limiter keyed by service key, or `None` for an exempt client.
    clients: HashMap<String, Option<Keyed>>,
    refused: AtomicU64,
}

impl fmt::Debug for IssueLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueLimits")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl IssueLimits {
    /// No limits.
    pub fn new() -> Self {
        IssueLimits::default()
    }

    /// Each client of `service_key` may be issued at `rate` (unless a client rate overrides it).
    pub fn service(mut self, service_key: impl Into<String>, rate: Rate) -> Self {
        self.services
            .insert(service_key.into(), Keyed::keyed(rate.quota()));
        self
    }

    /// `client_id` may be issued at `rate` on each of its services, whatever their rate.
    pub fn client(mut self, client_id: impl Into<String>, rate: Rate) -> Self {
        self.clients
            .insert(client_id.into(), Some(Keyed::keyed(rate.quota())));
        self
    }

    /// `client_id` is never limited, whatever its services' rates.
    pub fn exempt(mut self, client_id: impl Into<String>) -> Self {
        self.clients.insert(client_id.into(), None);
        self
    }

    /// Whether no rate is set (exemptions alone limit nothing).
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.clients.values().all(Option::is_none)
    }

    /// How many calls were refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// These limits, counting on from the refusals `previous` counted.
    pub(crate) fn continuing(self, previous: &IssueLimits) -> Self {
        self.refused
            .fetch_add(previous.refused(), Ordering::Relaxed);
        self
    }

    /// Takes one unit for `client_id` on `service_key`; when none is left, how long until one
    /// is.
    pub(crate) fn check(&self, service_key: &str, client_id: &str) -> Result<(), Duration> {
        let (limiter, key) = match self.clients.get(client_id) {
            Some(None) => return Ok(()),
            Some(Some(limiter)) => (limiter, service_key),
            None => match self.services.get(service_key) {
                Some(limiter) => (limiter, client_id),
                None => return Ok(()),
            },
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            not_until.wait_time_from(limiter.clock().now())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn each_client_of_a_service_has_its_own_burst() {
        let limits = IssueLimits::new().service("svc", Rate::per_hour(n(1)).with_burst(n(2)));
        assert!(limits.check("svc", "a").is_ok());
        assert!(limits.check("svc", "a").is_ok());
        let wait = limits.check("svc", "a").unwrap_err();
        assert!(
            wait > Duration::from_secs(3500) && wait <= Duration::from_secs(3600),
            "{wait:?}"
        );
        assert!(limits.check("svc", "b").is_ok(), "another client");
        assert!(limits.check("other", "a").is_ok(), "another service");
        assert_eq!(limits.refused(), 1);
    }

    #[test]
    fn a_client_rate_overrides_the_service_rate_on_each_service() {
        let limits = IssueLimits::new()
            .service("svc", Rate::per_hour(n(1)))
            .client("big", Rate::per_hour(n(3)))
            .client("small", Rate::per_hour(n(1)))
            .exempt("free");
        for _ in 0..3 {
            assert!(limits.check("svc", "big").is_ok());
        }
        assert!(limits.check("svc", "big").is_err());
        assert!(limits.check("other", "big").is_ok(), "per service");
        assert!(limits.check("other", "small").is_ok());
        assert!(
            limits.check("other", "small").is_err(),
            "limited where the service is not"
        );
        for _ in 0..100 {
            assert!(limits.check("svc", "free").is_ok());
        }
    }

    #[test]
    fn no_rate_limits_nothing() {
        let limits = IssueLimits::new().exempt("x");
        assert!(limits.is_empty());
        for _ in 0..1000 {
            assert!(limits.check("svc", "a").is_ok());
        }
        assert_eq!(limits.refused(), 0);
    }
}
