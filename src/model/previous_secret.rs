//! A client secret replaced by a rotation with a grace period (`tokengate client rotate-secret
//! --grace SECS`): still accepted, until its end, beside the new one.

use super::{Client, UnixMillis};

/// The secret a client had before a rotation with a grace period, as stored: only hashes.
///
/// It is accepted while it is not past [`valid_until`](Self::valid_until) **and** the client's
/// secret is still the one that replaced it ([`successor_hash`](Self::successor_hash)): any
/// later change of the secret (another rotation, a `secret` in the configuration file, a
/// rekey) ends the grace at once, and a client removed and added again under the same
/// `client_id` gets none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    /// The hash of the replaced secret, made like [`Client::secret_hash`].
    pub secret_hash: String,
    /// The [`Client::secret_hash`] the rotation stored in its place.
    pub successor_hash: String,
    /// Accepted before this moment (milliseconds since the epoch), not at or after it.
    pub valid_until: UnixMillis,
}

impl PreviousSecret {
    /// Whether this previous secret may still stand in for `client`'s secret at `now`.
    pub fn applies_to(&self, client: &Client, now: UnixMillis) -> bool {
        now < self.valid_until && client.secret_hash.as_deref() == Some(&*self.successor_hash)
    }
}
