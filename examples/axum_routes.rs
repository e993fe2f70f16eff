//! A route table mounted in axum, without the `tokengate` binary: `/reviews/…` needs a token
//! of the Reviews service and goes, prefix stripped, to two upstreams in turn; `/docs/…` is
//! public (identity headers still removed); anything else under the table is `404`. The
//! axum app keeps its own `/health` route beside it.
//!
//! ```sh
//! cargo run --example axum_routes      # upstreams on 127.0.0.1:9001, :9002 and :9003
//! curl -i http://127.0.0.1:3000/docs/intro
//! curl -i http://127.0.0.1:3000/reviews/1   # 401 without a token
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, Response};
use tokengate::auth::{IdentityHeaders, OAuthLayer};
use tokengate::model::Service;
use tokengate::oauth::TokenService;
use tokengate::proxy::{ProxyBody, ReverseProxy};
use tokengate::resolve::{LocalResolver, TokenCache};
use tokengate::route::{Route, RouteMatch, RouteTable, StripIdentity, StripPrefix, UpstreamPool};
use tokengate::secret::Pepper;
use tokengate::store::{MemoryStore, Store};
use tower::util::BoxCloneSyncService;
use tower::Layer;

/// One route's stack; boxed, since the stacks differ in type.
type RouteService = BoxCloneSyncService<Request<Body>, Response<ProxyBody>, Infallible>;

fn proxy(addr: &str) -> ReverseProxy {
    ReverseProxy::new(addr.parse().unwrap()).unwrap()
}

/// The table: the Reviews API behind OAuth, the docs public.
pub fn table(tokens: Arc<TokenService>) -> RouteTable<RouteService> {
    let cache = TokenCache::builder(LocalResolver::new(tokens, "reviews-api")).build();
    let reviews = RouteMatch::prefix("/reviews").unwrap();
    let pool = UpstreamPool::new([
        proxy("http://127.0.0.1:9001"),
        proxy("http://127.0.0.1:9002"),
    ])
    .unwrap();
    let reviews_stack = OAuthLayer::new(cache)
        .require_scope("/reviews", "read")
        .unwrap()
        .layer(StripPrefix::new(pool, reviews.path_prefix()));
    let docs_stack = StripIdentity::new(
        UpstreamPool::new([proxy("http://127.0.0.1:9003")]).unwrap(),
        IdentityHeaders::mashery(),
    );
    RouteTable::new(vec![
        Route::new("reviews", reviews, RouteService::new(reviews_stack)),
        Route::new(
            "docs",
            RouteMatch::prefix("/docs").unwrap(),
            RouteService::new(docs_stack),
        ),
    ])
    .unwrap()
}

/// The axum app: its own `/health`, everything else through the table.
pub fn app(tokens: Arc<TokenService>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .fallback_service(table(tokens))
}

#[tokio::main]
async fn main() {
    let store = Arc::new(MemoryStore::new());
    store
        .put_service(&Service::new("reviews-api", "Reviews API"))
        .await
        .unwrap();
    let tokens = Arc::new(TokenService::new(store, Pepper::new(vec![7; 32])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    axum::serve(listener, app(tokens)).await.unwrap();
}
