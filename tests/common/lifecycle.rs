//! Checks at a running gateway shared by the lifecycle tests: issuing a token through the
//! admin API, and waiting (against a deadline) for the gateway to refuse one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::admin::call as rpc;
use super::raw::get;
use super::upstream::Recorder;
use super::SERVICE;

/// The change feed's bound (SQLite: a 100 ms poll; PostgreSQL: NOTIFY), with room for a loaded
/// machine.
pub const BOUND: Duration = Duration::from_secs(2);

/// A token of `client` for the user context `user` (password grant; `None`: client
/// credentials), issued through `admin`; `Err` with the JSON-RPC error when refused.
pub async fn issue(
    admin: SocketAddr,
    client: &str,
    secret: &str,
    user: Option<&str>,
) -> Result<String, Value> {
    let creds = json!({"client_id": client, "client_secret": secret});
    let grant = if user.is_some() {
        "password"
    } else {
        "client_credentials"
    };
    let reply = rpc(
        admin,
        "oauth2.createAccessToken",
        json!([SERVICE, creds, {"grant_type": grant}, null, user]),
    )
    .await;
    match reply["result"]["access_token"].as_str() {
        Some(token) => Ok(token.to_owned()),
        None => Err(reply["error"].clone()),
    }
}

/// The gateway's status for `GET /data` with the token.
pub async fn status(public: SocketAddr, token: &str) -> u16 {
    get(
        public,
        "/data",
        &[&format!("Authorization: Bearer {token}")],
    )
    .await
    .status
}

/// Waits (against [`BOUND`] from `since`) until the gateway refuses the token, then checks that
/// the refusal was not forwarded.
pub async fn refused_within(public: SocketAddr, upstream: &Recorder, token: &str, since: Instant) {
    while status(public, token).await != 401 {
        assert!(
            since.elapsed() < BOUND,
            "still accepted {:?} after the command",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    upstream.take();
    assert_eq!(status(public, token).await, 401);
    assert!(upstream.take().is_empty(), "a refused token was forwarded");
}

pub async fn passes(public: SocketAddr, token: &str) {
    assert_eq!(status(public, token).await, 200, "the token is refused");
}

/// `POST /oauth2/token` on the public listener: a client_credentials grant with the client's
/// secret in Basic; the status and the JSON body.
pub async fn token_endpoint(public: SocketAddr, client: &str, secret: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{public}/oauth2/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
