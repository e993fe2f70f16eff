//! How requests reach the upstream: the proxy's own HTTP/1.1 pool, or hyper-util's client for
//! HTTP/2.

use http::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::pool::{self, Pool, SendFuture};
use super::{ProxyBody, Settings, Upstream};
use crate::tls::{connector, Connector};

/// How requests reach the upstream: HTTP/1.1 through the proxy's own pool, h2c (or, for an
/// `https` upstream offered `h2`, whatever ALPN picks) through hyper-util's client.
#[derive(Clone)]
pub(super) enum UpstreamClient {
    Http1(Pool),
    /// Boxed: hyper-util's client is 300 bytes, the pool a pointer.
    Http2(Box<Client<Connector, ProxyBody>>),
}

impl UpstreamClient {
    pub(super) fn send(&self, req: Request<ProxyBody>) -> SendFuture {
        match self {
            UpstreamClient::Http1(pool) => pool.send(req),
            UpstreamClient::Http2(client) => {
                let pending = client.request(req);
                Box::pin(async move {
                    Ok(pool::Pooled {
                        response: pending.await?,
                        checkout: None,
                    })
                })
            }
        }
    }
}

pub(super) fn build_client(upstream: &Upstream, settings: &Settings) -> UpstreamClient {
    let offer_h2 = (settings.offer_http2 || settings.http2_only) && upstream.tls.is_some();
    let connector = connector(upstream.tls.as_ref(), offer_h2, settings.pool_idle_timeout);
    if !settings.http2_only && !offer_h2 {
        let target = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query("/")
            .build()
            .expect("an http URI of a valid authority");
        return UpstreamClient::Http1(Pool::new(
            connector,
            target,
            settings.pool_max_idle_per_host,
            settings.pool_idle_timeout,
        ));
    }
    UpstreamClient::Http2(Box::new(
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .http2_only(settings.http2_only)
            .build(connector),
    ))
}
