//! [`UpstreamPool`]: several upstreams of one route, round-robin, with passive health.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::Service;

use super::json_error;
use crate::proxy::{ProxyBody, ProxyFuture, ReverseProxy};
use crate::{BoxError, Error};

/// How long an upstream stays out after a failure unless [`UpstreamPool::mark_out_for`] says.
pub const DEFAULT_MARK_OUT: Duration = Duration::from_secs(10);

/// Upstreams taken in turn (round-robin). An upstream whose answer is `502`, `503` or `504`
/// (the proxy's own answer when it cannot connect, the connection fails or the upstream times
/// out, or the upstream's) is marked out for a while and skipped; when every one is out, the
/// pool answers `503` with `Retry-After` and forwards nothing. A failed request is not sent
/// again to another upstream (its body is gone): the next request goes elsewhere.
///
/// ```
/// use tokengate::proxy::ReverseProxy;
/// use tokengate::route::UpstreamPool;
/// let pool = UpstreamPool::new([
///     ReverseProxy::new("http://10.0.0.1:9000".parse().unwrap()).unwrap(),
///     ReverseProxy::new("http://10.0.0.2:9000".parse().unwrap()).unwrap(),
/// ])
/// .unwrap()
/// .mark_out_for(std::time::Duration::from_secs(5));
/// assert_eq!(pool.available(), 2);
/// ```
#[derive(Clone)]
pub struct UpstreamPool {
    shared: Arc<Shared>,
}

struct Shared {
    members: Vec<Member>,
    next: AtomicUsize,
    /// How long a failed member is skipped, in milliseconds.
    mark_out_ms: AtomicU64,
    /// The origin of the members' `out_until` clocks.
    epoch: Instant,
}

struct Member {
    proxy: ReverseProxy,
    /// Milliseconds after `epoch` until which the member is skipped (0: in).
    out_until: AtomicU64,
}

impl UpstreamPool {
    /// A pool of these proxies (at least one), each out for [`DEFAULT_MARK_OUT`] after a
    /// failure.
    pub fn new(proxies: impl IntoIterator<Item = ReverseProxy>) -> Result<Self, Error> {
        let members: Vec<Member> = proxies
            .into_iter()
            .map(|proxy| Member {
                proxy,
                out_until: AtomicU64::new(0),
            })
            .collect();
        if members.is_empty() {
            return Err(Error::config(
                "an upstream pool needs at least one upstream",
            ));
        }
        Ok(UpstreamPool {
            shared: Arc::new(Shared {
                members,
                next: AtomicUsize::new(0),
                mark_out_ms: AtomicU64::new(DEFAULT_MARK_OUT.as_millis() as u64),
                epoch: Instant::now(),
            }),
        })
    }

    /// How long an upstream is skipped after a failure (at least one millisecond), for this
    /// pool and its clones.
    pub fn mark_out_for(self, duration: Duration) -> Self {
        let ms = u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.shared.mark_out_ms.store(ms, Ordering::Relaxed);
        self
    }

    /// Takes over from `previous` (the pool this one replaces, as a configuration reload does)
    /// which of the same upstreams are marked out, and until when: a reload does not send
    /// requests to an upstream known to be failing.
    pub(crate) fn keep_health_of(self, previous: &UpstreamPool) -> Self {
        let (new, old) = (&self.shared, &previous.shared);
        let shift = u64::try_from(new.epoch.saturating_duration_since(old.epoch).as_millis())
            .unwrap_or(u64::MAX);
        for member in &new.members {
            let was = old
                .members
                .iter()
                .find(|was| was.proxy.same_upstream(&member.proxy));
            if let Some(was) = was {
                let until = was.out_until.load(Ordering::Relaxed).saturating_sub(shift);
                member.out_until.store(until, Ordering::Relaxed);
            }
        }
        self
    }

    /// How many upstreams are in now (not marked out).
    pub fn available(&self) -> usize {
        let now = self.shared.now_ms();
        self.shared
            .members
            .iter()
            .filter(|m| m.out_until.load(Ordering::Relaxed) <= now)
            .count()
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The next member in turn that is in, or how long until the first comes back.
    fn pick(&self) -> Result<usize, Duration> {
        let now = self.now_ms();
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut soonest = u64::MAX;
        for i in 0..n {
            let index = start.wrapping_add(i) % n;
            let until = self.members[index].out_until.load(Ordering::Relaxed);
            if until <= now {
                return Ok(index);
            }
            soonest = soonest.min(until);
        }
        Err(Duration::from_millis(soonest.saturating_sub(now)))
    }

    fn mark_out(&self, index: usize) {
        let until = self
            .now_ms()
            .saturating_add(self.mark_out_ms.load(Ordering::Relaxed));
        self.members[index]
            .out_until
            .store(until.max(1), Ordering::Relaxed);
    }
}

impl<B> Service<Request<B>> for UpstreamPool
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = PoolFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> PoolFuture {
        match self.shared.pick() {
            Ok(index) => {
                // A `ReverseProxy` is always ready.
                let future = self.shared.members[index].proxy.clone().call(req);
                PoolFuture {
                    state: PoolState::Forwarding {
                        future,
                        shared: self.shared.clone(),
                        index,
                    },
                }
            }
            Err(wait) => {
                tracing::warn!("every upstream of the route is marked out: 503");
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"error":"unavailable","error_description":"no upstream is available"}"#,
                );
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, seconds.into());
                PoolFuture {
                    state: PoolState::Ready {
                        response: Some(response),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The future of [`UpstreamPool`]: the chosen proxy's, which marks it out on failure.
    pub struct PoolFuture {
        #[pin]
        state: PoolState,
    }
}

pin_project! {
    #[project = PoolStateProj]
    enum PoolState {
        Ready { response: Option<Response<ProxyBody>> },
        Forwarding {
            #[pin]
            future: ProxyFuture,
            shared: Arc<Shared>,
            index: usize,
        },
    }
}

impl Future for PoolFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            PoolStateProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            PoolStateProj::Forwarding {
                future,
                shared,
                index,
            } => {
                let response = ready!(future.poll(cx))?;
                if matches!(
                    response.status(),
                    StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ) {
                    tracing::warn!(
                        upstream = *index,
                        status = response.status().as_u16(),
                        "upstream failed: marked out"
                    );
                    shared.mark_out(*index);
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_failed_upstream_is_marked_out_and_all_out_is_503_with_retry_after() {
        // A port nobody listens on: bound, then closed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let proxy = ReverseProxy::new(format!("http://{addr}").parse().unwrap()).unwrap();
        let pool = UpstreamPool::new([proxy])
            .unwrap()
            .mark_out_for(Duration::from_secs(30));
        let get = || {
            Request::get("/x")
                .header("host", "gateway.test")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap()
        };

        let first = pool.clone().oneshot(get()).await.unwrap();
        assert_eq!(first.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(pool.available(), 0);
        let second = pool.clone().oneshot(get()).await.unwrap();
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        let retry: u64 = second.headers()[http::header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&retry), "{retry}");
    }
}
