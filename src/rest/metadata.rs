//! RFC 8414 authorization server metadata: `GET /.well-known/oauth-authorization-server`.

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::shared::{json, ErrorReply, RestResponse};
use crate::model::{GrantType, Service};
use crate::oauth::TokenService;

/// The URLs an authorization server publishes for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrls {
    /// The issuer identifier (RFC 8414 §2): an `https` (or `http`) URL without query or
    /// fragment.
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The introspection endpoint (RFC 7662).
    pub introspection_endpoint: String,
    /// The revocation endpoint (RFC 7009).
    pub revocation_endpoint: String,
    /// The authorization endpoint, when the provider runs one (tokengate does not: the
    /// provider's login page authenticates the user and calls `createAuthorizationCode`).
    pub authorization_endpoint: Option<String>,
}

/// An RFC 8414 metadata document, derived from a service's settings by
/// [`AuthorizationServerMetadata::for_service`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// `client_secret_basic`, `client_secret_post` and `none` (public clients).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// The grants the service enables: `authorization_code`, `implicit`,
    /// `client_credentials` and `refresh_token` when refresh tokens are on. `password` is
    /// never listed: the token endpoint has no way to check a user's password.
    pub grant_types_supported: Vec<String>,
    /// `code` with the authorization code grant, `token` with the implicit grant.
    pub response_types_supported: Vec<String>,
    /// The introspection endpoint.
    pub introspection_endpoint: String,
    /// `client_secret_basic` and `client_secret_post`: confidential clients only.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// The revocation endpoint.
    pub revocation_endpoint: String,
    /// `client_secret_basic`, `client_secret_post` and `none` (public clients).
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `S256` with the authorization code grant (`plain` is refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// The scopes the service declares ([`Service::scopes`]), when it declares them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
}

impl AuthorizationServerMetadata {
    /// The metadata of `service` published at `urls`.
    ///
    /// ```
    /// use tokengate::model::{GrantType, Service};
    /// use tokengate::rest::{AuthorizationServerMetadata, EndpointUrls};
    ///
    /// let mut service = Service::new("svc", "API");
    /// service.grants = vec![GrantType::ClientCredentials];
    /// let urls = EndpointUrls {
    ///     issuer: "https://auth.example.com".into(),
    ///     token_endpoint: "https://auth.example.com/oauth2/token".into(),
    ///     introspection_endpoint: "https://auth.example.com/oauth2/introspect".into(),
    ///     revocation_endpoint: "https://auth.example.com/oauth2/revoke".into(),
    ///     authorization_endpoint: None,
    /// };
    /// let metadata = AuthorizationServerMetadata::for_service(&service, &urls);
    /// assert_eq!(metadata.grant_types_supported, ["client_credentials", "refresh_token"]);
    /// assert!(metadata.response_types_supported.is_empty());
    /// assert_eq!(metadata.scopes_supported, None);
    /// ```
    pub fn for_service(service: &Service, urls: &EndpointUrls) -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        let grant_types_supported = [
            GrantType::AuthorizationCode,
            GrantType::Implicit,
            GrantType::ClientCredentials,
            GrantType::RefreshToken,
        ]
        .into_iter()
        .filter(|g| service.allows(*g))
        .map(|g| g.as_str().to_owned())
        .collect();
        let codes = service.allows(GrantType::AuthorizationCode);
        let mut response_types_supported = Vec::new();
        if codes {
            response_types_supported.push("code".to_owned());
        }
        if service.allows(GrantType::Implicit) {
            response_types_supported.push("token".to_owned());
        }
        AuthorizationServerMetadata {
            issuer: urls.issuer.clone(),
            authorization_endpoint: urls.authorization_endpoint.clone(),
            token_endpoint: urls.token_endpoint.clone(),
            token_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ]),
            grant_types_supported,
            response_types_supported,
            introspection_endpoint: urls.introspection_endpoint.clone(),
            introspection_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
            ]),
            revocation_endpoint: urls.revocation_endpoint.clone(),
            revocation_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ]),
            code_challenge_methods_supported: if codes {
                strings(&["S256"])
            } else {
                Vec::new()
            },
            scopes_supported: service.scopes.clone(),
        }
    }
}

/// The RFC 8414 metadata of one service, as a `tower::Service` with `Error = Infallible`: `GET`
/// (or `HEAD`) answers [`AuthorizationServerMetadata`] as JSON, derived from the service's
/// settings in the store at each request, so enabling a grant shows at once. Other methods get
/// 405; a service missing from the store 404; a store failure 503 with `Retry-After`.
///
/// It answers every request it is given: mount it at `/.well-known/oauth-authorization-server`
/// (followed by the issuer's path, RFC 8414 §3.1), or let
/// [`PublicEndpoints`](super::PublicEndpoints) route to it.
#[derive(Debug, Clone)]
pub struct MetadataEndpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tokens: Arc<TokenService>,
    service_key: String,
    urls: EndpointUrls,
}

impl MetadataEndpoint {
    /// The metadata of the service `service_key`, published at `urls`.
    pub fn new(
        tokens: Arc<TokenService>,
        service_key: impl Into<String>,
        urls: EndpointUrls,
    ) -> Self {
        MetadataEndpoint {
            inner: Arc::new(Inner {
                tokens,
                service_key: service_key.into(),
                urls,
            }),
        }
    }

    /// The URLs this endpoint publishes.
    pub fn urls(&self) -> &EndpointUrls {
        &self.inner.urls
    }

    pub(crate) async fn handle<B>(&self, req: Request<B>) -> RestResponse {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return ErrorReply::method_not_allowed("GET, HEAD").into_response();
        }
        let inner = &self.inner;
        match inner.tokens.store().service(&inner.service_key).await {
            Ok(Some(service)) => json(
                StatusCode::OK,
                &AuthorizationServerMetadata::for_service(&service, &inner.urls),
            ),
            Ok(None) => ErrorReply::not_found("Unknown service").into_response(),
            Err(e) => ErrorReply::from_error(&e).into_response(),
        }
    }
}

super::endpoint_service!(MetadataEndpoint);
