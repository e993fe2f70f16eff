//! Setup shared by the bench files: one service, one confidential client, stores, runtimes.
#![allow(dead_code)]

use std::sync::Arc;

use tokengate::model::{Client, ClientStatus, Service};
use tokengate::oauth::{ClientCredentials, RedirectTarget, TokenRequest, TokenService};
use tokengate::secret::Pepper;
use tokengate::store::{MemoryStore, Store};

pub const SERVICE: &str = "rmeqcgpw3zu2y47y9bs8vs2h";
pub const CLIENT: &str = "bench-client";
pub const SECRET: &str = "bench-secret";
pub const REDIRECT: &str = "https://app.example.com/callback";
pub const USER: &str = "user12345";

/// A runtime with `threads` workers (0: current thread).
pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    }
    .enable_all()
    .build()
    .unwrap()
}

/// The stores the benches compare: memory, and SQLite (`synchronous=FULL`) in a temporary
/// directory that lives as long as the returned guard.
pub async fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let mut out: Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> =
        vec![("memory", Arc::new(MemoryStore::new()), None)];
    #[cfg(feature = "sqlite")]
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.db");
        let store = tokengate::store::SqliteStore::open(path.to_str().unwrap())
            .await
            .unwrap();
        out.push(("sqlite", Arc::new(store), Some(dir)));
    }
    out
}

/// A token service over `store` with the bench service and client in it.
pub async fn token_service(store: Arc<dyn Store>) -> Arc<TokenService> {
    let pepper = Pepper::new(b"bench pepper 0123456789abcdef".to_vec());
    store
        .put_service(&Service::new(SERVICE, "Bench API"))
        .await
        .unwrap();
    store
        .put_client(&Client {
            id: 1,
            external_id: None,
            name: "bench".into(),
            attributes: None,
            client_id: CLIENT.into(),
            secret_hash: Some(pepper.hash_secret(SECRET)),
            redirect_uris: vec![REDIRECT.into()],
            services: vec![SERVICE.into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        })
        .await
        .unwrap();
    Arc::new(TokenService::new(store, pepper))
}

pub fn credentials() -> ClientCredentials {
    ClientCredentials::new(CLIENT, SECRET)
}

/// `createAccessToken` with `grant`; returns (access token, refresh token).
pub async fn issue(tokens: &TokenService, grant: &str) -> (String, Option<String>) {
    let user = (grant == "password").then_some(USER);
    let issued = tokens
        .create_access_token(
            SERVICE,
            &credentials(),
            &TokenRequest {
                scope: Some("read write".into()),
                ..TokenRequest::grant(grant)
            },
            None,
            user,
        )
        .await
        .expect("issued");
    (issued.access_token, issued.refresh_token)
}

/// `createAuthorizationCode` then `createAccessToken` with the code.
pub async fn issue_by_code(tokens: &TokenService) -> String {
    let uri = RedirectTarget {
        redirect_uri: Some(REDIRECT.into()),
        state: None,
    };
    let grant = tokens
        .create_authorization_code(
            SERVICE,
            &credentials(),
            Some(&uri),
            Some("read"),
            Some(USER),
            None,
            None,
        )
        .await
        .expect("code");
    tokens
        .create_access_token(
            SERVICE,
            &credentials(),
            &TokenRequest {
                code: Some(grant.code),
                ..TokenRequest::grant("authorization_code")
            },
            Some(&uri),
            None,
        )
        .await
        .expect("issued by code")
        .access_token
}

/// `createAccessToken` with a refresh token; returns the next refresh token.
pub async fn refresh(tokens: &TokenService, refresh_token: String) -> String {
    tokens
        .create_access_token(
            SERVICE,
            &credentials(),
            &TokenRequest {
                refresh_token: Some(refresh_token),
                ..TokenRequest::grant("refresh_token")
            },
            None,
            None,
        )
        .await
        .expect("refreshed")
        .refresh_token
        .expect("a new refresh token")
}
