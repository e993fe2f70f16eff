//! An existing axum app protected by the OAuth layer: handlers read the caller from an
//! `Extension<CachedToken>`, and the admin JSON-RPC API (which issues and revokes the
//! tokens) is mounted beside them with `nest_service`.
//!
//! ```sh
//! cargo run --example axum_app
//! # issue a token through the mounted JSON-RPC API:
//! curl -s -u ops:change-me http://127.0.0.1:3000/admin/v2/json-rpc -d '{"jsonrpc":"2.0","id":1,
//!   "method":"oauth2.createAccessToken","params":["reviews-api",
//!   {"client_id":"example-app","client_secret":"example-secret"},
//!   {"grant_type":"password","scope":"read"},null,"user12345"]}'
//! curl -s -H "Authorization: Bearer <access_token>" http://127.0.0.1:3000/me
//! curl -i http://127.0.0.1:3000/me                 # 401: no token
//! curl -s http://127.0.0.1:3000/                   # public
//! ```
//!
//! `tests/axum_example.rs` drives [`app`] without a socket.

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tokengate::auth::OAuthLayer;
use tokengate::model::{Client, ClientStatus, Service};
use tokengate::oauth::TokenService;
use tokengate::resolve::CachedToken;
use tokengate::resolve::{LocalResolver, TokenCache};
use tokengate::rpc::{Credentials, JsonRpcService};
use tokengate::secret::Pepper;
use tokengate::store::{MemoryStore, Store};

/// The service the app's tokens are for.
pub const SERVICE: &str = "reviews-api";

/// The app: `/` is public, `/me` and `/reviews` need a token (`/reviews/drafts` the `write`
/// scope), and `/admin/v2/json-rpc` is the JSON-RPC API for the `admins`.
pub fn app(tokens: Arc<TokenService>, admins: Credentials) -> Router {
    let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), SERVICE)).build();
    // Revocations through the JSON-RPC API evict the cache at once.
    cache.listen_to(&tokens);
    let layer = OAuthLayer::new(cache)
        .require_scope("/reviews/drafts", "write")
        .expect("a valid scope rule");
    Router::new()
        .route("/me", get(me))
        .route("/reviews", get(reviews))
        .route("/reviews/drafts", get(reviews))
        // Routes added above this line need a token; those below do not.
        .layer(layer)
        .route("/", get(|| async { "public page\n" }))
        .nest_service("/admin", JsonRpcService::new(tokens, admins))
}

/// Who is calling, from the token.
async fn me(Extension(token): Extension<CachedToken>) -> Json<Value> {
    Json(json!({
        "client_id": token.client_id(),
        "user": token.user_context(),
        "scope": token.scope(),
    }))
}

/// The caller's reviews.
async fn reviews(Extension(token): Extension<CachedToken>) -> String {
    let user = token.user_context().unwrap_or("nobody");
    format!("reviews of {user}\n")
}

/// A token service over a memory store holding the service and one client
/// (`example-app` / `example-secret`).
pub async fn demo_tokens() -> Result<Arc<TokenService>, tokengate::Error> {
    let store = Arc::new(MemoryStore::new());
    let pepper = Pepper::new(b"example pepper: keep it secret!!".to_vec());
    store
        .put_service(&Service::new(SERVICE, "Reviews API"))
        .await?;
    store
        .put_client(&Client {
            id: 1,
            external_id: None,
            name: "Example App".into(),
            attributes: None,
            client_id: "example-app".into(),
            secret_hash: Some(pepper.hash_secret("example-secret")),
            redirect_uris: vec![],
            services: vec![SERVICE.into()],
            status: ClientStatus::Active,
            allowed_scopes: None,
        })
        .await?;
    Ok(Arc::new(TokenService::new(store, pepper)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tokens = demo_tokens().await?;
    let admins = Credentials::new(vec![("ops".into(), "change-me".into())]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("app on http://127.0.0.1:3000 (JSON-RPC at /admin/v2/json-rpc)");
    axum::serve(listener, app(tokens, admins)).await?;
    Ok(())
}
