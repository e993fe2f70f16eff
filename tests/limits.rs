//! Rate limits and the lookup cap over real sockets: `tokengate serve` with issuance limits per
//! client, failed client (and admin) authentications limited per client address, the defaults,
//! and, in-process over a store that holds its lookups, the cap on concurrent token lookups.
//!
//! Clients bind to other loopback addresses (127.0.0.2, …: Linux routes all of 127/8 to `lo`)
//! to be other client addresses; `X-Forwarded-For` is never trusted, so it is not used.
#![cfg(target_os = "linux")]

mod common;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::admin::metric;
use common::down::FlakyStore;
use common::process::Gateway;
use common::{ADMIN_KEY, ADMIN_SECRET, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};

const SECOND_CLIENT: &str = "second-client";
const SECOND_SECRET: &str = "second-secret";
const EXEMPT_CLIENT: &str = "exempt-client";
const EXEMPT_SECRET: &str = "exempt-secret";

/// Most requests a test sends while waiting for a limit to answer 429.
const MAX_ATTEMPTS: usize = 40;

/// A configuration with `public`, `admin` and `service` lines added to those sections, and
/// `client` lines added to the first client's.
fn config(public: &str, admin: &str, service: &str, client: &str) -> String {
    format!(
        r#"
[store]
url = "memory:"

[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]
{admin}

[public]
listen = "127.0.0.1:0"
{public}

[[services]]
key = "{SERVICE}"
grants = ["authorization_code", "password", "client_credentials"]
{service}

[[clients]]
id = 1
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Web"
redirect_uris = ["{REDIRECT}"]
services = ["{SERVICE}"]
{client}

[[clients]]
id = 2
client_id = "{SECOND_CLIENT}"
secret = "{SECOND_SECRET}"
name = "Second"
services = ["{SERVICE}"]

[[clients]]
id = 3
client_id = "{EXEMPT_CLIENT}"
secret = "{EXEMPT_SECRET}"
name = "Exempt"
services = ["{SERVICE}"]
issue_rate = false
"#
    )
}

/// An HTTP client whose connections come from `ip` (a loopback address).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// `POST /oauth2/token` with `grant_type=client_credentials` and HTTP Basic.
async fn token(
    http: &reqwest::Client,
    public: SocketAddr,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    http.post(format!("http://{public}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

/// A JSON-RPC 2.0 call on the admin listener as `key`/`secret`: the HTTP status and the body.
async fn rpc(
    http: &reqwest::Client,
    admin: SocketAddr,
    secret: &str,
    method: &str,
    params: Value,
) -> (u16, Value) {
    let res = http
        .post(format!("http://{admin}/v2/json-rpc"))
        .basic_auth(ADMIN_KEY, Some(secret))
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn client_credentials_params(id: &str, secret: &str) -> Value {
    json!([SERVICE, { "client_id": id, "client_secret": secret }, { "grant_type": "client_credentials" }, null, null])
}

/// Calls `method` until it answers an error (at most [`MAX_ATTEMPTS`] times), every answer with
/// HTTP 200; returns the error reply.
async fn rpc_until_error(
    http: &reqwest::Client,
    admin: SocketAddr,
    method: &str,
    params: Value,
) -> Value {
    for _ in 0..MAX_ATTEMPTS {
        let (status, body) = rpc(http, admin, ADMIN_SECRET, method, params.clone()).await;
        assert_eq!(status, 200, "{body}");
        if body.get("error").is_some() {
            return body;
        }
        assert!(body["result"].is_object(), "{body}");
    }
    panic!("{method} never answered an error in {MAX_ATTEMPTS} calls");
}

/// Sends with `send` until an answer is 429 (at most [`MAX_ATTEMPTS`] times); returns the
/// statuses before it and the 429 answer.
async fn until_429<F, Fut>(mut send: F) -> (Vec<u16>, reqwest::Response)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let mut before = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let res = send().await;
        if res.status() == 429 {
            return (before, res);
        }
        before.push(res.status().as_u16());
    }
    panic!("no 429 after {MAX_ATTEMPTS} requests: {before:?}");
}

/// Checks a 429 answer (numeric `Retry-After`, `slow_down`, not cached) and returns its
/// `Retry-After` in seconds.
async fn assert_slow_down(res: reqwest::Response) -> u64 {
    assert_eq!(res.status(), 429);
    let headers = res.headers().clone();
    let retry_after: u64 = headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    retry_after
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_over_its_issue_rate_gets_429_with_retry_after_and_other_clients_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(
        dir.path(),
        &config("", "", "issue_rate = { per_second = 1, burst = 3 }", ""),
    );
    let (public, admin) = (gateway.public(), gateway.admin);
    let http = reqwest::Client::new();

    // The client's burst is issued, then it is refused until its next unit is due.
    let (issued, refused) = until_429(|| token(&http, public, WEB_CLIENT, WEB_SECRET)).await;
    assert!(
        issued.len() >= 3 && issued.iter().all(|&s| s == 200),
        "{issued:?}"
    );
    let wait = assert_slow_down(refused).await;
    assert_eq!(
        wait, 1,
        "one per second: the next unit is due within a second"
    );

    // Other clients of the service have their own quota; an exempt client has none.
    assert_eq!(
        token(&http, public, SECOND_CLIENT, SECOND_SECRET)
            .await
            .status(),
        200
    );
    for _ in 0..10 {
        assert_eq!(
            token(&http, public, EXEMPT_CLIENT, EXEMPT_SECRET)
                .await
                .status(),
            200
        );
    }
    // Authentication comes first: without the secret nobody spends or learns the quota.
    let res = token(&http, public, WEB_CLIENT, "not-the-secret").await;
    assert_eq!(res.status(), 401);

    // After the wait the client is issued tokens again.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(50)).await;
    assert_eq!(
        token(&http, public, WEB_CLIENT, WEB_SECRET).await.status(),
        200
    );

    // JSON-RPC issuance takes from the same quota: over it, the documented error, HTTP 200.
    let issue = client_credentials_params(WEB_CLIENT, WEB_SECRET);
    let refused = rpc_until_error(&http, admin, "oauth2.createAccessToken", issue).await;
    let error = &refused["error"];
    assert_eq!(
        error["code"],
        tokengate::rpc::error::RATE_LIMITED,
        "{refused}"
    );
    assert_eq!(error["code"], -32029);
    assert_eq!(error["data"]["error"], "slow_down", "{refused}");
    let retry_after = error["data"]["retry_after"].as_u64().expect("seconds");
    assert!((1..=1).contains(&retry_after), "{refused}");
    // So does createAuthorizationCode.
    let code = json!([SERVICE, { "client_id": WEB_CLIENT }, { "redirect_uri": REDIRECT }, "read", "user1"]);
    let refused = rpc_until_error(&http, admin, "oauth2.createAuthorizationCode", code).await;
    assert_eq!(refused["error"]["code"], -32029, "{refused}");

    assert!(metric(admin, "tokengate_limited_total{limit=\"issue\"}").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_flood_from_one_address_is_refused_before_any_secret_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(
        dir.path(),
        &config(
            "failed_auth_limit = { per_minute = 12, burst = 3 }",
            "failed_auth_limit = { per_minute = 12, burst = 2 }",
            "",
            "",
        ),
    );
    let (public, admin) = (gateway.public(), gateway.admin);
    let attacker = client_from("127.0.0.2");
    let neighbour = client_from("127.0.0.3");

    // Wrong secrets are answered 401 until the address is over its limit (3 at once; a slow
    // machine may earn one more every 5 s), then 429.
    let (failed, refused) = until_429(|| token(&attacker, public, WEB_CLIENT, "guess")).await;
    assert!(failed.len() >= 3 && failed.len() <= 6, "{failed:?}");
    assert!(failed.iter().all(|&s| s == 401), "{failed:?}");
    assert_slow_down(refused).await;

    // From that address no secret is checked any more: the right one is refused too, at every
    // endpoint that authenticates clients.
    let res = token(&attacker, public, WEB_CLIENT, WEB_SECRET).await;
    assert_slow_down(res).await;
    for path in ["introspect", "revoke"] {
        let res = attacker
            .post(format!("http://{public}/oauth2/{path}"))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("token", "whatever")])
            .send()
            .await
            .unwrap();
        assert_slow_down(res).await;
    }
    // Other addresses are not affected, and neither the metadata nor bearer requests to the
    // gateway are client authentication.
    let res = attacker
        .get(format!(
            "http://{public}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        token(&neighbour, public, WEB_CLIENT, WEB_SECRET)
            .await
            .status(),
        200
    );
    let res = attacker
        .get(format!("http://{public}/reviews"))
        .bearer_auth("unknowntoken0000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The admin listener counts its own failures (403 for wrong credentials) the same way.
    let list = json!([SERVICE, "user1"]);
    let mut failed = Vec::new();
    loop {
        assert!(failed.len() < MAX_ATTEMPTS, "{failed:?}");
        let (status, _) = rpc(
            &attacker,
            admin,
            "guess",
            "oauth2.fetchUserApplications",
            list.clone(),
        )
        .await;
        if status == 429 {
            break;
        }
        failed.push(status);
    }
    assert!(
        failed.len() >= 2 && failed.iter().all(|&s| s == 403),
        "{failed:?}"
    );
    let (status, _) = rpc(
        &attacker,
        admin,
        ADMIN_SECRET,
        "oauth2.fetchUserApplications",
        list.clone(),
    )
    .await;
    assert_eq!(
        status, 429,
        "the right admin secret from that address is refused too"
    );
    let (status, body) = rpc(
        &neighbour,
        admin,
        ADMIN_SECRET,
        "oauth2.fetchUserApplications",
        list,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    assert!(
        metric(
            admin,
            "tokengate_limited_total{limit=\"failed_auth_public\"}"
        )
        .await
            >= 4.0
    );
    assert!(
        metric(
            admin,
            "tokengate_limited_total{limit=\"failed_auth_admin\"}"
        )
        .await
            >= 2.0
    );

    // Once the address has waited, it may authenticate again.
    let res = token(&attacker, public, WEB_CLIENT, WEB_SECRET).await;
    let wait = assert_slow_down(res).await;
    assert!(wait <= 5, "one failure per 5 s: {wait}");
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(50)).await;
    assert_eq!(
        token(&attacker, public, WEB_CLIENT, WEB_SECRET)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_issuance_is_unlimited_and_failed_authentications_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &config("", "", "", ""));
    let (public, admin) = (gateway.public(), gateway.admin);
    let http = reqwest::Client::new();

    // No issue_rate: a burst of issuance is never refused, on either API.
    for _ in 0..40 {
        assert_eq!(
            token(&http, public, WEB_CLIENT, WEB_SECRET).await.status(),
            200
        );
    }
    let batch: Vec<Value> = (0..50)
        .map(|i| {
            json!({ "jsonrpc": "2.0", "id": i, "method": "oauth2.createAccessToken",
                    "params": client_credentials_params(WEB_CLIENT, WEB_SECRET) })
        })
        .collect();
    let replies: Vec<Value> = http
        .post(format!("http://{admin}/v2/json-rpc"))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replies.len(), 50);
    assert!(
        replies
            .iter()
            .all(|r| r["result"]["access_token"].is_string()),
        "{replies:?}"
    );

    // The failed-authentication limit is on: 10 at once, then one every 2 s.
    let stranger = client_from("127.0.0.4");
    let (failed, refused) = until_429(|| token(&stranger, public, "no-such-client", "x")).await;
    assert!(failed.len() >= 10 && failed.len() <= 14, "{failed:?}");
    assert!(failed.iter().all(|&s| s == 401), "{failed:?}");
    let wait = assert_slow_down(refused).await;
    assert!(wait <= 2, "{wait}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_auth_limit_false_switches_the_limit_off() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(
        dir.path(),
        &config(
            "failed_auth_limit = false",
            "failed_auth_limit = false",
            "",
            "",
        ),
    );
    let (public, admin) = (gateway.public(), gateway.admin);
    let http = client_from("127.0.0.5");
    for _ in 0..25 {
        assert_eq!(
            token(&http, public, WEB_CLIENT, "guess").await.status(),
            401
        );
        let (status, _) = rpc(
            &http,
            admin,
            "guess",
            "oauth2.fetchUserApplications",
            json!([SERVICE, "u"]),
        )
        .await;
        assert_eq!(status, 403);
    }
    assert_eq!(
        token(&http, public, WEB_CLIENT, WEB_SECRET).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn misses_beyond_the_lookup_cap_get_503_after_the_wait_and_never_reach_the_store() {
    use tokengate::server::{Config, Server};
    use tokengate::store::MemoryStore;

    let store = Arc::new(FlakyStore::new(Arc::new(MemoryStore::new())));
    let text = config(
        "max_concurrent_lookups = 2\nlookup_wait_ms = 300",
        "",
        "",
        "",
    );
    let server = Server::bind_with_store(
        Config::from_toml(&text, None).unwrap(),
        store.clone(),
        common::pepper(),
    )
    .await
    .unwrap();
    let (public, admin) = (server.public_addr().unwrap(), server.admin_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    // Six distinct uncached tokens at once while the store holds every lookup. They are of the
    // issued form (tagged with the node's key), so each one is looked up.
    let tags = common::pepper().tag_key();
    let tokens: Vec<String> = (0..6).map(|_| tags.issue()).collect();
    store.hold_lookups(true);
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    for token in tokens {
        let done = done.clone();
        tokio::spawn(async move {
            let res = reqwest::Client::new()
                .get(format!("http://{public}/reviews"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let _ = done.send((res.status().as_u16(), retry_after, started.elapsed()));
        });
    }

    // Four find both turns taken, wait 300 ms and get 503 with Retry-After.
    for _ in 0..4 {
        let (status, retry_after, elapsed) =
            tokio::time::timeout(Duration::from_secs(20), answers.recv())
                .await
                .expect("the misses beyond the cap are answered while the store holds")
                .unwrap();
        assert_eq!(status, 503);
        assert_eq!(retry_after.as_deref(), Some("5"));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    }
    // Exactly two reached the store.
    assert_eq!(store.lookups_waiting(), 2);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), answers.recv())
            .await
            .is_err(),
        "the two in the store are still waiting"
    );

    // Released, the two are answered (unknown tokens: 401).
    store.hold_lookups(false);
    for _ in 0..2 {
        let (status, _, _) = tokio::time::timeout(Duration::from_secs(20), answers.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, 401);
    }
    assert_eq!(
        metric(admin, "tokengate_limited_total{limit=\"lookups\"}").await,
        4.0
    );
    assert_eq!(metric(admin, "tokengate_cache_errors_total").await, 4.0);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_quota_is_taken_after_authentication_and_a_refused_call_burns_nothing() {
    use std::num::NonZeroU32;
    use tokengate::limit::{IssueLimits, Rate};
    use tokengate::oauth::{ClientCredentials, ErrorCode, RedirectTarget, TokenRequest};
    use tokengate::store::MemoryStore;

    let store: Arc<dyn tokengate::store::Store> = Arc::new(MemoryStore::new());
    let (open, _clock) = common::token_service(store.clone(), |_| {}).await;
    let one_an_hour = Rate::per_hour(NonZeroU32::MIN);
    let limited = tokengate::oauth::TokenService::new(store, common::pepper())
        .with_issue_limits(IssueLimits::new().service(SERVICE, one_an_hour));
    let client = ClientCredentials::new(WEB_CLIENT, WEB_SECRET);
    let wrong = ClientCredentials::new(WEB_CLIENT, "guess");
    let grant = TokenRequest::grant("client_credentials");

    // Wrong secrets fail authentication and spend nothing.
    for _ in 0..5 {
        let err = limited
            .create_access_token(SERVICE, &wrong, &grant, None, None)
            .await
            .unwrap_err();
        assert_eq!(
            err.oauth().map(|o| o.code()),
            Some(ErrorCode::InvalidClient)
        );
        assert_eq!(err.retry_after(), None);
    }
    limited
        .create_access_token(SERVICE, &client, &grant, None, None)
        .await
        .expect("the one unit is still there");
    let err = limited
        .create_access_token(SERVICE, &client, &grant, None, None)
        .await
        .unwrap_err();
    let wait = err.retry_after().expect("rate limited");
    assert!(wait > Duration::from_secs(3500), "{wait:?}");
    assert!(err.oauth().is_none() && !err.is_store());

    // Over the limit, redeeming a code is refused before the code is looked at: it still works.
    let code = open
        .create_authorization_code(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            Some(&RedirectTarget::uri(REDIRECT)),
            Some("read"),
            Some("user1"),
            None,
            None,
        )
        .await
        .unwrap()
        .code;
    let redeem = TokenRequest {
        code: Some(code),
        ..TokenRequest::grant("authorization_code")
    };
    let target = RedirectTarget::uri(REDIRECT);
    let err = limited
        .create_access_token(SERVICE, &client, &redeem, Some(&target), None)
        .await
        .unwrap_err();
    assert!(err.retry_after().is_some());
    open.create_access_token(SERVICE, &client, &redeem, Some(&target), None)
        .await
        .expect("the refused redemption did not burn the code");
    assert_eq!(limited.issue_limits().refused(), 2);
}
