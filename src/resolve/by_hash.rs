//! The valid entries of the [`TokenCache`](super::TokenCache) and the index that finds them by
//! SHA-256 [`TokenHash`], for invalidations (revocations, feeds from other nodes) that name
//! tokens by hash.
//!
//! The cache is keyed by [`CacheKey`] (cheap on the hit path); each valid entry carries its
//! token's hash, and [`ByHash`] maps the hash back to the key. The index holds a hash exactly
//! while the cache holds its entry: it is written after the entry is inserted, and entries the
//! cache evicts (reported by [`RecordEvictions`]) leave it unless they were inserted again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, UnitWeighter};

use super::cached::CachedToken;
use super::key::{CacheKey, HashedKey};
use crate::model::UnixMillis;
use crate::secret::TokenHash;

/// A valid cache entry, the time (Unix ms) it stops being served without a new resolve, and
/// its token's hash.
#[derive(Clone)]
pub(super) struct Fresh {
    pub(super) token: CachedToken,
    pub(super) until: UnixMillis,
    pub(super) hash: TokenHash,
}

/// The cache of valid tokens.
pub(super) type Positive = Cache<CacheKey, Fresh, UnitWeighter, HashedKey, RecordEvictions>;

/// Collects what an insert evicted, for [`ByHash::evicted`] to drop once the cache's shard
/// lock is released.
#[derive(Clone, Copy, Default)]
pub(super) struct RecordEvictions;

impl Lifecycle<CacheKey, Fresh> for RecordEvictions {
    type RequestState = Vec<(CacheKey, TokenHash)>;

    fn on_evict(&self, evicted: &mut Self::RequestState, key: CacheKey, entry: Fresh) {
        evicted.push((key, entry.hash));
    }
}

/// From token hashes to the keys of the cache's valid entries.
#[derive(Default)]
pub(super) struct ByHash {
    map: Mutex<HashMap<TokenHash, CacheKey, HashedKey>>,
}

impl ByHash {
    /// Inserts an entry into `positive` and indexes it.
    pub(super) fn insert(&self, positive: &Positive, key: CacheKey, entry: Fresh) {
        let hash = entry.hash;
        let mut evicted = Vec::new();
        positive.insert_with_lifecycle(key, entry, &mut evicted);
        // After the insert: an eviction handled meanwhile (under this lock) that saw no
        // entry cannot remove this mapping.
        self.map().insert(hash, key);
        self.evicted(positive, &evicted);
    }

    /// Drops the mappings of entries `positive` evicted, unless the entry is back.
    fn evicted(&self, positive: &Positive, evicted: &[(CacheKey, TokenHash)]) {
        if evicted.is_empty() {
            return;
        }
        let mut map = self.map();
        for (key, hash) in evicted {
            // Checked under the lock, which every insert's mapping waits for: an entry
            // inserted again is either seen here, or mapped again after this.
            if map.get(hash) == Some(key) && !holds(positive, key, hash) {
                map.remove(hash);
            }
        }
    }

    /// Removes the entries of these hashes from `positive`, and their mappings.
    pub(super) fn remove(&self, positive: &Positive, hashes: &[TokenHash]) {
        let mut map = self.map();
        for hash in hashes {
            if let Some(key) = map.remove(hash) {
                positive.remove_if(&key, |entry| entry.hash == *hash);
            }
        }
    }

    /// The key of the entry for `hash`, if the cache holds one.
    pub(super) fn key(&self, hash: &TokenHash) -> Option<CacheKey> {
        self.map().get(hash).copied()
    }

    /// Forgets every mapping (the cache was cleared).
    pub(super) fn clear(&self) {
        self.map().clear();
    }

    /// How many hashes are indexed.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map().len()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<TokenHash, CacheKey, HashedKey>> {
        // A panic while the map is held cannot leave it inconsistent: take it back.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn holds(positive: &Positive, key: &CacheKey, hash: &TokenHash) -> bool {
    positive.peek(key).is_some_and(|entry| entry.hash == *hash)
}
