//! The REST endpoints: the standard OAuth endpoints for clients and resource servers, and
//! TIBCO-style token routes for administrators.
//!
//! | type | what it serves | where |
//! |---|---|---|
//! | [`TokenEndpoint`] | RFC 6749 `POST /oauth2/token` | public listener |
//! | [`IntrospectionEndpoint`] | RFC 7662 `POST /oauth2/introspect` | public listener |
//! | [`RevocationEndpoint`] | RFC 7009 `POST /oauth2/revoke` | public listener |
//! | [`MetadataEndpoint`] | RFC 8414 `GET /.well-known/oauth-authorization-server` | public listener |
//! | [`PublicEndpoints`] | the four above for one or several services, routed by path | public listener |
//! | [`TibcoTokenApi`] | `GET`/`DELETE /oauth2/access_token/{token}`, `GET /oauth2/access_token/owners[/{owner}]` | admin listener |
//!
//! Each is a `tower::Service<http::Request<B>>` with `Error = Infallible` over an
//! `Arc<`[`TokenService`](crate::oauth::TokenService)`>`, so it mounts in axum
//! (`Router::route_service`) or serves with hyper as it is. Every answer that carries token
//! data has `Cache-Control: no-store`; a failing store is 503 with `Retry-After`, never an
//! OAuth error.
//!
//! There is no authorization endpoint: the provider's own login page authenticates the user,
//! asks for consent, and calls `createAuthorizationCode` (JSON-RPC, or
//! [`TokenService::create_authorization_code`](crate::oauth::TokenService::create_authorization_code))
//! with the client's `redirect_uri`, `state` and PKCE challenge, then redirects the browser to
//! the URI it returns. The client redeems the code at [`TokenEndpoint`].
//!
//! ```no_run
//! # async fn run() -> Result<(), tokengate::Error> {
//! use std::sync::Arc;
//! use tokengate::oauth::TokenService;
//! use tokengate::rest::PublicEndpoints;
//! use tokengate::secret::Pepper;
//! use tokengate::store::SqliteStore;
//!
//! let store = Arc::new(SqliteStore::open("sqlite://tokengate.db").await?);
//! let tokens = Arc::new(TokenService::new(store, Pepper::new(b"a long random pepper".to_vec())));
//! let public = PublicEndpoints::new(tokens, ["rmeqcgpw3zu2y47y9bs8vs2h"], "https://auth.example.com")?
//!     .authorization_endpoint("https://www.example.com/oauth/authorize");
//! // axum: Router::new().fallback_service(public), or serve it with hyper.
//! # let _ = public; Ok(()) }
//! ```

/// Implements `tower::Service` for an endpoint with an
/// `async fn handle(&self, Request<B>) -> RestResponse` method.
macro_rules! endpoint_service {
    ($endpoint:ident) => {
        impl<B> tower::Service<http::Request<B>> for $endpoint
        where
            B: http_body::Body + Send + 'static,
            B::Data: Send,
            B::Error: Into<super::shared::BoxError>,
        {
            type Response = super::shared::RestResponse;
            type Error = std::convert::Infallible;
            type Future = std::pin::Pin<
                Box<
                    dyn std::future::Future<
                            Output = Result<super::shared::RestResponse, std::convert::Infallible>,
                        > + Send,
                >,
            >;

            fn poll_ready(
                &mut self,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), std::convert::Infallible>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<B>) -> Self::Future {
                let endpoint = self.clone();
                Box::pin(async move { Ok(endpoint.handle(req).await) })
            }
        }
    };
}
use endpoint_service;

mod introspect;
mod metadata;
mod public;
mod revoke;
mod shared;
mod tibco;
mod token_endpoint;

pub use introspect::{IntrospectionEndpoint, INACTIVE};
pub use metadata::{AuthorizationServerMetadata, EndpointUrls, MetadataEndpoint};
pub use public::PublicEndpoints;
pub use revoke::RevocationEndpoint;
pub use shared::RestResponse;
pub use tibco::{TibcoTokenApi, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use token_endpoint::TokenEndpoint;

/// A `429 Too Many Requests` answer: `slow_down` with `Retry-After` (see
/// [`FailedAuthLayer`](crate::limit::FailedAuthLayer)).
pub(crate) fn too_many_requests(
    description: &'static str,
    wait: std::time::Duration,
) -> RestResponse {
    shared::ErrorReply::slow_down(description, wait).into_response()
}

/// Default largest form body of the token, introspection and revocation endpoints (64 KiB).
pub const DEFAULT_MAX_FORM_BYTES: usize = 64 * 1024;
