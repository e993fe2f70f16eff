//! The admin listener's front: `/healthz`, the body size limit, then the admin API.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Service, ServiceExt};

/// Serves `GET /healthz` (200 `ok`) itself, refuses bodies whose `Content-Length` is over the
/// limit with 413, and hands everything else to the admin API `S` (the JSON-RPC service and the
/// TIBCO-style token routes, which answer 404 for paths they do not serve).
#[derive(Debug, Clone)]
pub struct AdminService<S> {
    inner: S,
    max_body_bytes: u64,
}

impl<S> AdminService<S> {
    /// Wraps the admin API.
    pub fn new(inner: S, max_body_bytes: u64) -> Self {
        AdminService {
            inner,
            max_body_bytes,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for AdminService<S>
where
    S: Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The inner service is driven to readiness in `call` (on a clone, by `oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path() == "/healthz" {
            let response = if req.method() == Method::GET || req.method() == Method::HEAD {
                plain(StatusCode::OK, "ok")
            } else {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
                response
            };
            return Box::pin(std::future::ready(Ok(response)));
        }
        let too_long = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|len| len > self.max_body_bytes);
        if too_long {
            return Box::pin(std::future::ready(Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ))));
        }
        // A chunked body has no Content-Length: the JSON-RPC service enforces the same limit
        // while reading.
        Box::pin(self.inner.clone().oneshot(req))
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn app(
    ) -> AdminService<tower::util::BoxCloneService<Request<()>, Response<Full<Bytes>>, Infallible>>
    {
        let inner = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
        });
        AdminService::new(tower::util::BoxCloneService::new(inner), 10)
    }

    async fn send(req: Request<()>) -> (StatusCode, String) {
        let response = app().oneshot(req).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn healthz_limit_and_delegation() {
        let get = |uri: &str| Request::get(uri).body(()).unwrap();
        assert_eq!(send(get("/healthz")).await, (StatusCode::OK, "ok".into()));
        let post = Request::post("/healthz").body(()).unwrap();
        assert_eq!(send(post).await.0, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            send(get("/v2/json-rpc")).await,
            (StatusCode::OK, "inner".into())
        );
        let big = Request::post("/v2/json-rpc")
            .header(header::CONTENT_LENGTH, "11")
            .body(())
            .unwrap();
        assert_eq!(send(big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let fits = Request::post("/v2/json-rpc")
            .header(header::CONTENT_LENGTH, "10")
            .body(())
            .unwrap();
        assert_eq!(send(fits).await.0, StatusCode::OK);
    }
}
