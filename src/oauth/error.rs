//! OAuth protocol errors (RFC 6749 §5.2, RFC 6750 §3.1).

use std::borrow::Cow;
use std::fmt;

/// The RFC error code of an [`OAuthError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: a parameter is missing, repeated, malformed or unacceptable.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: the code or refresh token is invalid, expired, used or not the client's.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this service or grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the grant is unknown or disabled on the service.
    UnsupportedGrantType,
    /// `unsupported_response_type`: the response type is unknown or disabled.
    UnsupportedResponseType,
    /// `invalid_scope`: the scope is wider than allowed.
    InvalidScope,
    /// `invalid_token` (RFC 6750): the access token is unknown, expired, revoked or another
    /// service's.
    InvalidToken,
}

impl ErrorCode {
    /// The RFC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidToken => "invalid_token",
        }
    }
}

/// An OAuth failure caused by the request: an RFC error code and a human readable description
/// (Mashery's error message, e.g. "Invalid client identifier").
///
/// ```
/// use tokengate::oauth::{ErrorCode, OAuthError};
/// let e = OAuthError::new(ErrorCode::InvalidGrant, "Invalid authorization code");
/// assert_eq!(e.code().as_str(), "invalid_grant");
/// assert_eq!(e.description(), "Invalid authorization code");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    code: ErrorCode,
    description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with a code and description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// The RFC error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub(crate) fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub(crate) fn invalid_token() -> Self {
        Self::new(ErrorCode::InvalidToken, "Invalid Access Token")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}
