//! [`EchoService`]: what the public listener answers authorized requests with when no
//! upstream is configured.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::IdentityHeaders;
use crate::proxy::ProxyBody;

/// Answers every request with `200` and a JSON object of its method, path and the identity
/// headers it carries (only those, by name): behind the [`OAuthLayer`](crate::auth::OAuthLayer)
/// it shows what an upstream would be told. The request body is not read.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use http_body_util::BodyExt;
/// use tokengate::{auth::IdentityHeaders, server::EchoService};
/// use tower::ServiceExt;
///
/// let req = http::Request::get("/reviews?page=2")
///     .header("x-mashery-oauth-client-id", "app")
///     .header("x-other", "not echoed")
///     .body(())
///     .unwrap();
/// let res = EchoService::new(IdentityHeaders::mashery()).oneshot(req).await.unwrap();
/// let body = res.into_body().collect().await.unwrap().to_bytes();
/// let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(json["path"], "/reviews");
/// assert_eq!(json["headers"], serde_json::json!({"x-mashery-oauth-client-id": "app"}));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct EchoService {
    headers: IdentityHeaders,
}

impl EchoService {
    /// An echo of the identity headers named by `headers`.
    pub fn new(headers: IdentityHeaders) -> Self {
        EchoService { headers }
    }
}

impl<B> tower::Service<Request<B>> for EchoService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let names = &self.headers;
        let mut found = Map::new();
        for name in [names.client_id(), names.scope(), names.user_context()]
            .into_iter()
            .chain(names.access_token())
        {
            if let Some(value) = req.headers().get(name) {
                let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
                found.insert(name.as_str().to_owned(), Value::String(text));
            }
        }
        let body = json!({
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "headers": found,
        });
        let mut res = Response::new(ProxyBody::from(format!("{body}\n")));
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(res))
    }
}
