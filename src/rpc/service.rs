//! [`JsonRpcService`]: the `tower::Service` serving `POST /v2/json-rpc[/{site_id}]`.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde_json::Value;

use super::auth::{Credentials, Verdict};
use super::browser::from_page;
use super::error::RpcError;
use super::methods::dispatch;
use super::wire::{answer, parse_call, Dialect};
use crate::media_type::is_one_of;
use crate::oauth::TokenService;

/// Default largest request body, in bytes.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default largest batch, in calls.
pub const DEFAULT_MAX_BATCH: usize = 100;
/// The media types [`JsonRpcService::require_json_content_type`] accepts: `application/json`
/// and the two JSON-RPC over HTTP also names, any case, with any parameters.
pub const JSON_MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/json-rpc",
    "application/jsonrequest",
];

/// Mashery's JSON-RPC API (`oauth2.*` methods) as a `tower::Service` with
/// `Error = Infallible`, for `POST /v2/json-rpc` and `POST /v2/json-rpc/{site_id}`.
///
/// Every call must authenticate with [`Credentials`] (HTTP Basic, or `api_key` + `sig`); answers
/// follow the request's dialect (1.0, 1.1 or 2.0); batches and notifications follow JSON-RPC
/// 2.0. Other paths get 404, other methods 405.
///
/// A request a browser made for a web page (it carries `Origin`, or `Sec-Fetch-Site` other
/// than `none`) is refused with 403 and a JSON-RPC `-32600` error before its credentials are
/// looked at: it could be another site's page posting with the Basic credentials the browser
/// cached (blind CSRF). Server-side callers send neither header. The body is parsed as JSON
/// whatever its Content-Type (Mashery's documented calls are `curl -d`, which says
/// `application/x-www-form-urlencoded`), unless [`require_json_content_type`] is set.
///
/// [`require_json_content_type`]: JsonRpcService::require_json_content_type
///
/// ```
/// use std::sync::Arc;
/// use tokengate::oauth::TokenService;
/// use tokengate::rpc::{Credentials, JsonRpcService};
/// use tokengate::secret::Pepper;
/// use tokengate::store::MemoryStore;
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let rpc = JsonRpcService::new(tokens, Credentials::new(vec![("ops".into(), "s3cret".into())]))
///     .max_body_bytes(64 * 1024)
///     .max_batch(50);
/// // It answers the full path `/v2/json-rpc`: mount it where axum leaves that path intact,
/// // e.g. `Router::new().nest_service("/admin", rpc)` serves `POST /admin/v2/json-rpc`
/// // (`nest_service` strips its prefix), or serve it with hyper.
/// # let _ = rpc;
/// ```
#[derive(Debug, Clone)]
pub struct JsonRpcService {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    tokens: Arc<TokenService>,
    credentials: Credentials,
    max_body: usize,
    max_batch: usize,
    require_json: bool,
}

impl JsonRpcService {
    /// The API over `tokens`, accepting callers with `credentials`.
    pub fn new(tokens: Arc<TokenService>, credentials: Credentials) -> Self {
        JsonRpcService {
            inner: Arc::new(Inner {
                tokens,
                credentials,
                max_body: DEFAULT_MAX_BODY,
                max_batch: DEFAULT_MAX_BATCH,
                require_json: false,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Largest request body (default 1 MiB); larger ones get 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.inner_mut().max_body = limit;
        self
    }

    /// Largest batch (default 100 calls); larger ones get one invalid-request error.
    pub fn max_batch(mut self, limit: usize) -> Self {
        self.inner_mut().max_batch = limit;
        self
    }

    /// On: a request whose one `Content-Type` is not one of [`JSON_MEDIA_TYPES`] (absent,
    /// repeated, `text/plain`, a form, …) gets 415 with a JSON-RPC `-32600` error. No browser
    /// sends these types to another origin without a CORS preflight, which the admin API never
    /// grants, so this stops cross-site posts even from browsers that mark them with no
    /// `Origin`; callers that post JSON under another type (`curl -d`) must then say
    /// `Content-Type: application/json`. Off by default.
    pub fn require_json_content_type(mut self, on: bool) -> Self {
        self.inner_mut().require_json = on;
        self
    }
}

type JsonResponse = Response<Full<Bytes>>;

/// The media types a `POST` may carry (W3C LDP §7.1), on a 415.
const ACCEPT_POST: HeaderName = HeaderName::from_static("accept-post");

impl<B> tower::Service<Request<B>> for JsonRpcService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<crate::BoxError>,
{
    type Response = JsonResponse;
    type Error = Infallible;
    type Future = crate::BoxFuture<Result<JsonResponse, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.handle(req).await) })
    }
}

impl Inner {
    async fn handle<B>(&self, req: Request<B>) -> JsonResponse
    where
        B: Body,
        B::Error: Into<crate::BoxError>,
    {
        if !is_rpc_path(req.uri().path()) {
            return empty(StatusCode::NOT_FOUND);
        }
        if req.method() != Method::POST {
            let mut res = empty(StatusCode::METHOD_NOT_ALLOWED);
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return res;
        }
        if from_page(req.headers()) {
            return refused(StatusCode::FORBIDDEN, "requests from web pages are refused");
        }
        if self.require_json && !is_one_of(req.headers(), &JSON_MEDIA_TYPES) {
            let mut res = refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            );
            res.headers_mut()
                .insert(ACCEPT_POST, HeaderValue::from_static("application/json"));
            return res;
        }
        let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
        match self.credentials.check(authorization, req.uri().query()) {
            Verdict::Allowed => {}
            Verdict::Missing => {
                let mut res = empty(StatusCode::UNAUTHORIZED);
                res.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tokengate\""),
                );
                return res;
            }
            Verdict::Denied => return empty(StatusCode::FORBIDDEN),
        }
        let body = match Limited::new(req.into_body(), self.max_body).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return refused(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
            }
            Err(e) if e.is::<tower_http::timeout::TimeoutError>() => {
                return refused(StatusCode::REQUEST_TIMEOUT, "body not sent in time");
            }
            Err(_) => return empty(StatusCode::BAD_REQUEST),
        };
        match self.answer_body(&body).await {
            Some(reply) => json(StatusCode::OK, &reply),
            None => empty(StatusCode::NO_CONTENT),
        }
    }

    /// The reply to a whole body; `None` when it held only notifications.
    async fn answer_body(&self, body: &[u8]) -> Option<Value> {
        let parsed: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return Some(answer(Dialect::V2, Value::Null, Err(RpcError::parse()))),
        };
        match parsed {
            Value::Array(calls) if calls.is_empty() => Some(answer(
                Dialect::V2,
                Value::Null,
                Err(RpcError::invalid_request("empty batch")),
            )),
            Value::Array(calls) if calls.len() > self.max_batch => Some(answer(
                Dialect::V2,
                Value::Null,
                Err(RpcError::invalid_request("batch too large")),
            )),
            Value::Array(calls) => {
                let mut replies = Vec::with_capacity(calls.len());
                for call in calls {
                    // JSON-RPC 1.0 has no batches: a member is a 2.0 request, or an invalid
                    // one answered in 2.0 form (the specification's §7 example).
                    if !call.get("jsonrpc").is_some_and(|v| v == "2.0") {
                        replies.push(answer(
                            Dialect::V2,
                            Value::Null,
                            Err(RpcError::invalid_request(
                                "a batch member is a JSON-RPC 2.0 request",
                            )),
                        ));
                        continue;
                    }
                    replies.extend(self.answer_call(call).await);
                }
                (!replies.is_empty()).then_some(Value::Array(replies))
            }
            single => self.answer_call(single).await,
        }
    }

    async fn answer_call(&self, value: Value) -> Option<Value> {
        let call = match parse_call(value) {
            Ok(call) => call,
            Err(error_reply) => return Some(error_reply),
        };
        let outcome = dispatch(&self.tokens, &call.method, call.params).await;
        call.id.map(|id| answer(call.dialect, id, outcome))
    }
}

fn is_rpc_path(path: &str) -> bool {
    match path.strip_prefix("/v2/json-rpc") {
        Some("") | Some("/") => true,
        Some(rest) => rest
            .strip_prefix('/')
            .is_some_and(|site| !site.is_empty() && !site.contains('/')),
        None => false,
    }
}

/// A request refused before any call is read: `status` and one JSON-RPC 2.0 invalid-request
/// error saying why.
fn refused(status: StatusCode, why: &str) -> JsonResponse {
    let error = answer(
        Dialect::V2,
        Value::Null,
        Err(RpcError::invalid_request(why)),
    );
    json(status, &error)
}

fn empty(status: StatusCode) -> JsonResponse {
    let mut res = Response::new(Full::default());
    *res.status_mut() = status;
    res
}

fn json(status: StatusCode, body: &Value) -> JsonResponse {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::is_rpc_path;

    #[test]
    fn paths() {
        assert!(is_rpc_path("/v2/json-rpc"));
        assert!(is_rpc_path("/v2/json-rpc/"));
        assert!(is_rpc_path("/v2/json-rpc/1234"));
        assert!(!is_rpc_path("/v2/json-rpc/12/34"));
        assert!(!is_rpc_path("/v2/json-rpcx"));
        assert!(!is_rpc_path("/v3/json-rpc"));
    }
}
