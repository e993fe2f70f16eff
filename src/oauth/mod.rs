//! The transport-free OAuth core.

mod error;

pub use error::{ErrorCode, OAuthError};
