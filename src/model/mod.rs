//! The data model: services, clients, token records and authorization codes.

mod client;
mod code;
mod previous_secret;
pub mod scope;
mod service;
mod token;

pub use client::{Client, ClientStatus};
pub use code::{AuthorizationCode, PkceChallenge};
pub use previous_secret::PreviousSecret;
pub use service::{GrantType, MacAlgorithm, PkceRequirement, Service, TokenType, UnknownName};
pub use token::{RefreshState, TokenInfo, TokenRecord, TokenUpdate, UnixMillis};
