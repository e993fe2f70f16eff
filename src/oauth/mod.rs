//! The transport-free OAuth core: [`TokenService`] and its inputs, outputs and errors.

mod admin;
mod error;
mod introspect;
mod issue;
mod manage;
mod registry;
mod revoke;
mod service;
mod types;
mod validate;

pub use admin::TokenStatus;
pub use error::{ErrorCode, OAuthError};
pub use introspect::{Introspection, Introspector, TokenKind};
pub use issue::CLIENT_GRANTS;
pub use registry::{RotatedSecret, TokenOwner, MAX_SECRET_GRACE_SECS};
pub use service::{InvalidationListener, TokenService};
pub use types::{
    Application, AuthorizationGrant, ClientCredentials, IssuedToken, MacExtension, PkceParams,
    RedirectTarget, TokenChanges, TokenRequest, TokenStatusFilter, UserApplication,
};
pub use validate::{MAX_SCOPE, MAX_USER_CONTEXT};
