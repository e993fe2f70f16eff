//! The integrity tag of issued tokens: [`TagKey`].
//!
//! Every access token, refresh token and authorization code tokengate issues is
//! `random || tag`: [`TOKEN_LEN`] random characters, then [`TAG_LEN`] characters encoding the
//! first 40 bits of HMAC-SHA-256 under a key derived from the server pepper. Checking the tag
//! needs no I/O, so a presented value that tokengate cannot have issued (wrong length, wrong
//! alphabet or wrong tag) is refused before any store or remote lookup: a flood of random
//! well-formed tokens costs one HMAC each, not one database query each.
//!
//! The tag is not what makes a token valid (the store decides that), only what makes it worth
//! looking up; 40 bits are enough for that, as forging one takes about 2^39 requests.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;

use super::{ct_eq, generate_token, ALPHABET, TOKEN_LEN};

/// Characters of the tag at the end of an issued token.
pub const TAG_LEN: usize = 8;

/// Length of the tokens, refresh tokens and authorization codes tokengate issues: the random
/// part and its tag.
pub const ISSUED_TOKEN_LEN: usize = TOKEN_LEN + TAG_LEN;

/// Bits of the HMAC the tag keeps.
const TAG_BITS: u32 = 40;

/// The tag's digits: base 36 as `u64::from_str_radix` reads it (the same characters as the
/// random part, in another order).
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The key of the integrity tag: issues tagged tokens and checks presented ones.
///
/// Holds the HMAC state after the key is absorbed, so a check costs a clone of that state and
/// two SHA-256 compressions. The key is derived from the pepper ([`super::Pepper::tag_key`]);
/// a gateway node without the pepper can be given the derived key alone
/// ([`super::Pepper::tag_key_hex`], [`TagKey::from_hex`]): it lets its holder check and make
/// tags, not check client secrets.
///
/// ```
/// use tokengate::secret::{Pepper, ISSUED_TOKEN_LEN};
/// let tags = Pepper::new(b"0123456789abcdef".to_vec()).tag_key();
/// let token = tags.issue();
/// assert_eq!(token.len(), ISSUED_TOKEN_LEN);
/// assert!(tags.verifies(&token));
/// assert!(!tags.verifies("0123456789abcdefghijklmnopqrstuvwxyz0123"));
/// assert!(!tags.verifies(&token[..32]));
/// ```
#[derive(Clone)]
pub struct TagKey {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TagKey(..)")
    }
}

impl TagKey {
    /// A tag key from key material (32 bytes as derived from a pepper).
    pub fn new(key: &[u8]) -> Self {
        TagKey {
            mac: <Hmac<Sha256>>::new_from_slice(key).expect("HMAC accepts any key length"),
        }
    }

    /// Parses a key given as hex ([`super::Pepper::tag_key_hex`]); `None` when it is not hex
    /// or shorter than 16 bytes.
    ///
    /// ```
    /// use tokengate::secret::{Pepper, TagKey};
    /// let pepper = Pepper::new(b"0123456789abcdef".to_vec());
    /// let remote = TagKey::from_hex(&pepper.tag_key_hex()).unwrap();
    /// assert!(remote.verifies(&pepper.tag_key().issue()));
    /// assert!(TagKey::from_hex("not hex").is_none());
    /// ```
    pub fn from_hex(hex_text: &str) -> Option<Self> {
        let key = hex::decode(hex_text.trim()).ok()?;
        (key.len() >= 16).then(|| TagKey::new(&key))
    }

    /// A new token: [`TOKEN_LEN`] random characters from the CSPRNG and their tag.
    pub fn issue(&self) -> String {
        self.tagged(generate_token())
    }

    /// Whether `token` is one this key's holder could have issued: [`ISSUED_TOKEN_LEN`]
    /// lowercase alphanumeric characters whose last [`TAG_LEN`] are the tag of the others.
    /// The tag is compared in constant time.
    pub fn verifies(&self, token: &str) -> bool {
        let bytes = token.as_bytes();
        if bytes.len() != ISSUED_TOKEN_LEN || !bytes.iter().all(|b| ALPHABET.contains(b)) {
            return false;
        }
        let (random, tag) = bytes.split_at(TOKEN_LEN);
        ct_eq(&self.tag(random), tag)
    }

    /// `random` followed by its tag.
    fn tagged(&self, mut random: String) -> String {
        let tag = self.tag(random.as_bytes());
        random.extend(tag.iter().map(|&b| b as char));
        random
    }

    /// The first [`TAG_BITS`] bits of the HMAC of `random`, in base 36 (most significant digit
    /// first, zero-padded to [`TAG_LEN`] characters: 36^8 > 2^40).
    fn tag(&self, random: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(random);
        let digest = mac.finalize().into_bytes();
        let mut n = digest[..8]
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b))
            >> (64 - TAG_BITS);
        let mut tag = [DIGITS[0]; TAG_LEN];
        for slot in tag.iter_mut().rev() {
            *slot = DIGITS[(n % 36) as usize];
            n /= 36;
        }
        tag
    }
}

/// A random value of the issued tokens' shape (length and alphabet) that is not tagged, except
/// with probability 2^-40: what a flood of forged tokens looks like. For tests and load tools.
///
/// ```
/// use tokengate::secret::{junk_token, Pepper, ISSUED_TOKEN_LEN};
/// let junk = junk_token();
/// assert_eq!(junk.len(), ISSUED_TOKEN_LEN);
/// assert!(!Pepper::new(b"0123456789abcdef".to_vec()).tag_key().verifies(&junk));
/// ```
pub fn junk_token() -> String {
    let mut rng = rand::rng();
    (0..ISSUED_TOKEN_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key() -> TagKey {
        TagKey::new(b"a tag key for the unit tests....")
    }

    #[test]
    fn issued_tokens_verify_and_have_the_documented_shape() {
        let tags = key();
        for _ in 0..100 {
            let token = tags.issue();
            assert_eq!(token.len(), 40);
            assert!(token.bytes().all(|b| ALPHABET.contains(&b)), "{token}");
            assert!(tags.verifies(&token));
        }
    }

    #[test]
    fn another_key_wrong_lengths_and_alphabets_do_not_verify() {
        let tags = key();
        let token = tags.issue();
        assert!(!TagKey::new(b"another tag key, 32 bytes long..").verifies(&token));
        assert!(!tags.verifies(&token[..39]));
        assert!(!tags.verifies(&format!("{token}a")));
        assert!(!tags.verifies(&token.to_uppercase()));
        assert!(!tags.verifies(""));
        // A multi-byte character of the right byte length.
        let accented = format!("é{}", &token[2..]);
        assert_eq!(accented.len(), 40);
        assert!(!tags.verifies(&accented));
    }

    #[test]
    fn the_tag_is_the_first_40_bits_of_the_hmac_in_base_36() {
        let tags = key();
        let random = "abcdefghijklmnopqrstuvwxyz012345";
        let mut mac = <Hmac<Sha256>>::new_from_slice(b"a tag key for the unit tests....").unwrap();
        mac.update(random.as_bytes());
        let digest = mac.finalize().into_bytes();
        let value = digest[..5]
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b));
        let token = tags.tagged(random.to_owned());
        let tag = &token[TOKEN_LEN..];
        assert_eq!(u64::from_str_radix(tag, 36).unwrap(), value);
        assert!(value < 1 << 40);
    }

    #[test]
    fn every_one_character_change_fails() {
        let tags = key();
        for _ in 0..3 {
            let token = tags.issue();
            for i in 0..token.len() {
                for &c in ALPHABET.iter().filter(|&&c| c != token.as_bytes()[i]) {
                    let mut changed = token.clone().into_bytes();
                    changed[i] = c;
                    let changed = String::from_utf8(changed).unwrap();
                    assert!(!tags.verifies(&changed), "{changed} still verifies");
                }
            }
        }
    }

    proptest! {
        // The outcome depends on the values drawn: with PROPTEST_RNG_SEED fixed (CI fixes it)
        // the run is reproducible; with another seed a failure by chance (a change that keeps
        // the tag) has probability about 256 * 2^-40.
        #[test]
        fn any_tagged_value_verifies_and_any_one_char_change_fails(
            random in "[a-z0-9]{32}",
            position in 0..ISSUED_TOKEN_LEN,
            replacement in 0..ALPHABET.len() - 1,
        ) {
            let tags = key();
            let token = tags.tagged(random);
            prop_assert!(tags.verifies(&token));
            let mut changed = token.clone().into_bytes();
            let others: Vec<u8> =
                ALPHABET.iter().copied().filter(|&c| c != changed[position]).collect();
            changed[position] = others[replacement];
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(!tags.verifies(&changed), "{} still verifies", changed);
        }
    }
}
