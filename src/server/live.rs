//! [`Live`]: a service whose whole inner service is replaced at once (a configuration
//! reload swaps in a new snapshot); each request runs on the snapshot in force when it
//! arrived, to its end.

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use tower::Service;

/// Serves every request with the snapshot of `S` in force when the request arrives:
/// [`Live::swap`] replaces it for the requests that come after (on every connection, kept
/// alive or not), while those already under way finish on the one they started with.
///
/// Each clone (one per connection) keeps a clone of the snapshot it last served and clones
/// the new one only after a swap: between reloads, a request costs one atomic load.
pub(crate) struct Live<S> {
    current: Arc<ArcSwap<S>>,
    /// The snapshot `service` was cloned from.
    held: Arc<S>,
    service: S,
}

impl<S: Clone> Clone for Live<S> {
    fn clone(&self) -> Self {
        Live {
            current: self.current.clone(),
            held: self.held.clone(),
            service: self.service.clone(),
        }
    }
}

impl<S: Clone> Live<S> {
    /// Serving `service` until the first swap.
    pub(crate) fn new(service: S) -> Self {
        let held = Arc::new(service);
        Live {
            current: Arc::new(ArcSwap::new(held.clone())),
            service: (*held).clone(),
            held,
        }
    }

    /// A handle that swaps the snapshot of this service and every clone of it.
    pub(crate) fn swapper(&self) -> Swapper<S> {
        Swapper {
            current: self.current.clone(),
        }
    }
}

/// Replaces the snapshot a [`Live`] serves.
pub(crate) struct Swapper<S> {
    current: Arc<ArcSwap<S>>,
}

impl<S> Swapper<S> {
    /// From the next request on, `service` answers; returns the snapshot it replaces.
    pub(crate) fn swap(&self, service: S) -> Arc<S> {
        self.current.swap(Arc::new(service))
    }
}

impl<S, R> Service<R> for Live<S>
where
    S: Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // The snapshot is picked here, so that `call` uses the service made ready.
        let current = self.current.load();
        if !Arc::ptr_eq(&current, &self.held) {
            let current = arc_swap::Guard::into_inner(current);
            self.service = (*current).clone();
            self.held = current;
        }
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.service.call(req)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::ServiceExt;

    use super::*;

    #[derive(Clone)]
    struct Answer(&'static str);

    impl Service<()> for Answer {
        type Response = &'static str;
        type Error = Infallible;
        type Future = std::future::Ready<Result<&'static str, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            std::future::ready(Ok(self.0))
        }
    }

    #[tokio::test]
    async fn a_swap_reaches_every_clone_from_its_next_request_on() {
        let mut live = Live::new(Answer("old"));
        let mut connection = live.clone();
        assert_eq!(connection.ready().await.unwrap().call(()).await, Ok("old"));
        // A future made before the swap finishes on the old snapshot.
        let under_way = live.ready().await.unwrap().call(());
        let old = live.swapper().swap(Answer("new"));
        assert_eq!(old.0, "old");
        assert_eq!(under_way.await, Ok("old"));
        assert_eq!(connection.ready().await.unwrap().call(()).await, Ok("new"));
        assert_eq!(live.clone().oneshot(()).await, Ok("new"));
        assert_eq!(live.ready().await.unwrap().call(()).await, Ok("new"));
    }
}
