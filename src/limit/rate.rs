//! [`Rate`]: so many events per period, with a burst.

use std::num::NonZeroU32;
use std::time::Duration;

/// So many events per second, minute or hour, of which `burst` may come at once: after a
/// burst, one more is allowed every `period / count`. The burst defaults to the count
/// (`Rate::per_minute(30)` allows 30 at once, then one every 2 s).
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use tokengate::limit::Rate;
///
/// let ten = NonZeroU32::new(10).unwrap();
/// let rate = Rate::per_second(ten).with_burst(NonZeroU32::new(20).unwrap());
/// assert_eq!(rate.interval(), Duration::from_millis(100));
/// assert_eq!(rate.burst().get(), 20);
/// assert_eq!(Rate::per_minute(ten).burst(), ten);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    period: Duration,
    burst: NonZeroU32,
}

impl Rate {
    /// `count` per `period` (a zero period is taken as one nanosecond), burst `count`.
    pub const fn new(count: NonZeroU32, period: Duration) -> Rate {
        Rate {
            count,
            period,
            burst: count,
        }
    }

    /// `count` per second.
    pub const fn per_second(count: NonZeroU32) -> Rate {
        Rate::new(count, Duration::from_secs(1))
    }

    /// `count` per minute.
    pub const fn per_minute(count: NonZeroU32) -> Rate {
        Rate::new(count, Duration::from_secs(60))
    }

    /// `count` per hour.
    pub const fn per_hour(count: NonZeroU32) -> Rate {
        Rate::new(count, Duration::from_secs(3600))
    }

    /// The same rate with another burst: how many may come at once.
    pub const fn with_burst(mut self, burst: NonZeroU32) -> Rate {
        self.burst = burst;
        self
    }

    /// How many may come at once.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// The time after which one more is allowed: `period / count` (at least 1 ns).
    pub fn interval(&self) -> Duration {
        (self.period / self.count.get()).max(Duration::from_nanos(1))
    }

    /// The same as a `governor` quota.
    pub(crate) fn quota(&self) -> governor::Quota {
        governor::Quota::with_period(self.interval())
            .expect("the interval is at least 1 ns")
            .allow_burst(self.burst)
    }
}
