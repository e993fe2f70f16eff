//! # tokengate
//!
//! An OAuth 2.0 token service compatible with Mashery's JSON-RPC `oauth2.*` API, and the parts to
//! build an API gateway around it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod model;
pub mod oauth;
pub mod secret;
#[cfg(feature = "cli")]
pub mod server;
pub mod store;

pub use error::Error;
