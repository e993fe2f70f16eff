//! Replays every JSON-RPC sample request of the seed documents (`tests/seeds/`, copied from the
//! Mashery docs) against a running `tokengate serve` on SQLite, and checks each answer has
//! exactly the documented members with the documented JSON types.
//!
//! Seed values that cannot be reproduced are replaced: the authorization code `SlAV32hkKG` by
//! a real one from `createAuthorizationCode`, and the access token of "Token Found" by a real
//! one. The seeds' service is MAC in 001 and bearer in 000, so the gateway runs twice on one
//! database (which also shows tokens surviving a restart).

mod common;

use common::process::Gateway;
use common::*;
use serde_json::{json, Value};

/// The JSON samples of a seed file, by heading ("Sample Request - Ordered Parameters", ...).
fn samples(file: &str) -> Vec<(String, Value)> {
    let text =
        std::fs::read_to_string(format!("{}/tests/seeds/{file}", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        let heading = line.trim();
        if !(heading.starts_with("Sample Re") || heading.starts_with("Example Error")) {
            continue;
        }
        let rest = text[offset..].trim_start();
        if !rest.starts_with('{') {
            continue;
        }
        let value = serde_json::Deserializer::from_str(rest)
            .into_iter::<Value>()
            .next()
            .unwrap()
            .unwrap_or_else(|e| panic!("{file}: {heading}: {e}"));
        found.push((heading.to_owned(), value));
    }
    found
}

fn sample(all: &[(String, Value)], heading: &str) -> Value {
    all.iter()
        .find(|(h, _)| h == heading)
        .unwrap_or_else(|| panic!("no sample {heading:?}"))
        .1
        .clone()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts `actual` has exactly the members of `expected`, recursively, with the same JSON
/// types. `mirrors` names paths of members tokengate adds on purpose (the nested OAuth error
/// object is placed under both `data` and `error`, Mashery's two documented placements).
fn assert_shape(expected: &Value, actual: &Value, path: &str, mirrors: &[&str]) {
    assert_eq!(
        kind(expected),
        kind(actual),
        "{path}: expected {expected}, got {actual}"
    );
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let sub = format!("{path}.{key}");
                let av = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{sub} missing in {actual}"));
                assert_shape(ev, av, &sub, mirrors);
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                let sub = format!("{path}.{key}");
                assert!(
                    mirrors.contains(&sub.as_str()),
                    "{sub} is not documented: {actual}"
                );
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e0), Some(a0)) = (e.first(), a.first()) {
                assert_shape(e0, a0, &format!("{path}[0]"), mirrors);
            }
        }
        _ => {}
    }
}

/// What a 2.0 request gets: the documented result, in a 2.0 envelope.
fn as_v2(sample_response: &Value) -> Value {
    let mut reply = json!({"jsonrpc": "2.0", "id": sample_response["id"].clone()});
    match sample_response.get("result").filter(|r| !r.is_null()) {
        Some(result) => reply["result"] = result.clone(),
        None => reply["error"] = sample_response["error"].clone(),
    }
    reply
}

struct Admin {
    http: reqwest::Client,
    url: String,
}

impl Admin {
    fn new(gw: &Gateway) -> Admin {
        Admin {
            http: reqwest::Client::new(),
            url: format!("http://{}/v2/json-rpc", gw.admin),
        }
    }

    async fn send(&self, body: &Value) -> Value {
        let res = self
            .http
            .post(&self.url)
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    async fn code(&self) -> String {
        let reply = self
            .send(&json!({"jsonrpc":"2.0","method":"oauth2.createAuthorizationCode","params":
                [SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT}, "myscope", "user12345"],"id":9}))
            .await;
        reply["result"]["code"].as_str().unwrap().to_owned()
    }
}

fn config(dir: &std::path::Path, token_type: &str) -> String {
    let _ = dir;
    format!(
        r#"
[store]
url = "sqlite://tokengate.db"
pepper = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]

[public]
listen = "127.0.0.1:0"

[[services]]
key = "{SERVICE}"
name = "Reviews API"
{token_type}

[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
redirect_uris = ["{REDIRECT}"]
services = ["{SERVICE}"]

[[clients]]
id = 12345
client_id = "{PUBLIC_CLIENT}"
name = "OAuth 2.0 Test App"
services = ["{SERVICE}"]
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_samples_replay_with_the_documented_members() {
    let dir = tempfile::tempdir().unwrap();

    // fetchApplication (002) and createAccessToken (001): a MAC service.
    let gw = Gateway::start(
        dir.path(),
        &config(
            dir.path(),
            "token_type = \"mac\"\nmac_algorithm = \"hmac-sha-256\"",
        ),
    );
    let admin = Admin::new(&gw);

    let app = samples("002_9d00b102ff9cbd2e.txt");
    let documented = sample(&app, "Sample Response");
    let ordered = sample(&app, "Sample Request - Ordered Parameters");
    let reply = admin.send(&ordered).await;
    assert_shape(&documented, &reply, "$", &[]);
    assert_eq!(
        reply, documented,
        "the seed's client is reproduced value for value"
    );
    let named = sample(&app, "Sample Request - Named Parameters");
    assert_shape(&as_v2(&documented), &admin.send(&named).await, "$", &[]);
    let mut unknown = ordered.clone();
    unknown["params"][1]["client_id"] = json!("no-such-client");
    let reply = admin.send(&unknown).await;
    let documented_error = sample(&app, "Example Error Response");
    assert_shape(&documented_error, &reply, "$", &["$.error.error"]);
    assert_eq!(reply["error"]["data"], documented_error["error"]["data"]);
    assert_eq!(
        reply["error"]["message"],
        documented_error["error"]["message"]
    );

    let create = samples("001_56bbb7088c232b5f.txt");
    let documented = sample(&create, "Sample Response");
    let mut secrets = vec![WEB_SECRET.to_owned()];
    let mut ordered = sample(&create, "Sample Request (Ordered Parameters)");
    let code = admin.code().await;
    secrets.push(code.clone());
    ordered["params"][2]["code"] = json!(code);
    let reply = admin.send(&ordered).await;
    assert_shape(&documented, &reply, "$", &[]);
    let result = &reply["result"];
    assert_eq!(
        (
            &result["return_type"],
            &result["token_type"],
            &result["expires_in"],
            &result["scope"]
        ),
        (
            &json!("json"),
            &json!("mac"),
            &json!(3600),
            &json!("myscope")
        )
    );
    assert_eq!(result["extended"]["algorithm"], "hmac-sha-256");
    let mac_token = result["access_token"].as_str().unwrap().to_owned();
    secrets.push(mac_token.clone());
    secrets.push(result["refresh_token"].as_str().unwrap().to_owned());
    let mut named = sample(&create, "Sample Request (Named Parameters)");
    named["params"]["token_data"]["code"] = json!(admin.code().await);
    assert_shape(&as_v2(&documented), &admin.send(&named).await, "$", &[]);
    assert_eq!(gw.terminate().code(), Some(0));

    // fetchAccessToken (000): the same database, the service now bearer.
    let gw = Gateway::start(dir.path(), &config(dir.path(), "token_type = \"bearer\""));
    let admin = Admin::new(&gw);
    let fetch = samples("000_71fb1f4c9b38e0ac.txt");
    let issued = admin
        .send(
            &json!({"jsonrpc":"2.0","method":"oauth2.createAccessToken","params":[SERVICE,
            {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
            {"grant_type":"password","scope":"http://www.example.com"}, null, "user12345"],"id":1}),
        )
        .await;
    let token = issued["result"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let found = sample(&fetch, "Sample Response - Token Found");
    for heading in [
        "Sample Request - Ordered Parameters",
        "Sample Request - Named Parameters",
    ] {
        let mut request = sample(&fetch, heading);
        // The seed's own token is unknown here: the "Token Not Found" answer.
        let not_found = admin.send(&request).await;
        let documented_missing = sample(&fetch, "Sample Response - Token Not Found");
        assert_shape(&documented_missing, &not_found, "$", &["$.error.data"]);
        assert_eq!(
            not_found["error"]["error"],
            documented_missing["error"]["error"]
        );
        match &mut request["params"] {
            Value::Array(p) => p[1] = json!(token),
            p => p["access_token"] = json!(token),
        }
        let reply = admin.send(&request).await;
        assert_shape(&found, &reply, "$", &[]);
        assert_eq!(reply["result"]["scope"], "http://www.example.com");
        assert_eq!(reply["result"]["user_context"], "user12345");
    }
    // The MAC token issued before the restart is still there.
    let kept = admin
        .send(&json!({"jsonrpc":"2.0","method":"oauth2.fetchAccessToken","params":[SERVICE, mac_token],"id":2}))
        .await;
    assert_eq!(kept["result"]["token_type"], "mac");
    assert_eq!(gw.terminate().code(), Some(0));

    // Nothing secret is in the database files, only hashes.
    let mut bytes = Vec::new();
    for name in ["tokengate.db", "tokengate.db-wal"] {
        bytes.extend(std::fs::read(dir.path().join(name)).unwrap_or_default());
    }
    assert!(bytes.len() > 4096, "the database was written");
    let text = String::from_utf8_lossy(&bytes);
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a raw secret is in the database"
        );
    }
    let hash = tokengate::secret::TokenHash::of(&token).to_hex();
    assert!(text.contains(&hash), "tokens are stored by their hash");
}
