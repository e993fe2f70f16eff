//! [`Striped`]: per-thread copies of a set of counters, for the metrics that every request
//! touches.
//!
//! A counter that every request increments, shared by all the runtime's worker threads, moves
//! its cache line from core to core on every request. Here each thread increments the cells of
//! its own stripe (one cache line or more, padded so that no two stripes share one), and a
//! reader adds the stripes up. The sum is exact once the writers are done; while they run, a
//! reader sees each stripe at some moment, as with any set of relaxed counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The most stripes: enough for the worker threads of a large machine. Threads beyond it
/// share stripes (correct, only slower).
const MAX_STRIPES: usize = 64;

/// The next thread's stripe number.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe number, drawn once per thread, round-robin.
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
}

/// One stripe, on cache lines of its own (128 bytes: two 64-byte lines, as adjacent-line
/// prefetchers pair them).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Copies of `T` (a struct of atomics), one per thread up to a power of two at least the
/// machine's parallelism: [`local`](Self::local) is the calling thread's copy, to update;
/// [`iter`](Self::iter) goes over them all, to add up.
#[derive(Debug)]
pub(crate) struct Striped<T> {
    stripes: Box<[Padded<T>]>,
}

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_stripes(parallelism)
    }
}

impl<T: Default> Striped<T> {
    /// `stripes` copies, rounded up to a power of two in `1..=MAX_STRIPES`.
    fn with_stripes(stripes: usize) -> Self {
        let n = stripes.clamp(1, MAX_STRIPES).next_power_of_two();
        Striped {
            stripes: (0..n).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T> Striped<T> {
    /// The calling thread's copy.
    pub(crate) fn local(&self) -> &T {
        let mask = self.stripes.len() - 1;
        let i = STRIPE.try_with(|s| *s & mask).unwrap_or(0);
        &self.stripes[i].0
    }

    /// Every copy, to add up.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.stripes.iter().map(|p| &p.0)
    }

    /// The sum over every copy of the counter `f` picks from one.
    pub(crate) fn sum(&self, f: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.iter()
            .map(|t| f(t).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn stripes_are_a_power_of_two_and_bounded() {
        assert_eq!(Striped::<AtomicU64>::with_stripes(0).stripes.len(), 1);
        assert_eq!(Striped::<AtomicU64>::with_stripes(3).stripes.len(), 4);
        assert_eq!(Striped::<AtomicU64>::with_stripes(1000).stripes.len(), 64);
        assert_eq!(std::mem::align_of::<Padded<AtomicU64>>(), 128);
    }

    #[test]
    fn the_sum_counts_every_thread() {
        let striped = Arc::new(Striped::<AtomicU64>::with_stripes(4));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let striped = striped.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        striped.local().fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(striped.sum(|c| c), 8000);
        // More than one stripe was written to.
        assert!(
            striped
                .iter()
                .filter(|c| c.load(Ordering::Relaxed) > 0)
                .count()
                > 1
        );
    }

    #[test]
    fn one_thread_always_gets_the_same_stripe() {
        let striped = Striped::<AtomicU64>::with_stripes(8);
        let a: *const AtomicU64 = striped.local();
        let b: *const AtomicU64 = striped.local();
        assert_eq!(a, b);
    }
}
