//! Drives the router of `examples/axum_app.rs` (the example file itself, included as a
//! module): tokens issued and revoked through the mounted JSON-RPC API, handlers reading
//! the `CachedToken` extension, RFC 6750 rejections from the layer.

#[allow(dead_code)]
#[path = "../examples/axum_app.rs"]
mod axum_app;

use axum::body::Body;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokengate::rpc::Credentials;
use tower::ServiceExt;

struct App(axum::Router);

impl App {
    async fn new() -> App {
        let tokens = axum_app::demo_tokens().await.unwrap();
        let admins = Credentials::new(vec![("ops".into(), "change-me".into())]);
        App(axum_app::app(tokens, admins))
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
        let res = self.0.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, http::HeaderMap, String) {
        let mut req = Request::get(path);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let req = Request::post("/admin/v2/json-rpc")
            .header(header::AUTHORIZATION, "Basic b3BzOmNoYW5nZS1tZQ==") // ops:change-me
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, _, text) = self.send(req).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let reply: Value = serde_json::from_str(&text).unwrap();
        assert!(reply.get("error").is_none(), "{reply}");
        reply["result"].clone()
    }

    async fn token(&self, scope: &str) -> String {
        let client = json!({"client_id": "example-app", "client_secret": "example-secret"});
        let data = json!({"grant_type": "password", "scope": scope});
        let result = self
            .rpc(
                "oauth2.createAccessToken",
                json!([axum_app::SERVICE, client, data, null, "user12345"]),
            )
            .await;
        result["access_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn the_axum_example_protects_its_routes_and_mounts_the_json_rpc_api() {
    let app = App::new().await;

    let (status, _, body) = app.get("/", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "public page\n"));

    let (status, headers, _) = app.get("/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"tokengate\""
    );

    let token = app.token("read").await;
    let (status, _, body) = app.get("/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"client_id": "example-app", "user": "user12345", "scope": "read"})
    );
    let (status, _, body) = app.get("/reviews", Some(&token)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "reviews of user12345\n")
    );

    let (status, headers, _) = app.get("/reviews/drafts", Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("error=\"insufficient_scope\", scope=\"write\""));
    let writer = app.token("read write").await;
    assert_eq!(
        app.get("/reviews/drafts", Some(&writer)).await.0,
        StatusCode::OK
    );

    // Revoked through the mounted API: refused at once, though the token was cached.
    let client = json!({"client_id": "example-app", "client_secret": "example-secret"});
    let revoked = app
        .rpc(
            "oauth2.revokeAccessToken",
            json!([axum_app::SERVICE, client, token]),
        )
        .await;
    assert_eq!(revoked, json!(true));
    let (status, headers, _) = app.get("/me", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"tokengate\", error=\"invalid_token\""
    );

    // The JSON-RPC API wants its own credentials: a bearer token is not one.
    let req = Request::post("/admin/v2/json-rpc")
        .header(header::AUTHORIZATION, format!("Bearer {writer}"))
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::FORBIDDEN);
}
