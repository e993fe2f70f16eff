//! # tokengate
//!
//! An OAuth 2.0 token service compatible with Mashery's JSON-RPC `oauth2.*` API, built as a
//! library of small parts:
//!
//! | module | what it is |
//! |---|---|
//! | [`model`] | services, clients, token records, authorization codes |
//! | [`secret`] | token generation, hashing for storage, constant-time comparison |
//! | [`store`] | the [`Store`](store::Store) trait, [`MemoryStore`](store::MemoryStore), (feature `sqlite`) the durable SQLite store and (feature `postgres`) the PostgreSQL store shared by several nodes, with pushed revocations |
//! | [`oauth`] | [`TokenService`](oauth::TokenService): the eight Mashery operations, transport-free |
//! | [`rpc`] | [`JsonRpcService`](rpc::JsonRpcService): the JSON-RPC API as a `tower::Service` |
//! | [`rest`] | RFC 6749/7662/7009/8414 endpoints ([`PublicEndpoints`](rest::PublicEndpoints)) and TIBCO-style token routes ([`TibcoTokenApi`](rest::TibcoTokenApi)) as `tower::Service`s |
//! | [`resolve`] | the [`Resolve`](resolve::Resolve) trait (local, remote) and the [`TokenCache`](resolve::TokenCache) in front of it |
//! | [`path`] | the canonical request target ([`PathOptions`](path::PathOptions)): what scope rules match and what the upstream receives |
//! | [`auth`] | [`OAuthLayer`](auth::OAuthLayer): the gateway check as a tower `Layer` |
//! | [`limit`] | rate limits: issuance per client ([`IssueLimits`](limit::IssueLimits)), failed authentications per address ([`FailedAuthLayer`](limit::FailedAuthLayer)) |
//! | [`forwarded`] | [`TrustedProxies`](forwarded::TrustedProxies): which peers may name the client, scheme and host (`X-Forwarded-For`, RFC 7239 `Forwarded`) |
//! | [`host`] | [`request_host`](host::request_host): the validated host and port a request is for |
//! | [`proxy`] | [`ReverseProxy`](proxy::ReverseProxy): a pooled reverse proxy to one HTTP or HTTPS upstream, as a `tower::Service` |
//! | [`tls`] | rustls configurations: listeners with a reloadable certificate and optional client certificates, verified clients |
//! | `server`, `loadtest` | (feature `cli`) the `tokengate` binary's server and its `loadtest` command |
//!
//! Cargo features: `sqlite` (default) for the embedded store, `postgres` for the PostgreSQL
//! store, `cli` (default) for the `tokengate` binary, `full` for everything.
//!
//! ## Example
//!
//! Issue a token and look it up, as the JSON-RPC methods `createAccessToken` and
//! `fetchAccessToken` do:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use tokengate::model::{Client, ClientStatus, Service};
//! use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
//! use tokengate::secret::Pepper;
//! use tokengate::store::{MemoryStore, Store};
//!
//! let store = Arc::new(MemoryStore::new());
//! let pepper = Pepper::new(b"keep me outside the database".to_vec());
//! store.put_service(&Service::new("rmeqcgpw3zu2y47y9bs8vs2h", "Reviews API")).await?;
//! store.put_client(&Client {
//!     id: 12346, external_id: None, name: "Reviews Web".into(), attributes: None,
//!     client_id: "tkr7f25gd6452zy8rjsf7bwd".into(),
//!     secret_hash: Some(pepper.hash_secret("q13rupuifd")),
//!     redirect_uris: vec![], services: vec!["rmeqcgpw3zu2y47y9bs8vs2h".into()],
//!     status: ClientStatus::Active, allowed_scopes: None,
//! }).await?;
//!
//! let tokens = TokenService::new(store, pepper);
//! let issued = tokens.create_access_token(
//!     "rmeqcgpw3zu2y47y9bs8vs2h",
//!     &ClientCredentials::new("tkr7f25gd6452zy8rjsf7bwd", "q13rupuifd"),
//!     &TokenRequest { scope: Some("read".into()), ..TokenRequest::grant("password") },
//!     None,
//!     Some("user12345"),
//! ).await?;
//! let info = tokens.fetch_access_token("rmeqcgpw3zu2y47y9bs8vs2h", &issued.access_token).await?;
//! assert_eq!(info.user_context.as_deref(), Some("user12345"));
//! assert!(info.has_scope("read"));
//! # Ok::<_, tokengate::Error>(()) }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod alias;
pub mod auth;
mod error;
pub mod forwarded;
pub mod host;
pub mod limit;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod loadtest;
mod media_type;
pub mod model;
pub mod oauth;
pub mod path;
pub mod proxy;
pub mod resolve;
pub mod rest;
pub mod route;
pub mod rpc;
pub mod secret;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod server;
pub mod store;
mod striped;
pub mod tls;

pub use error::Error;

/// The Rust examples of the README, compiled as doctests.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The Rust examples of `docs/library.md`, compiled as doctests.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../docs/library.md")]
struct LibraryDoctests;

/// The boxed error of the crate's body and I/O plumbing (hyper's, tower's convention).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future: what the services whose futures are not worth naming return.
pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
