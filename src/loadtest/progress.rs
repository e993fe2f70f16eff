//! A one-line progress display on stderr, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters the workers bump and the progress line reads.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) done: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// Redraws the line every 250 ms until dropped, then erases it.
pub(crate) struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(
        counters: Arc<Counters>,
        total: Option<u64>,
        limit: Option<Duration>,
    ) -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress { task: None };
        }
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let elapsed = started.elapsed().as_secs_f64();
                let done = counters.done.load(Ordering::Relaxed);
                let errors = counters.errors.load(Ordering::Relaxed);
                let of = total.map(|t| format!("/{t}")).unwrap_or_default();
                let until = limit
                    .map(|l| format!("/{:.0}s", l.as_secs_f64()))
                    .unwrap_or_default();
                let rate = if elapsed > 0.0 {
                    done as f64 / elapsed
                } else {
                    0.0
                };
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K{elapsed:.1}s{until}  {done}{of} requests  {rate:.0} req/s  {errors} errors"
                );
                let _ = err.flush();
            }
        });
        Progress { task: Some(task) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
