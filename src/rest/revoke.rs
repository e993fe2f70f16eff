//! RFC 7009 token revocation: `POST /oauth2/revoke`.

use std::sync::Arc;

use http::{Request, StatusCode};
use http_body::Body;

use super::shared::{
    client_credentials, empty, no_store, read_form, BoxError, ErrorReply, RestResponse,
};
use super::DEFAULT_MAX_FORM_BYTES;
use crate::oauth::{TokenKind, TokenService};

/// The RFC 7009 revocation endpoint of one service, as a `tower::Service` with
/// `Error = Infallible`. It answers every request it is given: mount it at the path
/// (`/oauth2/revoke`), or let [`PublicEndpoints`](super::PublicEndpoints) route to it.
///
/// * `POST` with a form body carrying `token` and optionally `token_type_hint`
///   (`access_token` or `refresh_token`; it only decides which kind is looked up first).
/// * The client authenticates as at the token endpoint (HTTP Basic or the body, not both;
///   public clients with `client_id` alone); failures are 401 `invalid_client`.
/// * 200 with an empty body when the token was revoked, and also when it is unknown, already
///   revoked or another service's (RFC 7009 §2.2). Revoking an access token revokes it and the
///   refresh token issued with it; revoking a refresh token revokes its whole family (every
///   access and refresh token of its rotation chain).
/// * A token of the service that was issued to another client is refused with 400
///   `invalid_grant` and stays valid. RFC 7009 §2.1 says such a request is refused but names
///   no error code; `invalid_grant` is the RFC 6749 §5.2 code whose definition covers a grant
///   "issued to another client" (`unsupported_token_type` would wrongly say the kind of token
///   cannot be revoked).
///
/// Revocation goes through [`TokenService::revoke_token`], so the service's invalidation
/// listeners (the gateway's cache) forget the tokens before the answer is sent. A store
/// failure is 503 with `Retry-After`.
#[derive(Debug, Clone)]
pub struct RevocationEndpoint {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    tokens: Arc<TokenService>,
    service_key: String,
    max_body: usize,
}

impl RevocationEndpoint {
    /// The revocation endpoint of the service `service_key`.
    pub fn new(tokens: Arc<TokenService>, service_key: impl Into<String>) -> Self {
        RevocationEndpoint {
            inner: Arc::new(Inner {
                tokens,
                service_key: service_key.into(),
                max_body: DEFAULT_MAX_FORM_BYTES,
            }),
        }
    }

    /// Largest request body (default [`DEFAULT_MAX_FORM_BYTES`]); larger ones get 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.inner).max_body = limit;
        self
    }

    pub(crate) async fn handle<B>(&self, req: Request<B>) -> RestResponse
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        match self.inner.revoke(req).await {
            Ok(()) => no_store(empty(StatusCode::OK)),
            Err(e) => e.into_response(),
        }
    }
}

impl Inner {
    async fn revoke<B>(&self, req: Request<B>) -> Result<(), ErrorReply>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let (headers, form) = read_form(req, self.max_body).await?;
        let token = form
            .get("token")
            .ok_or_else(|| ErrorReply::invalid_request("token is required"))?;
        let hint = form.get("token_type_hint").and_then(TokenKind::from_hint);
        let client = client_credentials(&headers, &form)?
            .ok_or_else(|| ErrorReply::invalid_client("Client authentication required"))?;
        self.tokens
            .revoke_token(&self.service_key, &client, token, hint)
            .await
            .map_err(|e| ErrorReply::from_error(&e))
    }
}

super::endpoint_service!(RevocationEndpoint);
