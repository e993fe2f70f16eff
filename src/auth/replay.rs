//! [`ReplayMemory`]: the `(token, ts, nonce)` triples of the MAC requests admitted within the
//! timestamp window, so that a captured request cannot be sent again.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

/// What [`ReplayMemory::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// First seen: remembered, and the request may pass.
    Fresh,
    /// Seen before within the window, or its timestamp is outside the window.
    Refused,
    /// The memory holds its capacity of triples still within the window: nothing new can be
    /// remembered, so nothing new is admitted (fail closed).
    Full,
}

/// The triples admitted within the window, grouped by timestamp second so that those leaving
/// the window are forgotten a whole second at a time. Each triple is kept as a 128-bit
/// digest (SHA-256 of token, timestamp and nonce), so an entry costs the same whatever the
/// nonce's length.
///
/// Bounded by `capacity` triples. When full it refuses rather than evicts: evicting a triple
/// still in the window would let the request it stands for be replayed, and only requests
/// whose MAC verified are ever remembered, so filling it takes a client's own key.
#[derive(Debug)]
pub(crate) struct ReplayMemory {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    by_second: BTreeMap<u64, HashSet<u128>>,
    len: usize,
}

impl ReplayMemory {
    /// An empty memory of at most `capacity` triples (nothing is allocated before the first).
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayMemory {
            capacity,
            seen: Mutex::default(),
        }
    }

    /// Admits the request `(token, ts, nonce)` at `now` (seconds) if `ts` is within `window`
    /// seconds of `now` and the triple was not admitted before.
    pub(crate) fn admit(
        &self,
        token: &str,
        ts: u64,
        nonce: &str,
        now: u64,
        window: u64,
    ) -> Admission {
        if !within(ts, now, window) {
            return Admission::Refused;
        }
        let key = digest(token, ts, nonce);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        // What is older than the window is refused by its timestamp: forget it.
        let oldest = now.saturating_sub(window);
        while let Some(entry) = seen.by_second.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            let forgotten = entry.remove().len();
            seen.len -= forgotten;
        }
        if seen.by_second.get(&ts).is_some_and(|s| s.contains(&key)) {
            return Admission::Refused;
        }
        if seen.len >= self.capacity {
            return Admission::Full;
        }
        seen.by_second.entry(ts).or_default().insert(key);
        seen.len += 1;
        Admission::Fresh
    }

    /// How many triples are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().unwrap().len
    }
}

/// Whether `ts` is within `window` seconds of `now`, either side.
pub(crate) fn within(ts: u64, now: u64, window: u64) -> bool {
    ts.abs_diff(now) <= window
}

fn digest(token: &str, ts: u64, nonce: &str) -> u128 {
    let mut hash = Sha256::new();
    // Lengths first: no two triples hash the same input.
    hash.update((token.len() as u64).to_be_bytes());
    hash.update(token.as_bytes());
    hash.update(ts.to_be_bytes());
    hash.update(nonce.as_bytes());
    let out = hash.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&out[..16]);
    u128::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_triple_is_admitted_once_within_the_window() {
        let memory = ReplayMemory::new(100);
        assert_eq!(memory.admit("t", NOW, "n1", NOW, 30), Admission::Fresh);
        assert_eq!(
            memory.admit("t", NOW, "n1", NOW + 10, 30),
            Admission::Refused
        );
        assert_eq!(memory.admit("t", NOW, "n2", NOW, 30), Admission::Fresh);
        assert_eq!(memory.admit("u", NOW, "n1", NOW, 30), Admission::Fresh);
        assert_eq!(memory.admit("t", NOW + 1, "n1", NOW, 30), Admission::Fresh);
        // The token and nonce cannot be shifted into each other.
        assert_eq!(memory.admit("ab", NOW, "c", NOW, 30), Admission::Fresh);
        assert_eq!(memory.admit("a", NOW, "bc", NOW, 30), Admission::Fresh);
    }

    #[test]
    fn timestamps_outside_the_window_are_refused_and_forgotten() {
        let memory = ReplayMemory::new(100);
        assert_eq!(
            memory.admit("t", NOW - 31, "n", NOW, 30),
            Admission::Refused
        );
        assert_eq!(
            memory.admit("t", NOW + 31, "n", NOW, 30),
            Admission::Refused
        );
        assert_eq!(memory.admit("t", NOW - 30, "n", NOW, 30), Admission::Fresh);
        assert_eq!(memory.admit("t", NOW + 30, "n", NOW, 30), Admission::Fresh);
        assert_eq!(memory.len(), 2);
        // A minute later the first has left the window: forgotten, and still refused.
        assert_eq!(
            memory.admit("t", NOW + 30, "m", NOW + 60, 30),
            Admission::Fresh
        );
        assert_eq!(memory.len(), 2);
        assert_eq!(
            memory.admit("t", NOW - 30, "n", NOW + 60, 30),
            Admission::Refused
        );
        assert_eq!(
            memory.admit("t", NOW + 30, "n", NOW + 60, 30),
            Admission::Refused
        );
    }

    #[test]
    fn a_full_memory_fails_closed_until_the_window_moves_on() {
        let memory = ReplayMemory::new(3);
        for n in ["a", "b", "c"] {
            assert_eq!(memory.admit("t", NOW, n, NOW, 30), Admission::Fresh);
        }
        assert_eq!(memory.admit("t", NOW, "d", NOW, 30), Admission::Full);
        assert_eq!(
            memory.admit("t", NOW, "a", NOW, 30),
            Admission::Refused,
            "still known"
        );
        assert_eq!(
            memory.admit("t", NOW + 31, "d", NOW + 31, 30),
            Admission::Fresh
        );
        assert_eq!(memory.len(), 1);
    }
}
