//! Routes: one gateway in front of many APIs.
//!
//! A [`RouteTable`] sends each request to the service of the most specific [`Route`] that
//! matches its host ([`HostPattern`]), path prefix and method ([`RouteMatch`]); the binary
//! builds one per `[[routes]]` configuration, each route its own
//! [`OAuthLayer`](crate::auth::OAuthLayer) (or [`StripIdentity`] for a public route), an
//! optional [`StripPrefix`] and an [`UpstreamPool`] of [`ReverseProxy`](crate::proxy::ReverseProxy)s.
//! Everything here is a plain `tower::Service` and works without the binary (see
//! `examples/axum_routes.rs`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

use crate::proxy::ProxyBody;

mod matcher;
mod pool;
mod rewrite;
mod table;

pub use matcher::{HostPattern, RouteMatch};
pub use pool::{PoolFuture, UpstreamPool, DEFAULT_MARK_OUT};
pub use rewrite::{StripIdentity, StripPrefix};
pub use table::{Route, RouteName, RouteTable};

/// A JSON answer made by the gateway itself.
fn json_error(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pin_project! {
    /// The future of the route services: an answer of the gateway's own, or the inner
    /// service's future (not boxed).
    pub struct RouteFuture<F> {
        #[pin]
        state: State<F>,
        // Put on the response: the access log names the route.
        route: Option<RouteName>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Ready { response: Option<Response<ProxyBody>> },
        Inner { #[pin] future: F },
    }
}

impl<F> RouteFuture<F> {
    fn ready(response: Response<ProxyBody>) -> Self {
        RouteFuture {
            state: State::Ready {
                response: Some(response),
            },
            route: None,
        }
    }

    fn inner(future: F) -> Self {
        RouteFuture {
            state: State::Inner { future },
            route: None,
        }
    }

    /// The future of the service of route `route`, whose name the response then carries.
    fn routed(future: F, route: RouteName) -> Self {
        RouteFuture {
            state: State::Inner { future },
            route: Some(route),
        }
    }
}

impl<F> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, Infallible>>,
{
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            StateProj::Inner { future } => {
                let Ok(mut response) = std::task::ready!(future.poll(cx));
                if let Some(route) = this.route.take() {
                    response.extensions_mut().insert(route);
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
