//! The JSON-RPC service over real sockets: every method in both param styles, dialects,
//! batches, notifications, limits, caller authentication and error codes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::down::FlakyStore;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokengate::oauth::TokenService;
use tokengate::rpc::{signature, Credentials, JsonRpcService};
use tokengate::store::Store;

struct Api {
    addr: SocketAddr,
    http: reqwest::Client,
    _guard: Box<dyn std::any::Any + Send>,
}

impl Api {
    async fn start(store: Arc<dyn Store>, guard: Box<dyn std::any::Any + Send>) -> Api {
        let (tokens, _) = token_service(store, |_| {}).await;
        Api::with(tokens, guard).await
    }

    async fn with(tokens: TokenService, guard: Box<dyn std::any::Any + Send>) -> Api {
        let creds = Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())]);
        let rpc = JsonRpcService::new(Arc::new(tokens), creds)
            .max_body_bytes(64 * 1024)
            .max_batch(20);
        Api {
            addr: serve(rpc).await,
            http: reqwest::Client::new(),
            _guard: guard,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/v2/json-rpc", self.addr)
    }

    async fn raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url())
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn call(&self, body: Value) -> Value {
        let res = self.raw(body.to_string()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        res.json().await.unwrap()
    }

    /// Calls `method` with ordered or named params in JSON-RPC 2.0 and returns the result.
    async fn result(&self, method: &str, params: Value) -> Value {
        let reply = self
            .call(json!({"jsonrpc":"2.0","method":method,"params":params,"id":1}))
            .await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn error(&self, method: &str, params: Value) -> Value {
        let reply = self
            .call(json!({"jsonrpc":"2.0","method":method,"params":params,"id":1}))
            .await;
        assert!(reply.get("result").is_none(), "{method}: {reply}");
        reply["error"].clone()
    }
}

fn web() -> Value {
    json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET})
}

/// Ordered params and the same params named.
fn both(names: &[&str], values: Vec<Value>) -> [Value; 2] {
    let named: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| n.to_string())
        .zip(values.iter().cloned())
        .collect();
    [Value::Array(values), Value::Object(named)]
}

async fn password_token(api: &Api, user: &str) -> String {
    api.result(
        "oauth2.createAccessToken",
        json!([SERVICE, web(), {"grant_type":"password","scope":"read"}, null, user]),
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn all_eight_methods_in_both_param_styles(api: Api) {
    for params in both(
        &["service_key", "client", "uri", "response_type"],
        vec![
            json!(SERVICE),
            json!({"client_id": PUBLIC_CLIENT}),
            Value::Null,
            json!("code"),
        ],
    ) {
        let app = api.result("oauth2.fetchApplication", params).await;
        assert_eq!(
            app,
            json!({"id":12345,"external_id":null,"name":"OAuth 2.0 Test App","attributes":null})
        );
    }
    for params in both(
        &[
            "service_key",
            "client",
            "uri",
            "scope",
            "user_context",
            "response_type",
        ],
        vec![
            json!(SERVICE),
            json!({"client_id": WEB_CLIENT}),
            json!({"redirect_uri": REDIRECT, "state": "st"}),
            json!("myscope"),
            json!("user12345"),
            json!("code"),
        ],
    ) {
        let grant = api.result("oauth2.createAuthorizationCode", params).await;
        let code = grant["code"].as_str().unwrap();
        assert_eq!(
            grant["uri"]["redirect_uri"],
            format!("{REDIRECT}?code={code}&state=st")
        );
        for params in both(
            &["service_key", "client", "token_data", "uri", "user_context"],
            vec![
                json!(SERVICE),
                web(),
                json!({"grant_type":"authorization_code","code":code,"response_type":null,"refresh_token":""}),
                json!({"redirect_uri": REDIRECT}),
                json!("user12345"),
            ],
        ) {
            // The first style redeems; the second replays the same code and must fail.
            let reply = api.call(json!({"jsonrpc":"2.0","method":"oauth2.createAccessToken","params":params,"id":1})).await;
            if let Some(result) = reply.get("result") {
                assert_eq!(result["scope"], "myscope");
            } else {
                assert_eq!(reply["error"]["code"], -2001);
                assert_eq!(reply["error"]["data"]["error"], "invalid_grant");
            }
        }
    }
    let token = password_token(&api, "user12345").await;
    for params in both(
        &["service_key", "access_token"],
        vec![json!(SERVICE), json!(token)],
    ) {
        let info = api.result("oauth2.fetchAccessToken", params).await;
        assert_eq!(info["client_id"], WEB_CLIENT);
        assert_eq!(info["grant_type"], "password");
        assert_eq!(info["user_context"], "user12345");
        let expires = info["expires"].as_str().unwrap();
        assert_eq!(expires.len(), 20, "{expires}");
        assert!(expires.ends_with('Z') && expires.as_bytes()[10] == b'T');
    }
    for params in both(
        &["service_key", "user_context", "token_status"],
        vec![json!(SERVICE), json!("user12345"), json!("all")],
    ) {
        let apps = api.result("oauth2.fetchUserApplications", params).await;
        assert_eq!(apps[0]["client_id"], WEB_CLIENT);
        assert_eq!(apps[0]["id"], 12346);
        // Two from codes (revoked by their replays) and the password token.
        assert_eq!(apps[0]["access_tokens"].as_array().unwrap().len(), 3);
        assert!(
            !apps.to_string().contains(&token),
            "token values are never listed"
        );
    }
    let active = api
        .result(
            "oauth2.fetchUserApplications",
            json!([SERVICE, "user12345"]),
        )
        .await;
    assert_eq!(active[0]["access_tokens"].as_array().unwrap().len(), 1);
    for params in both(
        &[
            "service_key",
            "client",
            "access_token",
            "scope",
            "expires_in",
            "user_context",
        ],
        vec![
            json!(SERVICE),
            web(),
            json!(token),
            json!("read write"),
            json!(120),
            Value::Null,
        ],
    ) {
        let info = api.result("oauth2.updateAccessToken", params).await;
        assert_eq!(info["scope"], "read write");
    }
    let flat = json!({"service_key": SERVICE, "client_id": WEB_CLIENT, "client_secret": WEB_SECRET, "access_token": token, "user_context": "renamed"});
    assert_eq!(
        api.result("oauth2.updateAccessToken", flat).await["user_context"],
        "renamed"
    );
    for (i, params) in both(
        &["service_key", "client", "access_token"],
        vec![json!(SERVICE), web(), Value::Null],
    )
    .into_iter()
    .enumerate()
    {
        let t = password_token(&api, &format!("revokee{i}")).await;
        let params = match params {
            Value::Array(mut a) => {
                a[2] = json!(t);
                Value::Array(a)
            }
            Value::Object(mut o) => {
                o.insert("access_token".into(), json!(t));
                Value::Object(o)
            }
            _ => unreachable!(),
        };
        assert_eq!(
            api.result("oauth2.revokeAccessToken", params).await,
            json!(true)
        );
        let e = api
            .error("oauth2.fetchAccessToken", json!([SERVICE, t]))
            .await;
        assert_eq!(e["message"], "Invalid Access Token");
    }
    for params in both(
        &["service_key", "client", "user_context"],
        vec![json!(SERVICE), web(), json!("renamed")],
    ) {
        assert_eq!(
            api.result("oauth2.revokeUserApplication", params).await,
            json!(true)
        );
    }
    let e = api
        .error("oauth2.fetchAccessToken", json!([SERVICE, token]))
        .await;
    assert_eq!(e["error"]["error"], 404);
}

async fn list_form_of_fetch_access_token(api: Api) {
    let a = password_token(&api, "l1").await;
    let b = password_token(&api, "l2").await;
    let list = api
        .result("oauth2.fetchAccessToken", json!([SERVICE, [a, "junk", b]]))
        .await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["access_token"], a);
    assert_eq!(list[1]["access_token"], b);
    assert_eq!(list[1]["user_context"], "l2");
    let one = api
        .result("oauth2.fetchAccessToken", json!([SERVICE, [a]]))
        .await;
    assert!(one.is_array(), "a list of one is still a list");
    let too_many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    assert_eq!(
        api.error("oauth2.fetchAccessToken", json!([SERVICE, too_many]))
            .await["code"],
        -32602
    );
}

async fn dialects_are_answered_in_kind(api: Api) {
    let params = json!([SERVICE, {"client_id": PUBLIC_CLIENT}, null, "code"]);
    let v1 = api
        .call(json!({"method":"oauth2.fetchApplication","params":params,"id":1}))
        .await;
    assert_eq!(
        v1.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["error", "id", "result"]
    );
    assert_eq!(v1["error"], Value::Null);
    let v11 = api
        .call(json!({"version":"1.1","method":"oauth2.fetchApplication","params":params,"id":"x"}))
        .await;
    assert_eq!(v11["version"], "1.1");
    assert_eq!(v11["id"], "x");
    let v1_err = api.call(json!({"method":"oauth2.fetchApplication","params":[SERVICE, {"client_id":"nobody"}],"id":2})).await;
    assert_eq!(v1_err["result"], Value::Null);
    assert_eq!(v1_err["error"]["code"], -2001);
    assert_eq!(v1_err["error"]["message"], "Invalid client identifier");
    let nested = json!({"error":"unauthorized_client","error_description":"Invalid client identifier","error_response":null});
    assert_eq!(v1_err["error"]["data"], nested);
    assert_eq!(v1_err["error"]["error"], nested);
    let v2 = api
        .call(json!({"jsonrpc":"2.0","method":"oauth2.fetchApplication","params":params,"id":3}))
        .await;
    assert_eq!(
        v2.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "jsonrpc", "result"]
    );
}

async fn batches_and_notifications(api: Api) {
    let params = json!([SERVICE, {"client_id": PUBLIC_CLIENT}]);
    let batch = json!([
        {"jsonrpc":"2.0","method":"oauth2.fetchApplication","params":params,"id":1},
        {"jsonrpc":"2.0","method":"oauth2.fetchApplication","params":params},
        {"jsonrpc":"2.0","method":"oauth2.nope","id":2},
        7,
    ]);
    let replies = api.call(batch).await;
    let replies = replies.as_array().unwrap();
    assert_eq!(replies.len(), 3, "the notification gets no reply");
    assert_eq!(replies[0]["result"]["id"], 12345);
    assert_eq!(replies[1]["error"]["code"], -32601);
    assert_eq!(replies[2]["error"]["code"], -32600);
    // A member without `"jsonrpc": "2.0"` is not a 1.0 call (1.0 has no batches): the
    // specification's §7 answer, in 2.0 form, whatever else it holds.
    for member in [
        json!({"foo": "boo"}),
        json!({"method":"oauth2.fetchApplication","params":params,"id":3}),
        json!({"version":"1.1","method":"oauth2.fetchApplication","params":params,"id":4}),
    ] {
        let replies = api.call(json!([member])).await;
        let reply = &replies.as_array().unwrap()[0];
        assert_eq!(reply["jsonrpc"], "2.0", "{member}: {reply}");
        assert_eq!(reply["error"]["code"], -32600, "{member}: {reply}");
        assert_eq!(reply["id"], Value::Null, "{member}: {reply}");
        let members: Vec<&String> = reply.as_object().unwrap().keys().collect();
        assert_eq!(
            members,
            ["error", "id", "jsonrpc"],
            "no result member: {reply}"
        );
    }
    // A notification still runs: revoke through one, then check.
    let t = password_token(&api, "n1").await;
    let res = api.raw(json!({"jsonrpc":"2.0","method":"oauth2.revokeAccessToken","params":[SERVICE, web(), t]}).to_string()).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api.error("oauth2.fetchAccessToken", json!([SERVICE, t]))
            .await["code"],
        -2001
    );
    let all_notes = json!([{"jsonrpc":"2.0","method":"oauth2.fetchApplication","params":params}]);
    assert_eq!(
        api.raw(all_notes.to_string()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.call(json!([])).await["error"]["code"], -32600);
    let big: Vec<Value> = (0..21)
        .map(|i| json!({"jsonrpc":"2.0","method":"x","id":i}))
        .collect();
    assert_eq!(api.call(Value::Array(big)).await["error"]["code"], -32600);
}

async fn malformed_requests_get_precise_errors(api: Api) {
    // Ids come back exactly as sent, floats included (found by tests/properties.rs).
    let text = api
        .raw(r#"{"jsonrpc":"2.0","method":"oauth2.nope","id":-2.3180806694201517e-20}"#)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#""id":-2.3180806694201517e-20"#), "{text}");
    let parse = api.call(Value::String("{not json".into())).await;
    // (sent as a JSON string literal, which is valid JSON but not a request)
    assert_eq!(parse["error"]["code"], -32600);
    let res = api.raw("{\"jsonrpc\":\"2.0\",").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let body: Value = api.raw(deep).await.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], -32700,
        "nesting past serde's limit is a parse error"
    );
    assert_eq!(api.error("oauth2.unknown", json!([])).await["code"], -32601);
    let wrong_type = api
        .error("oauth2.fetchAccessToken", json!([SERVICE, 42]))
        .await;
    assert_eq!(wrong_type["code"], -32602);
    let missing = api
        .error("oauth2.createAccessToken", json!([SERVICE]))
        .await;
    assert_eq!(missing["code"], -32602);
    let extra = api
        .error(
            "oauth2.fetchAccessToken",
            json!({"service_key": SERVICE, "access_token": "x", "bogus": 1}),
        )
        .await;
    assert_eq!(extra["code"], -32602);
    let res = api.raw(vec![b' '; 65 * 1024]).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let get = api
        .http
        .get(api.url())
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let other = api
        .http
        .post(format!("http://{}/v3/json-rpc", api.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let site = api.http.post(format!("{}/12345", api.url())).basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .body(json!({"method":"oauth2.fetchApplication","params":[SERVICE, {"client_id": PUBLIC_CLIENT}],"id":1}).to_string())
        .send().await.unwrap();
    assert_eq!(
        site.json::<Value>().await.unwrap()["result"]["id"],
        12345,
        "site id path works"
    );
}

async fn callers_must_authenticate(api: Api) {
    let body = json!({"jsonrpc":"2.0","method":"oauth2.fetchApplication","params":[SERVICE, {"client_id": PUBLIC_CLIENT}],"id":1}).to_string();
    let none = api
        .http
        .post(api.url())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Basic realm=\"tokengate\""
    );
    assert!(none.bytes().await.unwrap().is_empty(), "no detail");
    let wrong = api
        .http
        .post(api.url())
        .basic_auth(ADMIN_KEY, Some("guess"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (param, ts, expected) in [
        ("api_key", now, StatusCode::OK),
        ("apikey", now - 100, StatusCode::OK),
        ("api_key", now - 400, StatusCode::FORBIDDEN),
    ] {
        let sig = signature(ADMIN_KEY, ADMIN_SECRET, ts);
        let res = api
            .http
            .post(format!("{}?{param}={ADMIN_KEY}&sig={sig}", api.url()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected, "{param} at {ts}");
    }
    let bad_sig = api
        .http
        .post(format!(
            "{}?api_key={ADMIN_KEY}&sig=00000000000000000000000000000000",
            api.url()
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_sig.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_store_that_is_down_is_an_internal_error_without_detail() {
    let api = Api::with(
        TokenService::new(Arc::new(FlakyStore::down()), pepper()),
        Box::new(()),
    )
    .await;
    // Tagged, so worth a lookup: a forged token is refused without asking the store at all.
    let token = pepper().tag_key().issue();
    for (method, params) in [
        ("oauth2.fetchAccessToken", json!([SERVICE, token])),
        ("oauth2.fetchAccessToken", json!([SERVICE, [token]])),
        (
            "oauth2.createAccessToken",
            json!([SERVICE, web(), {"grant_type":"client_credentials"}]),
        ),
        (
            "oauth2.revokeAccessToken",
            json!([SERVICE, web(), "sometoken"]),
        ),
    ] {
        let e = api.error(method, params).await;
        assert_eq!(
            e,
            json!({"code": -32603, "message": "Internal error"}),
            "{method}"
        );
    }
}

macro_rules! api_tests {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            api_tests!(@each $make; all_eight_methods_in_both_param_styles, list_form_of_fetch_access_token,
                dialects_are_answered_in_kind, batches_and_notifications,
                malformed_requests_get_precise_errors, callers_must_authenticate);
        }
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, guard) = $make.await;
                super::$name(Api::start(store, guard).await).await;
            }
        )*
    };
}

async fn memory() -> (Arc<dyn Store>, Box<dyn std::any::Any + Send>) {
    (Arc::new(tokengate::store::MemoryStore::new()), Box::new(()))
}

api_tests!(memory_store, memory());

async fn sqlite() -> (Arc<dyn Store>, Box<dyn std::any::Any + Send>) {
    let (store, dir) = sqlite_store().await;
    (store, Box::new(dir))
}

api_tests!(sqlite_store, sqlite());
