//! [`CacheKey`]: what the [`TokenCache`](super::TokenCache) is keyed by, and the cheap hasher
//! of its tables.
//!
//! The key is SipHash-2-4 with a 128-bit output under a 128-bit key drawn from the OS's CSPRNG
//! for each cache: a pseudorandom function of the presented token. It replaces the SHA-256
//! [`TokenHash`](crate::secret::TokenHash) on the hit path (about 300 instructions against
//! 3,500 for a 40-character token); the SHA-256 is computed on a miss only, for the store and
//! for hash-based invalidation. Why a collision cannot be forced: BENCHMARKS.md, "The cache key".

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use rand::TryRng;
use siphasher::sip128::SipHasher24;

/// The cache's name for a presented token: 128 bits of a keyed PRF of it. Equal for equal
/// tokens under one [`Keyer`]; nobody without the [`Keyer`]'s secret can tell which tokens
/// share one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey(u128);

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the token, but no reason to print a value that names one either.
        f.write_str("CacheKey(..)")
    }
}

/// Turns tokens into [`CacheKey`]s under a secret drawn when it is made.
#[derive(Clone)]
pub(crate) struct Keyer(SipHasher24);

impl Keyer {
    /// A keyer with a fresh random secret.
    pub(crate) fn random() -> Self {
        // The operating system's random source, as rand's own generators are seeded.
        let mut rng = rand::rngs::SysRng;
        let mut draw = || {
            rng.try_next_u64()
                .expect("the operating system's random source failed")
        };
        Keyer(SipHasher24::new_with_keys(draw(), draw()))
    }

    /// The key of `token`.
    pub(crate) fn key(&self, token: &str) -> CacheKey {
        CacheKey(self.0.hash(token.as_bytes()).as_u128())
    }
}

impl fmt::Debug for Keyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyer(..)")
    }
}

/// Hashes keys that are uniformly distributed already ([`CacheKey`]s, SHA-256
/// [`TokenHash`](crate::secret::TokenHash)es) cheaply: mixing their words with FxHash's step
/// spreads them as well as any keyed hash would, and nobody chooses the outputs of a PRF or of
/// SHA-256.
#[derive(Clone, Copy, Default)]
pub(crate) struct HashedKey;

impl BuildHasher for HashedKey {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u128(&mut self, words: u128) {
        self.write_u64(words as u64);
        self.write_u64((words >> 64) as u64);
    }

    fn write_usize(&mut self, _: usize) {
        // The length prefix of a fixed-size key: the same for every key.
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::secret::TokenHash;

    #[test]
    fn keys_are_equal_for_equal_tokens_and_differ_between_keyers() {
        let (a, b) = (Keyer::random(), Keyer::random());
        assert_eq!(a.key("token-1"), a.key("token-1"));
        assert_ne!(a.key("token-1"), a.key("token-2"));
        assert_ne!(a.key("token-1"), a.key("token-1 "), "the length counts");
        assert_ne!(
            a.key("token-1"),
            b.key("token-1"),
            "each keyer has its own secret"
        );
        let keys: HashSet<_> = (0..10_000).map(|i| a.key(&format!("t{i}"))).collect();
        assert_eq!(keys.len(), 10_000);
        assert_eq!(format!("{:?}", a.key("token-1")), "CacheKey(..)");
        assert_eq!(format!("{a:?}"), "Keyer(..)", "the secret is not printed");
    }

    /// 10,000 keys into 65,536 buckets: about 9,280 distinct if spread at random.
    fn spreads(hashes: &[u64]) {
        let distinct = |bits: fn(u64) -> u64| {
            let set: HashSet<u64> = hashes.iter().map(|&h| bits(h)).collect();
            set.len()
        };
        assert!(distinct(|h| h >> 48) > 9_000, "top 16 bits");
        assert!(distinct(|h| h & 0xffff) > 9_000, "low 16 bits");
    }

    #[test]
    fn the_key_hasher_spreads_token_hashes_and_cache_keys() {
        let hashes: Vec<u64> = (0..10_000)
            .map(|i| HashedKey.hash_one(TokenHash::of(&format!("t{i}"))))
            .collect();
        spreads(&hashes);
        let keyer = Keyer::random();
        let keys: Vec<u64> = (0..10_000)
            .map(|i| HashedKey.hash_one(keyer.key(&format!("t{i}"))))
            .collect();
        spreads(&keys);
    }
}
