//! Secrets: token generation, hashing for storage and constant-time comparison.
//!
//! * Tokens, refresh tokens and authorization codes are 40 lowercase alphanumeric characters:
//!   32 from a CSPRNG (about 165 bits) and an 8-character integrity tag ([`TagKey`]) that lets
//!   the gateway and the token service refuse forged values without a store lookup. They are
//!   stored as their SHA-256 ([`TokenHash`]): with that much entropy a plain hash cannot be
//!   reversed, and it keeps lookups one index probe.
//! * Client secrets may be chosen by people (config files), so they get a keyed hash:
//!   HMAC-SHA-256 under a server [`Pepper`] kept outside the database, over a per-secret salt and
//!   the secret. A stolen database alone does not allow offline guessing.
//! * Every comparison of a secret is constant-time.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod tag;

pub use tag::{junk_token, TagKey, ISSUED_TOKEN_LEN, TAG_LEN};

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Length of [`generate_token`]'s values: the random part of issued tokens (which carry a tag
/// too, see [`ISSUED_TOKEN_LEN`]), and generated client ids and secrets.
pub const TOKEN_LEN: usize = 32;

/// A new random value: [`TOKEN_LEN`] lowercase alphanumeric characters from the thread-local
/// CSPRNG (ChaCha, seeded by the OS). Access tokens, refresh tokens and codes are made by
/// [`TagKey::issue`], which tags such a value.
///
/// ```
/// let token = tokengate::secret::generate_token();
/// assert_eq!(token.len(), 32);
/// assert!(token.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
/// ```
pub fn generate_token() -> String {
    let mut rng = rand::rng();
    (0..TOKEN_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random 128-bit id in hex, for record ids and salts (not a secret).
pub fn generate_id() -> String {
    hex::encode(rand::rng().random::<[u8; 16]>())
}

/// The SHA-256 of a token, code or refresh token: what the store keeps instead of the value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a presented token.
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// The 64-character lowercase hex form used in storage.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses [`TokenHash::to_hex`].
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(TokenHash(out))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell records apart in logs.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// Constant-time equality of two byte strings (length is not hidden).
///
/// ```
/// assert!(tokengate::secret::ct_eq(b"secret", b"secret"));
/// assert!(!tokengate::secret::ct_eq(b"secret", b"secreT"));
/// ```
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The server's key for hashing client secrets and deriving MAC keys. Keep it outside the
/// database (config, environment or a file of its own).
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(..)")
    }
}

const SECRET_SCHEME: &str = "hmac-sha256";

impl Pepper {
    /// A pepper from key material (at least 16 bytes recommended).
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Pepper(key.into())
    }

    /// A new random 32-byte pepper, as hex; store it and pass it to [`Pepper::new`] at start.
    pub fn generate_hex() -> String {
        hex::encode(rand::rng().random::<[u8; 32]>())
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Hashes a client secret for storage: `hmac-sha256$<salt>$<hex digest>`.
    ///
    /// ```
    /// use tokengate::secret::Pepper;
    /// let pepper = Pepper::new(b"0123456789abcdef".to_vec());
    /// let stored = pepper.hash_secret("q13rupuifd");
    /// assert!(!stored.contains("q13rupuifd"));
    /// assert!(pepper.verify_secret("q13rupuifd", &stored));
    /// assert!(!pepper.verify_secret("q13rupuife", &stored));
    /// ```
    pub fn hash_secret(&self, secret: &str) -> String {
        let salt = generate_id();
        let digest = self.mac(&[salt.as_bytes(), secret.as_bytes()]);
        format!("{SECRET_SCHEME}${salt}${}", hex::encode(digest))
    }

    /// Checks a presented secret against [`Pepper::hash_secret`]'s output, in constant time.
    pub fn verify_secret(&self, secret: &str, stored: &str) -> bool {
        let mut parts = stored.splitn(3, '$');
        let (Some(SECRET_SCHEME), Some(salt), Some(digest_hex)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(expected) = hex::decode(digest_hex) else {
            return false;
        };
        let actual = self.mac(&[salt.as_bytes(), secret.as_bytes()]);
        ct_eq(&actual, &expected)
    }

    /// The key of the integrity tag of issued tokens, derived from the pepper (domain-separated
    /// from the other uses of the pepper).
    pub fn tag_key(&self) -> TagKey {
        TagKey::new(&self.tag_key_material())
    }

    /// [`Pepper::tag_key`]'s key material as hex, for gateway nodes without a store
    /// ([`TagKey::from_hex`]). It reveals nothing of the pepper.
    pub fn tag_key_hex(&self) -> String {
        hex::encode(self.tag_key_material())
    }

    fn tag_key_material(&self) -> [u8; 32] {
        self.mac(&[b"token-tag"])
    }

    /// A fingerprint of the pepper, kept in the store so a start with another pepper is
    /// noticed: HMAC(pepper, "tokengate pepper check") as hex. It reveals nothing of the pepper.
    ///
    /// ```
    /// use tokengate::secret::Pepper;
    /// let a = Pepper::new(b"0123456789abcdef".to_vec());
    /// assert_eq!(a.fingerprint(), a.clone().fingerprint());
    /// assert_ne!(a.fingerprint(), Pepper::new(b"fedcba9876543210".to_vec()).fingerprint());
    /// ```
    pub fn fingerprint(&self) -> String {
        hex::encode(self.mac(&[b"tokengate pepper check"]))
    }

    /// The MAC key of a MAC-type access token, derived from the token so it is never stored.
    pub fn mac_secret(&self, token: &str) -> String {
        let digest = self.mac(&[b"mac-secret", token.as_bytes()]);
        hex::encode(&digest[..20])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_hashes_round_trip() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        let h = TokenHash::of(&a);
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert_ne!(h, TokenHash::of(&b));
    }

    #[test]
    fn secret_hash_is_salted_and_peppered() {
        let p1 = Pepper::new(b"pepper-one-0123456".to_vec());
        let p2 = Pepper::new(b"pepper-two-0123456".to_vec());
        let h1 = p1.hash_secret("s3cret");
        assert_ne!(h1, p1.hash_secret("s3cret"), "salt makes hashes differ");
        assert!(p1.verify_secret("s3cret", &h1));
        assert!(
            !p2.verify_secret("s3cret", &h1),
            "another pepper does not verify"
        );
        assert!(!p1.verify_secret("s3cret", "garbage"));
    }

    #[test]
    fn mac_secret_is_stable_per_token() {
        let p = Pepper::new(b"pepper-one-0123456".to_vec());
        assert_eq!(p.mac_secret("tok"), p.mac_secret("tok"));
        assert_ne!(p.mac_secret("tok"), p.mac_secret("tok2"));
    }
}
