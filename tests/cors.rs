//! `[public.cors]`: the public OAuth endpoints answer CORS preflights and carry
//! `Access-Control-Allow-Origin` for the configured origins only; the proxied routes never do,
//! and without the table no response carries CORS headers.
#![cfg(all(unix, feature = "cli", feature = "sqlite"))]

mod common;

use common::config::ServeConfig;
use common::process::Gateway;
use common::{SERVICE, WEB_CLIENT, WEB_SECRET};
use reqwest::{Method, Response};

const APP: &str = "https://app.example.com";

async fn preflight(gateway: &Gateway, path: &str, origin: &str) -> Response {
    reqwest::Client::new()
        .request(
            Method::OPTIONS,
            format!("http://{}{path}", gateway.public()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

async fn token_request(gateway: &Gateway, origin: &str) -> Response {
    reqwest::Client::new()
        .post(format!("http://{}/oauth2/token", gateway.public()))
        .header("origin", origin)
        .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

fn allow_origin(response: &Response) -> Option<&str> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap())
}

/// Panics on any `Access-Control-*` header.
fn assert_no_cors_headers(response: &Response) {
    assert!(
        !response
            .headers()
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{:?}",
        response.headers()
    );
}

fn cors_gateway(dir: &std::path::Path) -> Gateway {
    // Two services: each also has its endpoints at `/oauth2/{key}/…`.
    let config = ServeConfig::sqlite()
        .other_service()
        .public(&format!(
            "cors = {{ origins = [\"{APP}\"], max_age_secs = 120 }}"
        ))
        .toml();
    Gateway::start(dir, &config)
}

#[tokio::test]
async fn a_preflight_from_a_configured_origin_is_answered_on_every_oauth_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = cors_gateway(dir.path());
    for path in [
        "/oauth2/token",
        "/oauth2/introspect",
        "/oauth2/revoke",
        "/.well-known/oauth-authorization-server",
        &format!("/oauth2/{SERVICE}/token"),
    ] {
        let response = preflight(&gateway, path, APP).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        assert_eq!(allow_origin(&response), Some(APP), "{path}");
        let headers = response.headers();
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{methods}"
        );
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"));
        assert_eq!(headers["access-control-max-age"], "120", "{path}");
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
    // The actual request: the token is issued and the browser may read the answer.
    let response = token_request(&gateway, APP).await;
    assert_eq!(response.status(), 200);
    assert_eq!(allow_origin(&response), Some(APP));
}

#[tokio::test]
async fn another_origin_gets_no_allow_origin_and_the_proxied_routes_get_no_cors() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = cors_gateway(dir.path());
    for origin in ["https://evil.example.com", "http://app.example.com", "null"] {
        let response = preflight(&gateway, "/oauth2/token", origin).await;
        assert_eq!(allow_origin(&response), None, "{origin}");
        let response = token_request(&gateway, origin).await;
        assert_eq!(allow_origin(&response), None, "{origin}");
    }
    // A proxied path (the layer answers it: no token) carries no CORS header, whatever the
    // origin: the upstream's business.
    let response = preflight(&gateway, "/reviews/1", APP).await;
    assert_eq!(response.status(), 401);
    assert_no_cors_headers(&response);
}

#[tokio::test]
async fn without_public_cors_no_response_carries_cors_headers() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &ServeConfig::sqlite().toml());
    let response = preflight(&gateway, "/oauth2/token", APP).await;
    assert!(!response.status().is_success(), "{}", response.status());
    let response = token_request(&gateway, APP).await;
    assert_eq!(response.status(), 200);
    for response in [
        response,
        preflight(&gateway, "/.well-known/oauth-authorization-server", APP).await,
    ] {
        assert_no_cors_headers(&response);
    }
}
