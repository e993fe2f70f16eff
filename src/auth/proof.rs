//! [`MacPolicy`], and the check that a token is presented the way its type demands: a bearer
//! token as `Bearer`, a MAC token as `MAC` with a fresh, unreplayed signature.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::uri::Scheme;

use super::mac::Signed;
use super::reject::Rejection;
use super::replay::{self, Admission, ReplayMemory};
use crate::model::TokenType;
use crate::resolve::CachedToken;
use crate::Error;

/// How an [`OAuthLayer`](super::OAuthLayer) checks MAC requests
/// (draft-ietf-oauth-v2-http-mac-01): the timestamp window, the replay memory's size and
/// the listener's scheme.
///
/// A request's `ts` must be within the window of the server clock, either side; its
/// `(token, ts, nonce)` is remembered until it leaves the window and refused if it comes
/// again. The memory is per layer, so per process: see SECURITY.md for several nodes. When it
/// holds `replay_capacity` triples still within the window, new MAC requests get `503`
/// (it never forgets a triple early, which would reopen its replay).
///
/// ```
/// use std::time::Duration;
/// use tokengate::auth::MacPolicy;
///
/// let policy = MacPolicy::default()
///     .window(Duration::from_secs(60))?
///     .replay_capacity(100_000)?
///     .scheme(&http::uri::Scheme::HTTPS);
/// assert_eq!(policy.default_port(), 443);
/// # Ok::<_, tokengate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacPolicy {
    window: Duration,
    replay_capacity: usize,
    default_port: u16,
}

impl Default for MacPolicy {
    /// A 30 second window, 1,000,000 remembered triples, plain HTTP (port 80 when `Host`
    /// names none).
    fn default() -> Self {
        MacPolicy {
            window: Duration::from_secs(30),
            replay_capacity: 1_000_000,
            default_port: 80,
        }
    }
}

impl MacPolicy {
    /// How far from the server clock a request's timestamp may be, either side (at least 1 s).
    pub fn window(mut self, window: Duration) -> Result<Self, Error> {
        if window.as_secs() == 0 {
            return Err(Error::config(
                "the MAC timestamp window must be at least 1 second",
            ));
        }
        self.window = window;
        Ok(self)
    }

    /// Most `(token, ts, nonce)` triples remembered at once (at least 1).
    pub fn replay_capacity(mut self, capacity: usize) -> Result<Self, Error> {
        if capacity == 0 {
            return Err(Error::config(
                "the MAC replay memory must hold at least 1 request",
            ));
        }
        self.replay_capacity = capacity;
        Ok(self)
    }

    /// The scheme the listener serves: its default port (443 for `https`, else 80) is the
    /// port signed when `Host` names none. The scheme a request claims is not used.
    pub fn scheme(mut self, scheme: &Scheme) -> Self {
        self.default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        self
    }

    /// The port signed when `Host` names none.
    pub fn default_port(&self) -> u16 {
        self.default_port
    }
}

/// A layer's MAC settings and its replay memory (shared by every clone of the layer).
#[derive(Debug, Clone)]
pub(crate) struct Proof {
    pub(crate) policy: MacPolicy,
    replay: Arc<ReplayMemory>,
}

impl Proof {
    pub(crate) fn new(policy: MacPolicy) -> Self {
        Proof {
            replay: Arc::new(ReplayMemory::new(policy.replay_capacity)),
            policy,
        }
    }

    /// Whether the request's timestamp is within the window now (checked before the token
    /// is looked up, and again when it is admitted).
    pub(crate) fn fresh(&self, signed: &Signed) -> bool {
        replay::within(signed.ts(), now(), self.policy.window.as_secs())
    }

    /// Whether `entry` may be used as presented: a bearer token without a signature; a MAC
    /// token with a signature that verifies under its key and algorithm, whose timestamp is
    /// in the window and whose `(token, ts, nonce)` is new. Anything else is
    /// `invalid_token`, the answer an unknown token gets.
    pub(crate) fn check(
        &self,
        entry: &CachedToken,
        proof: Option<&Signed>,
    ) -> Result<(), Rejection> {
        match (entry.token_type(), proof) {
            (TokenType::Bearer, None) => Ok(()),
            (TokenType::Mac(algorithm), Some(signed)) => {
                let key = entry.mac_secret().ok_or(Rejection::InvalidToken)?;
                if !signed.verifies(algorithm, key.as_bytes()) {
                    return Err(Rejection::InvalidToken);
                }
                let window = self.policy.window.as_secs();
                match self
                    .replay
                    .admit(signed.id(), signed.ts(), signed.nonce(), now(), window)
                {
                    Admission::Fresh => Ok(()),
                    Admission::Refused => Err(Rejection::InvalidToken),
                    Admission::Full => Err(Rejection::Unavailable),
                }
            }
            _ => Err(Rejection::InvalidToken),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
