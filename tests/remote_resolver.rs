//! `RemoteResolver` against a real JSON-RPC endpoint over a socket: valid, unknown and revoked
//! tokens, MAC keys, wrong credentials and an unreachable service.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokengate::model::{GrantType, MacAlgorithm, TokenType};
use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
use tokengate::resolve::{Lookup, RemoteResolver, Resolve, TokenCache};
use tokengate::rpc::{Credentials, JsonRpcService};

/// The seed fixture on SQLite behind a JSON-RPC endpoint; the directory guard keeps the file.
async fn api(
    edit: impl FnOnce(&mut tokengate::model::Service),
) -> (Arc<TokenService>, String, tempfile::TempDir) {
    let (store, dir) = sqlite_store().await;
    let (tokens, _) = token_service(store, edit).await;
    let tokens = Arc::new(TokenService::new(tokens.store().clone(), pepper()));
    let rpc = JsonRpcService::new(
        tokens.clone(),
        Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())]),
    );
    let addr = serve(rpc).await;
    (tokens, format!("http://{addr}/v2/json-rpc"), dir)
}

async fn password_token(tokens: &TokenService, scope: &str) -> String {
    let req = TokenRequest {
        scope: Some(scope.into()),
        ..TokenRequest::grant("password")
    };
    tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
            &req,
            None,
            Some("user12345"),
        )
        .await
        .unwrap()
        .access_token
}

#[tokio::test]
async fn resolves_like_the_local_service() {
    let (tokens, url, _dir) = api(|_| {}).await;
    let remote = RemoteResolver::new(url.parse().unwrap(), SERVICE, ADMIN_KEY, ADMIN_SECRET);
    let token = password_token(&tokens, "read write").await;
    let local = tokens.fetch_access_token(SERVICE, &token).await.unwrap();
    let info = remote.resolve(&token).await.unwrap().expect("valid");
    assert_eq!(
        (info.client_id.as_str(), info.grant_type, info.token_type),
        (WEB_CLIENT, GrantType::Password, TokenType::Bearer)
    );
    assert_eq!(info.scope.as_deref(), Some("read write"));
    assert_eq!(info.user_context.as_deref(), Some("user12345"));
    assert_eq!(info.service_key, SERVICE);
    assert_eq!(
        info.expires_at,
        local.expires_at / 1000 * 1000,
        "whole seconds on the wire"
    );
    assert!(remote.resolve("unknowntoken").await.unwrap().is_none());
    tokens
        .revoke_access_token(SERVICE, &ClientCredentials::public(WEB_CLIENT), &token)
        .await
        .unwrap();
    assert!(remote.resolve(&token).await.unwrap().is_none(), "revoked");
}

#[tokio::test]
async fn mac_tokens_carry_their_key() {
    let (tokens, url, _dir) = api(|s| s.token_type = TokenType::Mac(MacAlgorithm::HmacSha1)).await;
    let remote = RemoteResolver::new(url.parse().unwrap(), SERVICE, ADMIN_KEY, ADMIN_SECRET);
    let token = password_token(&tokens, "read").await;
    let info = remote.resolve(&token).await.unwrap().unwrap();
    assert_eq!(info.token_type, TokenType::Mac(MacAlgorithm::HmacSha1));
    assert_eq!(
        info.mac_secret,
        tokens
            .fetch_access_token(SERVICE, &token)
            .await
            .unwrap()
            .mac_secret
    );
}

#[tokio::test]
async fn failures_are_errors_not_invalid_tokens() {
    let (tokens, url, _dir) = api(|_| {}).await;
    let token = password_token(&tokens, "read").await;
    let wrong = RemoteResolver::new(url.parse().unwrap(), SERVICE, ADMIN_KEY, "guess");
    assert!(wrong.resolve(&token).await.unwrap_err().is_store());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let down = RemoteResolver::new(
        format!("http://{closed}/v2/json-rpc").parse().unwrap(),
        SERVICE,
        ADMIN_KEY,
        ADMIN_SECRET,
    )
    .timeout(Duration::from_secs(2));
    assert!(down.resolve(&token).await.unwrap_err().is_store());
    // Behind a cache, a failure is not remembered: the next lookup asks again.
    let cache = TokenCache::builder(down).build();
    assert!(cache.lookup(&token).await.is_err());
    assert!(cache.lookup(&token).await.is_err());
    assert_eq!(cache.stats().misses, 2);
    let ok = TokenCache::builder(RemoteResolver::new(
        url.parse().unwrap(),
        SERVICE,
        ADMIN_KEY,
        ADMIN_SECRET,
    ))
    .build();
    assert!(matches!(ok.lookup(&token).await.unwrap(), Lookup::Valid(_)));
}

#[tokio::test]
async fn with_the_tag_key_forged_tokens_are_refused_without_a_call() {
    let (tokens, url, _dir) = api(|_| {}).await;
    let key = || tokengate::secret::TagKey::from_hex(&pepper().tag_key_hex()).unwrap();
    let token = password_token(&tokens, "read").await;
    let forged = tokengate::secret::junk_token();

    let tagged = TokenCache::builder(
        RemoteResolver::new(url.parse().unwrap(), SERVICE, ADMIN_KEY, ADMIN_SECRET).tag_key(key()),
    )
    .build();
    assert!(matches!(
        tagged.lookup(&token).await.unwrap(),
        Lookup::Valid(_)
    ));
    assert!(matches!(
        tagged.lookup(&forged).await.unwrap(),
        Lookup::Invalid
    ));
    let stats = tagged.stats();
    assert_eq!((stats.misses, stats.forged), (1, 1));

    // Nothing listens here: a call would be an error, so an answer proves there was none.
    let nowhere = "http://127.0.0.1:9/v2/json-rpc".parse().unwrap();
    let offline = TokenCache::builder(
        RemoteResolver::new(nowhere, SERVICE, ADMIN_KEY, ADMIN_SECRET)
            .timeout(Duration::from_secs(2))
            .tag_key(key()),
    )
    .build();
    assert!(matches!(
        offline.lookup(&forged).await.unwrap(),
        Lookup::Invalid
    ));
    assert!(
        offline.lookup(&token).await.is_err(),
        "a tagged token is asked for"
    );

    // Without the key, the forged token is asked for (and then remembered as unknown).
    let untagged = TokenCache::builder(RemoteResolver::new(
        url.parse().unwrap(),
        SERVICE,
        ADMIN_KEY,
        ADMIN_SECRET,
    ))
    .build();
    assert!(matches!(
        untagged.lookup(&forged).await.unwrap(),
        Lookup::Invalid
    ));
    assert_eq!((untagged.stats().misses, untagged.stats().forged), (1, 0));
}
