//! What a grant may give, over real sockets on a SQLite store: at `/oauth2/token` the client's
//! own word never widens its scope (the service's declared scopes, the client's
//! `allowed_scopes`, or any scope only with `any_scope`), refresh and code redemption only
//! narrow, the provider's JSON-RPC calls keep Mashery's semantics, and public clients must use
//! PKCE (the service's `require_pkce`).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{ClientId, ClientSecret, PkceCodeChallenge, Scope, TokenResponse, TokenUrl};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokengate::model::{PkceRequirement, Service};
use tokengate::oauth::TokenService;
use tokengate::rest::PublicEndpoints;
use tokengate::rpc::{Credentials, JsonRpcService};
use tokengate::store::Store;

const PUBLIC_REDIRECT: &str = "https://public.example.com/cb";

/// The public endpoints and the JSON-RPC API of one token service on a SQLite store.
struct Setup {
    public: SocketAddr,
    rpc: SocketAddr,
    http: reqwest::Client,
    tokens: Arc<TokenService>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// The seed service changed by `edit`; the web client with `allowed_scopes`.
    async fn start(edit: impl FnOnce(&mut Service), allowed_scopes: Option<&[&str]>) -> Setup {
        let (store, dir) = sqlite_store().await;
        let (tokens, _) = token_service(store.clone(), edit).await;
        let mut web = seed_clients(&pepper()).remove(0);
        web.allowed_scopes = allowed_scopes.map(|s| s.iter().map(|s| (*s).to_owned()).collect());
        store.put_client(&web).await.unwrap();
        let tokens = Arc::new(tokens);
        let public = PublicEndpoints::new(tokens.clone(), [SERVICE], "https://auth.test").unwrap();
        let creds = Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())]);
        let rpc = JsonRpcService::new(tokens.clone(), creds);
        Setup {
            public: serve(public).await,
            rpc: serve(rpc).await,
            http: reqwest::Client::new(),
            tokens,
            store,
            _dir: dir,
        }
    }

    /// `POST /oauth2/token` with `form`, as the web client (HTTP Basic); status and JSON.
    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("http://{}/oauth2/token", self.public))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store");
        (res.status(), res.json().await.unwrap())
    }

    /// A client_credentials request for `scope` (left out when `None`).
    async fn client_credentials(&self, scope: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(scope.map(|s| ("scope", s)));
        self.token(&form).await
    }

    /// A JSON-RPC 2.0 call; the `result` or the `error` member.
    async fn rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
        let reply = common::admin::call(self.rpc, method, params).await;
        match reply.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(reply["result"].clone()),
        }
    }

    /// The provider's `createAccessToken` for the web client's own `client_credentials`.
    async fn rpc_client_credentials(&self, scope: &str) -> Result<Value, Value> {
        let web = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
        let data = json!({"grant_type": "client_credentials", "scope": scope});
        self.rpc(
            "oauth2.createAccessToken",
            json!([SERVICE, web, data, null, null]),
        )
        .await
    }

    /// The provider's `createAuthorizationCode` for `client` (`{client_id[, client_secret]}`).
    async fn create_code(
        &self,
        client: Value,
        redirect: &str,
        scope: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, Value> {
        let pkce = challenge.map(|c| json!({"code_challenge": c, "code_challenge_method": "S256"}));
        self.rpc(
            "oauth2.createAuthorizationCode",
            json!([SERVICE, client, {"redirect_uri": redirect}, scope, "user1", "code", pkce]),
        )
        .await
        .map(|r| r["code"].as_str().unwrap().to_owned())
    }

    /// How many token records the store holds.
    async fn records(&self) -> usize {
        self.tokens
            .list_token_records(None, None, 1000)
            .await
            .unwrap()
            .len()
    }

    /// The scope introspection reports for `token` (`None` when inactive or scope-less).
    async fn scope_of(&self, token: &str) -> Option<String> {
        let info: Value = self
            .http
            .post(format!("http://{}/oauth2/introspect", self.public))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["active"], true, "{info}");
        info["scope"].as_str().map(str::to_owned)
    }
}

fn oauth2_client(
    setup: &Setup,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(WEB_CLIENT.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_token_uri(TokenUrl::new(format!("http://{}/oauth2/token", setup.public)).unwrap())
}

/// Asserts `answer` is RFC 6749 `invalid_scope` (400).
fn assert_invalid_scope(answer: &(StatusCode, Value), asked: &str) {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{asked:?}: {}", answer.1);
    assert_eq!(answer.1["error"], "invalid_scope", "{asked:?}");
    assert!(answer.1.get("access_token").is_none());
}

// ---- client_credentials at the token endpoint --------------------------------------------

/// The finding: a confidential client without `allowed_scopes` gave itself `admin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_client_cannot_give_itself_a_scope() {
    let s = Setup::start(|_| {}, None).await;
    let spellings = [
        "admin",
        "read",
        " admin",
        "admin admin",
        "ADMIN",
        "read admin",
        "  admin   read  ",
    ];
    for asked in spellings {
        assert_invalid_scope(&s.client_credentials(Some(asked)).await, asked);
    }
    // The oauth2 crate's spelling of the same request.
    let refused = oauth2_client(&s)
        .exchange_client_credentials()
        .add_scope(Scope::new("admin".into()))
        .request_async(&s.http)
        .await
        .unwrap_err();
    assert_eq!(
        server_error(refused).error(),
        &BasicErrorResponseType::InvalidScope
    );
    assert_eq!(s.records().await, 0, "nothing was issued");

    // Without a scope the client still gets a token, carrying none.
    let (status, body) = s.client_credentials(None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("scope").is_none());
    assert_eq!(
        s.scope_of(body["access_token"].as_str().unwrap()).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_service_scopes_bound_what_a_client_asks_for() {
    let s = Setup::start(
        |svc| svc.scopes = Some(vec!["read".into(), "write".into()]),
        None,
    )
    .await;
    for (asked, granted) in [
        ("read", "read"),
        ("write read", "write read"),
        ("read  read   write ", "read write"),
    ] {
        let (status, body) = s.client_credentials(Some(asked)).await;
        assert_eq!(status, StatusCode::OK, "{asked:?}: {body}");
        assert_eq!(body["scope"], granted, "{asked:?}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(s.scope_of(token).await.as_deref(), Some(granted));
    }
    let before = s.records().await;
    for asked in ["admin", "read admin", "READ", "Read", "read,write", "reads"] {
        assert_invalid_scope(&s.client_credentials(Some(asked)).await, asked);
    }
    assert_eq!(s.records().await, before, "nothing more was issued");

    let granted = oauth2_client(&s)
        .exchange_client_credentials()
        .add_scope(Scope::new("write".into()))
        .request_async(&s.http)
        .await
        .unwrap();
    assert_eq!(granted.scopes(), Some(&vec![Scope::new("write".into())]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_scopes_and_declared_scopes_both_bound() {
    let s = Setup::start(
        |svc| svc.scopes = Some(vec!["read".into(), "write".into()]),
        Some(&["read", "admin"]),
    )
    .await;
    assert_eq!(s.client_credentials(Some("read")).await.0, StatusCode::OK);
    // Declared but not the client's; the client's but not declared.
    for asked in ["write", "admin", "read admin", "read write"] {
        assert_invalid_scope(&s.client_credentials(Some(asked)).await, asked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_scopes_alone_bound_a_service_without_declared_scopes() {
    let s = Setup::start(|_| {}, Some(&["read"])).await;
    let (status, body) = s.client_credentials(Some("read read")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read");
    for asked in ["admin", "read admin", "READ"] {
        assert_invalid_scope(&s.client_credentials(Some(asked)).await, asked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_scope_is_an_explicit_service_setting() {
    let s = Setup::start(|svc| svc.any_scope = true, None).await;
    let (status, body) = s.client_credentials(Some("admin anything")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "admin anything");
    // A client with allowed_scopes is still held to them.
    let bounded = Setup::start(|svc| svc.any_scope = true, Some(&["read"])).await;
    assert_invalid_scope(&bounded.client_credentials(Some("admin")).await, "admin");
    assert_eq!(
        bounded.client_credentials(Some("read")).await.0,
        StatusCode::OK
    );
}

// ---- the provider's JSON-RPC path keeps Mashery's semantics ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_json_rpc_calls_are_bounded_by_allowed_scopes_only() {
    let s = Setup::start(|_| {}, None).await;
    assert_eq!(
        s.rpc_client_credentials("admin").await.unwrap()["scope"],
        "admin"
    );
    let limited = Setup::start(|_| {}, Some(&["read"])).await;
    let error = limited
        .rpc_client_credentials("read admin")
        .await
        .unwrap_err();
    assert_eq!(error["code"], -2001);
    assert_eq!(error["data"]["error"], "invalid_scope");
}

// ---- codes and refresh tokens only narrow ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redemption_and_refresh_only_narrow_the_granted_scope() {
    let s = Setup::start(|_| {}, None).await;
    let web = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let redeem = |code: &str, scope: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
        ];
        form.extend(scope.map(|s| ("scope", s.to_owned())));
        form
    };
    let send = |form: Vec<(&'static str, String)>| {
        let s = &s;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.token(&pairs).await
        }
    };

    // The provider granted `read admin` after the user's consent: redeeming gives just that,
    // though the service declares nothing and the client has no allowed_scopes.
    let code = s
        .create_code(web.clone(), REDIRECT, Some("read admin"), None)
        .await
        .unwrap();
    let (status, body) = send(redeem(&code, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read admin");

    // Asking for more than the code carries burns the code.
    let code = s
        .create_code(web.clone(), REDIRECT, Some("read"), None)
        .await
        .unwrap();
    assert_invalid_scope(&send(redeem(&code, Some("read write"))).await, "read write");
    let (status, body) = send(redeem(&code, None)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    // A narrower redemption, then refreshes: never wider than what was redeemed.
    let code = s
        .create_code(web.clone(), REDIRECT, Some("read write"), None)
        .await
        .unwrap();
    let (status, body) = send(redeem(&code, Some("write  write"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "write");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    for asked in ["read", "write read", "admin", "WRITE"] {
        let answer = s
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", asked),
            ])
            .await;
        assert_invalid_scope(&answer, asked);
    }
    let (status, body) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "write");
}

// ---- PKCE for public clients (RFC 9700 §2.1.1) -----------------------------------------------

fn public_client() -> Value {
    json!({"client_id": PUBLIC_CLIENT})
}

/// Redeems `code` as the public client (`client_id` in the body, no secret).
async fn redeem_public(s: &Setup, code: &str, verifier: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("client_id", PUBLIC_CLIENT),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    let res = s
        .http
        .post(format!("http://{}/oauth2/token", s.public))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_needs_pkce_by_default() {
    let s = Setup::start(|_| {}, None).await;
    // At code creation: invalid_request (RFC 7636 §4.4.1), no code made.
    let error = s
        .create_code(public_client(), PUBLIC_REDIRECT, None, None)
        .await
        .unwrap_err();
    assert_eq!(error["code"], -2001);
    assert_eq!(error["data"]["error"], "invalid_request");
    assert_eq!(
        error["data"]["error_description"],
        "code_challenge required"
    );

    // With a challenge the whole flow works, and the verifier is required at redemption.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = s
        .create_code(
            public_client(),
            PUBLIC_REDIRECT,
            None,
            Some(challenge.as_str()),
        )
        .await
        .unwrap();
    let (status, body) = redeem_public(&s, &code, Some(verifier.secret())).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A confidential client is unaffected by default.
    let web = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let code = s.create_code(web, REDIRECT, None, None).await.unwrap();
    let (status, body) = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A code made while the service did not require PKCE is refused at redemption once it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_clients_code_without_pkce_is_refused_at_redemption() {
    let s = Setup::start(|svc| svc.require_pkce = PkceRequirement::Off, None).await;
    let early = s
        .create_code(public_client(), PUBLIC_REDIRECT, None, None)
        .await
        .unwrap();
    let late = s
        .create_code(public_client(), PUBLIC_REDIRECT, None, None)
        .await
        .unwrap();
    // Off: redeemable without PKCE.
    let (status, body) = redeem_public(&s, &early, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut service = s.store.service(SERVICE).await.unwrap().unwrap();
    service.require_pkce = PkceRequirement::PublicClients;
    s.store.put_service(&service).await.unwrap();
    let records = s.records().await;
    let (status, body) = redeem_public(&s, &late, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    // Burned: it does not work after the requirement is lifted either.
    service.require_pkce = PkceRequirement::Off;
    s.store.put_service(&service).await.unwrap();
    let (status, body) = redeem_public(&s, &late, None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert_eq!(s.records().await, records, "nothing was issued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_pkce_all_holds_confidential_clients_too() {
    let s = Setup::start(|svc| svc.require_pkce = PkceRequirement::AllClients, None).await;
    let web = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
    let error = s
        .create_code(web.clone(), REDIRECT, None, None)
        .await
        .unwrap_err();
    assert_eq!(error["data"]["error"], "invalid_request");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = s
        .create_code(web, REDIRECT, None, Some(challenge.as_str()))
        .await
        .unwrap();
    let issued = oauth2_client(&s)
        .set_redirect_uri(oauth2::RedirectUrl::new(REDIRECT.into()).unwrap())
        .exchange_code(oauth2::AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&s.http)
        .await
        .unwrap();
    assert!(s.scope_of(issued.access_token().secret()).await.is_none());
}
