//! The shutdown signals of the binary.

use std::future::Future;

/// A future that completes on the first Ctrl-C (SIGINT) or, on Unix, SIGTERM: pass it to
/// [`super::Server::run`] so in-flight requests finish before the process exits.
///
/// The signal handlers are installed when this function is called (not when the future is first
/// polled), so a signal that arrives in between is not lost and does not kill the process. Call it
/// inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for {name}");
                None
            }
        };
        let mut interrupt = install(SignalKind::interrupt(), "SIGINT");
        let mut terminate = install(SignalKind::terminate(), "SIGTERM");
        async move {
            let interrupted = async {
                match &mut interrupt {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminated = async {
                match &mut terminate {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupted => tracing::info!("SIGINT received"),
                _ = terminated => tracing::info!("SIGTERM received"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("Ctrl-C received"),
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for Ctrl-C");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// Runs `reload` to its end on every SIGHUP (Unix; never elsewhere) until the returned future
/// is dropped; SIGHUPs that arrive meanwhile make one more run. The handler is installed when
/// this function is called.
pub(crate) fn on_reload_signal<F, R>(reload: F) -> impl Future<Output = ()>
where
    F: Fn() -> R + Send + 'static,
    R: Future<Output = ()>,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let hangup = signal(SignalKind::hangup())
            .map_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP"))
            .ok();
        async move {
            let Some(mut hangup) = hangup else {
                return std::future::pending().await;
            };
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP received: reloading");
                reload().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        std::future::pending()
    }
}
