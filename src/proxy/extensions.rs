//! The request extensions a server sets for [`ReverseProxy`](super::ReverseProxy)(super::ReverseProxy): who the
//! client is and whether it came over TLS.

use std::net::SocketAddr;

/// The address of the client a request came from, as a request extension. The server
/// inserts it; [`ReverseProxy`](super::ReverseProxy) sends its IP upstream as `X-Forwarded-For` (after the chain a
/// trusted proxy sent, see [`crate::forwarded`]; no `X-Forwarded-For` when the extension is
/// absent).
///
/// ```
/// use tokengate::proxy::ClientAddr;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientAddr("192.0.2.7:50123".parse().unwrap()));
/// assert_eq!(req.extensions().get::<ClientAddr>().unwrap().0.port(), 50123);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// A request extension saying the request came over TLS: [`ReverseProxy`](super::ReverseProxy) then sends
/// `X-Forwarded-Proto: https` (`http` without it). The server inserts it on its TLS listeners.
///
/// ```
/// use tokengate::proxy::TlsConnection;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(TlsConnection);
/// assert!(req.extensions().get::<TlsConnection>().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsConnection;
