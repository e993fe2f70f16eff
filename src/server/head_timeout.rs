//! The header read timeout of an HTTP/1 connection, kept by one timer per connection.
//!
//! hyper's own `header_read_timeout` boxes a timer for every request head, registers it with
//! the runtime's timer wheel while the head is awaited and removes it once the head is in, and
//! makes the connection poll its socket once more after every request: a cost on every
//! proxied request (BENCHMARKS.md, issue 13). Here the connection has one timer, armed when
//! the connection starts and moved only when it fires: a connection is closed once no request
//! has been in flight for the timeout (counting from its first bytes, and from the end of its
//! last response) without a complete request head coming in. That is the same limit as
//! hyper's: on a request head trickled in, and on an idle keep-alive connection. What a
//! request costs is two counter updates and one clock read when its response ends.
//!
//! HTTP/2 connections are not timed (nor were they by hyper's timeout): the listener does not
//! start a clock for them, and a clock stops for good at its connection's first HTTP/2
//! request (h2 over TLS without ALPN).

use std::pin::pin;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

/// One connection's requests in flight and when it last became idle.
#[derive(Clone)]
pub(crate) struct HeadClock {
    shared: Arc<Shared>,
}

struct Shared {
    /// When the clock started: `idle_since` counts from it.
    origin: Instant,
    /// Requests whose head came in and whose response has not ended.
    in_flight: AtomicUsize,
    /// Nanoseconds from `origin` to the moment the last request in flight ended.
    idle_since: AtomicU64,
    /// Set at the first HTTP/2 request: the connection is not timed.
    stopped: AtomicBool,
}

impl HeadClock {
    /// A clock for a connection whose first bytes just came: idle from now.
    pub(crate) fn start() -> HeadClock {
        HeadClock {
            shared: Arc::new(Shared {
                origin: Instant::now(),
                in_flight: AtomicUsize::new(0),
                idle_since: AtomicU64::new(0),
                stopped: AtomicBool::new(false),
            }),
        }
    }

    /// A request head came in: the connection is busy until the returned guard is dropped
    /// (with the response's body). `None` once the clock is stopped, and at an HTTP/2
    /// request, which stops it.
    pub(crate) fn request(&self, version: http::Version) -> Option<InFlight> {
        if version == http::Version::HTTP_2 {
            self.shared.stopped.store(true, Ordering::Release);
        }
        if self.shared.stopped.load(Ordering::Acquire) {
            return None;
        }
        self.shared.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(InFlight {
            shared: self.shared.clone(),
        })
    }

    /// Completes once the connection has been idle for `timeout` without a request head
    /// coming in; never when the clock is stopped.
    pub(crate) async fn expired(&self, timeout: Duration) {
        let mut sleep = pin!(tokio::time::sleep_until(self.shared.origin + timeout));
        loop {
            sleep.as_mut().await;
            if self.shared.stopped.load(Ordering::Acquire) {
                return std::future::pending().await;
            }
            let now = Instant::now();
            let deadline = self.deadline(now, timeout);
            if deadline <= now {
                return;
            }
            sleep.as_mut().reset(deadline);
        }
    }

    /// When the connection expires, as it stands at `now`: `timeout` after it last became
    /// idle, or after `now` while a request is in flight.
    fn deadline(&self, now: Instant, timeout: Duration) -> Instant {
        let shared = &*self.shared;
        if shared.in_flight.load(Ordering::Acquire) > 0 {
            // Busy: idle at the earliest from now on.
            return now + timeout;
        }
        let idle = shared.idle_since.load(Ordering::Acquire);
        shared.origin + Duration::from_nanos(idle) + timeout
    }
}

/// A request in flight on a timed connection; its drop ends it.
pub(crate) struct InFlight {
    shared: Arc<Shared>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let shared = &*self.shared;
        // Stored before the count drops, so that a clock seeing no request in flight sees
        // when the last one ended.
        let idle = u64::try_from(shared.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        shared.idle_since.fetch_max(idle, Ordering::AcqRel);
        shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project! {
    /// A response body holding its request's [`InFlight`] until it ends or is dropped.
    pub(crate) struct TimedBody<B> {
        #[pin]
        inner: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> TimedBody<B> {
    /// `inner`, the request in flight until it ends.
    pub(crate) fn new(inner: B, in_flight: Option<InFlight>) -> Self {
        TimedBody { inner, in_flight }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(None) | Poll::Ready(Some(Err(_))) = frame {
            this.in_flight.take();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn idle_from_the_start_busy_while_a_request_is_in_flight_idle_again_at_its_end() {
        let clock = HeadClock::start();
        let origin = clock.shared.origin;
        let later = origin + Duration::from_secs(3);
        assert_eq!(clock.deadline(later, TIMEOUT), origin + TIMEOUT);

        let first = clock.request(http::Version::HTTP_11).unwrap();
        let second = clock.request(http::Version::HTTP_11).unwrap();
        let far = origin + Duration::from_secs(60);
        assert_eq!(clock.deadline(far, TIMEOUT), far + TIMEOUT, "busy");
        drop(first);
        assert_eq!(
            clock.deadline(far, TIMEOUT),
            far + TIMEOUT,
            "one still in flight"
        );

        let before = Instant::now();
        drop(second);
        let after = Instant::now();
        let deadline = clock.deadline(far, TIMEOUT);
        assert!(
            deadline >= before + TIMEOUT && deadline <= after + TIMEOUT,
            "idle from the end of the last request"
        );
    }

    #[test]
    fn an_http2_request_stops_the_clock() {
        let clock = HeadClock::start();
        assert!(clock.request(http::Version::HTTP_11).is_some());
        assert!(clock.request(http::Version::HTTP_2).is_none());
        assert!(clock.request(http::Version::HTTP_11).is_none());
        assert!(clock.shared.stopped.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_stopped_clock_never_expires_and_an_expired_one_completes() {
        let clock = HeadClock::start();
        let _ = clock.request(http::Version::HTTP_2);
        // Both timers are due at once; the stopped clock, polled first, must not complete.
        let running = HeadClock::start();
        let stopped_completed = tokio::select! {
            biased;
            () = clock.expired(Duration::ZERO) => true,
            () = running.expired(Duration::ZERO) => false,
        };
        assert!(!stopped_completed);
    }
}
