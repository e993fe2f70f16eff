//! RFC 6749 token endpoint: `POST /oauth2/token`.

use std::sync::Arc;

use http::{Request, StatusCode};
use http_body::Body;
use serde::Serialize;

use super::shared::{
    client_credentials, json, no_store, read_form, BoxError, ErrorReply, Form, RestResponse,
};
use super::DEFAULT_MAX_FORM_BYTES;
use crate::model::GrantType;
use crate::oauth::{IssuedToken, RedirectTarget, TokenRequest, TokenService, CLIENT_GRANTS};

/// The RFC 6749 token endpoint (§3.2) of one service, as a `tower::Service` with
/// `Error = Infallible`. It answers every request it is given: mount it at the path
/// (`/oauth2/token`), or let [`PublicEndpoints`](super::PublicEndpoints) route to it.
///
/// * `POST` with an `application/x-www-form-urlencoded` body only: another method gets 405
///   with `Allow: POST`, another body (JSON, …) 400 `invalid_request`. A parameter sent twice
///   is `invalid_request`.
/// * Client authentication by HTTP Basic (id and secret each form-urlencoded, §2.3.1) or
///   `client_id`/`client_secret` in the body, never both (`invalid_request`). Public clients
///   send only `client_id`. No credentials, a wrong secret or an unknown client is 401
///   `invalid_client` with `WWW-Authenticate: Basic realm="tokengate"`.
/// * Grants, when the service enables them: `authorization_code` (`code`, `redirect_uri`,
///   PKCE `code_verifier`; a replayed code revokes what it issued, a failed verifier burns the
///   code), `client_credentials` (confidential clients only) and `refresh_token` (rotated;
///   presenting a rotated one revokes the whole family). The client's word never widens a
///   scope ([`TokenService::client_grant`]): a code or refresh token gives at most its own
///   scope, `client_credentials` what the client's `allowed_scopes` or the service's declared
///   scopes allow (any scope only on a service with `any_scope`); beyond it: `invalid_scope`.
///   A public client's code created without PKCE is `invalid_grant` (the service's
///   `require_pkce`). `password` is refused with
///   `unsupported_grant_type`: this endpoint has no way to check a user's password (the
///   provider authenticates users and calls `createAccessToken` with the user context
///   instead). So are `implicit` (a response type of the authorization endpoint) and any other
///   value.
/// * Success: 200 `{access_token, token_type, expires_in, refresh_token?, scope?}` (plus
///   `mac_key` and `mac_algorithm` for MAC tokens). Errors: RFC 6749 §5.2 JSON
///   `{error, error_description}`, 400 (401 for `invalid_client`), 429 `slow_down` with
///   `Retry-After` when the client is over its issuance limit
///   ([`TokenService::with_issue_limits`]), or 503 `temporarily_unavailable` with `Retry-After`
///   when the store fails. Every answer carries `Cache-Control: no-store` and
///   `Pragma: no-cache`.
///
/// ```
/// use std::sync::Arc;
/// use tokengate::oauth::TokenService;
/// use tokengate::rest::TokenEndpoint;
/// use tokengate::secret::Pepper;
/// use tokengate::store::MemoryStore;
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let endpoint = TokenEndpoint::new(tokens, "rmeqcgpw3zu2y47y9bs8vs2h").max_body_bytes(16 * 1024);
/// // axum: Router::new().route_service("/oauth2/token", endpoint)
/// # let _ = endpoint;
/// ```
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    tokens: Arc<TokenService>,
    service_key: String,
    max_body: usize,
}

/// The RFC 6749 §5.1 answer.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'a str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_algorithm: Option<&'a str>,
}

impl TokenEndpoint {
    /// The token endpoint of the service `service_key`.
    pub fn new(tokens: Arc<TokenService>, service_key: impl Into<String>) -> Self {
        TokenEndpoint {
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

    /// The service this endpoint issues tokens for.
    pub fn service_key(&self) -> &str {
        &self.inner.service_key
    }

    pub(crate) async fn handle<B>(&self, req: Request<B>) -> RestResponse
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        match self.inner.issue(req).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        }
    }
}

impl Inner {
    async fn issue<B>(&self, req: Request<B>) -> Result<RestResponse, ErrorReply>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let (headers, form) = read_form(req, self.max_body).await?;
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| ErrorReply::invalid_request("grant_type is required"))?;
        let known = grant_type.parse::<GrantType>().ok();
        if !known.is_some_and(|g| CLIENT_GRANTS.contains(&g)) {
            return Err(ErrorReply::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            ));
        }
        let client = client_credentials(&headers, &form)?
            .ok_or_else(|| ErrorReply::invalid_client("Client authentication required"))?;
        let request = token_request(grant_type, &form);
        let redirect = form.get("redirect_uri").map(RedirectTarget::uri);
        let issued = self
            .tokens
            .client_grant(&self.service_key, &client, &request, redirect.as_ref())
            .await
            .map_err(|e| ErrorReply::from_error(&e))?;
        Ok(no_store(json(StatusCode::OK, &response(&issued))))
    }
}

/// The core's `token_data` for a grant: only the parameters that grant defines.
fn token_request(grant_type: &str, form: &Form) -> TokenRequest {
    let param = |name| form.get(name).map(str::to_owned);
    let mut request = TokenRequest {
        scope: param("scope"),
        ..TokenRequest::grant(grant_type)
    };
    match grant_type {
        "authorization_code" => {
            request.code = param("code");
            request.code_verifier = param("code_verifier");
        }
        "refresh_token" => request.refresh_token = param("refresh_token"),
        _ => {}
    }
    request
}

fn response(issued: &IssuedToken) -> TokenResponse<'_> {
    TokenResponse {
        access_token: &issued.access_token,
        token_type: issued.token_type,
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token.as_deref(),
        scope: issued.scope.as_deref(),
        mac_key: issued.extended.as_ref().map(|m| m.secret.as_str()),
        mac_algorithm: issued.extended.as_ref().map(|m| m.algorithm),
    }
}

super::endpoint_service!(TokenEndpoint);
