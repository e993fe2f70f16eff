//! The standard endpoints (RFC 6749 token, RFC 7662 introspection, RFC 7009 revocation,
//! RFC 8414 metadata) over real sockets: a real OAuth client library (the `oauth2` crate)
//! through every flow, and every error case with its status, `error` code and headers.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::down::FlakyStore;
use common::*;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AccessToken, AsyncHttpClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, HttpClientError, HttpRequest, HttpResponse, IntrospectionUrl,
    PkceCodeChallenge, RedirectUrl, RequestTokenError, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokengate::model::{Client, ClientStatus, GrantType, MacAlgorithm, Service, TokenType};
use tokengate::oauth::{ClientCredentials, PkceParams, RedirectTarget, TokenService};
use tokengate::rest::{AuthorizationServerMetadata, PublicEndpoints};
use tokengate::rpc::Credentials;
use tokengate::secret::Pepper;
use tokengate::store::Store;

/// The issuer the endpoints are configured with; [`Loopback`] sends its URLs to the test server.
const ISSUER: &str = "https://auth.test";

const PUBLIC_REDIRECT: &str = "https://public.example.com/cb";

/// A client whose secret needs escaping inside HTTP Basic (RFC 6749 §2.3.1).
const ODD_CLIENT: &str = "odd client+1";
const ODD_SECRET: &str = "s+cr%t/é:x";

/// The public endpoints of the seed service, served on a loopback port.
struct Public {
    addr: SocketAddr,
    http: reqwest::Client,
    tokens: Arc<TokenService>,
    clock: TestClock,
    seen: Arc<Seen>,
    _guard: Box<dyn std::any::Any + Send>,
}

impl Public {
    async fn start(
        store: Arc<dyn Store>,
        guard: Box<dyn std::any::Any + Send>,
        edit: impl FnOnce(&mut Service),
    ) -> Public {
        store
            .put_client(&Client {
                id: 777,
                external_id: None,
                name: "Odd".into(),
                attributes: None,
                client_id: ODD_CLIENT.into(),
                secret_hash: Some(pepper().hash_secret(ODD_SECRET)),
                redirect_uris: vec![],
                services: vec![SERVICE.into()],
                status: ClientStatus::Active,
                allowed_scopes: None,
            })
            .await
            .unwrap();
        let (tokens, clock) = token_service(store, edit).await;
        let tokens = Arc::new(tokens);
        let seen = Seen::subscribe(&tokens);
        let public = PublicEndpoints::new(tokens.clone(), [SERVICE], ISSUER)
            .unwrap()
            .admin_credentials(admin())
            .max_body_bytes(4096);
        Public {
            addr: serve(public).await,
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

    fn loopback(&self) -> Loopback {
        Loopback {
            addr: self.addr,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// POSTs a form to `path` with an optional `Authorization` header.
    async fn post(
        &self,
        path: &str,
        auth: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send().await.unwrap()
    }

    /// A token endpoint call authenticated as the web client (HTTP Basic).
    async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.post("/oauth2/token", Some(&web_basic()), form).await
    }

    async fn token_json(&self, form: &[(&str, &str)]) -> Value {
        let res = self.token(form).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// The provider's part: after the user logged in, a code for the web client.
    async fn code(&self, scope: &str, challenge: Option<&str>) -> String {
        let pkce = challenge.map(|c| PkceParams {
            code_challenge: c.to_owned(),
            code_challenge_method: Some("S256".into()),
        });
        self.tokens
            .create_authorization_code(
                SERVICE,
                &ClientCredentials::public(WEB_CLIENT),
                Some(&RedirectTarget::uri(REDIRECT)),
                Some(scope),
                Some("user12345"),
                None,
                pkce.as_ref(),
            )
            .await
            .unwrap()
            .code
    }

    /// Introspects as the web client; returns the status and the body as it came.
    async fn introspect(&self, token: &str, hint: Option<&str>) -> (StatusCode, String) {
        let mut form = vec![("token", token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        let res = self
            .post("/oauth2/introspect", Some(&web_basic()), &form)
            .await;
        assert_eq!(res.headers()["cache-control"], "no-store");
        (res.status(), res.text().await.unwrap())
    }

    async fn is_active(&self, token: &str) -> bool {
        let (status, body) = self.introspect(token, None).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_str::<Value>(&body).unwrap()["active"] == true
    }
}

/// `name: edit` runs `async fn name(Public)` on a memory and on a SQLite store, the seed
/// service changed by `edit`.
macro_rules! api_tests_for_each_store {
    ($($name:ident: $edit:expr),* $(,)?) => {
        mod memory_store {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let store: Arc<dyn Store> = Arc::new(tokengate::store::MemoryStore::new());
                    super::$name(Public::start(store, Box::new(()), $edit).await).await;
                }
            )*
        }
        mod sqlite_store {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, dir) = crate::common::sqlite_store().await;
                    super::$name(Public::start(store, Box::new(dir), $edit).await).await;
                }
            )*
        }
    };
}

fn admin() -> Credentials {
    Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())])
}

/// `Basic` with the id and secret form-urlencoded first, as RFC 6749 §2.3.1 asks.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// `Basic` as plain HTTP clients send it, without the form encoding.
fn raw_basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn web_basic() -> String {
    basic(WEB_CLIENT, WEB_SECRET)
}

/// Sends the `oauth2` crate's requests for `https://auth.test/…` to the test server.
struct Loopback {
    addr: SocketAddr,
    http: reqwest::Client,
}

impl<'c> AsyncHttpClient<'c> for Loopback {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, mut request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            assert_eq!(request.uri().host(), Some("auth.test"));
            let path = request.uri().path_and_query().unwrap().as_str().to_owned();
            *request.uri_mut() = format!("http://{}{path}", self.addr).parse().unwrap();
            self.http.call(request).await
        })
    }
}

type OAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

/// An `oauth2` client configured from the metadata document, as a real client would be.
fn oauth_client(
    metadata: &AuthorizationServerMetadata,
    id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> OAuthClient {
    let client = BasicClient::new(ClientId::new(id.into()))
        // The provider's login page (tokengate has no authorization endpoint of its own).
        .set_auth_uri(AuthUrl::new("https://provider.test/authorize".into()).unwrap())
        .set_token_uri(TokenUrl::new(metadata.token_endpoint.clone()).unwrap())
        .set_introspection_url(
            IntrospectionUrl::new(metadata.introspection_endpoint.clone()).unwrap(),
        )
        .set_revocation_url(RevocationUrl::new(metadata.revocation_endpoint.clone()).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    match secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.into())),
        None => client,
    }
}

// ---- the flows, driven by the oauth2 crate ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_crate_drives_every_flow_over_sqlite() {
    let (store, dir) = sqlite_store().await;
    let p = Public::start(store, Box::new(dir), |s| {
        s.scopes = Some(vec!["reports".into(), "reviews".into()]);
    })
    .await;
    let http = p.loopback();

    // Discovery.
    let metadata: AuthorizationServerMetadata = p
        .http
        .get(p.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata.issuer, ISSUER);
    assert_eq!(metadata.token_endpoint, "https://auth.test/oauth2/token");
    assert_eq!(
        metadata.scopes_supported,
        Some(vec!["reports".into(), "reviews".into()])
    );
    let client = oauth_client(&metadata, WEB_CLIENT, Some(WEB_SECRET), REDIRECT);

    // Authorization code with PKCE. The browser goes to the provider's page with the
    // client's request; the provider authenticates the user and asks tokengate for a code.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let q: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    let grant = p
        .tokens
        .create_authorization_code(
            SERVICE,
            &ClientCredentials::public(&q["client_id"]),
            Some(&RedirectTarget {
                redirect_uri: Some(q["redirect_uri"].clone()),
                state: Some(q["state"].clone()),
            }),
            Some(&q["scope"]),
            Some("user12345"),
            Some(&q["response_type"]),
            Some(&PkceParams {
                code_challenge: q["code_challenge"].clone(),
                code_challenge_method: Some(q["code_challenge_method"].clone()),
            }),
        )
        .await
        .unwrap();
    let back = url::Url::parse(grant.uri.redirect_uri.as_deref().unwrap()).unwrap();
    let back: HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(&back["state"], csrf.secret());
    let issued = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(issued.token_type(), &BasicTokenType::Bearer);
    assert_eq!(issued.expires_in(), Some(Duration::from_secs(3600)));
    assert_eq!(
        issued.scopes().unwrap(),
        &vec![Scope::new("read".into()), Scope::new("write".into())]
    );
    let access = issued.access_token().clone();
    let refresh = issued.refresh_token().unwrap().clone();

    // Introspection of the access token and of the refresh token.
    let info = client
        .introspect(&access)
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.username(), Some("user12345"));
    assert_eq!(info.sub(), Some("user12345"));
    assert_eq!(info.client_id().map(|c| c.as_str()), Some(WEB_CLIENT));
    assert_eq!(info.aud(), Some(&vec![SERVICE.to_owned()]));
    assert_eq!(info.iss(), Some(ISSUER));
    assert_eq!(info.token_type(), Some(&BasicTokenType::Bearer));
    let now = p.clock.now() / 1000;
    assert_eq!(info.exp().unwrap().timestamp(), now + 3600);
    assert_eq!(info.iat().unwrap().timestamp(), now);
    let info = client
        .introspect(&AccessToken::new(refresh.secret().clone()))
        .set_token_type_hint("refresh_token")
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(
        info.token_type(),
        Some(&BasicTokenType::Extension("refresh_token".into()))
    );
    assert_eq!(info.exp().unwrap().timestamp(), now + 2_764_800);

    // Refresh: rotation, then reuse of the old refresh token revokes the family.
    let rotated = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .unwrap();
    let rotated_refresh = rotated.refresh_token().unwrap().clone();
    assert_ne!(rotated_refresh.secret(), refresh.secret());
    assert!(p.is_active(rotated.access_token().secret()).await);
    let reuse = client
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(
        server_error(reuse).error(),
        &BasicErrorResponseType::InvalidGrant
    );
    for token in [
        access.secret(),
        rotated.access_token().secret(),
        rotated_refresh.secret(),
    ] {
        assert!(!p.is_active(token).await);
        assert!(p.seen.heard(token) || token == rotated_refresh.secret());
    }

    // Client credentials.
    let cc = client
        .exchange_client_credentials()
        .add_scope(Scope::new("reports".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert!(cc.refresh_token().is_none());
    let info = client
        .introspect(cc.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some(WEB_CLIENT));
    assert_eq!(info.username(), None);
    assert_eq!(info.scopes(), Some(&vec![Scope::new("reports".into())]));

    // Revocation of an access token, then of a refresh token (its family goes too).
    client
        .revoke_token(StandardRevocableToken::AccessToken(
            cc.access_token().clone(),
        ))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert!(!p.is_active(cc.access_token().secret()).await);
    assert!(p.seen.heard(cc.access_token().secret()));
    let code = p.code("read", None).await;
    let fresh = client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&http)
        .await
        .unwrap();
    let next = client
        .exchange_refresh_token(fresh.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    client
        .revoke_token(StandardRevocableToken::RefreshToken(
            next.refresh_token().unwrap().clone(),
        ))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    for token in [fresh.access_token(), next.access_token()] {
        assert!(!p.is_active(token.secret()).await);
        assert!(p.seen.heard(token.secret()));
    }
    let after = client
        .exchange_refresh_token(next.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap_err();
    assert_eq!(
        server_error(after).error(),
        &BasicErrorResponseType::InvalidGrant
    );

    // A public client: code with PKCE, client_id in the body, no secret.
    let public = oauth_client(&metadata, PUBLIC_CLIENT, None, PUBLIC_REDIRECT);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = p
        .tokens
        .create_authorization_code(
            SERVICE,
            &ClientCredentials::public(PUBLIC_CLIENT),
            Some(&RedirectTarget::uri(PUBLIC_REDIRECT)),
            None,
            Some("user2"),
            None,
            Some(&PkceParams {
                code_challenge: challenge.as_str().to_owned(),
                code_challenge_method: Some("S256".into()),
            }),
        )
        .await
        .unwrap()
        .code;
    let issued = public
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert!(p.is_active(issued.access_token().secret()).await);
    public
        .revoke_token(StandardRevocableToken::AccessToken(
            issued.access_token().clone(),
        ))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert!(!p.is_active(issued.access_token().secret()).await);
    // A public client may not introspect.
    let refused = public
        .introspect(issued.access_token())
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, RequestTokenError::ServerResponse(_)),
        "{refused:?}"
    );

    // Basic credentials are form-urlencoded by the library; the odd client's secret works.
    let odd = oauth_client(&metadata, ODD_CLIENT, Some(ODD_SECRET), REDIRECT);
    let token = odd
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap();
    assert!(p.is_active(token.access_token().secret()).await);
}

// ---- the token endpoint's errors -------------------------------------------------------------

/// Checks an RFC 6749 §5.2 error answer; returns its headers.
async fn expect_error(res: reqwest::Response, status: StatusCode, code: &str) -> HeaderMap {
    assert_eq!(res.status(), status, "expected {code}");
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    if code == "invalid_client" {
        assert_eq!(headers["www-authenticate"], "Basic realm=\"tokengate\"");
    } else {
        assert!(headers.get("www-authenticate").is_none());
    }
    headers
}

async fn token_endpoint_requests_are_checked(p: Public) {
    let cc = [("grant_type", "client_credentials")];
    let bad = StatusCode::BAD_REQUEST;
    let unauthorized = StatusCode::UNAUTHORIZED;

    // Success carries the no-store headers.
    let ok = p.token(&cc).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    assert_eq!(ok.headers()["pragma"], "no-cache");
    assert_eq!(ok.headers()["content-type"], "application/json");
    let body: Value = ok.json().await.unwrap();
    let members: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        members,
        ["access_token", "expires_in", "token_type"],
        "{body}"
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);

    // GET: 405 with Allow.
    let get = p.http.get(p.url("/oauth2/token")).send().await.unwrap();
    let headers = expect_error(get, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;
    assert_eq!(headers["allow"], "POST");
    // A JSON body, or none.
    let json_body = p
        .http
        .post(p.url("/oauth2/token"))
        .header("authorization", web_basic())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    expect_error(json_body, bad, "invalid_request").await;
    let no_type = p
        .http
        .post(p.url("/oauth2/token"))
        .header("authorization", web_basic())
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    expect_error(no_type, bad, "invalid_request").await;
    // The content type's parameters do not matter.
    let charset = p
        .http
        .post(p.url("/oauth2/token"))
        .header("authorization", web_basic())
        .header(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(charset.status(), StatusCode::OK);
    // Too large.
    let big = "x".repeat(5000);
    let res = p
        .token(&[("grant_type", "client_credentials"), ("scope", &big)])
        .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;

    // Duplicate parameters.
    let res = p
        .token(&[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    expect_error(res, bad, "invalid_request").await;
    let res = p
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "a"),
            ("scope", "b"),
        ])
        .await;
    expect_error(res, bad, "invalid_request").await;

    // Basic and body credentials at once.
    let res = p
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_secret", WEB_SECRET),
        ])
        .await;
    expect_error(res, bad, "invalid_request").await;
    let res = p
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", PUBLIC_CLIENT),
        ])
        .await;
    expect_error(res, bad, "invalid_request").await;
    // The same client_id in the body besides Basic is tolerated.
    let res = p
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", WEB_CLIENT),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Body credentials alone work.
    let res = p
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", WEB_CLIENT),
                ("client_secret", WEB_SECRET),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Client authentication failures: 401 invalid_client with a Basic challenge.
    let res = p.post("/oauth2/token", None, &cc).await;
    expect_error(res, unauthorized, "invalid_client").await;
    let res = p
        .post("/oauth2/token", Some(&basic("nobody", "x")), &cc)
        .await;
    let unknown = expect_error(res, unauthorized, "invalid_client").await;
    assert!(unknown.contains_key("www-authenticate"));
    let res = p
        .post("/oauth2/token", Some(&basic(WEB_CLIENT, "wrong")), &cc)
        .await;
    expect_error(res, unauthorized, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
            ],
        )
        .await;
    expect_error(res, unauthorized, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", WEB_CLIENT),
            ],
        )
        .await;
    expect_error(res, unauthorized, "invalid_client").await;
    let res = p.post("/oauth2/token", Some("Bearer abc"), &cc).await;
    expect_error(res, unauthorized, "invalid_client").await;
    // RFC 6749 §2.3.1: Basic credentials are form-urlencoded. The odd client's secret works
    // encoded, not raw ('+' is a space, "%t" is no escape).
    let res = p
        .post("/oauth2/token", Some(&basic(ODD_CLIENT, ODD_SECRET)), &cc)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = p
        .post(
            "/oauth2/token",
            Some(&raw_basic(ODD_CLIENT, ODD_SECRET)),
            &cc,
        )
        .await;
    expect_error(res, unauthorized, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/token",
            Some(&format!(
                "Basic {}",
                STANDARD.encode("odd+client%2B1:s%2Bcr%25t%2F%C3%A9%3Ax")
            )),
            &cc,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "'+' is a space, %2B a plus");

    // Grants.
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let res = p
            .token(&[("grant_type", grant), ("username", "u"), ("password", "p")])
            .await;
        expect_error(res, bad, "unsupported_grant_type").await;
    }
    let res = p.token(&[("scope", "x")]).await;
    expect_error(res, bad, "invalid_request").await;
    // A public client cannot use client_credentials.
    let res = p
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", PUBLIC_CLIENT),
            ],
        )
        .await;
    expect_error(res, bad, "unauthorized_client").await;
    let res = p.token(&[("grant_type", "authorization_code")]).await;
    expect_error(res, bad, "invalid_request").await;
    let res = p.token(&[("grant_type", "refresh_token")]).await;
    expect_error(res, bad, "invalid_request").await;
    let res = p
        .token(&[("grant_type", "authorization_code"), ("code", "nosuchcode")])
        .await;
    expect_error(res, bad, "invalid_grant").await;
    let res = p
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nosuchtoken"),
        ])
        .await;
    expect_error(res, bad, "invalid_grant").await;
}

async fn codes_are_single_use_and_pkce_checked(p: Public) {
    let bad = StatusCode::BAD_REQUEST;
    // Replay: the second redemption fails and revokes the token of the first.
    let code = p.code("read", None).await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let first = p.token_json(&redeem).await;
    let token = first["access_token"].as_str().unwrap();
    assert_eq!(first["scope"], "read");
    assert!(first["refresh_token"].is_string());
    assert!(p.is_active(token).await);
    expect_error(p.token(&redeem).await, bad, "invalid_grant").await;
    assert!(!p.is_active(token).await);
    assert!(p.seen.heard(token));

    // The redirect URI must be the one the code was issued for.
    let code = p.code("read", None).await;
    let res = p
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://client.example.com/other"),
        ])
        .await;
    expect_error(res, bad, "invalid_grant").await;

    // PKCE: a wrong verifier fails and burns the code; so does a missing one.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let code = p.code("read", Some(challenge)).await;
    let with = |v: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", v),
        ]
    };
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
    expect_error(p.token(&with(wrong)).await, bad, "invalid_grant").await;
    expect_error(p.token(&with(verifier)).await, bad, "invalid_grant").await;
    let code = p.code("read", Some(challenge)).await;
    let res = p
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    expect_error(res, bad, "invalid_grant").await;
    let code = p.code("read", Some(challenge)).await;
    let ok = p
        .token_json(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .await;
    assert!(ok["access_token"].is_string());

    // Another client cannot redeem the web client's code (and burns it).
    let code = p.code("read", None).await;
    let res = p
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("client_id", PUBLIC_CLIENT),
            ],
        )
        .await;
    expect_error(res, bad, "invalid_grant").await;
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(p: Public) {
    let bad = StatusCode::BAD_REQUEST;
    let code = p.code("read write", None).await;
    let first = p
        .token_json(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    let r1 = first["refresh_token"].as_str().unwrap();
    // Narrower scope is fine, wider is not.
    let res = p
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", r1),
            ("scope", "admin"),
        ])
        .await;
    expect_error(res, bad, "invalid_scope").await;
    // Another client cannot use it.
    let res = p
        .post(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", r1),
                ("client_id", PUBLIC_CLIENT),
            ],
        )
        .await;
    expect_error(res, bad, "invalid_grant").await;
    let second = p
        .token_json(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", r1),
            ("scope", "read"),
        ])
        .await;
    assert_eq!(second["scope"], "read");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let third = p
        .token_json(&[("grant_type", "refresh_token"), ("refresh_token", r2)])
        .await;
    // Reusing r1: refused, and every token of the family is revoked.
    let res = p
        .token(&[("grant_type", "refresh_token"), ("refresh_token", r1)])
        .await;
    expect_error(res, bad, "invalid_grant").await;
    for t in [&first, &second, &third] {
        let access = t["access_token"].as_str().unwrap();
        assert!(!p.is_active(access).await);
        assert!(p.seen.heard(access));
    }
    let r3 = third["refresh_token"].as_str().unwrap();
    let res = p
        .token(&[("grant_type", "refresh_token"), ("refresh_token", r3)])
        .await;
    expect_error(res, bad, "invalid_grant").await;
}

// ---- introspection -------------------------------------------------------------------------

async fn introspection_answers_exactly(p: Public) {
    let inactive = (StatusCode::OK, r#"{"active":false}"#.to_owned());
    let code = p.code("read write", None).await;
    let issued = p
        .token_json(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    let access = issued["access_token"].as_str().unwrap();
    let refresh = issued["refresh_token"].as_str().unwrap();
    let now = p.clock.now() / 1000;

    let (status, body) = p.introspect(access, None).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"active": true, "scope": "read write", "client_id": WEB_CLIENT,
               "username": "user12345", "token_type": "bearer", "exp": now + 3600,
               "iat": now, "sub": "user12345", "aud": SERVICE, "iss": ISSUER})
    );
    // The hint decides the search order only: a wrong or unknown hint still finds it.
    for hint in [
        Some("refresh_token"),
        Some("access_token"),
        Some("bogus"),
        None,
    ] {
        let (_, body) = p.introspect(access, hint).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["token_type"], "bearer", "{hint:?}");
        let (_, body) = p.introspect(refresh, hint).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["token_type"], "refresh_token", "{hint:?}");
        assert_eq!(body["exp"], now + 2_764_800);
    }

    // Admin credentials work too; body credentials too.
    let res = p
        .post(
            "/oauth2/introspect",
            Some(&basic(ADMIN_KEY, ADMIN_SECRET)),
            &[("token", access)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], true);
    let res = p
        .post(
            "/oauth2/introspect",
            None,
            &[
                ("token", access),
                ("client_id", WEB_CLIENT),
                ("client_secret", WEB_SECRET),
            ],
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["active"], true);

    // Inactive, byte for byte: unknown, another service's, rotated, revoked, expired.
    assert_eq!(p.introspect("nosuchtoken", None).await, inactive);
    assert_eq!(p.introspect("", None).await.0, StatusCode::BAD_REQUEST);
    let other = p
        .tokens
        .create_access_token(
            OTHER_SERVICE,
            &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
            &tokengate::oauth::TokenRequest::grant("client_credentials"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(p.introspect(&other.access_token, None).await, inactive);
    let rotated = p
        .token_json(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(p.introspect(refresh, Some("refresh_token")).await, inactive);
    assert!(
        p.is_active(access).await,
        "rotation leaves the old access token"
    );
    let new_access = rotated["access_token"].as_str().unwrap();
    let res = p
        .post(
            "/oauth2/revoke",
            Some(&web_basic()),
            &[("token", new_access)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(p.introspect(new_access, None).await, inactive);
    let new_refresh = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(
        p.introspect(new_refresh, None).await,
        inactive,
        "revoking an access token revokes its refresh token"
    );
    p.clock.advance_secs(3600);
    assert_eq!(p.introspect(access, None).await, inactive);

    // The caller must authenticate.
    let bad = StatusCode::BAD_REQUEST;
    let res = p
        .post("/oauth2/introspect", None, &[("token", access)])
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/introspect",
            Some(&basic(ADMIN_KEY, "wrong")),
            &[("token", access)],
        )
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/introspect",
            None,
            &[("token", access), ("client_id", PUBLIC_CLIENT)],
        )
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/introspect",
            Some(&web_basic()),
            &[("token", access), ("client_secret", WEB_SECRET)],
        )
        .await;
    expect_error(res, bad, "invalid_request").await;
    let res = p
        .post(
            "/oauth2/introspect",
            Some(&web_basic()),
            &[("token", access), ("token", refresh)],
        )
        .await;
    expect_error(res, bad, "invalid_request").await;
    let get = p
        .http
        .get(p.url("/oauth2/introspect"))
        .send()
        .await
        .unwrap();
    let headers = expect_error(get, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;
    assert_eq!(headers["allow"], "POST");
}

// ---- revocation ------------------------------------------------------------------------------

async fn revocation_follows_rfc_7009(p: Public) {
    let bad = StatusCode::BAD_REQUEST;
    let issued = p.token_json(&[("grant_type", "client_credentials")]).await;
    let access = issued["access_token"].as_str().unwrap();

    // Unknown: 200, empty.
    let res = p
        .post(
            "/oauth2/revoke",
            Some(&web_basic()),
            &[("token", "nosuchtoken")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "");

    // Another client's token: refused, and it stays valid.
    let res = p
        .post(
            "/oauth2/revoke",
            Some(&basic(ODD_CLIENT, ODD_SECRET)),
            &[("token", access), ("token_type_hint", "access_token")],
        )
        .await;
    expect_error(res, bad, "invalid_grant").await;
    let res = p
        .post(
            "/oauth2/revoke",
            None,
            &[("token", access), ("client_id", PUBLIC_CLIENT)],
        )
        .await;
    expect_error(res, bad, "invalid_grant").await;
    assert!(p.is_active(access).await);
    assert!(!p.seen.heard(access));

    // Another service's token: 200, untouched.
    let other = p
        .tokens
        .create_access_token(
            OTHER_SERVICE,
            &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
            &tokengate::oauth::TokenRequest::grant("client_credentials"),
            None,
            None,
        )
        .await
        .unwrap()
        .access_token;
    let res = p
        .post("/oauth2/revoke", Some(&web_basic()), &[("token", &other)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(p
        .tokens
        .fetch_access_token(OTHER_SERVICE, &other)
        .await
        .is_ok());

    // Authentication is required and checked.
    let res = p.post("/oauth2/revoke", None, &[("token", access)]).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let res = p
        .post(
            "/oauth2/revoke",
            Some(&basic(WEB_CLIENT, "wrong")),
            &[("token", access)],
        )
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let res = p.post("/oauth2/revoke", Some(&web_basic()), &[]).await;
    expect_error(res, bad, "invalid_request").await;
    let get = p.http.get(p.url("/oauth2/revoke")).send().await.unwrap();
    expect_error(get, StatusCode::METHOD_NOT_ALLOWED, "invalid_request").await;

    // The owner revokes it (with a misleading hint): listeners hear first.
    let res = p
        .post(
            "/oauth2/revoke",
            Some(&web_basic()),
            &[("token", access), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(p.seen.heard(access));
    assert!(!p.is_active(access).await);
    // Again: still 200.
    let res = p
        .post("/oauth2/revoke", Some(&web_basic()), &[("token", access)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A refresh token revokes the family: every access token of the chain.
    let code = p.code("read", None).await;
    let first = p
        .token_json(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    let second = p
        .token_json(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ])
        .await;
    let res = p
        .post(
            "/oauth2/revoke",
            Some(&web_basic()),
            &[("token", second["refresh_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for t in [&first, &second] {
        let access = t["access_token"].as_str().unwrap();
        assert!(!p.is_active(access).await);
        assert!(p.seen.heard(access));
    }
}

// ---- metadata, MAC, several services, a failing store -----------------------------------------

async fn metadata_follows_the_service_settings(p: Public) {
    let get = || async {
        let res = p
            .http
            .get(p.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()
    };
    assert_eq!(
        get().await,
        json!({
            "issuer": ISSUER,
            "token_endpoint": "https://auth.test/oauth2/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "grant_types_supported": ["authorization_code", "implicit", "client_credentials", "refresh_token"],
            "response_types_supported": ["code", "token"],
            "introspection_endpoint": "https://auth.test/oauth2/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint": "https://auth.test/oauth2/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
        })
    );
    // Change the service in the store: the metadata follows at once.
    let mut service = p.tokens.store().service(SERVICE).await.unwrap().unwrap();
    service.grants = vec![GrantType::ClientCredentials, GrantType::Password];
    service.refresh_tokens = false;
    p.tokens.store().put_service(&service).await.unwrap();
    let now = get().await;
    assert_eq!(now["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(now["response_types_supported"], json!([]));
    assert!(now.get("code_challenge_methods_supported").is_none());
    // And the token endpoint agrees.
    let res = p
        .token(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;

    let post = p
        .http
        .post(p.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    // Paths it does not own: an empty 404.
    for path in ["/", "/oauth2/authorize", "/oauth2/x/token", "/api/reviews"] {
        let res = p.http.get(p.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.text().await.unwrap(), "");
    }
}

async fn mac_services_hand_out_the_mac_key(p: Public) {
    let body = p.token_json(&[("grant_type", "client_credentials")]).await;
    assert_eq!(body["token_type"], "mac");
    assert_eq!(body["mac_algorithm"], "hmac-sha-256");
    let token = body["access_token"].as_str().unwrap();
    let info = p.tokens.fetch_access_token(SERVICE, token).await.unwrap();
    assert_eq!(body["mac_key"].as_str(), info.mac_secret.as_deref());
    let (_, intro) = p.introspect(token, None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&intro).unwrap()["token_type"],
        "mac"
    );
}

api_tests_for_each_store! {
    token_endpoint_requests_are_checked: |_| {},
    codes_are_single_use_and_pkce_checked: |_| {},
    refresh_tokens_rotate_and_reuse_revokes_the_family: |_| {},
    introspection_answers_exactly: |_| {},
    revocation_follows_rfc_7009: |_| {},
    metadata_follows_the_service_settings: |_| {},
    mac_services_hand_out_the_mac_key: |s: &mut Service| s.token_type = TokenType::Mac(MacAlgorithm::HmacSha256),
}

#[tokio::test]
async fn several_services_are_served_under_their_keys() {
    let store: Arc<dyn Store> = Arc::new(tokengate::store::MemoryStore::new());
    let (tokens, _clock) = token_service(store, |_| {}).await;
    let tokens = Arc::new(tokens);
    let public = PublicEndpoints::new(tokens.clone(), [SERVICE, OTHER_SERVICE], ISSUER).unwrap();
    let addr = serve(public.clone()).await;
    let http = reqwest::Client::new();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let http = http.clone();
        async move {
            http.post(format!("http://{addr}{path}"))
                .header("authorization", web_basic())
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let cc = || vec![("grant_type", "client_credentials".to_owned())];

    // No default service: the plain paths are not served.
    let res = post("/oauth2/token".into(), cc()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = post(format!("/oauth2/{OTHER_SERVICE}/token"), cc()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tokens
        .fetch_access_token(OTHER_SERVICE, &token)
        .await
        .is_ok());

    let intro = |key: &str| {
        post(
            format!("/oauth2/{key}/introspect"),
            vec![("token", token.clone())],
        )
    };
    assert_eq!(
        intro(SERVICE).await.text().await.unwrap(),
        r#"{"active":false}"#
    );
    let active: Value = intro(OTHER_SERVICE).await.json().await.unwrap();
    assert_eq!(active["aud"], OTHER_SERVICE);
    assert_eq!(active["iss"], format!("{ISSUER}/oauth2/{OTHER_SERVICE}"));
    // Revoking at the wrong service leaves it; at its own, revokes it.
    let res = post(
        format!("/oauth2/{SERVICE}/revoke"),
        vec![("token", token.clone())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(tokens
        .fetch_access_token(OTHER_SERVICE, &token)
        .await
        .is_ok());
    let res = post(
        format!("/oauth2/{OTHER_SERVICE}/revoke"),
        vec![("token", token.clone())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(tokens
        .fetch_access_token(OTHER_SERVICE, &token)
        .await
        .is_err());

    // Metadata per service, at the RFC 8414 §3.1 location of its issuer.
    let metadata: Value = http
        .get(format!(
            "http://{addr}/.well-known/oauth-authorization-server/oauth2/{OTHER_SERVICE}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["issuer"],
        format!("{ISSUER}/oauth2/{OTHER_SERVICE}")
    );
    assert_eq!(
        metadata["token_endpoint"],
        format!("{ISSUER}/oauth2/{OTHER_SERVICE}/token")
    );
    // The other service enables every grant; `password` is still not offered.
    assert_eq!(
        metadata["grant_types_supported"],
        json!([
            "authorization_code",
            "implicit",
            "client_credentials",
            "refresh_token"
        ])
    );
    let res = post(
        format!("/oauth2/{OTHER_SERVICE}/token"),
        vec![
            ("grant_type", "password".into()),
            ("username", "u".into()),
            ("password", "p".into()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // With a default service, the plain paths serve it.
    let public = PublicEndpoints::new(tokens.clone(), [SERVICE, OTHER_SERVICE], ISSUER)
        .unwrap()
        .default_service(SERVICE)
        .unwrap();
    let addr = serve(public).await;
    let res = http
        .post(format!("http://{addr}/oauth2/token"))
        .header("authorization", web_basic())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tokens.fetch_access_token(SERVICE, &token).await.is_ok());
    let metadata: Value = http
        .get(format!(
            "http://{addr}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], ISSUER);
}

#[tokio::test]
async fn a_failing_store_is_503_with_retry_after() {
    let tokens = Arc::new(TokenService::new(
        Arc::new(FlakyStore::down()),
        Pepper::new(b"pepper".to_vec()),
    ));
    let public = PublicEndpoints::new(tokens, [SERVICE], ISSUER)
        .unwrap()
        .admin_credentials(admin());
    let addr = serve(public).await;
    let http = reqwest::Client::new();
    for (path, form) in [
        ("/oauth2/token", vec![("grant_type", "client_credentials")]),
        ("/oauth2/introspect", vec![("token", "abc")]),
        ("/oauth2/revoke", vec![("token", "abc")]),
    ] {
        let res = http
            .post(format!("http://{addr}{path}"))
            .header("authorization", web_basic())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(res.headers()["retry-after"], "5");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{path}");
    }
    let res = http
        .get(format!(
            "http://{addr}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
}

// ---- the same client against `tokengate serve` ------------------------------------------------

/// The `oauth2` crate against the real binary: discovery, authorization code with PKCE (the code
/// from JSON-RPC `createAuthorizationCode` on the admin listener), a call through the gateway
/// layer with the issued token, refresh, client credentials, introspection, and revocation
/// through RFC 7009 evicting the gateway's cache in the same process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_crate_against_tokengate_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[store]
url = "sqlite://tokengate.db"
pepper = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
[admin]
listen = "127.0.0.1:0"
credentials = [{{ key = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]
[public]
listen = "127.0.0.1:0"
issuer = "{ISSUER}"
[[services]]
key = "{SERVICE}"
name = "Reviews API"
[[clients]]
id = 12346
client_id = "{WEB_CLIENT}"
secret = "{WEB_SECRET}"
name = "Reviews Web"
redirect_uris = ["{REDIRECT}"]
services = ["{SERVICE}"]
"#
    );
    let gw = common::process::Gateway::start(dir.path(), &config);
    let public = gw.public.expect("public listener");
    let web = reqwest::Client::new();
    let metadata: AuthorizationServerMetadata = web
        .get(format!(
            "http://{public}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata.issuer, ISSUER);
    let client = oauth_client(&metadata, WEB_CLIENT, Some(WEB_SECRET), REDIRECT);
    let http = Loopback {
        addr: public,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };

    // The provider's login page asks tokengate for a code over JSON-RPC.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize, _csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let q: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    let rpc: Value = web
        .post(format!("http://{}/v2/json-rpc", gw.admin))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .json(&json!({"jsonrpc":"2.0","method":"oauth2.createAuthorizationCode","id":1,"params":{
            "service_key": SERVICE, "client": {"client_id": q["client_id"]},
            "uri": {"redirect_uri": q["redirect_uri"], "state": q["state"]},
            "scope": q["scope"], "user_context": "user12345", "response_type": q["response_type"],
            "pkce": {"code_challenge": q["code_challenge"], "code_challenge_method": q["code_challenge_method"]}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = rpc["result"]["code"].as_str().unwrap().to_owned();
    let issued = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let access = issued.access_token().secret().clone();

    // The token works through the gateway layer (the built-in echo shows the headers).
    let through = |token: String| {
        let web = web.clone();
        async move {
            web.get(format!("http://{public}/reviews"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let res = through(access.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let echo: Value = res.json().await.unwrap();
    assert_eq!(
        echo["headers"]["x-mashery-oauth-user-context"], "user12345",
        "{echo}"
    );

    let rotated = client
        .exchange_refresh_token(issued.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        through(rotated.access_token().secret().clone())
            .await
            .status(),
        StatusCode::OK
    );
    let cc = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap();
    let info = client
        .introspect(cc.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some(WEB_CLIENT));

    // Revoked through RFC 7009: the cached token is refused on the next request.
    client
        .revoke_token(StandardRevocableToken::AccessToken(
            issued.access_token().clone(),
        ))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(through(access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(gw.terminate().code(), Some(0));
}
