//! MAC tokens (draft-ietf-oauth-v2-http-mac-01) at the gateway, over real sockets:
//! `tokengate serve` guarding a `token_type = "mac"` service in front of a recording upstream,
//! requests signed here with the key the token service issued, over HTTP/1.1 (raw bytes) and
//! HTTP/2. Then, in-process: tokens whose type does not match the scheme they come under, and a
//! gateway whose tokens are resolved remotely.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use http::{Request, Response};
use http_body_util::Full;
use serde_json::{json, Value};

use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::{send_raw, Raw};
use common::upstream::Recorder;
use common::{ADMIN_KEY, ADMIN_SECRET, OTHER_SERVICE, SERVICE, WEB_CLIENT, WEB_SECRET};

const INVALID_TOKEN: &str = "MAC error=\"invalid_token\"";
const INVALID_REQUEST: &str = "MAC error=\"invalid_request\"";
const CLIENT_ID: &str = "x-mashery-oauth-client-id";
const SCOPE: &str = "x-mashery-oauth-scope";

// ---------------------------------------------------------------------------------------------
// The client side, written from the draft (independently of the gateway's code).

/// A MAC token as the token service issued it.
#[derive(Clone)]
struct Credentials {
    id: String,
    key: String,
    algorithm: String,
}

/// One request to sign: what goes into the normalised request string.
struct Signing<'a> {
    ts: u64,
    nonce: &'a str,
    method: &'a str,
    target: &'a str,
    host: &'a str,
    port: u16,
    ext: Option<&'a str>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hmac<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

impl Credentials {
    /// The `Authorization` value for `s`.
    fn authorization(&self, s: &Signing) -> String {
        let ext = s.ext.unwrap_or("");
        let normalized = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{ext}\n",
            s.ts, s.nonce, s.method, s.target, s.host, s.port
        );
        let key = self.key.as_bytes();
        let mac = match self.algorithm.as_str() {
            "hmac-sha-1" => hmac::<Hmac<sha1::Sha1>>(key, normalized.as_bytes()),
            "hmac-sha-256" => hmac::<Hmac<sha2::Sha256>>(key, normalized.as_bytes()),
            other => panic!("algorithm {other}"),
        };
        let ext = s.ext.map(|e| format!(", ext=\"{e}\"")).unwrap_or_default();
        format!(
            "MAC id=\"{}\", ts=\"{}\", nonce=\"{}\"{ext}, mac=\"{}\"",
            self.id,
            s.ts,
            s.nonce,
            STANDARD.encode(mac)
        )
    }

    /// A request signed now for `method target` at `gateway.test` (port 80, the default).
    fn sign(&self, method: &str, target: &str, nonce: &str) -> String {
        self.authorization(&Signing {
            ts: now(),
            nonce,
            method,
            target,
            host: "gateway.test",
            port: 80,
            ext: None,
        })
    }
}

/// `method target HTTP/1.1` with `Host: host` and `headers`, on a fresh connection.
async fn send(addr: SocketAddr, method: &str, target: &str, host: &str, headers: &[&str]) -> Raw {
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method == "POST" {
        request.push_str("Content-Length: 0\r\n");
    }
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    send_raw(addr, request.as_bytes()).await
}

/// `GET /r` at `gateway.test` with `Authorization: authorization`.
async fn get(addr: SocketAddr, authorization: &str) -> Raw {
    send(addr, "GET", "/r", "gateway.test", &[&auth(authorization)]).await
}

fn auth(value: &str) -> String {
    format!("Authorization: {value}")
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.

struct Harness {
    gateway: Gateway,
    upstream: Recorder,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// `tokengate serve` with the seed service issuing MAC tokens of `algorithm`, the public
    /// listener forwarding `Authorization` (to show that a MAC one is removed all the same)
    /// and `public` more `[public]` keys.
    async fn start(algorithm: &str, public: &str) -> Harness {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig::sqlite()
            .public(&format!(
                "upstream = \"http://{}\"\nforward_authorization = true\n\
                 require_scopes = [{{ path = \"/admin\", scope = \"admin\" }}]\n{public}",
                upstream.addr
            ))
            .service(&format!(
                "token_type = \"mac\"\nmac_algorithm = \"{algorithm}\""
            ))
            .other_service()
            .toml();
        let gateway = Gateway::start(dir.path(), &config);
        Harness {
            gateway,
            upstream,
            _dir: dir,
        }
    }

    fn public(&self) -> SocketAddr {
        self.gateway.public()
    }

    /// A token of `service` with scope `read`, from `oauth2.createAccessToken` on the admin
    /// listener: `(access_token, extended)`.
    async fn issue(&self, service: &str) -> (String, Value) {
        let reply = common::admin::call(
            self.gateway.admin,
            "oauth2.createAccessToken",
            json!([
                service,
                {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
                {"grant_type": "client_credentials", "scope": "read"},
            ]),
        )
        .await;
        let result = &reply["result"];
        (
            result["access_token"].as_str().unwrap().to_owned(),
            result["extended"].clone(),
        )
    }

    /// A MAC token of the seed service.
    async fn credentials(&self) -> Credentials {
        let (id, extended) = self.issue(SERVICE).await;
        Credentials {
            id,
            key: extended["secret"].as_str().unwrap().to_owned(),
            algorithm: extended["algorithm"].as_str().unwrap().to_owned(),
        }
    }

    /// `GET /r` at `gateway.test` with `Authorization: authorization`.
    async fn get(&self, authorization: &str) -> Raw {
        send(
            self.public(),
            "GET",
            "/r",
            "gateway.test",
            &[&auth(authorization)],
        )
        .await
    }

    /// Asserts `res` is a 401 `invalid_token` with the MAC challenge and nothing was forwarded.
    fn refused(&self, res: &Raw, what: &str) {
        assert_eq!(res.status, 401, "{what}: {res:?}");
        assert_eq!(res.challenge(), Some(INVALID_TOKEN), "{what}");
        assert!(self.upstream.take().is_empty(), "{what}: forwarded");
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_request_passes_once_and_only_as_signed() {
    let h = Harness::start("hmac-sha-1", "").await;
    let c = h.credentials().await;
    assert_eq!(c.algorithm, "hmac-sha-1");
    let target = "/reviews/7?b=1&a=2&c=%41";

    // Good: forwarded with the identity headers and without the credentials.
    let signed = c.sign("GET", target, "n-good");
    let res = send(h.public(), "GET", target, "gateway.test", &[&auth(&signed)]).await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (200, "upstream"),
        "{res:?}"
    );
    let seen = h.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, target);
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
    assert_eq!(seen[0].one(SCOPE), "read");
    assert!(
        seen[0].headers.get("authorization").is_none(),
        "never forwarded"
    );
    assert!(
        !format!("{:?}", seen[0].headers).contains(&c.id),
        "nothing of the credentials travels on"
    );

    // Replayed, byte for byte: refused, nothing forwarded.
    let res = send(h.public(), "GET", target, "gateway.test", &[&auth(&signed)]).await;
    h.refused(&res, "replay");

    // With ext, and the host's case folded: passes.
    let with_ext = c.authorization(&Signing {
        ts: now(),
        nonce: "n-ext",
        method: "GET",
        target,
        host: "gateway.test",
        port: 80,
        ext: Some("a,b,c"),
    });
    let res = send(
        h.public(),
        "GET",
        target,
        "GATEWAY.test",
        &[&auth(&with_ext)],
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.upstream.take().len(), 1);

    // Signed as sent, though not canonical: verified over the target the client sent, and
    // forwarded as the canonical target that the rules saw.
    let sent = "//reviews/%37?b=1";
    let signed = c.sign("GET", sent, "n-sent");
    let res = send(h.public(), "GET", sent, "gateway.test", &[&auth(&signed)]).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/reviews/7?b=1");
    // Signed for the canonical form but sent otherwise: refused.
    let signed = c.sign("GET", "/reviews/7?b=1", "n-canonical");
    let res = send(h.public(), "GET", sent, "gateway.test", &[&auth(&signed)]).await;
    h.refused(&res, "signed for the canonical target, sent otherwise");

    // Each a correctly signed request sent as another: refused, nothing forwarded.
    let cases = [
        // (what, signed for method and target, sent as method, target and host)
        (
            "another path",
            "GET",
            "/reviews/8",
            "GET",
            "/reviews/7",
            "gateway.test",
        ),
        (
            "another query",
            "GET",
            "/r?a=1",
            "GET",
            "/r?a=2",
            "gateway.test",
        ),
        (
            "the path decoded",
            "GET",
            "/r/%41",
            "GET",
            "/r/A",
            "gateway.test",
        ),
        (
            "the path re-encoded",
            "GET",
            "/r/A",
            "GET",
            "/r/%41",
            "gateway.test",
        ),
        ("another method", "GET", "/r", "POST", "/r", "gateway.test"),
        ("another host", "GET", "/r", "GET", "/r", "other.test"),
        (
            "another port",
            "GET",
            "/r",
            "GET",
            "/r",
            "gateway.test:8080",
        ),
        (
            "the port spelled out",
            "GET",
            "/r",
            "GET",
            "/r",
            "gateway.test:443",
        ),
    ];
    for (what, signed_method, signed_target, method, target, host) in cases {
        let signed = c.sign(signed_method, signed_target, what);
        let res = send(h.public(), method, target, host, &[&auth(&signed)]).await;
        h.refused(&res, what);
    }
    let good = c.sign("GET", "/r", "tampered");
    // A character well inside the base64 of the mac (`…XYZ="` ends it): the last one before
    // the padding holds only some bits, and flipping it there can make the encoding
    // non-canonical, a malformed header (400) rather than a wrong mac.
    let at = good.len() - 6;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    h.refused(&h.get(&tampered).await, "a tampered mac");
    // The port 80 spelled out is the default: the same request.
    let res = send(
        h.public(),
        "GET",
        "/r",
        "gateway.test:80",
        &[&auth(&c.sign("GET", "/r", "n10"))],
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.upstream.take().len(), 1);

    // Stale and future timestamps (correctly signed), outside the 30 s default window.
    for (what, ts) in [("stale", now() - 120), ("future", now() + 120)] {
        let signed = c.authorization(&Signing {
            ts,
            nonce: what,
            method: "GET",
            target: "/r",
            host: "gateway.test",
            port: 80,
            ext: None,
        });
        let res = h.get(&signed).await;
        h.refused(&res, what);
    }

    // The scope rules still apply to a MAC request (after its signature).
    let res = send(
        h.public(),
        "GET",
        "/admin",
        "gateway.test",
        &[&auth(&c.sign("GET", "/admin", "n11"))],
    )
    .await;
    assert_eq!(res.status, 403, "{res:?}");
    assert_eq!(
        res.challenge(),
        Some("MAC error=\"insufficient_scope\", scope=\"admin\"")
    );
    assert!(h.upstream.take().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_and_mac_tokens_as_bearer_get_the_unknown_tokens_answer() {
    let h = Harness::start("hmac-sha-256", "").await;
    let c = h.credentials().await;
    assert_eq!(c.algorithm, "hmac-sha-256");

    // The token id alone, as a bearer token: exactly what an unknown token gets.
    let as_bearer = send(
        h.public(),
        "GET",
        "/r",
        "gateway.test",
        &[&format!("Authorization: Bearer {}", c.id)],
    )
    .await;
    h.refused(&as_bearer, "MAC token as Bearer");
    let unknown = tokengate::secret::junk_token();
    let unknown_bearer = h.get(&format!("Bearer {unknown}")).await;
    assert_eq!(as_bearer, unknown_bearer, "byte for byte, but the date");
    assert!(h.upstream.take().is_empty());

    // An unknown id, signed with some key: the same answer.
    let stranger = Credentials {
        id: unknown,
        key: "0123456789abcdef".into(),
        algorithm: "hmac-sha-256".into(),
    };
    let res = h.get(&stranger.sign("GET", "/r", "u")).await;
    h.refused(&res, "unknown id");
    assert_eq!(res, as_bearer);

    // A good id signed with another token's key, or with the other algorithm.
    let other = h.credentials().await;
    let borrowed = Credentials {
        key: other.key.clone(),
        ..c.clone()
    };
    let res = h.get(&borrowed.sign("GET", "/r", "k")).await;
    h.refused(&res, "another token's key");
    let sha1 = Credentials {
        algorithm: "hmac-sha-1".into(),
        ..c.clone()
    };
    let res = h.get(&sha1.sign("GET", "/r", "k")).await;
    h.refused(&res, "the other algorithm");

    // A bearer token of another service under MAC: refused like any unknown token.
    let (bearer, extended) = h.issue(OTHER_SERVICE).await;
    assert!(extended.is_null(), "a bearer service's token has no key");
    let foreign = Credentials {
        id: bearer,
        key: "k".into(),
        algorithm: "hmac-sha-256".into(),
    };
    let res = h.get(&foreign.sign("GET", "/r", "b")).await;
    h.refused(&res, "bearer token under MAC");

    // No credentials at all: the bare MAC challenge.
    let res = send(h.public(), "GET", "/r", "gateway.test", &[]).await;
    assert_eq!((res.status, res.challenge()), (401, Some("MAC")));

    // The real token still works after all that.
    let res = h.get(&c.sign("GET", "/r", "ok")).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.upstream.take().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_duplicated_mac_credentials_are_bad_requests() {
    let h = Harness::start("hmac-sha-1", "allow_query_tokens = true").await;
    let c = h.credentials().await;
    let good = c.sign("GET", "/r", "m");
    let ts = now();
    let id = &c.id;
    let mac = "mac=\"6T3zZzy2Emppni6bzL7kdRxUWL4=\"";
    let malformed = [
        format!("MAC id=\"{id}\", id=\"{id}\", ts=\"{ts}\", nonce=\"n\", {mac}"),
        format!("MAC id=\"{id}\", ts=\"{ts}\", ts=\"{ts}\", nonce=\"n\", {mac}"),
        format!("MAC id=\"{id}\", ts=\"{ts}\", nonce=\"n\", nonce=\"m\", {mac}"),
        format!("MAC id=\"{id}\", ts=\"{ts}\", nonce=\"n\", {mac}, {mac}"),
        format!("MAC id=\"{id}\", ts=\"{ts}\", nonce=\"n\""),
        format!("MAC id=\"{id}\", nonce=\"n\", {mac}"),
        format!("MAC id={id}, ts=\"{ts}\", nonce=\"n\", {mac}"),
        format!("MAC id=\"{id}\", ts=\"{ts}\", nonce=\"n\", {mac}, realm=\"x\""),
        format!("MAC id=\"{id}\", ts=\"x{ts}\", nonce=\"n\", {mac}"),
        format!("MAC id=\"{id}\", ts=\"{ts}\", nonce=\"n\", mac=\"%%%\""),
        format!("MAC id=\"{id}\" ts=\"{ts}\", nonce=\"n\", {mac}"),
        format!(
            "MAC id=\"{id}\", ts=\"{ts}\", nonce=\"{}\", {mac}",
            "n".repeat(4000)
        ),
    ];
    for bad in &malformed {
        let res = send(h.public(), "GET", "/r", "gateway.test", &[&auth(bad)]).await;
        assert_eq!(res.status, 400, "{bad}: {res:?}");
        assert_eq!(res.challenge(), Some(INVALID_REQUEST), "{bad}");
        assert!(h.upstream.take().is_empty(), "{bad}");
    }
    // A second credential beside good MAC credentials: a second Authorization header (of
    // either scheme), a query token (allowed here, and refused all the same).
    let query = format!("/r?access_token={}", c.id);
    let signed_for_query = c.sign("GET", &query, "q");
    for (what, target, headers) in [
        ("two MAC headers", "/r", vec![auth(&good), auth(&good)]),
        (
            "MAC and Bearer",
            "/r",
            vec![auth(&good), format!("Authorization: Bearer {}", c.id)],
        ),
        (
            "MAC and a query token",
            query.as_str(),
            vec![auth(&signed_for_query)],
        ),
    ] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let res = send(h.public(), "GET", target, "gateway.test", &headers).await;
        assert_eq!(res.status, 400, "{what}: {res:?}");
        assert!(h.upstream.take().is_empty(), "{what}");
    }
    // No Host, or two: there is no host to sign.
    let raw = format!(
        "GET /r HTTP/1.1\r\nConnection: close\r\n{}\r\n\r\n",
        auth(&good)
    );
    let res = send_raw(h.public(), raw.as_bytes()).await;
    assert_eq!(res.status, 400, "{res:?}");
    let res = send(
        h.public(),
        "GET",
        "/r",
        "gateway.test",
        &["Host: gateway.test", &auth(&good)],
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(h.upstream.take().is_empty());
    // The good one was never consumed by the bad requests around it.
    let res = h.get(&good).await;
    assert_eq!(res.status, 200, "{res:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_requests_are_signed_for_their_authority_and_path() {
    let h = Harness::start("hmac-sha-256", "").await;
    let c = h.credentials().await;
    let addr = h.public();
    let (host, port) = (addr.ip().to_string(), addr.port());
    let signing = |method: &'static str, target: &'static str, nonce: &'static str| Signing {
        ts: now(),
        nonce,
        method,
        target,
        host: Box::leak(host.clone().into_boxed_str()),
        port,
        ext: None,
    };
    let mut sender = common::raw::h2(addr).await;
    let mut h2 = |method: &str, target: &str, authorization: String| {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{target}"))
            .header("authorization", authorization)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(request);
        async move {
            let response = response.await.unwrap();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), challenge)
        }
    };

    let good = c.authorization(&signing("GET", "/h2/x?y=1", "h2-good"));
    assert_eq!(h2("GET", "/h2/x?y=1", good.clone()).await, (200, None));
    let seen = h.upstream.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/h2/x?y=1");
    assert_eq!(seen[0].one(CLIENT_ID), WEB_CLIENT);
    assert!(seen[0].headers.get("authorization").is_none());

    let refused = (401, Some(INVALID_TOKEN.to_owned()));
    assert_eq!(h2("GET", "/h2/x?y=1", good).await, refused, "replayed");
    let other_path = c.authorization(&signing("GET", "/h2/x", "h2-path"));
    assert_eq!(
        h2("GET", "/h2/y", other_path).await,
        refused,
        "another path"
    );
    let other_method = c.authorization(&signing("GET", "/h2", "h2-method"));
    assert_eq!(
        h2("DELETE", "/h2", other_method).await,
        refused,
        "another method"
    );
    let for_h1 = c.sign("GET", "/h2", "h2-host");
    assert_eq!(
        h2("GET", "/h2", for_h1).await,
        refused,
        "another host and port"
    );
    let malformed = format!("MAC id=\"{}\", ts=\"1\", nonce=\"n\", nonce=\"n\"", c.id);
    assert_eq!(
        h2("GET", "/h2", malformed).await,
        (400, Some(INVALID_REQUEST.to_owned()))
    );
    assert_eq!(
        h2("GET", "/h2", format!("Bearer {}", c.id)).await,
        refused,
        "as Bearer"
    );
    assert!(h.upstream.take().is_empty());

    // A request signed for HTTP/1.1 at this address passes over HTTP/1.1 and is then a
    // replay over HTTP/2.
    let both = c.authorization(&signing("GET", "/both", "h1-then-h2"));
    let res = send(addr, "GET", "/both", &addr.to_string(), &[&auth(&both)]).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h2("GET", "/both", both).await, refused);
    assert_eq!(h.upstream.take().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_and_replay_memory_are_configured() {
    let h = Harness::start(
        "hmac-sha-1",
        "mac_window_secs = 300\nmac_replay_capacity = 2",
    )
    .await;
    let c = h.credentials().await;
    let old = c.authorization(&Signing {
        ts: now() - 200,
        nonce: "old",
        method: "GET",
        target: "/r",
        host: "gateway.test",
        port: 80,
        ext: None,
    });
    let res = h.get(&old).await;
    assert_eq!(res.status, 200, "within a 300 s window: {res:?}");
    let res = h.get(&c.sign("GET", "/r", "2")).await;
    assert_eq!(res.status, 200, "{res:?}");
    // Full: the memory cannot forget what is in the window, so nothing new passes.
    let res = h.get(&c.sign("GET", "/r", "3")).await;
    assert_eq!(res.status, 503, "{res:?}");
    assert_eq!(res.header("retry-after"), Some("5"));
    assert_eq!(h.upstream.take().len(), 2, "the two admitted only");
    // And what it holds is still refused as a replay.
    let res = h.get(&old).await;
    h.refused(&res, "replay while full");
}

// ---------------------------------------------------------------------------------------------
// In-process: the library layer over a token service, the inner service recording what it got.

type Seen = Arc<Mutex<Vec<http::request::Parts>>>;

/// Serves `layer` around a recording inner service; returns its address and what reached it.
async fn serve_layer(layer: tokengate::auth::OAuthLayer) -> (SocketAddr, Seen) {
    use tower::Layer;
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let inner = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        sink.lock().unwrap().push(req.into_parts().0);
        async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                b"inner",
            ))))
        }
    });
    (common::serve(layer.layer(inner)).await, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_passes_only_under_the_scheme_of_its_type() {
    use tokengate::model::{MacAlgorithm, TokenType};
    use tokengate::oauth::{ClientCredentials, TokenRequest, TokenService};
    use tokengate::resolve::{LocalResolver, TokenCache};

    let store: Arc<dyn tokengate::store::Store> = Arc::new(tokengate::store::MemoryStore::new());
    let (tokens, _) = common::token_service(store.clone(), |_| {}).await;
    let tokens = Arc::new(TokenService::new(tokens.store().clone(), common::pepper()));
    let issue = |tokens: Arc<TokenService>| async move {
        tokens
            .create_access_token(
                SERVICE,
                &ClientCredentials::new(WEB_CLIENT, WEB_SECRET),
                &TokenRequest::grant("client_credentials"),
                None,
                None,
            )
            .await
            .unwrap()
    };
    // A bearer token, then the service switches to MAC and issues a MAC token.
    let bearer = issue(tokens.clone()).await.access_token;
    let mut service = store.service(SERVICE).await.unwrap().unwrap();
    service.token_type = TokenType::Mac(MacAlgorithm::HmacSha256);
    store.put_service(&service).await.unwrap();
    let issued = issue(tokens.clone()).await;
    let mac = Credentials {
        id: issued.access_token,
        key: issued.extended.as_ref().unwrap().secret.clone(),
        algorithm: "hmac-sha-256".into(),
    };

    // A layer that names Bearer in its challenges (a bearer service's gateway) still
    // checks MAC requests, and refuses a MAC token as Bearer.
    let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), SERVICE)).build();
    let (addr, seen) = serve_layer(tokengate::auth::OAuthLayer::new(cache)).await;
    let res = get(addr, &format!("Bearer {}", mac.id)).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.challenge(),
        Some("Bearer realm=\"tokengate\", error=\"invalid_token\"")
    );
    let res = get(addr, &mac.sign("GET", "/r", "1")).await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = get(addr, &format!("Bearer {}", bearer)).await;
    assert_eq!(res.status, 200, "{res:?}");
    // The bearer token under MAC, signed with the MAC token's key or any other.
    for key in [mac.key.as_str(), "anything"] {
        let disguised = Credentials {
            id: bearer.clone(),
            key: key.into(),
            algorithm: "hmac-sha-256".into(),
        };
        let res = get(addr, &disguised.sign("GET", "/r", key)).await;
        assert_eq!(res.status, 401, "{res:?}");
    }
    let received = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(received.len(), 2);
    assert!(received
        .iter()
        .all(|p| p.headers.get("authorization").is_none()));

    // A remote gateway (no store): `fetchAccessToken` answers carry the key and algorithm,
    // so MAC requests are checked there too.
    let rpc = tokengate::rpc::JsonRpcService::new(
        tokens.clone(),
        tokengate::rpc::Credentials::new(vec![(ADMIN_KEY.into(), ADMIN_SECRET.into())]),
    );
    let rpc_addr = common::serve(rpc).await;
    let remote = tokengate::resolve::RemoteResolver::new(
        format!("http://{rpc_addr}/v2/json-rpc").parse().unwrap(),
        SERVICE,
        ADMIN_KEY,
        ADMIN_SECRET,
    );
    let layer =
        tokengate::auth::OAuthLayer::new(TokenCache::builder(remote).build()).mac_challenges(true);
    let (addr, seen) = serve_layer(layer).await;
    let res = get(addr, &mac.sign("GET", "/r", "remote")).await;
    assert_eq!(res.status, 200, "{res:?}");
    let res = get(addr, &mac.sign("GET", "/x", "tampered")).await;
    assert_eq!((res.status, res.challenge()), (401, Some(INVALID_TOKEN)));
    let res = get(addr, &format!("Bearer {}", mac.id)).await;
    assert_eq!((res.status, res.challenge()), (401, Some(INVALID_TOKEN)));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_answer_without_the_key_fails_closed() {
    use tokengate::resolve::{RemoteResolver, TokenCache};
    // A Mashery-style token service that says "mac" but sends no `extended` key.
    let rpc = tower::service_fn(|_req: Request<hyper::body::Incoming>| async {
        let answer = json!({"jsonrpc": "2.0", "id": 1, "result": {
            "client_id": WEB_CLIENT, "token_type": "mac", "grant_type": "client_credentials",
            "expires": "2099-01-01T00:00:00Z", "scope": null, "user_context": null,
            "extended": null,
        }});
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(answer.to_string()))))
    });
    let rpc_addr = common::serve(rpc).await;
    let remote = RemoteResolver::new(
        format!("http://{rpc_addr}/v2/json-rpc").parse().unwrap(),
        SERVICE,
        ADMIN_KEY,
        ADMIN_SECRET,
    );
    let layer =
        tokengate::auth::OAuthLayer::new(TokenCache::builder(remote).build()).mac_challenges(true);
    let (addr, seen) = serve_layer(layer).await;
    let c = Credentials {
        id: tokengate::secret::junk_token(),
        key: "k".into(),
        algorithm: "hmac-sha-1".into(),
    };
    // Neither signed nor as Bearer: the answer is not usable, so nothing passes (503).
    let res = get(addr, &c.sign("GET", "/r", "n")).await;
    assert_eq!(res.status, 503, "{res:?}");
    let res = get(addr, &format!("Bearer {}", c.id)).await;
    assert_eq!(res.status, 503, "{res:?}");
    assert!(seen.lock().unwrap().is_empty());
}
