//! Serving a `tower::Service` on a TCP listener: HTTP/1.1 and h2 on one port, a header read
//! timeout that works (a timer is installed), bounded header size and count, the client's
//! address as a [`ClientAddr`] request extension, TLS when configured ([`ListenerTls`]: the
//! handshake within the header read timeout, [`TlsConnection`] on every request) and graceful
//! shutdown. The header read timeout of HTTP/1 connections is kept by [`HeadClock`], one timer
//! per connection, not by hyper's timer per request.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use pin_project_lite::pin_project;
use tokio::net::{TcpListener, TcpStream};
use tower::util::Oneshot;
use tower::ServiceExt;

use super::graceful::Shutdown;
use super::head_timeout::{HeadClock, InFlight, TimedBody};
use crate::proxy::{ClientAddr, TlsConnection};
use crate::tls::{HandshakeCounters, ServerTls};

use crate::BoxError;

/// Connection settings.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long in-flight requests may run on after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// The HTTP/1 read buffer (bounds the header block) and the h2 header list size.
    pub max_header_bytes: usize,
    /// Most header fields in an HTTP/1 request (`None`: hyper's default, 100).
    pub max_headers: Option<usize>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_headers: None,
        }
    }
}

/// A listener's TLS: its configuration (certificate reloadable) and handshake counters.
#[derive(Debug, Clone)]
pub(crate) struct ListenerTls {
    pub(crate) tls: ServerTls,
    pub(crate) handshakes: Arc<HandshakeCounters>,
}

/// Accepts connections until `shutdown` completes, then stops accepting, lets in-flight requests
/// finish (closing idle keep-alive connections at once) and returns, at the latest after
/// [`HttpOptions::shutdown_grace`].
pub(crate) async fn serve_http<S, B>(
    listener: TcpListener,
    service: S,
    options: &HttpOptions,
    tls: Option<ListenerTls>,
    shutdown: impl Future<Output = ()>,
) where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The header read timeout is the connection's `HeadClock`: hyper's would arm a timer
        // for every request.
        .header_read_timeout(None)
        .max_buf_size(options.max_header_bytes.max(8192));
    if let Some(max) = options.max_headers {
        builder.http1().max_headers(max);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);

    let graceful = Shutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let mut service = ConnectionService {
            service: RefCell::new(service.clone()),
            peer,
            tls: false,
            clock: None,
        };
        // The configuration of this connection: a reload (client CA) may have replaced it.
        let acceptor = tls.as_ref().map(|tls| {
            (
                tokio_rustls::TlsAcceptor::from(tls.tls.config()),
                tls.handshakes.clone(),
            )
        });
        let watcher = graceful.watcher();
        let first_bytes_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let h2 =
                match tokio::time::timeout(first_bytes_timeout, await_first_bytes(&stream)).await {
                    Ok(Ok(FirstBytes::Http1)) => false,
                    Ok(Ok(FirstBytes::H2)) => true,
                    Ok(Ok(FirstBytes::Closed)) | Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::debug!(%peer, "no request within the header read timeout");
                        return;
                    }
                };
            let result = match acceptor {
                None => {
                    let clock = (!h2).then(HeadClock::start);
                    service.clock = clock.clone();
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    timed(watcher.watch(connection), clock, first_bytes_timeout, peer).await
                }
                Some((acceptor, handshakes)) => {
                    let accepted =
                        tokio::time::timeout(first_bytes_timeout, acceptor.accept(stream)).await;
                    let stream = match accepted {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            handshakes.record(false);
                            tracing::debug!(%peer, error = %e, "tls handshake failed");
                            return;
                        }
                        Err(_) => {
                            handshakes.record(false);
                            tracing::debug!(%peer, "tls handshake timed out");
                            return;
                        }
                    };
                    handshakes.record(true);
                    service.tls = true;
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let clock = (!h2).then(HeadClock::start);
                    service.clock = clock.clone();
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    timed(watcher.watch(connection), clock, first_bytes_timeout, peer).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);

    let open = graceful.count();
    tracing::info!(open_connections = open, "shutting down: no new connections");
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_seconds = options.shutdown_grace.as_secs(),
            "connections still open after the grace period; closing them"
        );
    }
}

/// `connection` until it ends, or until `clock` says it was idle for `timeout` without a
/// request head: then it is dropped (closed), as hyper's header read timeout would.
async fn timed<E>(
    connection: impl Future<Output = Result<(), E>>,
    clock: Option<HeadClock>,
    timeout: Duration,
    peer: SocketAddr,
) -> Result<(), E> {
    let Some(clock) = clock else {
        return connection.await;
    };
    tokio::select! {
        biased;
        result = connection => result,
        () = clock.expired(timeout) => {
            tracing::debug!(%peer, "no request head within the header read timeout");
            Ok(())
        }
    }
}

/// One connection's service: one clone of the server's service serves all the connection's
/// requests (hyper-util's `TowerToHyperService` clones it, reference counts and all, for every
/// request), and every request learns its client's address (the proxy's `X-Forwarded-For`).
struct ConnectionService<S> {
    // hyper calls `call` through `&self`, one call at a time per connection.
    service: RefCell<S>,
    peer: SocketAddr,
    /// Whether the connection is TLS: its requests carry [`TlsConnection`].
    tls: bool,
    /// The header read timeout's clock of an HTTP/1 connection: its requests in flight.
    clock: Option<HeadClock>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone,
{
    type Response = Response<TimedBody<B>>;
    type Error = Infallible;
    type Future = ConnectionFuture<S>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let in_flight = self
            .clock
            .as_ref()
            .and_then(|clock| clock.request(req.version()));
        req.extensions_mut().insert(ClientAddr(self.peer));
        if self.tls {
            req.extensions_mut().insert(TlsConnection);
        }
        let mut service = self.service.borrow_mut();
        // The services served here are always ready; should one not be, the request waits on
        // a clone of its own, as `TowerToHyperService` would have it.
        let call = match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Call::Called {
                future: service.call(req),
            },
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Call::Waiting {
                future: service.clone().oneshot(req),
            },
        };
        ConnectionFuture { call, in_flight }
    }
}

pin_project! {
    /// The future of [`ConnectionService`]: the service's response, its body holding the
    /// request in flight on the connection's [`HeadClock`].
    struct ConnectionFuture<S>
    where
        S: tower::Service<Request<Incoming>>,
    {
        #[pin]
        call: Call<S>,
        in_flight: Option<InFlight>,
    }
}

pin_project! {
    #[project = CallProj]
    enum Call<S>
    where
        S: tower::Service<Request<Incoming>>,
    {
        Called { #[pin] future: S::Future },
        Waiting { #[pin] future: Oneshot<S, Request<Incoming>> },
    }
}

impl<S, B> Future for ConnectionFuture<S>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>>,
{
    type Output = Result<Response<TimedBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(match this.call.project() {
            CallProj::Called { future } => future.poll(cx),
            CallProj::Waiting { future } => future.poll(cx),
        })?;
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|body| TimedBody::new(body, in_flight))))
    }
}

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a connection's first bytes were.
enum FirstBytes {
    /// None: the client closed the connection.
    Closed,
    /// Not the h2 preface: HTTP/1 (or TLS).
    Http1,
    /// The h2 preface (prior knowledge).
    H2,
}

/// Waits until the client has sent enough for hyper to tell HTTP/1 from h2: the header read
/// timeout does not cover that phase, so a client that connects and sends nothing would hold the
/// connection forever.
async fn await_first_bytes(stream: &TcpStream) -> std::io::Result<FirstBytes> {
    let mut buf = [0u8; H2_PREFACE.len()];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(FirstBytes::Closed);
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(FirstBytes::Http1);
        }
        if n == H2_PREFACE.len() {
            return Ok(FirstBytes::H2);
        }
        // A partial h2 preface: peek again once more has arrived.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
