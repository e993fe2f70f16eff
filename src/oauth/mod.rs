//! The transport-free OAuth core: [`TokenService`] and its inputs, outputs and errors.

mod error;
mod issue;
mod manage;
mod service;
mod types;
mod validate;

pub use error::{ErrorCode, OAuthError};
pub use service::{InvalidationListener, TokenService};
pub use types::{
    Application, AuthorizationGrant, ClientCredentials, IssuedToken, MacExtension, PkceParams,
    RedirectTarget, TokenChanges, TokenRequest, TokenStatusFilter, UserApplication,
};
pub use validate::{MAX_SCOPE, MAX_USER_CONTEXT};
