//! The admin listener's front: `/healthz`, `/readyz`, `/metrics`, the body size limit, then
//! the admin API.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Service, ServiceExt};

use super::Metrics;
use crate::store::Store;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `GET /healthz` (200 `ok`) itself, and with [`with_readiness`](Self::with_readiness)
/// `GET /readyz` (200 `ready` when the store answers a query within 2 s, else 503), and with
/// [`with_metrics`](Self::with_metrics) `GET /metrics` (Prometheus text); these need no
/// credentials, which is why the admin listener belongs on loopback or a private network.
/// Refuses bodies whose `Content-Length` is over the limit with 413, and hands everything else
/// to the admin API `S` (the JSON-RPC service and the TIBCO-style token routes, which answer
/// 404 for paths they do not serve).
#[derive(Clone)]
pub struct AdminService<S> {
    inner: S,
    max_body_bytes: u64,
    metrics: Option<Arc<Metrics>>,
    store: Option<Arc<dyn Store>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AdminService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService")
            .field("inner", &self.inner)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("metrics", &self.metrics.is_some())
            .field("readiness", &self.store.is_some())
            .finish()
    }
}

impl<S> AdminService<S> {
    /// Wraps the admin API.
    pub fn new(inner: S, max_body_bytes: u64) -> Self {
        AdminService {
            inner,
            max_body_bytes,
            metrics: None,
            store: None,
        }
    }

    /// Serves `GET /metrics` from `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serves `GET /readyz`: 200 when `store` answers a cheap query, 503 otherwise.
    pub fn with_readiness(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
}

use crate::BoxFuture;

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
        let path = req.uri().path();
        let probe = match path {
            "/healthz" => true,
            "/metrics" => self.metrics.is_some(),
            "/readyz" => self.store.is_some(),
            _ => false,
        };
        if probe {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
                return Box::pin(std::future::ready(Ok(response)));
            }
            match (path, &self.metrics, &self.store) {
                ("/metrics", Some(metrics), _) => {
                    let mut response = Response::new(Full::new(Bytes::from(metrics.render())));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(
                            "text/plain; version=0.0.4; charset=utf-8",
                        ),
                    );
                    return Box::pin(std::future::ready(Ok(response)));
                }
                ("/readyz", _, Some(store)) => {
                    let store = store.clone();
                    return Box::pin(async move {
                        let answer = tokio::time::timeout(READY_TIMEOUT, store.service("")).await;
                        Ok(match answer {
                            Ok(Ok(_)) => plain(StatusCode::OK, "ready"),
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "readiness: the store failed");
                                plain(StatusCode::SERVICE_UNAVAILABLE, "not ready")
                            }
                            Err(_) => {
                                tracing::warn!("readiness: the store did not answer in time");
                                plain(StatusCode::SERVICE_UNAVAILABLE, "not ready")
                            }
                        })
                    });
                }
                _ => return Box::pin(std::future::ready(Ok(plain(StatusCode::OK, "ok")))),
            }
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
        // Without metrics or readiness they are the API's paths.
        assert_eq!(
            send(get("/metrics")).await,
            (StatusCode::OK, "inner".into())
        );
    }

    #[tokio::test]
    async fn metrics_and_readiness() {
        use crate::store::MemoryStore;
        let app = |store: Arc<dyn Store>| {
            app()
                .with_metrics(Arc::new(Metrics::default()))
                .with_readiness(store)
        };
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let response = app(memory.clone())
            .oneshot(Request::get("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("tokengate_tokens_revoked_total 0"), "{text}");

        let response = app(memory.clone())
            .oneshot(Request::get("/readyz").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = app(memory)
            .oneshot(Request::post("/readyz").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
