//! JSON-RPC on a running gateway's admin listener, with the seed admin credentials, and its
//! `/metrics`.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{ADMIN_KEY, ADMIN_SECRET, SERVICE, WEB_CLIENT, WEB_SECRET};

/// The whole JSON-RPC 2.0 reply to `method` with `params` at `admin`.
pub async fn call(admin: SocketAddr, method: &str, params: Value) -> Value {
    reqwest::Client::new()
        .post(format!("http://{admin}/v2/json-rpc"))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A client_credentials token of the seed confidential client for the seed service, with
/// `scope`, issued through `oauth2.createAccessToken`.
pub async fn token(admin: SocketAddr, scope: &str) -> String {
    let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let data = json!({"grant_type": "client_credentials", "scope": scope});
    let reply = call(
        admin,
        "oauth2.createAccessToken",
        json!([SERVICE, client, data, null, null]),
    )
    .await;
    reply["result"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

/// The value of the sample `series` (a name with its labels, as `/metrics` writes it) in the
/// admin listener's `/metrics`; panics when it is not there.
pub async fn metric(admin: SocketAddr, series: &str) -> f64 {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in\n{text}"))
}
