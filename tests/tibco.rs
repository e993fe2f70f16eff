//! The TIBCO-style token routes over real sockets: the documented record for tokens of every
//! grant type, revocation, owners, authentication, pagination over 5,000 records, and the
//! routes on the admin listener of `tokengate serve`.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use common::process::Gateway;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokengate::model::{GrantType, MacAlgorithm, TokenRecord, TokenType};
use tokengate::oauth::{ClientCredentials, RedirectTarget, TokenRequest, TokenService};
use tokengate::rest::TibcoTokenApi;
use tokengate::rpc::{signature, Credentials};
use tokengate::secret::{generate_id, generate_token, TokenHash};
use tokengate::store::Store;

/// The members of a record, in the order of TIBCO's sample response (seed 003).
const MEMBERS: [&str; 15] = [
    "id",
    "accessToken",
    "refreshToken",
    "secret",
    "owner",
    "client",
    "classification",
    "scopes",
    "status",
    "key",
    "createdOn",
    "expiresOn",
    "grantType",
    "samlToken",
    "stringId",
];

struct Api {
    addr: SocketAddr,
    http: reqwest::Client,
    tokens: Arc<TokenService>,
    clock: TestClock,
    seen: Arc<Seen>,
    _guard: Box<dyn std::any::Any + Send>,
}

impl Api {
    async fn start(store: Arc<dyn Store>, guard: Box<dyn std::any::Any + Send>) -> Api {
        let (tokens, clock) = token_service(store.clone(), |_| {}).await;
        // The other service issues MAC tokens.
        let mut other = store.service(OTHER_SERVICE).await.unwrap().unwrap();
        other.token_type = TokenType::Mac(MacAlgorithm::HmacSha256);
        store.put_service(&other).await.unwrap();
        let tokens = Arc::new(tokens);
        let seen = Seen::subscribe(&tokens);
        let creds = Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())]);
        Api {
            addr: serve(TibcoTokenApi::new(tokens.clone(), creds)).await,
            http: reqwest::Client::new(),
            tokens,
            clock,
            seen,
            _guard: guard,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn send(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .send()
            .await
            .unwrap()
    }

    /// An authenticated request that must succeed; returns the body as text.
    async fn ok(&self, method: reqwest::Method, path: &str) -> String {
        let res = self.send(method, path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["content-type"], "application/json");
        res.text().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        serde_json::from_str(&self.ok(reqwest::Method::GET, path).await).unwrap()
    }

    async fn issue(
        &self,
        service: &str,
        data: TokenRequest,
        uri: Option<RedirectTarget>,
        user: Option<&str>,
    ) -> String {
        self.tokens
            .create_access_token(
                service,
                &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
                &data,
                uri.as_ref(),
                user,
            )
            .await
            .unwrap()
            .access_token
    }
}

/// Asserts the record's members are exactly the documented ones, in the sample's order.
fn assert_members_in_order(text: &str) {
    let value: Value = serde_json::from_str(text).unwrap();
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = MEMBERS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{text}");
    let positions: Vec<usize> = MEMBERS
        .iter()
        .map(|m| text.find(&format!("\"{m}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

async fn records_of_every_grant_type(api: Api) {
    let now = api.clock.now();
    let code = api
        .tokens
        .create_authorization_code(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            Some(&RedirectTarget::uri(REDIRECT)),
            Some("reviews read"),
            Some("user12345"),
            None,
            None,
        )
        .await
        .unwrap()
        .code;
    let issued = api
        .tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
            &TokenRequest {
                code: Some(code),
                ..TokenRequest::grant("authorization_code")
            },
            Some(&RedirectTarget::uri(REDIRECT)),
            None,
        )
        .await
        .unwrap();
    let by_code = issued.access_token;
    let refreshed = api
        .issue(
            SERVICE,
            TokenRequest {
                refresh_token: issued.refresh_token,
                ..TokenRequest::grant("refresh_token")
            },
            None,
            None,
        )
        .await;
    let implicit = api
        .issue(
            SERVICE,
            TokenRequest {
                response_type: Some("token".into()),
                ..Default::default()
            },
            Some(RedirectTarget::uri(REDIRECT)),
            Some("user implicit"),
        )
        .await;
    let password = api
        .issue(
            SERVICE,
            TokenRequest {
                scope: Some("read".into()),
                ..TokenRequest::grant("password")
            },
            None,
            Some("user-pass"),
        )
        .await;
    let cc = api
        .issue(
            SERVICE,
            TokenRequest {
                scope: Some("reviews".into()),
                ..TokenRequest::grant("client_credentials")
            },
            None,
            None,
        )
        .await;
    let mac = api
        .issue(
            OTHER_SERVICE,
            TokenRequest::grant("client_credentials"),
            None,
            None,
        )
        .await;

    let cases: [(&str, &str, &str, Value, Value); 6] = [
        (
            &by_code,
            "authorization_code",
            "user12345",
            json!("reviews"),
            json!(["reviews", "read"]),
        ),
        (
            &refreshed,
            "refresh_token",
            "user12345",
            json!("reviews"),
            json!(["reviews", "read"]),
        ),
        (
            &implicit,
            "implicit",
            "user implicit",
            json!(null),
            json!([]),
        ),
        (
            &password,
            "password",
            "user-pass",
            json!("read"),
            json!(["read"]),
        ),
        (
            &cc,
            "client_credentials",
            WEB_CLIENT,
            json!("reviews"),
            json!(["reviews"]),
        ),
        (
            &mac,
            "client_credentials",
            WEB_CLIENT,
            json!(null),
            json!([]),
        ),
    ];
    for (token, grant, owner, classification, scopes) in cases {
        let text = api
            .ok(
                reqwest::Method::GET,
                &format!("/oauth2/access_token/{token}"),
            )
            .await;
        assert_members_in_order(&text);
        let record: Value = serde_json::from_str(&text).unwrap();
        let stored = api.tokens.token_record(token).await.unwrap().unwrap();
        let secret = api.tokens.mac_key(&stored, token);
        assert_eq!(secret.is_some(), token == mac);
        assert_eq!(
            record,
            json!({
                "id": stored.id,
                "accessToken": token,
                "refreshToken": null,
                "secret": secret,
                "owner": owner,
                "client": WEB_CLIENT,
                "classification": classification,
                "scopes": scopes,
                "status": "Active",
                "key": 0,
                "createdOn": now,
                "expiresOn": now + 3_600_000,
                "grantType": grant,
                "samlToken": null,
                "stringId": stored.id,
            }),
            "{grant}"
        );
        assert_eq!(stored.id.len(), 32);
    }

    // TIBCO's own prefix works too.
    let record = api
        .get(&format!("/asg/oauth2/access_token/{password}"))
        .await;
    assert_eq!(record["owner"], "user-pass");

    // Listings never carry token values (nor MAC keys): every record, newest first.
    let text = api
        .ok(reqwest::Method::GET, "/oauth2/access_token/owners")
        .await;
    let all: Value = serde_json::from_str(&text).unwrap();
    for token in [&by_code, &refreshed, &implicit, &password, &cc, &mac] {
        assert!(!text.contains(token.as_str()), "a listing carries a token");
    }
    assert_eq!(all["next_cursor"], Value::Null);
    let listed = all["tokens"].as_array().unwrap();
    assert_eq!(listed.len(), 6);
    for record in listed {
        assert_eq!(record["accessToken"], Value::Null);
        assert_eq!(record["secret"], Value::Null);
        assert_eq!(record.as_object().unwrap().len(), MEMBERS.len());
    }
    // The first record as sent (records hold no nested objects).
    let first = &text[text.find("[{").unwrap() + 1..];
    assert_members_in_order(&first[..=first.find('}').unwrap()]);
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "same createdOn: by id, descending");

    // One owner's: a user context, or the client for client_credentials tokens.
    let mine = api.get("/oauth2/access_token/owners/user12345").await;
    assert_eq!(mine["tokens"].as_array().unwrap().len(), 2);
    let spaced = api.get("/oauth2/access_token/owners/user%20implicit").await;
    assert_eq!(spaced["tokens"][0]["grantType"], "implicit");
    let client = api
        .get(&format!("/oauth2/access_token/owners/{WEB_CLIENT}"))
        .await;
    let grants: Vec<&str> = client["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["grantType"].as_str().unwrap())
        .collect();
    assert_eq!(grants, ["client_credentials", "client_credentials"]);
    let nobody = api.get("/oauth2/access_token/owners/nobody").await;
    assert_eq!(nobody, json!({"tokens": [], "next_cursor": null}));

    // DELETE revokes through the token service (listeners hear) and answers the record.
    let text = api
        .ok(
            reqwest::Method::DELETE,
            &format!("/oauth2/access_token/{password}"),
        )
        .await;
    assert_members_in_order(&text);
    let revoked: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(revoked["status"], "Revoked");
    assert_eq!(revoked["accessToken"], password.as_str());
    assert!(api.seen.heard(&password));
    assert!(api
        .tokens
        .fetch_access_token(SERVICE, &password)
        .await
        .is_err());
    let again = api
        .ok(
            reqwest::Method::DELETE,
            &format!("/oauth2/access_token/{password}"),
        )
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&again).unwrap()["status"],
        "Revoked"
    );
    let record = api.get(&format!("/oauth2/access_token/{password}")).await;
    assert_eq!(record["status"], "Revoked");

    // Expired.
    api.clock.advance_secs(3600);
    let record = api.get(&format!("/oauth2/access_token/{cc}")).await;
    assert_eq!(record["status"], "Expired");
    let record = api.get(&format!("/oauth2/access_token/{password}")).await;
    assert_eq!(record["status"], "Revoked", "revoked wins over expired");
}

async fn errors_and_authentication(api: Api) {
    let token = api
        .issue(
            SERVICE,
            TokenRequest::grant("client_credentials"),
            None,
            None,
        )
        .await;
    let path = format!("/oauth2/access_token/{token}");

    // Unknown token: 404 JSON; unknown route: 404 JSON.
    for (method, missing) in [
        (reqwest::Method::GET, "/oauth2/access_token/nosuchtoken"),
        (reqwest::Method::DELETE, "/oauth2/access_token/nosuchtoken"),
        (reqwest::Method::GET, "/oauth2/access_token/a/b"),
        (reqwest::Method::GET, "/somewhere"),
    ] {
        let res = api.send(method, missing).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    }

    // Credentials: missing → 401 with a challenge, wrong → 403, signed query → fine.
    let res = api.http.get(api.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Basic realm=\"tokengate\""
    );
    assert!(!res.text().await.unwrap().contains(&token));
    let res = api
        .http
        .delete(api.url(&path))
        .basic_auth(ADMIN_KEY, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(api.tokens.fetch_access_token(SERVICE, &token).await.is_ok());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = signature(ADMIN_KEY, ADMIN_SECRET, now);
    let res = api
        .http
        .get(api.url(&format!(
            "/oauth2/access_token/owners?api_key={ADMIN_KEY}&sig={sig}&limit=1"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Methods.
    let res = api.send(reqwest::Method::POST, &path).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD, DELETE");
    let res = api
        .send(reqwest::Method::DELETE, "/oauth2/access_token/owners")
        .await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert!(api.tokens.fetch_access_token(SERVICE, &token).await.is_ok());

    // Bad listing parameters.
    for query in [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "cursor=garbage!",
        "limit=1&limit=2",
    ] {
        let res = api
            .send(
                reqwest::Method::GET,
                &format!("/oauth2/access_token/owners?{query}"),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
    }
}

macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store: Arc<dyn Store> = Arc::new(tokengate::store::MemoryStore::new());
                    super::$name(Api::start(store, Box::new(())).await).await;
                }
            )*
        }
        mod sqlite_store {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, dir) = crate::common::sqlite_store().await;
                    super::$name(Api::start(store, Box::new(dir)).await).await;
                }
            )*
        }
    };
}

api_tests!(records_of_every_grant_type, errors_and_authentication);

/// Walks a listing with pages of `limit`; returns the records in the order received.
async fn walk(api: &Api, path: &str, limit: u32) -> Vec<Value> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{path}?limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = api.get(&url).await;
        pages += 1;
        let tokens = page["tokens"].as_array().unwrap();
        assert!(tokens.len() <= limit as usize);
        records.extend(tokens.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(tokens.len(), limit as usize, "only the last page is short");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 10_000, "runaway pagination");
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_walks_5000_records_without_duplicates_or_gaps() {
    let (store, dir) = sqlite_store().await;
    let api = Api::start(store.clone(), Box::new(dir)).await;
    let base = api.clock.now();
    // Seven records per millisecond, so page boundaries fall inside runs of equal createdOn.
    let mut expected: Vec<TokenRecord> = Vec::with_capacity(5000);
    for i in 0..5000_i64 {
        let id = generate_id();
        let record = TokenRecord {
            family_id: id.clone(),
            id,
            token_hash: TokenHash::of(&generate_token()),
            service_key: SERVICE.into(),
            client_id: WEB_CLIENT.into(),
            token_type: TokenType::Bearer,
            grant_type: GrantType::Password,
            scope: Some("read".into()),
            user_context: Some(format!("user-{}", i % 3)),
            created_at: base - i / 7,
            expires_at: base + 3_600_000,
            revoked: i % 11 == 0,
            refresh: None,
            code_hash: None,
        };
        expected.push(record);
    }
    // Concurrent inserts, so the single SQLite writer can group commits.
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in expected.chunks(250) {
        let store = store.clone();
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            for record in &chunk {
                store.insert_token(record).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let expected_ids: Vec<&str> = expected.iter().map(|r| r.id.as_str()).collect();

    for limit in [1000, 333] {
        let records = walk(&api, "/oauth2/access_token/owners", limit).await;
        let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 5000, "limit {limit}");
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            5000,
            "no duplicates"
        );
        assert_eq!(ids, expected_ids, "newest first, no gaps (limit {limit})");
        assert!(records.iter().all(|r| r["accessToken"].is_null()));
    }
    // The default page size.
    let first = api.get("/oauth2/access_token/owners").await;
    assert_eq!(first["tokens"].as_array().unwrap().len(), 100);

    // One owner's records, paged.
    let records = walk(&api, "/oauth2/access_token/owners/user-1", 250).await;
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let owned: Vec<&str> = expected
        .iter()
        .filter(|r| r.user_context.as_deref() == Some("user-1"))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(owned.len(), 1667);
    assert_eq!(ids, owned);

    // A record added while walking does not shift the pages after the cursor.
    let page = api.get("/oauth2/access_token/owners?limit=10").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    api.issue(
        SERVICE,
        TokenRequest::grant("client_credentials"),
        None,
        None,
    )
    .await;
    let next = api
        .get(&format!(
            "/oauth2/access_token/owners?limit=10&cursor={cursor}"
        ))
        .await;
    let next_ids: Vec<&str> = next["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(next_ids, expected_ids[10..20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokengate_serve_mounts_the_routes_on_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(
        dir.path(),
        &format!(
            r#"
[store]
url = "sqlite://tokengate.db"
pepper = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

[public]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]

[[services]]
key = "{SERVICE}"

[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
services = ["{SERVICE}"]
"#
        ),
    );
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("http://{}{path}", gw.admin))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
    };
    let rpc = |body: Value| {
        let request = admin(reqwest::Method::POST, "/v2/json-rpc").body(body.to_string());
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let issued = rpc(
        json!({"jsonrpc":"2.0","method":"oauth2.createAccessToken","params":[SERVICE,
        {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
        {"grant_type":"password","scope":"reviews read"}, null, "user12345"],"id":1}),
    )
    .await;
    let token = issued["result"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let res = admin(
        reqwest::Method::GET,
        &format!("/oauth2/access_token/{token}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = res.text().await.unwrap();
    assert_members_in_order(&text);
    let record: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(record["owner"], "user12345");
    assert_eq!(record["classification"], "reviews");
    assert_eq!(record["status"], "Active");

    let listing: Value = admin(
        reqwest::Method::GET,
        "/oauth2/access_token/owners/user12345",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(listing["tokens"][0]["id"], record["id"]);
    assert_eq!(listing["tokens"][0]["accessToken"], Value::Null);

    let res = http
        .get(format!("http://{}/oauth2/access_token/owners", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let revoked: Value = admin(
        reqwest::Method::DELETE,
        &format!("/oauth2/access_token/{token}"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(revoked["status"], "Revoked");
    let fetched = rpc(json!({"jsonrpc":"2.0","method":"oauth2.fetchAccessToken",
        "params":[SERVICE, token],"id":2}))
    .await;
    assert_eq!(fetched["error"]["code"], -2001, "{fetched}");

    // The rest of the admin listener is unchanged.
    let health = http
        .get(format!("http://{}/healthz", gw.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let res = admin(reqwest::Method::GET, "/nowhere")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(gw.terminate().success());
}

#[test]
fn seed_sample_members_match() {
    // The sample response of seed 003, as TIBCO documents it.
    let sample = r#"{
"id": "5d34e914ad73b262dbf88a963dbccb41",
"accessToken": "T1amGT21.Idup.3446d8984b48a7c0c531267317334ea7",
"refreshToken": "T1amGR21.IdKM.8a7420fe5079ab1b3bd24b4de1d5fe2",
"secret": "619307e5-8e20-4997-9045-c083c123e04f",
"owner": "251-20c8104e-e91a-4384-980c-84545aced892",
"client": "251-20c8104e-e91a-4384-980c-84545aced892",
"classification": "reviews",
"scopes": [
"reviews"
],
"status": "Active",
"key": 0,
"createdOn": 1409942780365,
"expiresOn": 1409946380427,
"grantType": "client_credentials",
"samlToken": null,
"stringId": "5d34e914ad73b262dbf88a963dbccb41"
}"#;
    assert_members_in_order(sample);
}
