//! Issuing: `fetchApplication`, `createAuthorizationCode` and `createAccessToken`.

use super::service::SecretNeed;
use super::types::{
    Application, AuthorizationGrant, ClientCredentials, IssuedToken, MacExtension, PkceParams,
    RedirectTarget, TokenRequest,
};
use super::validate::{issuable, pkce_challenge, pkce_verifies, redirect_uri, with_params};
use super::{ErrorCode, OAuthError, TokenService};
use crate::model::{
    scope, AuthorizationCode, Client, GrantType, RefreshState, Service, TokenRecord, TokenType,
};
use crate::secret::{generate_id, TokenHash};
use crate::store::{Redemption, Revocation, Rotation};
use crate::Error;

const MILLIS: i64 = 1000;

/// What a grant decided before the token is minted.
struct Grant {
    kind: GrantType,
    scope: Option<String>,
    user_context: Option<String>,
    refresh: bool,
    code_hash: Option<TokenHash>,
    /// For refresh: the refresh token being rotated and the family it belongs to.
    rotates: Option<(TokenHash, String)>,
    /// For implicit: where the token goes.
    redirect: Option<String>,
}

impl TokenService {
    /// `oauth2.fetchApplication`: checks that the client may use the service (and, when given,
    /// the redirect URI and response type) and returns the application's public data.
    pub async fn fetch_application(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        uri: Option<&RedirectTarget>,
        response_type: Option<&str>,
    ) -> Result<Application, Error> {
        let (service, app) = self
            .load_authenticated(service_key, client, SecretNeed::IfPresented)
            .await?;
        if let Some(response_type) = response_type {
            response_grant(&service, response_type)?;
        }
        if let Some(given) = uri.and_then(|u| u.redirect_uri.as_deref()) {
            redirect_uri(&service, &app, Some(given))?;
        }
        Ok(Application {
            id: app.id,
            external_id: app.external_id,
            name: app.name,
            attributes: app.attributes,
        })
    }

    /// `oauth2.createAuthorizationCode`: after the provider has authenticated the user and
    /// obtained consent, makes a single-use code and the redirect URI carrying it. Takes one
    /// unit of the client's issuance quota ([`TokenService::with_issue_limits`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_authorization_code(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        uri: Option<&RedirectTarget>,
        scope: Option<&str>,
        user_context: Option<&str>,
        response_type: Option<&str>,
        pkce: Option<&PkceParams>,
    ) -> Result<AuthorizationGrant, Error> {
        let (service, app) = self
            .load_authenticated(service_key, client, SecretNeed::IfPresented)
            .await?;
        self.check_issue_rate(&service, &app)?;
        if response_grant(&service, response_type.unwrap_or("code"))?
            != GrantType::AuthorizationCode
        {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "response_type must be code",
            )
            .into());
        }
        let scope = normalize(scope);
        let user_context = normalize(user_context);
        issuable(scope.as_deref(), user_context.as_deref())?;
        let scope = scope.as_deref().map(scope::canonical);
        check_allowed_scope(&app, scope.as_deref())?;
        let presented = uri.and_then(|u| u.redirect_uri.as_deref());
        let target = redirect_uri(&service, &app, presented)?;
        if pkce.is_none() && service.require_pkce.applies(app.is_public()) {
            // RFC 7636 §4.4.1: the authorization request lacks the required challenge.
            return Err(OAuthError::invalid_request("code_challenge required").into());
        }
        let pkce = pkce
            .map(|p| pkce_challenge(&p.code_challenge, p.code_challenge_method.as_deref()))
            .transpose()?;
        let code = self.tag_key().issue();
        self.store
            .insert_code(&AuthorizationCode {
                code_hash: TokenHash::of(&code),
                service_key: service.key.clone(),
                client_id: app.client_id.clone(),
                redirect_uri: presented.map(str::to_owned),
                scope,
                user_context,
                pkce,
                expires_at: self.now() + service.authorization_code_ttl as i64 * MILLIS,
                used: false,
            })
            .await?;
        let state = uri.and_then(|u| u.state.clone());
        let redirect = with_params(
            &target,
            &[("code", Some(&code)), ("state", state.as_deref())],
            false,
        );
        Ok(AuthorizationGrant {
            code,
            uri: RedirectTarget {
                redirect_uri: Some(redirect),
                state,
            },
        })
    }

    /// `oauth2.createAccessToken`: issues a token for the flow `token_data` names
    /// (`grant_type`, or `response_type=token` for the implicit flow). Takes one unit of the
    /// client's issuance quota ([`TokenService::with_issue_limits`]) once the client
    /// authenticated, before the code or refresh token is looked at (a refused call burns
    /// nothing).
    ///
    /// This is the provider's call (its own server, after it authenticated the user): the
    /// scope it asks for is bounded only by the client's `allowed_scopes`, when it has them.
    /// For a request the client itself sent, use [`TokenService::client_grant`].
    pub async fn create_access_token(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        token_data: &TokenRequest,
        uri: Option<&RedirectTarget>,
        user_context: Option<&str>,
    ) -> Result<IssuedToken, Error> {
        self.issue(
            service_key,
            client,
            token_data,
            uri,
            user_context,
            Caller::Provider,
        )
        .await
    }

    /// A grant the client itself asks for at the RFC 6749 token endpoint
    /// ([`CLIENT_GRANTS`]: `authorization_code`, `client_credentials`, `refresh_token`; any
    /// other is `unsupported_grant_type`, none `invalid_request`; `response_type` is not
    /// looked at), as [`TokenService::create_access_token`] otherwise.
    ///
    /// The client's word never widens what it was granted: a code or refresh token gives at
    /// most its own scope, and `client_credentials` only what
    /// [`scope::client_may_request`] allows (the client's `allowed_scopes`, the service's
    /// declared scopes, or any scope only when the service says
    /// [`Service::any_scope`]); beyond that the answer is `invalid_scope`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use tokengate::model::{Client, ClientStatus, Service};
    /// use tokengate::oauth::{ClientCredentials, ErrorCode, TokenRequest, TokenService};
    /// use tokengate::secret::Pepper;
    /// use tokengate::store::{MemoryStore, Store};
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let pepper = Pepper::new(b"a pepper kept outside the db".to_vec());
    /// store.put_service(&Service::new("svc", "Reviews API")).await?;
    /// store.put_client(&Client {
    ///     id: 1, external_id: None, name: "App".into(), attributes: None,
    ///     client_id: "app".into(), secret_hash: Some(pepper.hash_secret("s3cret")),
    ///     redirect_uris: vec![], services: vec!["svc".into()],
    ///     status: ClientStatus::Active, allowed_scopes: Some(vec!["read".into()]),
    /// }).await?;
    /// let tokens = TokenService::new(store, pepper);
    /// let app = ClientCredentials::new("app", "s3cret");
    /// let ask = |scope: &str| TokenRequest {
    ///     scope: Some(scope.into()),
    ///     ..TokenRequest::grant("client_credentials")
    /// };
    /// let issued = tokens.client_grant("svc", &app, &ask("read read"), None).await?;
    /// assert_eq!(issued.scope.as_deref(), Some("read"));
    /// let refused = tokens.client_grant("svc", &app, &ask("read admin"), None).await.unwrap_err();
    /// assert_eq!(refused.oauth().map(|e| e.code()), Some(ErrorCode::InvalidScope));
    /// # Ok::<_, tokengate::Error>(()) }).unwrap();
    /// ```
    pub async fn client_grant(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        token_data: &TokenRequest,
        uri: Option<&RedirectTarget>,
    ) -> Result<IssuedToken, Error> {
        let Some(named) = token_data.grant_type.as_deref() else {
            return Err(OAuthError::invalid_request("grant_type is required").into());
        };
        if !named
            .parse()
            .is_ok_and(|g: GrantType| CLIENT_GRANTS.contains(&g))
        {
            return Err(
                OAuthError::new(ErrorCode::UnsupportedGrantType, "Unsupported grant type").into(),
            );
        }
        self.issue(service_key, client, token_data, uri, None, Caller::Client)
            .await
    }

    async fn issue(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        token_data: &TokenRequest,
        uri: Option<&RedirectTarget>,
        user_context: Option<&str>,
        caller: Caller,
    ) -> Result<IssuedToken, Error> {
        let (service, app) = self.load_service_and_client(service_key, client).await?;
        let kind = requested_grant(&service, token_data)?;
        let need = match kind {
            GrantType::Implicit => SecretNeed::IfPresented,
            GrantType::ClientCredentials => SecretNeed::Confidential,
            _ => SecretNeed::IfConfidential,
        };
        let app = self.check_client(&service, app, client, need).await?;
        self.check_issue_rate(&service, &app)?;
        let user_context = normalize(user_context);
        let requested_scope = normalize(token_data.scope.as_deref());
        issuable(requested_scope.as_deref(), user_context.as_deref())?;
        let requested_scope = requested_scope.as_deref().map(scope::canonical);
        let grant = match kind {
            GrantType::AuthorizationCode => {
                self.redeem(
                    &service,
                    &app,
                    token_data,
                    uri,
                    requested_scope,
                    user_context,
                )
                .await?
            }
            GrantType::RefreshToken => {
                self.refresh(&service, &app, token_data, requested_scope)
                    .await?
            }
            GrantType::Implicit => Grant {
                kind,
                scope: requested_scope,
                user_context,
                refresh: false,
                code_hash: None,
                rotates: None,
                redirect: Some(redirect_uri(
                    &service,
                    &app,
                    uri.and_then(|u| u.redirect_uri.as_deref()),
                )?),
            },
            GrantType::Password => {
                if user_context.is_none() {
                    return Err(OAuthError::invalid_request(
                        "user_context is required for the password grant",
                    )
                    .into());
                }
                fresh(kind, requested_scope, user_context, service.refresh_tokens)
            }
            GrantType::ClientCredentials => {
                let asked = requested_scope.as_deref().unwrap_or("");
                if caller == Caller::Client && !scope::client_may_request(&service, &app, asked) {
                    return Err(invalid_scope().into());
                }
                fresh(kind, requested_scope, user_context, false)
            }
        };
        check_allowed_scope(&app, grant.scope.as_deref())?;
        let state = token_data
            .state
            .clone()
            .or_else(|| uri.and_then(|u| u.state.clone()));
        self.mint(&service, &app, grant, state).await
    }

    /// Checks an authorization code for redemption: same service, client and redirect URI,
    /// unexpired, PKCE verified, no wider scope. A failed check burns the code; a code used
    /// before is a replay and revokes every token it issued.
    ///
    /// The code is marked used only once its token is stored ([`Self::mint`]): a concurrent
    /// redemption that then finds it used revokes by code, and so always finds that token.
    async fn redeem(
        &self,
        service: &Service,
        app: &Client,
        token_data: &TokenRequest,
        uri: Option<&RedirectTarget>,
        requested_scope: Option<String>,
        user_context: Option<String>,
    ) -> Result<Grant, Error> {
        let code = token_data
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let code_hash = self.lookup_hash(code).ok_or_else(invalid_code)?;
        let code = match self.store.code(&code_hash).await? {
            None => return Err(invalid_code().into()),
            Some(code) if code.used => {
                self.code_replayed(&code_hash).await?;
                return Err(invalid_code().into());
            }
            Some(code) => code,
        };
        let presented = uri.and_then(|u| u.redirect_uri.as_deref());
        let same_redirect = match &code.redirect_uri {
            Some(expected) => presented == Some(expected.as_str()),
            None => true,
        };
        let verified = match (&code.pkce, token_data.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) => pkce_verifies(challenge, verifier),
            (Some(_), None) => false,
            (None, Some(_)) => false,
            // A code made without a challenge (before the service required one).
            (None, None) => !service.require_pkce.applies(app.is_public()),
        };
        if code.service_key != service.key
            || code.client_id != app.client_id
            || code.expires_at <= self.now()
            || !same_redirect
            || !verified
        {
            self.burn_code(&code_hash).await?;
            return Err(invalid_code().into());
        }
        let scope = match requested_scope {
            Some(s) if !scope::is_subset(&s, code.scope.as_deref().unwrap_or("")) => {
                self.burn_code(&code_hash).await?;
                return Err(invalid_scope().into());
            }
            Some(s) => Some(s),
            None => code.scope,
        };
        Ok(Grant {
            code_hash: Some(code_hash),
            ..fresh(
                GrantType::AuthorizationCode,
                scope,
                code.user_context.or(user_context),
                service.refresh_tokens,
            )
        })
    }

    /// Marks a code used after a failed redemption; if it was used already, that is a replay.
    async fn burn_code(&self, code_hash: &TokenHash) -> Result<(), Error> {
        match self.store.redeem_code(code_hash).await? {
            Redemption::Replayed(_) => self.code_replayed(code_hash).await,
            Redemption::Fresh(_) | Redemption::Unknown => Ok(()),
        }
    }

    /// A code presented after its redemption: revokes every token it issued.
    async fn code_replayed(&self, code_hash: &TokenHash) -> Result<(), Error> {
        let revoked = self.store.revoke(Revocation::Code(code_hash)).await?;
        tracing::warn!(
            tokens = revoked.len(),
            "authorization code replayed; revoked what it issued"
        );
        self.invalidated(&revoked).await;
        Ok(())
    }

    /// Checks a refresh token; the rotation itself happens atomically in [`Self::mint`].
    async fn refresh(
        &self,
        service: &Service,
        app: &Client,
        token_data: &TokenRequest,
        requested_scope: Option<String>,
    ) -> Result<Grant, Error> {
        let invalid = || OAuthError::invalid_grant("Invalid refresh token");
        let presented = token_data
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let hash = self.lookup_hash(presented).ok_or_else(invalid)?;
        let record = self
            .store
            .token_by_refresh(&hash)
            .await?
            .filter(|r| r.service_key == service.key && r.client_id == app.client_id)
            .ok_or_else(invalid)?;
        let refresh = record.refresh.as_ref().ok_or_else(invalid)?;
        if refresh.used {
            self.revoke_family(&record.family_id).await?;
            return Err(invalid().into());
        }
        if record.revoked || refresh.expires_at <= self.now() {
            return Err(invalid().into());
        }
        let scope = match requested_scope {
            Some(s) if !scope::is_subset(&s, record.scope.as_deref().unwrap_or("")) => {
                return Err(invalid_scope().into())
            }
            Some(s) => Some(s),
            None => record.scope.clone(),
        };
        Ok(Grant {
            code_hash: record.code_hash,
            rotates: Some((hash, record.family_id.clone())),
            ..fresh(
                GrantType::RefreshToken,
                scope,
                record.user_context.clone(),
                true,
            )
        })
    }

    async fn revoke_family(&self, family_id: &str) -> Result<(), Error> {
        let revoked = self.store.revoke(Revocation::Family(family_id)).await?;
        tracing::warn!(
            tokens = revoked.len(),
            "refresh token reused; revoked its family"
        );
        self.invalidated(&revoked).await;
        Ok(())
    }

    /// Makes the token, stores its record (rotating the refresh token when asked) and shapes
    /// the answer.
    async fn mint(
        &self,
        service: &Service,
        app: &Client,
        grant: Grant,
        state: Option<String>,
    ) -> Result<IssuedToken, Error> {
        if !service.allow_multiple_tokens {
            let revoked = self
                .store
                .revoke(Revocation::UserApplication {
                    service_key: &service.key,
                    client_id: &app.client_id,
                    user_context: grant.user_context.as_deref(),
                })
                .await?;
            self.invalidated(&revoked).await;
        }
        let now = self.now();
        let access_token = self.tag_key().issue();
        let refresh_token = grant.refresh.then(|| self.tag_key().issue());
        let id = generate_id();
        let record = TokenRecord {
            family_id: grant
                .rotates
                .as_ref()
                .map_or_else(|| id.clone(), |(_, family)| family.clone()),
            id,
            token_hash: TokenHash::of(&access_token),
            service_key: service.key.clone(),
            client_id: app.client_id.clone(),
            token_type: service.token_type,
            grant_type: grant.kind,
            scope: grant.scope,
            user_context: grant.user_context,
            created_at: now,
            expires_at: now + service.access_token_ttl as i64 * MILLIS,
            revoked: false,
            refresh: refresh_token.as_deref().map(|r| RefreshState {
                hash: TokenHash::of(r),
                expires_at: now + service.refresh_token_ttl as i64 * MILLIS,
                used: false,
            }),
            code_hash: grant.code_hash,
        };
        match &grant.rotates {
            None => {
                self.store.insert_token(&record).await?;
                // A code is marked used only now that its token is stored (see `redeem`); if
                // another redemption got there first, this one is the replay.
                if let (GrantType::AuthorizationCode, Some(code_hash)) =
                    (grant.kind, &grant.code_hash)
                {
                    if !matches!(
                        self.store.redeem_code(code_hash).await?,
                        Redemption::Fresh(_)
                    ) {
                        self.code_replayed(code_hash).await?;
                        return Err(invalid_code().into());
                    }
                }
            }
            Some((old, family)) => match self.store.rotate_refresh(old, &record).await? {
                Rotation::Rotated => {}
                Rotation::Reused => {
                    self.revoke_family(family).await?;
                    return Err(OAuthError::invalid_grant("Invalid refresh token").into());
                }
                Rotation::Unknown => {
                    return Err(OAuthError::invalid_grant("Invalid refresh token").into())
                }
            },
        }
        let extended = match service.token_type {
            TokenType::Mac(alg) => Some(MacExtension {
                secret: self.pepper.mac_secret(&access_token),
                algorithm: alg.as_str(),
            }),
            TokenType::Bearer => None,
        };
        let expires_in = service.access_token_ttl;
        let uri = grant.redirect.map(|base| {
            let expires = expires_in.to_string();
            RedirectTarget {
                redirect_uri: Some(with_params(
                    &base,
                    &[
                        ("access_token", Some(&access_token)),
                        ("token_type", Some(service.token_type.as_str())),
                        ("expires_in", Some(&expires)),
                        ("scope", record.scope.as_deref()),
                        ("state", state.as_deref()),
                    ],
                    true,
                )),
                state: state.clone(),
            }
        });
        Ok(IssuedToken {
            return_type: if uri.is_some() { "redirect" } else { "json" },
            access_token,
            token_type: service.token_type.as_str(),
            expires_in,
            refresh_token,
            scope: record.scope,
            state,
            uri,
            extended,
        })
    }
}

/// The grants a client may ask for itself at the RFC 6749 token endpoint
/// ([`TokenService::client_grant`]); `password` and `implicit` are the provider's.
pub const CLIENT_GRANTS: [GrantType; 3] = [
    GrantType::AuthorizationCode,
    GrantType::ClientCredentials,
    GrantType::RefreshToken,
];

/// Who asks for a token: how far the caller's word on the scope counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The provider's own server (JSON-RPC): bounded by the client's `allowed_scopes` only.
    Provider,
    /// The client itself (the token endpoint): bounded by [`scope::client_may_request`].
    Client,
}

fn invalid_scope() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidScope, "Invalid scope")
}

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("Invalid authorization code")
}

fn fresh(
    kind: GrantType,
    scope: Option<String>,
    user_context: Option<String>,
    refresh: bool,
) -> Grant {
    Grant {
        kind,
        scope,
        user_context,
        refresh,
        code_hash: None,
        rotates: None,
        redirect: None,
    }
}

fn normalize(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The grant a `response_type` asks for, if the service enables it.
fn response_grant(service: &Service, response_type: &str) -> Result<GrantType, OAuthError> {
    let grant = match response_type {
        "code" => GrantType::AuthorizationCode,
        "token" => GrantType::Implicit,
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "Unsupported response type",
            ))
        }
    };
    if !service.allows(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            "Unsupported response type",
        ));
    }
    Ok(grant)
}

/// The grant `token_data` asks for, if the service enables it.
fn requested_grant(service: &Service, token_data: &TokenRequest) -> Result<GrantType, OAuthError> {
    let unsupported = || OAuthError::new(ErrorCode::UnsupportedGrantType, "Unsupported grant type");
    let grant = match (&token_data.grant_type, &token_data.response_type) {
        (Some(g), _) => g.parse::<GrantType>().map_err(|_| unsupported())?,
        (None, Some(r)) if r == "token" => GrantType::Implicit,
        (None, Some(_)) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "Unsupported response type",
            ))
        }
        (None, None) => return Err(OAuthError::invalid_request("grant_type is required")),
    };
    // `implicit` is a response type, never a grant_type value.
    if token_data.grant_type.is_some() && grant == GrantType::Implicit {
        return Err(unsupported());
    }
    if !service.allows(grant) {
        return Err(unsupported());
    }
    Ok(grant)
}

fn check_allowed_scope(app: &Client, scope: Option<&str>) -> Result<(), OAuthError> {
    match (&app.allowed_scopes, scope) {
        (Some(allowed), Some(scope)) if !scope::is_allowed(scope, allowed) => Err(invalid_scope()),
        _ => Ok(()),
    }
}
