//! The shipped `tokengate.example.toml` under `tokengate serve` (on ports the system picks and
//! a SQLite file in a temporary directory), driven as the README's quick start and docs/rest.md's
//! examples do: what the provider grants works, what a client gives itself does not.

mod common;

use common::process::Gateway;
use common::{SERVICE, WEB_CLIENT, WEB_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The example configuration, listening on system-chosen loopback ports.
fn example() -> String {
    let text = include_str!("../tokengate.example.toml");
    let text = text.replace("listen = \"127.0.0.1:8081\"", "listen = \"127.0.0.1:0\"");
    let text = text.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    assert_eq!(
        text.matches("127.0.0.1:0").count(),
        2,
        "both listeners moved"
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_works_and_a_client_cannot_give_itself_admin() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &example());
    let http = reqwest::Client::new();
    let public = gateway.public();

    // The quick start: `curl -u ops:change-me … -d '{…}'` (curl says form-urlencoded), a
    // password grant the provider makes for a user it authenticated.
    let provider_token = |scope: &'static str, user: &'static str| {
        let call = json!({"jsonrpc": "2.0", "id": 1,
            "method": "oauth2.createAccessToken", "params": [SERVICE,
            {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
            {"grant_type": "password", "scope": scope}, null, user]});
        let sent = http
            .post(format!("http://{}/v2/json-rpc", gateway.admin))
            .basic_auth("ops", Some("change-me"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(call.to_string())
            .send();
        async move {
            let reply: Value = sent.await.unwrap().json().await.unwrap();
            reply["result"]["access_token"].as_str().unwrap().to_owned()
        }
    };
    let token = provider_token("read", "user12345").await;
    let echoed: Value = http
        .get(format!("http://{public}/reviews"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["headers"]["x-mashery-oauth-scope"], "read");

    let token_endpoint = |scope: &'static str| {
        http.post(format!("http://{public}/oauth2/token"))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
    };
    // The REST example of the README and docs/rest.md: a declared scope.
    let res = token_endpoint("reviews").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "reviews");

    // The finding: `scope=admin` at /oauth2/token used to return a token passing `/admin`.
    for scope in ["admin", "reviews admin"] {
        let res = token_endpoint(scope).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{scope}");
    }
    let reviews = body["access_token"].as_str().unwrap();
    let res = http
        .get(format!("http://{public}/admin/users"))
        .bearer_auth(reviews)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The provider may still grant `admin` (Mashery's semantics for its own server).
    let admin = provider_token("admin", "operator").await;
    let res = http
        .get(format!("http://{public}/admin/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
