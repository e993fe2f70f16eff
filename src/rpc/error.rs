//! JSON-RPC error objects: the standard codes and Mashery's `-2001` OAuth error.

use std::time::Duration;

use serde_json::{json, Value};

use crate::limit::retry_after_secs;
use crate::oauth::{ErrorCode, OAuthError};
use crate::Error;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error (the store failed); no detail is given.
pub const INTERNAL_ERROR: i64 = -32603;
/// Mashery's "An OAuth related error has occurred".
pub const OAUTH_ERROR: i64 = -2001;
/// The client is over its issuance rate limit ([`crate::limit::IssueLimits`]): a server error
/// of the range JSON-RPC 2.0 leaves to implementations (429 read backwards into it). `data` is
/// `{"error": "slow_down", "error_description": …, "retry_after": <seconds>}`; the HTTP status
/// stays 200. Try again after `retry_after` seconds.
pub const RATE_LIMITED: i64 = -32029;

/// An error answer: code, message and optional members beside them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    code: i64,
    message: String,
    /// The `data` member.
    data: Option<Value>,
    /// Whether `data` is mirrored under `error` (Mashery's second placement).
    mirrored: bool,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
            mirrored: false,
        }
    }

    pub(crate) fn parse() -> Self {
        Self::new(PARSE_ERROR, "Parse error")
    }

    pub(crate) fn invalid_request(message: &str) -> Self {
        Self::new(INVALID_REQUEST, format!("Invalid Request: {message}"))
    }

    pub(crate) fn method_not_found() -> Self {
        Self::new(METHOD_NOT_FOUND, "Method not found")
    }

    pub(crate) fn invalid_params(message: impl std::fmt::Display) -> Self {
        Self::new(INVALID_PARAMS, format!("Invalid params: {message}"))
    }

    /// Mashery's OAuth error: the nested `{error, error_description, error_response}` object
    /// placed under both `data` and `error`, the two placements Mashery documents.
    pub(crate) fn oauth(e: &OAuthError, nested_error: Value) -> Self {
        RpcError {
            code: OAUTH_ERROR,
            message: e.description().to_owned(),
            data: Some(json!({
                "error": nested_error,
                "error_description": e.description(),
                "error_response": null,
            })),
            mirrored: true,
        }
    }

    /// [`RATE_LIMITED`], with the wait in `data.retry_after` (whole seconds, rounded up).
    pub(crate) fn rate_limited(wait: Duration) -> Self {
        RpcError {
            data: Some(json!({
                "error": "slow_down",
                "error_description": "Too many token requests for this client; try again later",
                "retry_after": retry_after_secs(wait),
            })),
            ..Self::new(RATE_LIMITED, "Rate limit exceeded")
        }
    }

    /// Maps a core error: OAuth failures to `-2001` (an invalid token to Mashery's nested
    /// `404`), rate limits to [`RATE_LIMITED`], anything else to `-32603` without detail.
    pub(crate) fn from_error(e: &Error) -> Self {
        match e.oauth() {
            Some(o) if o.code() == ErrorCode::InvalidToken => RpcError::oauth(o, json!(404)),
            Some(o) => RpcError::oauth(o, json!(o.code().as_str())),
            None if e.retry_after().is_some() => {
                RpcError::rate_limited(e.retry_after().unwrap_or_default())
            }
            None => {
                tracing::error!(error = %e, "json-rpc call failed");
                Self::new(INTERNAL_ERROR, "Internal error")
            }
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut obj = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            obj["data"] = data.clone();
            if self.mirrored {
                obj["error"] = data.clone();
            }
        }
        obj
    }
}
