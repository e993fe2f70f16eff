//! The gateway check: [`OAuthLayer`] / [`OAuthService`] / [`ResponseFuture`], in the shape of
//! tower-http's authorization layers.
//!
//! The layer takes each request's bearer token (or signed MAC credentials), resolves it through a
//! [`TokenCache`](crate::resolve::TokenCache), removes client-supplied identity headers,
//! injects `client_id`, `scope` and `user_context` headers and answers RFC 6750 rejections.
//! On a cache hit nothing is boxed and no task is spawned; the inner service's future is never
//! boxed.

mod bearer;
mod headers;
mod layer;
mod mac;
mod method_param;
mod proof;
mod reject;
mod replay;
mod rule;
mod service;

pub(crate) use bearer::{query_has_token, remove_query_token};
pub use headers::IdentityHeaders;
pub use layer::{LayerMetrics, OAuthLayer};
pub(crate) use method_param::has_method_override;
pub use proof::MacPolicy;
pub use rule::ScopeRule;
pub use service::{OAuthService, ResponseFuture};
