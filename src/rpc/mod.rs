//! Mashery's JSON-RPC API: the eight `oauth2.*` methods over HTTP.
//!
//! [`JsonRpcService`] is the mountable service; [`Credentials`] authenticate its callers.
//! Error codes follow JSON-RPC ([`error`] lists them), with `-2001` for OAuth failures.

mod auth;
mod browser;
pub mod error;
mod methods;
mod params;
mod registry;
mod service;
mod wire;

pub(crate) use auth::Verdict;
pub use auth::{signature, Credentials, SIG_WINDOW_SECS};
pub use methods::iso8601;
pub use registry::{record_json, record_status};
pub use service::{JsonRpcService, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY, JSON_MEDIA_TYPES};
