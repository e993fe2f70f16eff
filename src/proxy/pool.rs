//! The HTTP/1.1 connection pool of [`ReverseProxy`](super::ReverseProxy): connections to its
//! one upstream on `hyper::client::conn::http1`, kept idle most recent first.
//!
//! What it guarantees:
//!
//! - A connection goes back to the pool only when its response body has been read to the end
//!   (a response cut short, an error or a body dropped early closes it), and only once it is
//!   ready for the next request (its request body sent too); one the upstream closed or that
//!   failed is never handed out again.
//! - At most `max_idle` connections are kept idle (the oldest is closed to make room), none
//!   longer than `idle_timeout`: an expired one is never handed out, and a timer task closes
//!   them when no request comes to do it.
//! - A request that hyper gives back unsent (the reused connection closed before it was
//!   written) is sent once more, on a new connection, whatever its method: the upstream never
//!   saw it. A request that was written is never sent again, idempotent or not: replaying it
//!   would need a copy of every request's head kept until its answer. Such a failure is the
//!   client's `502`, as it was with hyper-util's client.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Parts, PathAndQuery};
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tower::ServiceExt;

use super::{BoxError, ProxyBody};
use crate::tls::Connector;

type Sender = http1::SendRequest<ProxyBody>;

/// The boxed future of [`Pool::send`] (one allocation per request, as hyper-util's client
/// had): the response head and the connection it came on.
pub(super) type SendFuture =
    Pin<Box<dyn std::future::Future<Output = Result<Pooled, BoxError>> + Send>>;

/// A response head from the upstream and, for a pooled connection, the connection it holds
/// until its body ends.
pub(super) struct Pooled {
    pub(super) response: Response<Incoming>,
    pub(super) checkout: Option<Checkout>,
}

/// A pool of HTTP/1.1 connections to one upstream. Cloning shares the pool.
#[derive(Clone)]
pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    /// `http://authority/` or `https://authority/`: what the connector connects to.
    target: Uri,
    idle: Mutex<Idle>,
    max_idle: usize,
    idle_timeout: Duration,
}

#[derive(Default)]
struct Idle {
    /// Oldest first; connections are taken from the back.
    connections: VecDeque<IdleConnection>,
    /// Whether the task that closes expired connections runs.
    reaping: bool,
}

struct IdleConnection {
    sender: Sender,
    since: Instant,
}

impl Pool {
    /// A pool connecting with `connector` to `target` (`http(s)://authority/`).
    pub(super) fn new(
        connector: Connector,
        target: Uri,
        max_idle: usize,
        idle_timeout: Duration,
    ) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                target,
                idle: Mutex::new(Idle::default()),
                max_idle,
                idle_timeout,
            }),
        }
    }

    /// Sends `req` (its URI turned to origin form) on an idle connection, or a new one.
    pub(super) fn send(&self, mut req: Request<ProxyBody>) -> SendFuture {
        origin_form(req.uri_mut());
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(req).await })
    }

    /// How many connections are idle now.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.inner.lock().connections.len()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Idle> {
        // A panic elsewhere while holding the lock leaves the list consistent: keep going.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn send(self: Arc<Self>, mut req: Request<ProxyBody>) -> Result<Pooled, BoxError> {
        let mut retried = false;
        loop {
            let (mut sender, reused) = match (!retried).then(|| self.take()).flatten() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    return Ok(Pooled {
                        response,
                        checkout: Some(Checkout { sender, pool: self }),
                    })
                }
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused && !retried => {
                        tracing::debug!("proxy: a pooled connection closed, sending again");
                        req = unsent;
                        retried = true;
                    }
                    _ => return Err(error.into_error().into()),
                },
            }
        }
    }

    /// The most recently idle connection still ready and not expired.
    fn take(&self) -> Option<Sender> {
        let now = Instant::now();
        let mut idle = self.lock();
        while let Some(connection) = idle.connections.pop_back() {
            if now.saturating_duration_since(connection.since) >= self.idle_timeout {
                // The rest are older still.
                let expired = std::mem::take(&mut idle.connections);
                drop(idle);
                drop(expired);
                return None;
            }
            if connection.sender.is_ready() {
                return Some(connection.sender);
            }
        }
        None
    }

    /// Keeps `sender` for the next request once it is ready, unless it is closed or nothing
    /// is kept.
    fn put(self: &Arc<Self>, mut sender: Sender) {
        if self.max_idle == 0 || sender.is_closed() {
            return;
        }
        if !sender.is_ready() {
            // Still sending the request body to an upstream that answered early, or about to
            // tell it is free: idle only once ready, so that no request waits behind it.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let pool = self.clone();
            runtime.spawn(async move {
                if sender.ready().await.is_ok() {
                    pool.keep(sender);
                }
            });
            return;
        }
        self.keep(sender);
    }

    /// Adds a ready `sender` to the idle connections (and starts the timer task).
    fn keep(self: &Arc<Self>, sender: Sender) {
        let since = Instant::now();
        let mut idle = self.lock();
        let evicted = if idle.connections.len() >= self.max_idle {
            idle.connections.pop_front()
        } else {
            None
        };
        idle.connections.push_back(IdleConnection { sender, since });
        if !idle.reaping {
            // Outside a tokio runtime nothing could close expired connections: keep none.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                idle.connections.clear();
                return;
            };
            idle.reaping = true;
            runtime.spawn(reap(Arc::downgrade(self)));
        }
        drop(idle);
        drop(evicted);
    }

    async fn connect(&self) -> Result<Sender, BoxError> {
        let io = self
            .connector
            .clone()
            .oneshot(self.target.clone())
            .await
            .map_err(super::failure::ConnectFailed)?;
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "proxy: upstream connection ended");
            }
        });
        Ok(sender)
    }
}

/// Closes idle connections as they expire (and those the upstream closed), until none is
/// idle or the pool is gone.
async fn reap(pool: Weak<Inner>) {
    let mut wait = match pool.upgrade() {
        Some(pool) => pool.idle_timeout,
        None => return,
    };
    loop {
        tokio::time::sleep(wait).await;
        let Some(pool) = pool.upgrade() else { return };
        let now = Instant::now();
        let mut idle = pool.lock();
        let timeout = pool.idle_timeout;
        let (keep, gone): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut idle.connections)
            .into_iter()
            .partition(|c: &IdleConnection| {
                now.saturating_duration_since(c.since) < timeout && !c.sender.is_closed()
            });
        idle.connections = keep;
        let next = idle.connections.front().map(|c| c.since + timeout);
        if next.is_none() {
            idle.reaping = false;
        }
        drop(idle);
        drop(gone);
        match next {
            Some(deadline) => wait = deadline.saturating_duration_since(now),
            None => return,
        }
    }
}

/// The request target as HTTP/1.1 sends it to an origin server: the path and query only.
fn origin_form(uri: &mut Uri) {
    let pq = std::mem::take(uri)
        .into_parts()
        .path_and_query
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = Parts::default();
    parts.path_and_query = Some(pq);
    *uri = Uri::from_parts(parts).expect("a path and query alone is a URI");
}

/// A connection taken from the pool for one exchange; back to the pool with
/// [`Checkout::release`], closed when dropped.
pub(super) struct Checkout {
    sender: Sender,
    pool: Arc<Inner>,
}

impl Checkout {
    /// The exchange is over (its response body read to the end): the connection may serve
    /// the next request.
    pub(super) fn release(self) {
        self.pool.put(self.sender);
    }
}

/// An upstream response body that returns its connection to the pool when it ends.
pub(super) struct PooledBody {
    body: Incoming,
    checkout: Option<Checkout>,
}

impl PooledBody {
    /// `body`, holding `checkout` until it ends (at once when it has already ended).
    pub(super) fn new(body: Incoming, checkout: Option<Checkout>) -> PooledBody {
        let mut pooled = PooledBody { body, checkout };
        if pooled.body.is_end_stream() {
            pooled.release();
        }
        pooled
    }

    fn release(&mut self) {
        if let Some(checkout) = self.checkout.take() {
            checkout.release();
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => drop(this.checkout.take()),
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_forms() {
        for (from, to) in [
            ("http://127.0.0.1:9000/x?y=1", "/x?y=1"),
            ("http://127.0.0.1:9000", "/"),
            ("/a/b", "/a/b"),
        ] {
            let mut uri: Uri = from.parse().unwrap();
            origin_form(&mut uri);
            assert_eq!(uri, to, "{from}");
            assert!(uri.authority().is_none());
        }
    }

    #[tokio::test]
    async fn nothing_is_idle_before_a_request() {
        let pool = Pool::new(
            crate::tls::connector(None, false, Duration::from_secs(1)),
            "http://127.0.0.1:9/".parse().unwrap(),
            4,
            Duration::from_secs(1),
        );
        assert_eq!(pool.idle_count(), 0);
    }
}
