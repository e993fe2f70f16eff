//! Rate limits: how often a client may be issued tokens, and how many failed client
//! authentications one address may make.
//!
//! | type | what it limits | where it is checked |
//! |---|---|---|
//! | [`IssueLimits`] | issuance per (service, client): `/oauth2/token` and JSON-RPC `createAccessToken` / `createAuthorizationCode` | in [`TokenService`](crate::oauth::TokenService), after the client authenticated |
//! | [`FailedAuthLimiter`] (with [`FailedAuthLayer`]) | failed client or admin authentications per client address | in front of the services that authenticate callers, before any secret is checked |
//!
//! Both are set with a [`Rate`]: so many per second, minute or hour, with a burst. The cap on
//! concurrent store lookups of the gateway is [`LimitedResolver`](crate::resolve::LimitedResolver).
//!
//! Refusals tell the caller when to come back: [`Error::retry_after`](crate::Error::retry_after)
//! in the core, `429 Too Many Requests` with `Retry-After` (whole seconds, rounded up) on HTTP,
//! JSON-RPC error [`RATE_LIMITED`](crate::rpc::error::RATE_LIMITED) with `data.retry_after`.

use std::time::Duration;

mod failed_auth;
mod issue;
mod layer;
mod rate;

pub use failed_auth::FailedAuthLimiter;
pub use issue::IssueLimits;
pub use layer::{FailedAuthLayer, FailedAuthService};
pub use rate::Rate;

/// A wait as a `Retry-After` value: whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
