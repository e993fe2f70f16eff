//! The OAuthLayer in-process: what reaches the inner service, RFC 6750 rejections, the cache's
//! revocation, expiry, coalescing and outage behaviour.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use http::{HeaderMap, Request, Response, StatusCode};
use tokengate::auth::{IdentityHeaders, OAuthLayer};
use tokengate::model::{GrantType, Service, TokenInfo};
use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
use tokengate::resolve::{CachedToken, LocalResolver, Resolve, TokenCache};
use tokengate::store::{MemoryStore, Store};
use tower::{Service as _, ServiceExt};

/// A resolver that counts lookups, can be slowed down and can be switched off (as when the
/// store is down).
struct Probe {
    inner: LocalResolver,
    lookups: AtomicUsize,
    down: AtomicBool,
    delay: Duration,
}

#[async_trait]
impl Resolve for Probe {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, tokengate::Error> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.down.load(Ordering::SeqCst) {
            return Err(tokengate::Error::store("store is down"));
        }
        self.inner.resolve(token).await
    }

    fn may_know(&self, token: &str) -> bool {
        self.inner.may_know(token)
    }
}

/// What the inner service saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Forwarded>>>);

/// The headers and token data of one forwarded request.
type Forwarded = (HeaderMap, Option<CachedToken>);

struct Gate {
    tokens: Arc<TokenService>,
    probe: Arc<Probe>,
    seen: Seen,
    layer: OAuthLayer,
}

impl Gate {
    async fn new(
        edit: impl FnOnce(&mut Service),
        configure: impl FnOnce(OAuthLayer) -> OAuthLayer,
    ) -> Gate {
        Self::with_delay(edit, configure, Duration::ZERO).await
    }

    async fn with_delay(
        edit: impl FnOnce(&mut Service),
        configure: impl FnOnce(OAuthLayer) -> OAuthLayer,
        delay: Duration,
    ) -> Gate {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (tokens, _) = token_service(store, edit).await;
        // The gateway checks expiry against the real clock.
        let tokens = Arc::new(TokenService::new(tokens.store().clone(), pepper()));
        let probe = Arc::new(Probe {
            inner: LocalResolver::new(tokens.clone(), SERVICE),
            lookups: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            delay,
        });
        let cache = TokenCache::builder(probe.clone()).build();
        cache.listen_to(&tokens);
        Gate {
            tokens,
            probe,
            seen: Seen::default(),
            layer: configure(OAuthLayer::new(cache)),
        }
    }

    async fn token(&self, user: &str, scope: Option<&str>) -> String {
        self.token_for(SERVICE, user, scope).await
    }

    async fn token_for(&self, service: &str, user: &str, scope: Option<&str>) -> String {
        let req = TokenRequest {
            scope: scope.map(Into::into),
            ..TokenRequest::grant("password")
        };
        self.tokens
            .create_access_token(
                service,
                &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
                &req,
                None,
                Some(user),
            )
            .await
            .unwrap()
            .access_token
    }

    async fn send(&self, req: Request<String>) -> Response<String> {
        let seen = self.seen.clone();
        let inner = tower::service_fn(move |req: Request<String>| {
            let seen = seen.clone();
            async move {
                let info = req.extensions().get::<CachedToken>().cloned();
                seen.0.lock().unwrap().push((req.headers().clone(), info));
                Ok::<_, std::convert::Infallible>(Response::new("upstream".to_owned()))
            }
        });
        let mut svc = tower::ServiceBuilder::new()
            .layer(self.layer.clone())
            .service(inner);
        svc.ready().await.unwrap().call(req).await.unwrap()
    }

    fn forwarded(&self) -> usize {
        self.seen.0.lock().unwrap().len()
    }

    fn last(&self) -> (HeaderMap, Option<CachedToken>) {
        self.seen.0.lock().unwrap().last().cloned().unwrap()
    }
}

/// `GET path` with `Host: gateway.test` (an HTTP/1.1 request needs one) and `headers`.
fn get(path: &str, headers: &[(&str, &str)]) -> Request<String> {
    let mut b = Request::builder().uri(path).header("host", "gateway.test");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(String::new()).unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn challenge(res: &Response<String>) -> &str {
    res.headers()["www-authenticate"].to_str().unwrap()
}

const INVALID: &str = "Bearer realm=\"tokengate\", error=\"invalid_token\"";

#[tokio::test]
async fn a_valid_token_reaches_the_inner_service_with_exactly_one_of_each_header() {
    let gate = Gate::new(|_| {}, |l| l).await;
    let token = gate.token("user12345", Some("read write")).await;
    let res = gate
        .send(get(
            "/reviews",
            &[("authorization", &bearer(&token)), ("x-keep", "1")],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "upstream");
    let (headers, info) = gate.last();
    let one = |name: &str| {
        let values: Vec<_> = headers.get_all(name).iter().collect();
        assert_eq!(values.len(), 1, "{name}: {values:?}");
        values[0].to_str().unwrap().to_owned()
    };
    assert_eq!(one("x-mashery-oauth-client-id"), WEB_CLIENT);
    assert_eq!(one("x-mashery-oauth-scope"), "read write");
    assert_eq!(one("x-mashery-oauth-user-context"), "user12345");
    assert_eq!(one("x-keep"), "1");
    assert!(
        headers.get("authorization").is_none(),
        "Authorization is not forwarded by default"
    );
    assert!(headers.get("x-mashery-oauth-access-token").is_none());
    let info = info.expect("CachedToken extension");
    assert_eq!(
        (info.client_id(), info.grant_type(), info.user_context()),
        (WEB_CLIENT, GrantType::Password, Some("user12345"))
    );
}

#[tokio::test]
async fn tokens_without_user_context_or_scope_inject_no_such_header() {
    let gate = Gate::new(|_| {}, |l| l.headers(IdentityHeaders::neutral())).await;
    let token = gate
        .tokens
        .create_access_token(
            SERVICE,
            &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
            &TokenRequest::grant("client_credentials"),
            None,
            None,
        )
        .await
        .unwrap()
        .access_token;
    let spoof = [
        ("authorization", bearer(&token)),
        ("x-oauth-user-context", "root".into()),
        ("X-OAuth-Scope", "admin".into()),
    ];
    let spoof: Vec<(&str, &str)> = spoof.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(gate.send(get("/", &spoof)).await.status(), StatusCode::OK);
    let (headers, _) = gate.last();
    assert_eq!(headers["x-oauth-client-id"], WEB_CLIENT);
    assert!(
        headers.get("x-oauth-user-context").is_none(),
        "spoofed value removed, none injected"
    );
    assert!(headers.get("x-oauth-scope").is_none());
}

#[tokio::test]
async fn spoofed_identity_headers_never_pass() {
    let gate = Gate::new(|_| {}, |l| l.forward_authorization(true)).await;
    let token = gate.token("alice", None).await;
    let auth = bearer(&token);
    let res = gate
        .send(get(
            "/",
            &[
                ("authorization", &auth),
                ("X-Mashery-Oauth-Client-Id", "evil"),
                ("x-mashery-oauth-client-id", "evil2"),
                ("X-MASHERY-OAUTH-USER-CONTEXT", "root"),
            ],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (headers, _) = gate.last();
    let ids: Vec<_> = headers
        .get_all("x-mashery-oauth-client-id")
        .iter()
        .collect();
    assert_eq!(ids, [WEB_CLIENT]);
    assert_eq!(headers["x-mashery-oauth-user-context"], "alice");
    assert_eq!(
        headers["authorization"],
        auth.as_str(),
        "forwarded when configured"
    );
    for alias in [
        "x_mashery_oauth_client_id",
        "x.mashery.oauth.user.context",
        "X_Mashery_Oauth_Scope",
    ] {
        let res = gate
            .send(get("/", &[("authorization", &auth), (alias, "evil")]))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{alias}");
        assert!(challenge(&res).contains("invalid_request"));
    }
    let before = gate.forwarded();
    for headers in [
        vec![("x-mashery-oauth-client-id", "evil")],
        vec![
            ("authorization", "Bearer junk"),
            ("x-mashery-oauth-client-id", "evil"),
        ],
    ] {
        assert_eq!(
            gate.send(get("/", &headers)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(gate.forwarded(), before, "rejected requests reach nothing");
}

#[tokio::test]
async fn a_connection_header_cannot_remove_injected_headers() {
    let gate = Gate::new(|_| {}, |l| l).await;
    let token = gate.token("bob", Some("read")).await;
    let res = gate
        .send(get(
            "/",
            &[
                ("authorization", &bearer(&token)),
                (
                    "connection",
                    "x-mashery-oauth-client-id, X-Mashery-Oauth-Scope, keep-alive",
                ),
                ("keep-alive", "timeout=5"),
            ],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (headers, _) = gate.last();
    assert_eq!(headers["x-mashery-oauth-client-id"], WEB_CLIENT);
    assert_eq!(headers["x-mashery-oauth-scope"], "read");
    assert!(headers.get("connection").is_none() && headers.get("keep-alive").is_none());
}

#[tokio::test]
async fn rfc6750_rejections() {
    let gate = Gate::new(
        |s| s.access_token_ttl = 1,
        |l| l.require_scope("/admin", "admin").unwrap(),
    )
    .await;
    let res = gate.send(get("/", &[])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res), "Bearer realm=\"tokengate\"");
    let basic = gate
        .send(get("/", &[("authorization", "Basic dXNlcjpwdw==")]))
        .await;
    assert_eq!(
        challenge(&basic),
        "Bearer realm=\"tokengate\"",
        "another scheme is no token"
    );
    for bad in ["Bearer", "Bearer a b", "Bearer ä"] {
        let res = gate.send(get("/", &[("authorization", bad)])).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            challenge(&res),
            "Bearer realm=\"tokengate\", error=\"invalid_request\""
        );
    }
    let two = gate
        .send(get(
            "/",
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
        ))
        .await;
    assert_eq!(two.status(), StatusCode::BAD_REQUEST);

    // Unknown, revoked, other service's and expired tokens: the same response.
    let revoked = gate.token("carol", None).await;
    gate.tokens
        .revoke_access_token(SERVICE, &ClientCredentials::public(WEB_CLIENT), &revoked)
        .await
        .unwrap();
    let other = gate.token_for(OTHER_SERVICE, "carol", None).await;
    let expiring = gate.token("carol", None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut answers = Vec::new();
    for token in [
        "unknowntoken0000000000000000000",
        revoked.as_str(),
        other.as_str(),
        expiring.as_str(),
        &"a".repeat(8192),
    ] {
        let res = gate
            .send(get("/", &[("authorization", &bearer(token))]))
            .await;
        answers.push((res.status(), challenge(&res).to_owned(), res.body().clone()));
    }
    assert!(
        answers
            .iter()
            .all(|a| *a == (StatusCode::UNAUTHORIZED, INVALID.to_owned(), String::new())),
        "{answers:?}"
    );

    let reader = gate.token("dave", Some("read")).await;
    let res = gate
        .send(get("/admin/users", &[("authorization", &bearer(&reader))]))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&res),
        "Bearer realm=\"tokengate\", error=\"insufficient_scope\", scope=\"admin\""
    );
    assert_eq!(
        gate.send(get("/public", &[("authorization", &bearer(&reader))]))
            .await
            .status(),
        StatusCode::OK
    );
    let admin = gate.token("erin", Some("read admin")).await;
    assert_eq!(
        gate.send(get("/admin/users", &[("authorization", &bearer(&admin))]))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(gate.forwarded(), 2);
    let outcomes = gate.layer.metrics().outcomes();
    assert_eq!(outcomes[0], ("allowed", 2));
    assert_eq!(outcomes[2], ("invalid_token", 5));
}

#[tokio::test]
async fn longest_scope_rule_wins() {
    let gate = Gate::new(
        |_| {},
        |l| {
            l.require_scope("/api", "read")
                .unwrap()
                .require_scope("/api/admin", "admin")
                .unwrap()
        },
    )
    .await;
    let reader = gate.token("f", Some("read")).await;
    let auth = bearer(&reader);
    assert_eq!(
        gate.send(get("/api/items", &[("authorization", &auth)]))
            .await
            .status(),
        StatusCode::OK
    );
    let res = gate
        .send(get("/api/admin/x", &[("authorization", &auth)]))
        .await;
    assert!(challenge(&res).ends_with("scope=\"admin\""));
}

#[tokio::test]
async fn rules_match_segments_and_methods_in_a_documented_order() {
    use http::Method;
    use tokengate::auth::ScopeRule;
    let gate = Gate::new(
        |_| {},
        |l| {
            l.rule(ScopeRule::new("/reviews", "read").unwrap())
                .rule(
                    ScopeRule::new("/reviews", "write")
                        .unwrap()
                        .methods([Method::POST]),
                )
                .rule(
                    ScopeRule::new("/reviews/admin", "admin")
                        .unwrap()
                        .case_insensitive(true),
                )
                .rule(
                    ScopeRule::new("/", "admin")
                        .unwrap()
                        .methods([Method::DELETE]),
                )
        },
    )
    .await;
    let reader = bearer(&gate.token("r", Some("read")).await);
    let writer = bearer(&gate.token("w", Some("read write")).await);
    let send = |method: Method, path: &str, auth: &str| {
        let mut req = get(path, &[("authorization", auth)]);
        *req.method_mut() = method;
        gate.send(req)
    };
    for (method, path, auth, needs) in [
        (Method::GET, "/reviews/1", &reader, None),
        (Method::POST, "/reviews/1", &reader, Some("write")),
        (Method::POST, "/reviews/1", &writer, None),
        (Method::GET, "/reviews/ADMIN/x", &reader, Some("admin")),
        (Method::POST, "/reviews/admin", &writer, Some("admin")),
        (Method::GET, "/reviewsx", &reader, None),
        (Method::DELETE, "/anything", &writer, Some("admin")),
        // The longer rule decides first, whatever the methods of the shorter one.
        (Method::DELETE, "/reviews/1", &reader, None),
        (Method::GET, "/anything", &reader, None),
    ] {
        let res = send(method.clone(), path, auth).await;
        match needs {
            None => assert_eq!(res.status(), StatusCode::OK, "{method} {path}"),
            Some(scope) => {
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
                let want = format!("scope=\"{scope}\"");
                assert!(challenge(&res).ends_with(&want), "{method} {path}");
            }
        }
    }
    // Under no rule as written, under the case-sensitive `/reviews` rule to an upstream that
    // folds case: 400 with any token, no challenge.
    for auth in [&reader, &writer] {
        let res = send(Method::GET, "/REVIEWS/1", auth).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "GET /REVIEWS/1");
        assert!(res.headers().get("www-authenticate").is_none());
    }
}

#[tokio::test]
async fn query_tokens_only_when_allowed() {
    let off = Gate::new(|_| {}, |l| l).await;
    let token = off.token("g", None).await;
    let uri = format!("/x?access_token={token}");
    assert_eq!(
        off.send(get(&uri, &[])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let both = off
        .send(get(&uri, &[("authorization", &bearer(&token))]))
        .await;
    assert_eq!(
        both.status(),
        StatusCode::BAD_REQUEST,
        "two sources, even with query tokens off"
    );
    let on = Gate::new(|_| {}, |l| l.allow_query_tokens(true)).await;
    let token = on.token("g", None).await;
    assert_eq!(
        on.send(get(&format!("/x?access_token={token}"), &[]))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_token_is_rejected_on_the_next_request_though_cached() {
    let gate = Gate::new(|_| {}, |l| l).await;
    let token = gate.token("h", None).await;
    let auth = bearer(&token);
    for _ in 0..3 {
        assert_eq!(
            gate.send(get("/", &[("authorization", &auth)]))
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        gate.probe.lookups.load(Ordering::SeqCst),
        1,
        "cached after the first request"
    );
    gate.tokens
        .revoke_access_token(SERVICE, &ClientCredentials::public(WEB_CLIENT), &token)
        .await
        .unwrap();
    assert_eq!(
        gate.send(get("/", &[("authorization", &auth)]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_updated_token_is_seen_at_once() {
    let gate = Gate::new(|_| {}, |l| l.require_scope("/w", "write").unwrap()).await;
    let token = gate.token("i", Some("read")).await;
    let auth = bearer(&token);
    assert_eq!(
        gate.send(get("/w", &[("authorization", &auth)]))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let changes = tokengate::oauth::TokenChanges {
        scope: Some("read write".into()),
        ..Default::default()
    };
    gate.tokens
        .update_access_token(
            SERVICE,
            &ClientCredentials::public(WEB_CLIENT),
            &token,
            &changes,
        )
        .await
        .unwrap();
    assert_eq!(
        gate.send(get("/w", &[("authorization", &auth)]))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_is_not_served_past_its_expiry_despite_the_cache_ttl() {
    let gate = Gate::new(|s| s.access_token_ttl = 1, |l| l).await;
    let token = gate.token("j", None).await;
    let auth = bearer(&token);
    assert_eq!(
        gate.send(get("/", &[("authorization", &auth)]))
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        gate.send(get("/", &[("authorization", &auth)]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_one_token_make_one_lookup() {
    let gate = Arc::new(Gate::with_delay(|_| {}, |l| l, Duration::from_millis(200)).await);
    let token = gate.token("k", None).await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (gate, auth) = (gate.clone(), bearer(&token));
            tokio::spawn(async move {
                gate.send(get("/", &[("authorization", &auth)]))
                    .await
                    .status()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(gate.probe.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(gate.forwarded(), 1000);
    let stats = gate.layer_cache_stats();
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.hits + stats.coalesced, 999);
}

#[tokio::test]
async fn unknown_tokens_are_remembered_briefly() {
    let gate = Gate::new(|_| {}, |l| l).await;
    // Well formed and tagged, but never issued.
    let unknown = gate.tokens.tag_key().issue();
    for _ in 0..5 {
        let res = gate
            .send(get("/", &[("authorization", &bearer(&unknown))]))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(gate.probe.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(gate.layer_cache_stats().negative_hits, 4);
}

#[tokio::test]
async fn forged_tokens_are_refused_without_a_lookup_or_a_negative_entry() {
    let gate = Gate::new(|_| {}, |l| l).await;
    let real = gate.token("kim", None).await;
    let unknown = gate.tokens.tag_key().issue();
    let answer = |res: Response<String>| {
        let mut headers = res.headers().clone();
        headers.remove("date");
        (res.status(), headers, res.into_body())
    };
    let expected = answer(
        gate.send(get("/", &[("authorization", &bearer(&unknown))]))
            .await,
    );
    assert_eq!(expected.0, StatusCode::UNAUTHORIZED);
    assert_eq!(gate.probe.lookups.load(Ordering::SeqCst), 1, "the control");

    let mut flipped_tag = real.clone().into_bytes();
    flipped_tag[39] = if flipped_tag[39] == b'a' { b'b' } else { b'a' };
    let flipped_tag = String::from_utf8(flipped_tag).unwrap();
    let mut forged = vec![flipped_tag, tokengate::secret::generate_token()];
    forged.extend((0..50).map(|_| tokengate::secret::junk_token()));
    for round in 0..2 {
        for token in &forged {
            let res = gate
                .send(get("/", &[("authorization", &bearer(token))]))
                .await;
            assert_eq!(answer(res), expected, "{token} (round {round})");
        }
    }
    assert_eq!(gate.probe.lookups.load(Ordering::SeqCst), 1, "no lookup");
    let stats = gate.layer_cache_stats();
    assert_eq!(stats.forged, 2 * forged.len() as u64);
    assert_eq!(stats.misses, 1);
    assert_eq!(
        stats.negative_hits, 0,
        "forged tokens are not remembered, so they never hit the negative cache"
    );
    assert_eq!(
        gate.send(get("/", &[("authorization", &bearer(&real))]))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn when_the_store_is_down_cached_tokens_pass_and_others_get_503() {
    let gate = Gate::new(|_| {}, |l| l).await;
    let cached = gate.token("l", None).await;
    let uncached = gate.token("m", None).await;
    assert_eq!(
        gate.send(get("/", &[("authorization", &bearer(&cached))]))
            .await
            .status(),
        StatusCode::OK
    );
    gate.probe.down.store(true, Ordering::SeqCst);
    assert_eq!(
        gate.send(get("/", &[("authorization", &bearer(&cached))]))
            .await
            .status(),
        StatusCode::OK
    );
    let before = gate.forwarded();
    let res = gate
        .send(get("/", &[("authorization", &bearer(&uncached))]))
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(gate.forwarded(), before, "not forwarded");
    gate.probe.down.store(false, Ordering::SeqCst);
    let res = gate
        .send(get("/", &[("authorization", &bearer(&uncached))]))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "failures are not cached; it recovers by itself"
    );
}

impl Gate {
    fn layer_cache_stats(&self) -> tokengate::resolve::CacheStats {
        self.layer_cache().stats()
    }

    fn layer_cache(&self) -> &TokenCache {
        self.layer.cache()
    }
}

/// An inner service that answers only when `release` is notified, recording what reached it,
/// behind a `ConcurrencyLimit` of one request: the layer must pass the limit's back-pressure
/// through `poll_ready`, on the hit path and the miss path alike.
fn held_behind_a_limit(
    gate: &Gate,
    release: Arc<tokio::sync::Semaphore>,
) -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = std::convert::Infallible,
> + Clone {
    let seen = gate.seen.clone();
    let inner = tower::service_fn(move |req: Request<String>| {
        let (seen, release) = (seen.clone(), release.clone());
        async move {
            release.acquire().await.unwrap().forget();
            seen.0.lock().unwrap().push((req.headers().clone(), None));
            Ok::<_, std::convert::Infallible>(Response::new("upstream".to_owned()))
        }
    });
    tower::ServiceBuilder::new()
        .layer(gate.layer.clone())
        .concurrency_limit(1)
        .service(inner)
}

/// Whether `svc` becomes ready within a short wait.
async fn ready_soon<S: tower::Service<Request<String>>>(svc: &mut S) -> bool {
    tokio::time::timeout(Duration::from_millis(100), svc.ready())
        .await
        .is_ok()
}

#[tokio::test]
async fn poll_ready_passes_the_inner_services_back_pressure_through() {
    let gate = Gate::with_delay(|_| {}, |l| l, Duration::from_millis(50)).await;
    let token = gate.token("k", None).await;
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let mut svc = held_behind_a_limit(&gate, release.clone());

    // A miss: the permit goes with the request into its lookup, then into the inner service.
    svc.ready().await.unwrap();
    let first = svc.call(get("/", &[("authorization", &bearer(&token))]));
    assert!(
        !ready_soon(&mut svc).await,
        "ready while the limit is taken"
    );
    release.add_permits(1);
    assert_eq!(first.await.unwrap().status(), StatusCode::OK);
    assert!(ready_soon(&mut svc).await, "the permit came back");

    // A hit: the same, without a lookup.
    let second = svc.call(get("/", &[("authorization", &bearer(&token))]));
    assert!(
        !ready_soon(&mut svc).await,
        "ready while the limit is taken"
    );
    release.add_permits(1);
    assert_eq!(second.await.unwrap().status(), StatusCode::OK);
    assert!(ready_soon(&mut svc).await);
    assert_eq!(gate.forwarded(), 2);
    assert_eq!(gate.probe.lookups.load(Ordering::SeqCst), 1);

    // A rejection leaves the service ready for the next request (nothing is held).
    let refused = svc.call(get("/", &[])).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        ready_soon(&mut svc).await,
        "a rejection gave the permit back"
    );
}

#[tokio::test]
async fn a_request_dropped_during_its_lookup_forwards_nothing_and_frees_its_permit() {
    let gate = Gate::with_delay(|_| {}, |l| l, Duration::from_millis(300)).await;
    let token = gate.token("k", None).await;
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let mut svc = held_behind_a_limit(&gate, release.clone());

    svc.ready().await.unwrap();
    let pending = svc.call(get("/", &[("authorization", &bearer(&token))]));
    // The client goes away while the token is being looked up.
    assert!(tokio::time::timeout(Duration::from_millis(50), pending)
        .await
        .is_err());
    assert!(
        ready_soon(&mut svc).await,
        "the dropped request kept the permit"
    );
    assert_eq!(
        gate.forwarded(),
        0,
        "a dropped request reached the inner service"
    );

    // The next request with the same token is resolved and served.
    release.add_permits(1);
    let res = svc
        .call(get("/", &[("authorization", &bearer(&token))]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(gate.forwarded(), 1);
}
