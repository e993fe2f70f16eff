//! Every configurable service can be configured after a clone: the clone takes the new
//! setting (copy on write), the original keeps its own, and nothing panics. Checked with the
//! body limit each of them has: the clone refuses a body over its new limit with 413, the
//! original does not.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tokengate::oauth::TokenService;
use tokengate::rest::{IntrospectionEndpoint, PublicEndpoints, RevocationEndpoint, TokenEndpoint};
use tokengate::rpc::{Credentials, JsonRpcService};
use tokengate::secret::Pepper;
use tokengate::store::MemoryStore;
use tower::{Service, ServiceExt};

fn tokens() -> Arc<TokenService> {
    Arc::new(TokenService::new(
        Arc::new(MemoryStore::new()),
        Pepper::new(b"builders".to_vec()),
    ))
}

/// A 100-byte form POST to `path` (with the admin's Basic credentials for JSON-RPC, which
/// authenticates before it reads a body).
fn post(path: &str) -> Request<Full<Bytes>> {
    let mut request = Request::post(path);
    if path == "/v2/json-rpc" {
        // ops:secret
        request = request.header("authorization", "Basic b3BzOnNlY3JldA==");
    }
    request
        .header("host", "gateway.test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(vec![b'a'; 100])))
        .unwrap()
}

/// The status `service` answers a 100-byte POST to `path` with.
async fn status<S, R>(service: S, path: &str) -> StatusCode
where
    S: Service<Request<Full<Bytes>>, Response = http::Response<R>>,
    S::Error: std::fmt::Debug,
{
    service.oneshot(post(path)).await.unwrap().status()
}

/// `configure(clone)` limits the clone's bodies to 10 bytes; the original keeps its default.
async fn check<S, R>(name: &str, original: S, configure: impl FnOnce(S) -> S, path: &str)
where
    S: Service<Request<Full<Bytes>>, Response = http::Response<R>> + Clone,
    S::Error: std::fmt::Debug,
{
    let limited = configure(original.clone());
    assert_eq!(
        status(limited, path).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{name}: the clone's limit"
    );
    assert_ne!(
        status(original, path).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{name}: the original changed with its clone"
    );
}

#[tokio::test]
async fn builders_configure_a_clone_without_touching_the_original() {
    let tokens = tokens();
    check(
        "TokenEndpoint",
        TokenEndpoint::new(tokens.clone(), "svc"),
        |e| e.max_body_bytes(10),
        "/oauth2/token",
    )
    .await;
    check(
        "RevocationEndpoint",
        RevocationEndpoint::new(tokens.clone(), "svc"),
        |e| e.max_body_bytes(10),
        "/oauth2/revoke",
    )
    .await;
    check(
        "IntrospectionEndpoint",
        IntrospectionEndpoint::new(tokens.clone(), "svc", "https://auth.example.com"),
        |e| e.max_body_bytes(10),
        "/oauth2/introspect",
    )
    .await;
    check(
        "PublicEndpoints",
        PublicEndpoints::new(tokens.clone(), ["svc"], "https://auth.example.com").unwrap(),
        |e| e.max_body_bytes(10),
        "/oauth2/token",
    )
    .await;
    check(
        "JsonRpcService",
        JsonRpcService::new(
            tokens.clone(),
            Credentials::new(vec![("ops".into(), "secret".into())]),
        ),
        |e| e.max_body_bytes(10),
        "/v2/json-rpc",
    )
    .await;
}
