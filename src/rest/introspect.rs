//! RFC 7662 token introspection: `POST /oauth2/introspect`.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body::Body;
use serde::Serialize;

use super::shared::{
    authorization, client_credentials, json, json_bytes, no_store, read_form, BoxError, ErrorReply,
    Form, RestResponse,
};
use super::DEFAULT_MAX_FORM_BYTES;
use crate::oauth::{Introspection, Introspector, TokenKind, TokenService};
use crate::rpc::{Credentials, Verdict};

/// The answer for every token that is not active, byte for byte (RFC 7662 §2.2).
pub const INACTIVE: &[u8] = br#"{"active":false}"#;

/// The RFC 7662 introspection endpoint of one service, as a `tower::Service` with
/// `Error = Infallible`. It answers every request it is given: mount it at the path
/// (`/oauth2/introspect`), or let [`PublicEndpoints`](super::PublicEndpoints) route to it.
///
/// * `POST` with a form body carrying `token` and optionally `token_type_hint`
///   (`access_token` or `refresh_token`; it only decides which kind is looked up first).
/// * The caller must authenticate: as a confidential client registered for the service
///   (typically the resource server; HTTP Basic or `client_id` + `client_secret` in the body,
///   not both), or with the admin credentials ([`Credentials`], HTTP Basic) when
///   [`IntrospectionEndpoint::admin_credentials`] names them. Otherwise 401 `invalid_client`
///   with `WWW-Authenticate: Basic`.
/// * An active access or refresh token of the service: `{"active": true, "scope", "client_id",
///   "username" (the user context), "token_type", "exp", "iat", "sub" (the user context, or the
///   client), "aud" (the service key), "iss"}`. `token_type` is `bearer` or `mac` for access
///   tokens and `refresh_token` for refresh tokens; `exp` and `iat` are seconds since the
///   epoch; members without a value are left out.
/// * Anything else (unknown, expired, revoked, a rotated refresh token, another service's
///   token): exactly [`INACTIVE`], `{"active":false}`.
///
/// Every answer carries `Cache-Control: no-store`; a store failure is 503 with `Retry-After`.
#[derive(Debug, Clone)]
pub struct IntrospectionEndpoint {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    tokens: Arc<TokenService>,
    service_key: String,
    issuer: String,
    admin: Credentials,
    max_body: usize,
}

#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    token_type: &'a str,
    exp: i64,
    iat: i64,
    sub: &'a str,
    aud: &'a str,
    iss: &'a str,
}

impl IntrospectionEndpoint {
    /// The introspection endpoint of the service `service_key`, naming `issuer` as `iss`.
    /// Only clients may call it until [`IntrospectionEndpoint::admin_credentials`] adds admins.
    pub fn new(
        tokens: Arc<TokenService>,
        service_key: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Self {
        IntrospectionEndpoint {
            inner: Arc::new(Inner {
                tokens,
                service_key: service_key.into(),
                issuer: issuer.into(),
                admin: Credentials::default(),
                max_body: DEFAULT_MAX_FORM_BYTES,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Also accepts callers presenting these admin credentials with HTTP Basic.
    pub fn admin_credentials(mut self, credentials: Credentials) -> Self {
        self.inner_mut().admin = credentials;
        self
    }

    /// Largest request body (default [`DEFAULT_MAX_FORM_BYTES`]); larger ones get 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.inner_mut().max_body = limit;
        self
    }

    pub(crate) async fn handle<B>(&self, req: Request<B>) -> RestResponse
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let res = match self.inner.introspect(req).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        };
        no_store(res)
    }
}

impl Inner {
    async fn introspect<B>(&self, req: Request<B>) -> Result<RestResponse, ErrorReply>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let (headers, form) = read_form(req, self.max_body).await?;
        let token = form
            .get("token")
            .ok_or_else(|| ErrorReply::invalid_request("token is required"))?;
        let hint = form.get("token_type_hint").and_then(TokenKind::from_hint);
        let client = self.caller(&headers, &form)?;
        let caller = match &client {
            Some(client) => Introspector::Client(client),
            None => Introspector::Admin,
        };
        let found = self
            .tokens
            .introspect(&self.service_key, caller, token, hint)
            .await
            .map_err(|e| ErrorReply::from_error(&e))?;
        Ok(match found {
            Some(active) => json(StatusCode::OK, &self.active(&active)),
            None => json_bytes(StatusCode::OK, Bytes::from_static(INACTIVE)),
        })
    }

    /// The client credentials of the caller, or `None` for an authenticated admin.
    fn caller(
        &self,
        headers: &HeaderMap,
        form: &Form,
    ) -> Result<Option<crate::oauth::ClientCredentials>, ErrorReply> {
        let admin = authorization(headers)?.is_some_and(|h| {
            !self.admin.is_empty() && self.admin.check(Some(h.as_bytes()), None) == Verdict::Allowed
        });
        if admin {
            if form.get("client_id").is_some() || form.get("client_secret").is_some() {
                return Err(ErrorReply::invalid_request(
                    "Credentials in both the Authorization header and the body",
                ));
            }
            return Ok(None);
        }
        client_credentials(headers, form)?
            .map(Some)
            .ok_or_else(|| ErrorReply::invalid_client("Client authentication required"))
    }

    fn active<'a>(&'a self, found: &'a Introspection) -> Active<'a> {
        let record = &found.record;
        Active {
            active: true,
            scope: record.scope.as_deref(),
            client_id: &record.client_id,
            username: record.user_context.as_deref(),
            token_type: match found.kind {
                TokenKind::AccessToken => record.token_type.as_str(),
                TokenKind::RefreshToken => TokenKind::RefreshToken.as_str(),
            },
            exp: found.expires_at.div_euclid(1000),
            iat: record.created_at.div_euclid(1000),
            sub: record.owner(),
            aud: &record.service_key,
            iss: &self.issuer,
        }
    }
}

super::endpoint_service!(IntrospectionEndpoint);
