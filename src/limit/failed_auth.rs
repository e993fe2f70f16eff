//! [`FailedAuthLimiter`]: failed authentications per client address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::ops::compute::Op;
use moka::Expiry;

use super::Rate;

/// Most client addresses remembered at once; past that the least used are forgotten.
const MAX_ADDRESSES: u64 = 100_000;

/// The longest an address can be refused for, however many failures it piled up at once.
const MAX_DEBT: Duration = Duration::from_secs(15 * 60);

/// Counts failed authentications per client address and refuses an address that is over its
/// [`Rate`] **before** its next attempt is checked: `burst` failures in a row, then one every
/// `rate.interval()`.
///
/// It is a GCRA (the algorithm of `governor`) split in two steps, because the attempt must be
/// refused before the secret is checked while only failures count:
/// [`check`](FailedAuthLimiter::check) reads an address's state without changing it, and
/// [`failed`](FailedAuthLimiter::failed) charges one interval for every failure, including
/// failures of attempts that were admitted concurrently. So a flood of parallel guesses buys
/// the same number of guesses in the long run as a sequential one; what it piles up is paid
/// back by waiting (at most 15 minutes). Successful authentications cost nothing, so a busy
/// resource server introspecting from one address is never refused.
///
/// Addresses are grouped as an attacker gets them: IPv4 addresses one by one (IPv4-mapped IPv6
/// addresses as IPv4), IPv6 addresses by their /64 prefix. At most 100,000 addresses are
/// remembered; an address is forgotten as soon as it owes nothing.
///
/// The address is the caller's to give: [`FailedAuthLayer`](super::FailedAuthLayer) gives the
/// TCP peer's, or the client a trusted proxy named
/// ([`TrustedProxies`](crate::forwarded::TrustedProxies)); behind a proxy that is not trusted
/// every client shares the proxy's address, and so its limit.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::num::NonZeroU32;
/// use tokengate::limit::{FailedAuthLimiter, Rate};
///
/// let two = NonZeroU32::new(2).unwrap();
/// let limiter = FailedAuthLimiter::new(Rate::per_minute(two));
/// let ip = "192.0.2.7".parse().unwrap();
/// assert!(limiter.check(ip).await.is_ok());
/// limiter.failed(ip).await;
/// limiter.failed(ip).await;
/// let wait = limiter.check(ip).await.unwrap_err(); // refused: wait about 30 s
/// assert!(wait.as_secs() <= 30);
/// assert!(limiter.check("192.0.2.8".parse().unwrap()).await.is_ok());
/// # });
/// ```
#[derive(Clone)]
pub struct FailedAuthLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// The time one failure costs.
    interval: Duration,
    /// How far ahead of now an address's state may be and still be let in: `(burst - 1)`
    /// intervals.
    tolerance: Duration,
    /// Per address group: when the address owes nothing any more (GCRA's "theoretical
    /// arrival time"). Entries expire then.
    owed_until: Cache<IpAddr, Instant>,
    refused: AtomicU64,
}

impl fmt::Debug for FailedAuthLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedAuthLimiter")
            .field("interval", &self.inner.interval)
            .field("tolerance", &self.inner.tolerance)
            .field("addresses", &self.inner.owed_until.entry_count())
            .finish()
    }
}

/// An entry lives until its address owes nothing.
struct UntilPaid;

impl Expiry<IpAddr, Instant> for UntilPaid {
    fn expire_after_create(
        &self,
        _: &IpAddr,
        owed_until: &Instant,
        now: Instant,
    ) -> Option<Duration> {
        Some(owed_until.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &IpAddr,
        owed_until: &Instant,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(owed_until.saturating_duration_since(now))
    }
}

impl FailedAuthLimiter {
    /// A limiter allowing `rate` failures per address.
    pub fn new(rate: Rate) -> Self {
        let interval = rate.interval();
        FailedAuthLimiter {
            inner: Arc::new(Inner {
                interval,
                tolerance: interval.saturating_mul(rate.burst().get() - 1),
                owed_until: Cache::builder()
                    .max_capacity(MAX_ADDRESSES)
                    .expire_after(UntilPaid)
                    .build(),
                refused: AtomicU64::new(0),
            }),
        }
    }

    /// Whether `ip` may attempt to authenticate now; when not, how long until it may.
    pub async fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now()).await
    }

    /// Records a failed authentication from `ip`.
    pub async fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now()).await;
    }

    /// How many attempts were refused so far.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    async fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let inner = &self.inner;
        let Some(owed_until) = inner.owed_until.get(&group(ip)).await else {
            return Ok(());
        };
        let ahead = owed_until.saturating_duration_since(now);
        if ahead > inner.tolerance {
            inner.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ahead - inner.tolerance);
        }
        Ok(())
    }

    async fn failed_at(&self, ip: IpAddr, now: Instant) {
        let inner = &self.inner;
        let cap = now + inner.tolerance.max(MAX_DEBT) + inner.interval;
        inner
            .owed_until
            .entry(group(ip))
            .and_compute_with(|entry| {
                let owed_until = entry.map_or(now, |e| e.into_value()).max(now);
                std::future::ready(Op::Put((owed_until + inner.interval).min(cap)))
            })
            .await;
    }
}

/// The group an address is counted in: IPv4 addresses one by one, IPv6 by /64.
fn group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn burst_failures_then_one_per_interval() {
        // One failure per 10 s, 3 at once.
        let limiter = FailedAuthLimiter::new(Rate::per_minute(n(6)).with_burst(n(3)));
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(a, t0).await.is_ok());
            limiter.failed_at(a, t0).await;
        }
        assert_eq!(
            limiter.check_at(a, t0).await,
            Err(Duration::from_secs(10)),
            "refused after the burst, until one interval has passed"
        );
        let t1 = t0 + Duration::from_secs(10);
        assert!(limiter.check_at(a, t1).await.is_ok());
        limiter.failed_at(a, t1).await;
        assert!(limiter.check_at(a, t1).await.is_err(), "one per interval");
        assert!(limiter
            .check_at(a, t1 + Duration::from_secs(10))
            .await
            .is_ok());
        assert!(
            limiter.check_at(ip("192.0.2.2"), t1).await.is_ok(),
            "other addresses are not affected"
        );
        assert_eq!(limiter.refused(), 2);
    }

    #[tokio::test]
    async fn failures_of_concurrent_attempts_are_all_charged() {
        // 100 guesses admitted at once (none had failed yet) cost 100 intervals.
        let limiter = FailedAuthLimiter::new(Rate::per_minute(n(60)).with_burst(n(5)));
        let a = ip("192.0.2.1");
        let t0 = Instant::now();
        for _ in 0..100 {
            limiter.failed_at(a, t0).await;
        }
        let wait = limiter.check_at(a, t0).await.unwrap_err();
        assert_eq!(wait, Duration::from_secs(96), "100 s owed, 4 s tolerated");
        assert!(limiter
            .check_at(a, t0 + Duration::from_secs(96))
            .await
            .is_ok());

        // A flood never owes more than the cap.
        let b = ip("192.0.2.2");
        for _ in 0..2000 {
            limiter.failed_at(b, t0).await;
        }
        let wait = limiter.check_at(b, t0).await.unwrap_err();
        assert!(wait <= MAX_DEBT + Duration::from_secs(1), "{wait:?}");
        assert!(wait >= MAX_DEBT - Duration::from_secs(5), "{wait:?}");
    }

    #[tokio::test]
    async fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = FailedAuthLimiter::new(Rate::per_hour(n(1)));
        let t0 = Instant::now();
        limiter.failed_at(ip("2001:db8:1:2::1"), t0).await;
        assert!(limiter
            .check_at(ip("2001:db8:1:2:ffff::9"), t0)
            .await
            .is_err());
        assert!(limiter.check_at(ip("2001:db8:1:3::1"), t0).await.is_ok());
        limiter.failed_at(ip("::ffff:192.0.2.9"), t0).await;
        assert!(limiter.check_at(ip("192.0.2.9"), t0).await.is_err());
    }

    #[test]
    fn groups() {
        assert_eq!(group(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(group(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
        assert_eq!(group(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(group(ip("::1")), ip("::"));
    }
}
