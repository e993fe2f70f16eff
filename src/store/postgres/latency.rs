//! [`LatencyHistogram`]: lock-free latency buckets, for the revoke→evict time of pushed
//! revocations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds, in microseconds: fine around the sub-millisecond to tens of
/// milliseconds a LAN delivers, coarse up to 10 s. Observations above the last go to `+Inf`.
const BOUNDS_MICROS: [u64; 28] = [
    50, 100, 200, 300, 500, 750, //
    1_000, 1_500, 2_000, 3_000, 5_000, 7_500, //
    10_000, 15_000, 20_000, 30_000, 50_000, 75_000, //
    100_000, 150_000, 200_000, 300_000, 500_000, 750_000, //
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];

/// A histogram of durations in fixed buckets (50 µs to 10 s, and `+Inf`), recorded with relaxed
/// atomic increments: cheap enough for every notification, safe to share.
///
/// ```
/// use std::time::Duration;
/// use tokengate::store::LatencyHistogram;
///
/// let histogram = LatencyHistogram::new();
/// for micros in [80, 120, 900, 40_000] {
///     histogram.record(Duration::from_micros(micros));
/// }
/// let snapshot = histogram.snapshot();
/// assert_eq!(snapshot.count, 4);
/// assert_eq!(snapshot.quantile(0.5), Some(Duration::from_micros(200)));
/// assert_eq!(snapshot.quantile(1.0), Some(Duration::from_millis(50)));
/// ```
#[derive(Debug)]
pub struct LatencyHistogram {
    /// Per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one observation.
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts so far. Taken bucket by bucket while others may record, so `count` can be a
    /// few observations ahead of the buckets; never behind.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut cumulative = 0;
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, bucket)| {
                cumulative += bucket.load(Ordering::Relaxed);
                LatencyBucket {
                    le: BOUNDS_MICROS.get(i).map(|&m| Duration::from_micros(m)),
                    count: cumulative,
                }
            })
            .collect();
        LatencySnapshot {
            count: self.count.load(Ordering::Relaxed).max(cumulative),
            sum: Duration::from_micros(self.sum_micros.load(Ordering::Relaxed)),
            buckets,
        }
    }
}

/// One bucket of a [`LatencySnapshot`], Prometheus style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyBucket {
    /// The upper bound; `None` for `+Inf`.
    pub le: Option<Duration>,
    /// Observations at most `le` (cumulative).
    pub count: u64,
}

/// The state of a [`LatencyHistogram`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: Duration,
    /// Cumulative buckets in increasing order, the last one `+Inf`.
    pub buckets: Vec<LatencyBucket>,
}

impl LatencySnapshot {
    /// An upper bound of the `q` quantile (`0.0..=1.0`): the bound of the first bucket holding
    /// at least that share of the observations. `None` when there are none, or when the
    /// quantile lies above the last finite bound (10 s).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.buckets.last()?.count;
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        self.buckets.iter().find(|b| b.count >= rank)?.le
    }

    /// The mean observation; `None` when there are none.
    pub fn mean(&self) -> Option<Duration> {
        u32::try_from(self.count)
            .ok()
            .filter(|&n| n > 0)
            .map(|n| self.sum / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds_and_cumulative() {
        let h = LatencyHistogram::new();
        h.record(Duration::ZERO);
        h.record(Duration::from_micros(50));
        h.record(Duration::from_micros(51));
        h.record(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets.len(), BOUNDS_MICROS.len() + 1);
        assert_eq!(s.buckets[0].le, Some(Duration::from_micros(50)));
        assert_eq!(s.buckets[0].count, 2);
        assert_eq!(s.buckets[1].count, 3);
        assert_eq!(s.buckets[BOUNDS_MICROS.len() - 1].count, 3);
        let last = s.buckets.last().unwrap();
        assert_eq!((last.le, last.count), (None, 4));
        assert_eq!(s.quantile(0.0), Some(Duration::from_micros(50)));
        assert_eq!(s.quantile(0.75), Some(Duration::from_micros(100)));
        assert_eq!(s.quantile(1.0), None, "beyond the last finite bound");
        assert!(LatencyHistogram::new().snapshot().quantile(0.5).is_none());
        assert_eq!(LatencyHistogram::new().snapshot().mean(), None);
    }
}
