//! Handshake counters, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// TLS handshakes on a listener by result.
#[derive(Debug, Default)]
pub struct HandshakeCounters {
    completed: AtomicU64,
    failed: AtomicU64,
}

impl HandshakeCounters {
    /// Counts one handshake.
    pub fn record(&self, ok: bool) {
        let counter = if ok { &self.completed } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Handshakes completed.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// Handshakes that failed (a refused certificate, a protocol error, a timeout).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}
