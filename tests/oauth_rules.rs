//! Every rule of the OAuth core, run against each store backend.

mod common;

use std::sync::Arc;

use common::*;
use tokengate::model::{GrantType, MacAlgorithm, TokenType};
use tokengate::oauth::{
    ClientCredentials, ErrorCode, IssuedToken, PkceParams, RedirectTarget, TokenChanges,
    TokenRequest, TokenService, TokenStatusFilter,
};
use tokengate::store::Store;

fn web() -> ClientCredentials {
    ClientCredentials::new(WEB_CLIENT, WEB_SECRET)
}

fn code_of(e: tokengate::Error) -> ErrorCode {
    e.oauth()
        .unwrap_or_else(|| panic!("not an OAuth error: {e:?}"))
        .code()
}

async fn authorize(tokens: &TokenService, scope: &str, pkce: Option<&PkceParams>) -> String {
    tokens
        .create_authorization_code(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            Some(&RedirectTarget::uri(REDIRECT)),
            Some(scope),
            Some("user12345"),
            Some("code"),
            pkce,
        )
        .await
        .unwrap()
        .code
}

fn code_request(code: &str) -> TokenRequest {
    TokenRequest {
        code: Some(code.into()),
        ..TokenRequest::grant("authorization_code")
    }
}

async fn redeem(
    tokens: &TokenService,
    req: &TokenRequest,
) -> Result<IssuedToken, tokengate::Error> {
    tokens
        .create_access_token(
            SERVICE,
            &web(),
            req,
            Some(&RedirectTarget::uri(REDIRECT)),
            None,
        )
        .await
}

async fn password_token(tokens: &TokenService, user: &str, scope: Option<&str>) -> IssuedToken {
    let req = TokenRequest {
        scope: scope.map(Into::into),
        ..TokenRequest::grant("password")
    };
    tokens
        .create_access_token(SERVICE, &web(), &req, None, Some(user))
        .await
        .unwrap()
}

fn refresh_request(refresh: &str, scope: Option<&str>) -> TokenRequest {
    TokenRequest {
        refresh_token: Some(refresh.into()),
        scope: scope.map(Into::into),
        ..TokenRequest::grant("refresh_token")
    }
}

async fn fetch_application_checks_client_uri_and_response_type(store: Arc<dyn Store>) {
    let (tokens, _) =
        token_service(store, |s| s.grants.retain(|g| *g != GrantType::Implicit)).await;
    let app = tokens
        .fetch_application(
            SERVICE,
            &ClientCredentials::public(PUBLIC_CLIENT),
            None,
            Some("code"),
        )
        .await
        .unwrap();
    assert_eq!(
        (app.id, app.name.as_str(), app.external_id),
        (12345, "OAuth 2.0 Test App", None)
    );
    let unknown = tokens
        .fetch_application(SERVICE, &ClientCredentials::public("nope"), None, None)
        .await
        .unwrap_err();
    assert_eq!(code_of(unknown), ErrorCode::UnauthorizedClient);
    let bad_uri = tokens
        .fetch_application(
            SERVICE,
            &web(),
            Some(&RedirectTarget::uri("https://evil.example/cb")),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(bad_uri), ErrorCode::InvalidRequest);
    let implicit_off = tokens
        .fetch_application(SERVICE, &web(), None, Some("token"))
        .await
        .unwrap_err();
    assert_eq!(code_of(implicit_off), ErrorCode::UnsupportedResponseType);
    let wrong_secret = tokens
        .fetch_application(
            SERVICE,
            &ClientCredentials::new(WEB_CLIENT, "nope"),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(wrong_secret), ErrorCode::InvalidClient);
}

async fn authorization_code_flow_and_redirect(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let grant = tokens
        .create_authorization_code(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            Some(&RedirectTarget {
                redirect_uri: Some(REDIRECT.into()),
                state: Some("xyz 1".into()),
            }),
            Some("myscope"),
            Some("user12345"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(grant.code.len(), tokengate::secret::ISSUED_TOKEN_LEN);
    assert_eq!(
        grant.uri.redirect_uri.as_deref(),
        Some(format!("{REDIRECT}?code={}&state=xyz+1", grant.code).as_str())
    );
    let issued = redeem(&tokens, &code_request(&grant.code)).await.unwrap();
    assert_eq!(issued.return_type, "json");
    assert_eq!(issued.scope.as_deref(), Some("myscope"));
    assert!(issued.refresh_token.is_some());
    let info = tokens
        .fetch_access_token(SERVICE, &issued.access_token)
        .await
        .unwrap();
    assert_eq!(info.user_context.as_deref(), Some("user12345"));
    assert_eq!(info.grant_type, GrantType::AuthorizationCode);
}

async fn code_replay_fails_and_revokes_what_it_issued(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let code = authorize(&tokens, "myscope", None).await;
    let first = redeem(&tokens, &code_request(&code)).await.unwrap();
    let refreshed = tokens
        .create_access_token(
            SERVICE,
            &web(),
            &refresh_request(first.refresh_token.as_deref().unwrap(), None),
            None,
            None,
        )
        .await
        .unwrap();
    assert!(tokens
        .fetch_access_token(SERVICE, &refreshed.access_token)
        .await
        .is_ok());
    let replay = redeem(&tokens, &code_request(&code)).await.unwrap_err();
    assert_eq!(code_of(replay), ErrorCode::InvalidGrant);
    for token in [&first.access_token, &refreshed.access_token] {
        let e = tokens.fetch_access_token(SERVICE, token).await.unwrap_err();
        assert_eq!(
            code_of(e),
            ErrorCode::InvalidToken,
            "replay must revoke the code's tokens"
        );
    }
}

async fn code_must_match_client_redirect_and_lifetime(store: Arc<dyn Store>) {
    let (tokens, clock) = token_service(store, |_| {}).await;
    // Another client cannot redeem it (and the attempt burns it).
    let code = authorize(&tokens, "a", None).await;
    let other = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::public(PUBLIC_CLIENT),
            &code_request(&code),
            Some(&RedirectTarget::uri(REDIRECT)),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(other), ErrorCode::InvalidGrant);
    // A different redirect URI at redemption is refused.
    let code = authorize(&tokens, "a", None).await;
    let e = tokens
        .create_access_token(
            SERVICE,
            &web(),
            &code_request(&code),
            Some(&RedirectTarget::uri("https://client.example.com/cb2")),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(e), ErrorCode::InvalidGrant);
    // Expired after the service's 300 s.
    let code = authorize(&tokens, "a", None).await;
    clock.advance_secs(301);
    assert_eq!(
        code_of(redeem(&tokens, &code_request(&code)).await.unwrap_err()),
        ErrorCode::InvalidGrant
    );
    // Unknown code, and a wider scope than the code's.
    assert_eq!(
        code_of(
            redeem(&tokens, &code_request("nosuchcode"))
                .await
                .unwrap_err()
        ),
        ErrorCode::InvalidGrant
    );
    let code = authorize(&tokens, "a", None).await;
    let wider = TokenRequest {
        scope: Some("a b".into()),
        ..code_request(&code)
    };
    assert_eq!(
        code_of(redeem(&tokens, &wider).await.unwrap_err()),
        ErrorCode::InvalidScope
    );
}

async fn redirect_mismatch_is_refused(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    for uri in [
        "https://client.example.com/cb/",
        "https://CLIENT.example.com/cb",
        "https://client.example.com/cb?x=1",
        "https://client.example.com/cb#f",
        "https://evil.example.com/cb",
        "not a uri",
    ] {
        let e = tokens
            .create_authorization_code(
                SERVICE,
                &web(),
                Some(&RedirectTarget::uri(uri)),
                None,
                Some("u"),
                None,
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(code_of(e), ErrorCode::InvalidRequest, "{uri}");
    }
}

async fn pkce_is_verified_at_redemption(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let pkce = PkceParams {
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        code_challenge_method: Some("S256".into()),
    };
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let code = authorize(&tokens, "a", Some(&pkce)).await;
    let wrong = TokenRequest {
        code_verifier: Some(format!("{verifier}x")),
        ..code_request(&code)
    };
    assert_eq!(
        code_of(redeem(&tokens, &wrong).await.unwrap_err()),
        ErrorCode::InvalidGrant
    );
    let right = TokenRequest {
        code_verifier: Some(verifier.into()),
        ..code_request(&code)
    };
    assert_eq!(
        code_of(redeem(&tokens, &right).await.unwrap_err()),
        ErrorCode::InvalidGrant,
        "a failed verifier burns the code"
    );
    let code = authorize(&tokens, "a", Some(&pkce)).await;
    let missing = code_request(&code);
    assert_eq!(
        code_of(redeem(&tokens, &missing).await.unwrap_err()),
        ErrorCode::InvalidGrant
    );
    let code = authorize(&tokens, "a", Some(&pkce)).await;
    let right = TokenRequest {
        code_verifier: Some(verifier.into()),
        ..code_request(&code)
    };
    assert!(redeem(&tokens, &right).await.is_ok());
    let plain = PkceParams {
        code_challenge_method: Some("plain".into()),
        ..pkce
    };
    let e = tokens
        .create_authorization_code(SERVICE, &web(), None, None, Some("u"), None, Some(&plain))
        .await
        .unwrap_err();
    assert_eq!(code_of(e), ErrorCode::InvalidRequest);
}

async fn refresh_rotates_and_reuse_revokes_the_family(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let first = password_token(&tokens, "alice", Some("read write")).await;
    let r1 = first.refresh_token.clone().unwrap();
    let second = tokens
        .create_access_token(
            SERVICE,
            &web(),
            &refresh_request(&r1, Some("read")),
            None,
            None,
        )
        .await
        .unwrap();
    let r2 = second.refresh_token.clone().unwrap();
    assert_ne!(r1, r2, "a new refresh token each time");
    assert_eq!(
        second.scope.as_deref(),
        Some("read"),
        "narrower scope allowed"
    );
    let wider = tokens
        .create_access_token(
            SERVICE,
            &web(),
            &refresh_request(&r2, Some("read admin")),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(wider), ErrorCode::InvalidScope);
    let info = tokens
        .fetch_access_token(SERVICE, &second.access_token)
        .await
        .unwrap();
    assert_eq!(
        (info.grant_type, info.user_context.as_deref()),
        (GrantType::RefreshToken, Some("alice"))
    );
    // Presenting the rotated r1 again: refused, and the whole family is revoked.
    let reuse = tokens
        .create_access_token(SERVICE, &web(), &refresh_request(&r1, None), None, None)
        .await
        .unwrap_err();
    assert_eq!(code_of(reuse), ErrorCode::InvalidGrant);
    for t in [&first.access_token, &second.access_token] {
        assert!(tokens.fetch_access_token(SERVICE, t).await.is_err());
    }
    let after = tokens
        .create_access_token(SERVICE, &web(), &refresh_request(&r2, None), None, None)
        .await
        .unwrap_err();
    assert_eq!(
        code_of(after),
        ErrorCode::InvalidGrant,
        "r2 died with its family"
    );
}

async fn concurrent_refresh_has_one_winner(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let tokens = Arc::new(tokens);
    let refresh = password_token(&tokens, "bob", None)
        .await
        .refresh_token
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (tokens, refresh) = (tokens.clone(), refresh.clone());
            tokio::spawn(async move {
                tokens
                    .create_access_token(
                        SERVICE,
                        &web(),
                        &refresh_request(&refresh, None),
                        None,
                        None,
                    )
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as usize;
    }
    assert_eq!(wins, 1);
}

async fn disabled_grants_are_refused(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |s| {
        s.grants = vec![GrantType::AuthorizationCode];
        s.refresh_tokens = false;
    })
    .await;
    for grant in [
        "password",
        "client_credentials",
        "refresh_token",
        "implicit",
        "bogus",
    ] {
        let req = TokenRequest {
            refresh_token: Some("x".into()),
            ..TokenRequest::grant(grant)
        };
        let e = tokens
            .create_access_token(SERVICE, &web(), &req, None, Some("u"))
            .await
            .unwrap_err();
        assert_eq!(code_of(e), ErrorCode::UnsupportedGrantType, "{grant}");
    }
    let implicit = TokenRequest {
        response_type: Some("token".into()),
        ..Default::default()
    };
    let e = tokens
        .create_access_token(SERVICE, &web(), &implicit, None, Some("u"))
        .await
        .unwrap_err();
    assert_eq!(code_of(e), ErrorCode::UnsupportedGrantType);
    let code = authorize(&tokens, "a", None).await;
    let issued = redeem(&tokens, &code_request(&code)).await.unwrap();
    assert!(issued.refresh_token.is_none(), "refresh tokens off");
}

async fn client_authentication_rules(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let cc = TokenRequest::grant("client_credentials");
    let wrong = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new(WEB_CLIENT, "q13rupuife"),
            &cc,
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(wrong), ErrorCode::InvalidClient);
    let missing = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            &TokenRequest::grant("password"),
            None,
            Some("u"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        code_of(missing),
        ErrorCode::InvalidClient,
        "confidential clients need their secret"
    );
    let public = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::public(PUBLIC_CLIENT),
            &cc,
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        code_of(public),
        ErrorCode::UnauthorizedClient,
        "public clients cannot use client_credentials"
    );
    let unknown = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new("ghost", "x"),
            &cc,
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(unknown), ErrorCode::UnauthorizedClient);
    let not_registered = tokens
        .create_access_token(
            OTHER_SERVICE,
            &ClientCredentials::public(PUBLIC_CLIENT),
            &TokenRequest::grant("password"),
            None,
            Some("u"),
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(not_registered), ErrorCode::UnauthorizedClient);
    let ok = tokens
        .create_access_token(SERVICE, &web(), &cc, None, None)
        .await
        .unwrap();
    assert!(
        ok.refresh_token.is_none(),
        "client_credentials gets no refresh token"
    );
    assert_eq!(ok.token_type, "bearer");
    assert!(ok.extended.is_none());
}

async fn implicit_returns_a_redirect_with_the_token_in_the_fragment(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let req = TokenRequest {
        response_type: Some("token".into()),
        scope: Some("read".into()),
        ..Default::default()
    };
    let uri = RedirectTarget {
        redirect_uri: Some(REDIRECT.into()),
        state: Some("s1".into()),
    };
    let issued = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            &req,
            Some(&uri),
            Some("carol"),
        )
        .await
        .unwrap();
    assert_eq!(issued.return_type, "redirect");
    assert!(issued.refresh_token.is_none());
    let redirect = issued.uri.unwrap().redirect_uri.unwrap();
    assert_eq!(
        redirect,
        format!(
            "{REDIRECT}#access_token={}&token_type=bearer&expires_in=3600&scope=read&state=s1",
            issued.access_token
        )
    );
    assert_eq!(issued.state.as_deref(), Some("s1"));
}

async fn mac_tokens_carry_their_key(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |s| {
        s.token_type = TokenType::Mac(MacAlgorithm::HmacSha256)
    })
    .await;
    let issued = password_token(&tokens, "dave", None).await;
    assert_eq!(issued.token_type, "mac");
    let ext = issued.extended.unwrap();
    assert_eq!(ext.algorithm, "hmac-sha-256");
    let info = tokens
        .fetch_access_token(SERVICE, &issued.access_token)
        .await
        .unwrap();
    assert_eq!(info.mac_secret.as_deref(), Some(ext.secret.as_str()));
}

async fn invalid_tokens_all_look_alike(store: Arc<dyn Store>) {
    let (tokens, clock) = token_service(store, |s| s.access_token_ttl = 60).await;
    let issued = password_token(&tokens, "erin", None).await;
    let other = tokens
        .fetch_access_token(OTHER_SERVICE, &issued.access_token)
        .await
        .unwrap_err();
    assert_eq!(
        code_of(other),
        ErrorCode::InvalidToken,
        "another service's token"
    );
    assert_eq!(
        code_of(
            tokens
                .fetch_access_token(SERVICE, "junk")
                .await
                .unwrap_err()
        ),
        ErrorCode::InvalidToken
    );
    assert!(tokens
        .fetch_access_token(SERVICE, &issued.access_token)
        .await
        .is_ok());
    clock.advance_secs(60);
    let expired = tokens
        .fetch_access_token(SERVICE, &issued.access_token)
        .await
        .unwrap_err();
    assert_eq!(code_of(expired), ErrorCode::InvalidToken, "expired token");
}

async fn fetch_list_returns_only_valid_tokens(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let a = password_token(&tokens, "u1", None).await.access_token;
    let b = password_token(&tokens, "u2", None).await.access_token;
    tokens
        .revoke_access_token(SERVICE, &web(), &b)
        .await
        .unwrap();
    let list = vec![a.clone(), "junk".to_string(), b];
    let found = tokens.fetch_access_tokens(SERVICE, &list).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, a);
    assert_eq!(found[0].1.user_context.as_deref(), Some("u1"));
}

async fn header_unsafe_values_are_refused_at_issuance(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |_| {}).await;
    let long = "u".repeat(256);
    for user in [
        "alice\r\nX-Mashery-Oauth-Client-Id: evil",
        "a\nb",
        "a\0b",
        long.as_str(),
    ] {
        let e = tokens
            .create_access_token(
                SERVICE,
                &web(),
                &TokenRequest::grant("password"),
                None,
                Some(user),
            )
            .await
            .unwrap_err();
        assert_eq!(code_of(e), ErrorCode::InvalidRequest);
        let e = tokens
            .create_authorization_code(SERVICE, &web(), None, None, Some(user), None, None)
            .await
            .unwrap_err();
        assert_eq!(code_of(e), ErrorCode::InvalidRequest);
    }
    let scope = TokenRequest {
        scope: Some("read\r\nwrite".into()),
        ..TokenRequest::grant("password")
    };
    let e = tokens
        .create_access_token(SERVICE, &web(), &scope, None, Some("u"))
        .await
        .unwrap_err();
    assert_eq!(code_of(e), ErrorCode::InvalidRequest);
    let ok = tokens
        .create_access_token(
            SERVICE,
            &web(),
            &TokenRequest::grant("password"),
            None,
            Some(&"u".repeat(255)),
        )
        .await;
    assert!(ok.is_ok(), "255 bytes is the limit, not over it");
}

async fn single_token_mode_keeps_one_live_token(store: Arc<dyn Store>) {
    let (tokens, _) = token_service(store, |s| s.allow_multiple_tokens = false).await;
    let first = password_token(&tokens, "frank", None).await.access_token;
    let other_user = password_token(&tokens, "gina", None).await.access_token;
    let second = password_token(&tokens, "frank", None).await.access_token;
    assert!(tokens.fetch_access_token(SERVICE, &first).await.is_err());
    assert!(tokens.fetch_access_token(SERVICE, &second).await.is_ok());
    assert!(tokens
        .fetch_access_token(SERVICE, &other_user)
        .await
        .is_ok());
}

async fn user_applications_revoke_and_update(store: Arc<dyn Store>) {
    let (tokens, clock) = token_service(store, |_| {}).await;
    let t1 = password_token(&tokens, "hank", Some("read"))
        .await
        .access_token;
    clock.advance_secs(1);
    let t2 = password_token(&tokens, "hank", Some("read"))
        .await
        .access_token;
    let public = tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::public(PUBLIC_CLIENT),
            &TokenRequest::grant("password"),
            None,
            Some("hank"),
        )
        .await
        .unwrap()
        .access_token;
    let apps = tokens
        .fetch_user_applications(SERVICE, "hank", TokenStatusFilter::Active)
        .await
        .unwrap();
    assert_eq!(apps.len(), 2);
    let web_app = apps.iter().find(|a| a.client_id == WEB_CLIENT).unwrap();
    assert_eq!((web_app.id, web_app.access_tokens.len()), (12346, 2));
    assert!(web_app
        .access_tokens
        .iter()
        .all(|id| id.len() == 32 && *id != t1 && *id != t2));

    // Update: scope, lifetime, user context; another client's token cannot be updated.
    let changes = TokenChanges {
        scope: Some("read write".into()),
        expires_in: Some(10),
        user_context: None,
    };
    let info = tokens
        .update_access_token(SERVICE, &web(), &t1, &changes)
        .await
        .unwrap();
    assert_eq!(info.scope.as_deref(), Some("read write"));
    assert_eq!(info.expires_at, clock.now() + 10_000);
    let e = tokens
        .update_access_token(SERVICE, &web(), &public, &changes)
        .await
        .unwrap_err();
    assert_eq!(e.oauth().unwrap().description(), "Unable to update token");
    let bad = TokenChanges {
        user_context: Some("x\r\ny".into()),
        ..Default::default()
    };
    assert!(tokens
        .update_access_token(SERVICE, &web(), &t1, &bad)
        .await
        .is_err());

    // Revoke one token, then the whole user application.
    let e = tokens
        .revoke_access_token(SERVICE, &web(), &public)
        .await
        .unwrap_err();
    assert_eq!(
        code_of(e),
        ErrorCode::InvalidToken,
        "not this client's token"
    );
    tokens
        .revoke_access_token(SERVICE, &web(), &t1)
        .await
        .unwrap();
    assert!(tokens.fetch_access_token(SERVICE, &t1).await.is_err());
    let inactive = tokens
        .fetch_user_applications(SERVICE, "hank", TokenStatusFilter::Inactive)
        .await
        .unwrap();
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].access_tokens.len(), 1);
    tokens
        .revoke_user_application(SERVICE, &web(), "hank")
        .await
        .unwrap();
    assert!(tokens.fetch_access_token(SERVICE, &t2).await.is_err());
    assert!(
        tokens.fetch_access_token(SERVICE, &public).await.is_ok(),
        "other client untouched"
    );
    let all = tokens
        .fetch_user_applications(SERVICE, "hank", TokenStatusFilter::All)
        .await
        .unwrap();
    assert_eq!(all.iter().map(|a| a.access_tokens.len()).sum::<usize>(), 3);
}

async fn revocations_reach_the_invalidation_hook(store: Arc<dyn Store>) {
    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<tokengate::secret::TokenHash>>);
    #[async_trait::async_trait]
    impl tokengate::oauth::InvalidationListener for Seen {
        async fn invalidated(&self, hashes: &[tokengate::secret::TokenHash]) {
            self.0.lock().unwrap().extend_from_slice(hashes);
        }
    }
    let (tokens, _) = token_service(store, |_| {}).await;
    let seen = Arc::new(Seen::default());
    let listener: Arc<dyn tokengate::oauth::InvalidationListener> = seen.clone();
    tokens.subscribe(Arc::downgrade(&listener));
    let t = password_token(&tokens, "ivan", None).await.access_token;
    let u = password_token(&tokens, "ivan", None).await.access_token;
    tokens
        .revoke_access_token(SERVICE, &web(), &t)
        .await
        .unwrap();
    let changes = TokenChanges {
        scope: Some("x".into()),
        ..Default::default()
    };
    tokens
        .update_access_token(SERVICE, &web(), &u, &changes)
        .await
        .unwrap();
    let hash = tokengate::secret::TokenHash::of;
    assert_eq!(*seen.0.lock().unwrap(), vec![hash(&t), hash(&u)]);
    drop(listener);
    drop(seen);
    tokens
        .revoke_access_token(SERVICE, &web(), &u)
        .await
        .unwrap();
}

macro_rules! rules_for {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            rules_for!(@tests $make;
                fetch_application_checks_client_uri_and_response_type,
                authorization_code_flow_and_redirect,
                code_replay_fails_and_revokes_what_it_issued,
                code_must_match_client_redirect_and_lifetime,
                redirect_mismatch_is_refused,
                pkce_is_verified_at_redemption,
                refresh_rotates_and_reuse_revokes_the_family,
                concurrent_refresh_has_one_winner,
                disabled_grants_are_refused,
                client_authentication_rules,
                implicit_returns_a_redirect_with_the_token_in_the_fragment,
                mac_tokens_carry_their_key,
                invalid_tokens_all_look_alike,
                fetch_list_returns_only_valid_tokens,
                header_unsafe_values_are_refused_at_issuance,
                single_token_mode_keeps_one_live_token,
                user_applications_revoke_and_update,
                revocations_reach_the_invalidation_hook,
            );
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _guard) = $make.await;
                super::$name(store).await;
            }
        )*
    };
}

async fn memory() -> (Arc<dyn Store>, ()) {
    (Arc::new(tokengate::store::MemoryStore::new()), ())
}

rules_for!(memory_store, memory());
rules_for!(sqlite_store, sqlite_store());
