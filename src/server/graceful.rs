//! [`Shutdown`]: closing connections gracefully, as hyper-util's `GracefulShutdown` does, at a
//! lower cost per request: a watched connection polls the shutdown signal only when that signal
//! has woken it, not every time the connection is polled (twice or more per request).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use hyper_util::server::graceful::GracefulConnection;
use pin_project_lite::pin_project;
use tokio::sync::watch;

/// Tells the connections it watches to finish once shutdown starts, and waits for them.
pub(crate) struct Shutdown {
    tx: watch::Sender<()>,
}

/// One connection's subscription to a [`Shutdown`], taken before the connection's task starts.
pub(crate) struct Watcher {
    rx: watch::Receiver<()>,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        let (tx, _) = watch::channel(());
        Shutdown { tx }
    }

    /// A subscription for a connection about to be served.
    pub(crate) fn watcher(&self) -> Watcher {
        Watcher {
            rx: self.tx.subscribe(),
        }
    }

    /// How many watched connections are still open (or watchers not yet used).
    pub(crate) fn count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Starts shutdown: every watched connection finishes its in-flight requests and closes (an
    /// idle keep-alive connection at once). Completes when all of them have.
    pub(crate) async fn shutdown(self) {
        let _ = self.tx.send(());
        self.tx.closed().await;
    }
}

impl Watcher {
    /// `connection`, shut down gracefully once shutdown starts.
    pub(crate) fn watch<C: GracefulConnection>(self, connection: C) -> Watched<C> {
        let mut rx = self.rx;
        let signal = Arc::new(Signal::default());
        Watched {
            connection,
            changed: Some(Box::pin(async move {
                let _ = rx.changed().await;
                rx
            })),
            guard: None,
            signal_waker: Waker::from(signal.clone()),
            signal,
            task: None,
            polled: false,
        }
    }
}

/// Wakes a watched connection's task when the shutdown signal fires, and remembers that it did.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

type Changed = Pin<Box<dyn Future<Output = watch::Receiver<()>> + Send>>;

pin_project! {
    /// A connection that shuts down gracefully when its [`Shutdown`] starts.
    pub(crate) struct Watched<C> {
        #[pin]
        connection: C,
        // Completes when shutdown starts (giving the subscription back); `None` after.
        changed: Option<Changed>,
        // The subscription, held from shutdown until the connection is done, so that
        // `Shutdown::shutdown` waits for it.
        guard: Option<watch::Receiver<()>>,
        signal: Arc<Signal>,
        // `changed` is polled with this waker, which wakes `signal`.
        signal_waker: Waker,
        // The task's waker as `signal` knows it.
        task: Option<Waker>,
        polled: bool,
    }
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        if let Some(changed) = this.changed.as_mut() {
            if !this
                .task
                .as_ref()
                .is_some_and(|task| task.will_wake(cx.waker()))
            {
                let mut task = this
                    .signal
                    .task
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                *task = Some(cx.waker().clone());
                *this.task = Some(cx.waker().clone());
            }
            // The signal is polled the first time and when it has woken the task since: the
            // task's waker is updated above before `woken` is read, so no wake-up is lost.
            if !*this.polled || this.signal.woken.swap(false, Ordering::AcqRel) {
                *this.polled = true;
                let mut signal_cx = Context::from_waker(this.signal_waker);
                if let Poll::Ready(rx) = changed.as_mut().poll(&mut signal_cx) {
                    *this.guard = Some(rx);
                    *this.changed = None;
                    this.connection.as_mut().graceful_shutdown();
                }
            }
        }
        this.connection.poll(cx)
    }
}
