//! Red team: `tokengate serve` with `[[routes]]` in front of two recording upstreams, attacked
//! over real sockets (raw HTTP/1.1 and HTTP/2 prior knowledge). Every case asserts what the
//! upstreams really received (request line and headers), not only the status:
//!
//! - a `Host` (or h2 `:authority`) with a trailing dot keeps its protected route;
//! - `;params`, `%3B`, case and double-encoding games never move a path to another route;
//! - an `auth = "none"` route forwards neither `Authorization` nor `access_token`;
//! - `HEAD` meets the rules and routes naming `GET`;
//! - method-override headers never reach an upstream;
//! - `OPTIONS *`, absolute-form targets, h2 `:authority` against `host`, duplicate
//!   `Authorization`, a token in header and query, identity header spellings.
#![cfg(unix)]

mod common;

use std::net::SocketAddr;

use http::{Method, Request};
use http_body_util::Full;

use common::config::ServeConfig;
use common::process::Gateway;
use common::raw::{h2, send_raw, Raw};
use common::upstream::{Received, Recorder};
use common::{SERVICE, WEB_CLIENT};

const CLIENT_ID: &str = "x-mashery-oauth-client-id";

/// The gateway, the protected upstream (`admin`, `ro`, `internal` routes) and the public one
/// (`basic`, `open`).
struct Harness {
    _dir: tempfile::TempDir,
    gateway: Gateway,
    protected: Recorder,
    public: Recorder,
}

impl Harness {
    async fn start() -> Harness {
        let protected = Recorder::start().await;
        let public = Recorder::start().await;
        let routes = format!(
            r#"
[[routes]]
name = "admin"
host = "api.example.com"
path = "/admin"
service_key = "{SERVICE}"
upstream = "http://{p}"
require_scopes = [{{ path = "/admin/reports", methods = ["GET"], scope = "reports" }}]

[[routes]]
name = "ro"
path = "/ro"
methods = ["GET"]
service_key = "{SERVICE}"
upstream = "http://{p}"

[[routes]]
name = "internal"
host = "*.internal.example"
service_key = "{SERVICE}"
upstream = "http://{p}"

[[routes]]
name = "basic"
path = "/basic"
auth = "none"
forward_authorization = true
upstream = "http://{o}"

[[routes]]
name = "open"
auth = "none"
upstream = "http://{o}"
"#,
            p = protected.addr,
            o = public.addr,
        );
        let config = ServeConfig::sqlite().append(&routes).toml();
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::start(dir.path(), &config);
        Harness {
            _dir: dir,
            gateway,
            protected,
            public,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.gateway.public()
    }

    async fn token(&self, scope: &str) -> String {
        common::admin::token(self.gateway.admin, scope).await
    }

    /// `METHOD target HTTP/1.1`, `Host: host`, `headers`, `Connection: close`, no body.
    async fn send(&self, method: &str, target: &str, host: &str, headers: &[&str]) -> Raw {
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("Connection: close\r\n\r\n");
        send_raw(self.addr(), request.as_bytes()).await
    }

    /// Panics unless neither upstream received anything.
    fn nothing(&self, case: &str) {
        self.protected.assert_nothing(case);
        self.public.assert_nothing(case);
    }

    /// The one request the protected upstream received (and the public one none).
    fn at_protected(&self, case: &str) -> Received {
        self.public.assert_nothing(case);
        self.protected.take_one(case)
    }

    /// The one request the public upstream received (and the protected one none).
    fn at_public(&self, case: &str) -> Received {
        self.protected.assert_nothing(case);
        self.public.take_one(case)
    }

    /// A GET over h2 (prior knowledge) to `uri` (whose authority becomes `:authority`) with
    /// `headers`: the status.
    async fn h2_get(&self, uri: &str, headers: &[(&str, &str)]) -> u16 {
        let mut sender = h2(self.addr()).await;
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Full::default()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }
}

/// Issue 1: `api.example.com.` is `api.example.com` (exact and `*.domain` routes, HTTP/1.1
/// `Host` and h2 `:authority`); a host with an empty label is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trailing_dot_keeps_the_host_on_its_protected_route() {
    let h = Harness::start().await;
    let read = h.token("read").await;
    for host in [
        "api.example.com.",
        "API.Example.COM.",
        "api.example.com.:80",
        "db.internal.example.",
    ] {
        let path = if host.starts_with("db.") {
            "/x"
        } else {
            "/admin/x"
        };
        let res = h.send("GET", path, host, &[]).await;
        assert_eq!(res.status, 401, "{host}: {res:?}");
        h.nothing(host);
        let res = h
            .send(
                "GET",
                path,
                host,
                &[&format!("Authorization: Bearer {read}")],
            )
            .await;
        assert_eq!(res.status, 200, "{host}: {res:?}");
        let seen = h.at_protected(host);
        assert_eq!(seen.uri, path, "{host}");
        assert_eq!(seen.one(CLIENT_ID), WEB_CLIENT);
    }
    // An empty label is no host.
    for host in ["api.example.com..", ".api.example.com", "api..example.com"] {
        let res = h.send("GET", "/admin/x", host, &[]).await;
        assert_eq!(res.status, 400, "{host}: {res:?}");
        h.nothing(host);
    }
    // HTTP/2: the same in `:authority`, and with a `host` header that agrees.
    let port = h.addr().port();
    let uri = format!("http://api.example.com.:{port}/admin/h2");
    assert_eq!(h.h2_get(&uri, &[]).await, 401);
    h.nothing("h2 :authority with a trailing dot");
    let bearer = format!("Bearer {read}");
    let host = format!("api.example.com.:{port}");
    assert_eq!(
        h.h2_get(&uri, &[("authorization", &bearer), ("host", &host)])
            .await,
        200
    );
    assert_eq!(h.at_protected("h2").uri, "/admin/h2");
    // `:authority` and `host` must agree, trailing dot or not: one reading only.
    let plain = format!("api.example.com:{port}");
    assert_eq!(h.h2_get(&uri, &[("host", &plain)]).await, 400);
    let other = format!("http://api.example.com:{port}/admin/h2");
    assert_eq!(h.h2_get(&other, &[("host", "other.example")]).await, 400);
    h.nothing("h2 :authority against another host");
}

/// Issue 2: a path that an upstream blind to `;params`, `%3B`, empty segments or case reads
/// as another route's path is refused; one that every reading puts on the same route is
/// forwarded as sent (canonical).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_has_one_route_or_none() {
    let h = Harness::start().await;
    let read = h.token("read").await;
    let auth = format!("Authorization: Bearer {read}");
    for path in [
        "/admin;x/users",
        "/admin;/users",
        "/admin%3Bx/users",
        "/admin%3bx/users",
        "/;x/admin/users",
        "/ADMIN/users",
        "/%41dmin/users",
        "/Admin",
        "/adm%C4%B1n/users",
        "/%EF%BD%81dmin/users",
        "/%EF%BC%A1DMIN",
        "/%2561dmin/users",
        "/x%C0%AF/../admin",
        "/%C0%AFadmin",
        "/admin%00",
        "/admin\\users",
        "/admin%5Cusers",
        "/admin%2Fusers",
        "/%2Fadmin",
        // Look-alikes of `/`, `.`, `;` that NFKC or Windows best-fit turn into ASCII.
        "/docs%EF%BC%8F..%EF%BC%8Fadmin/users",
        "/docs/%EF%BC%8E%EF%BC%8E/admin/users",
        "/docs%E2%88%95..%E2%88%95admin",
        "/admin%EF%BC%9Bx/users",
    ] {
        for headers in [&[][..], &[auth.as_str()][..]] {
            let res = h.send("GET", path, "api.example.com", headers).await;
            assert_eq!(res.status, 400, "{path}: {res:?}");
            h.nothing(path);
        }
    }
    // Every reading agrees: forwarded, canonical, parameters kept.
    for (path, forwarded) in [
        ("/admin/users;x", "/admin/users;x"),
        ("//admin//users", "/admin/users"),
        ("/%61dmin/users?a=%2561", "/admin/users?a=%2561"),
    ] {
        let res = h.send("GET", path, "api.example.com", &[&auth]).await;
        assert_eq!(res.status, 200, "{path}: {res:?}");
        assert_eq!(h.at_protected(path).uri, forwarded);
    }
    // Without the token, the protected route answers (not the public one).
    let res = h.send("GET", "//admin/users", "api.example.com", &[]).await;
    assert_eq!(res.status, 401, "{res:?}");
    h.nothing("//admin without a token");
    // Parameters on a public route's own segments stay public.
    let res = h.send("GET", "/docs/a;v=1", "api.example.com", &[]).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.at_public("public params").uri, "/docs/a;v=1");
    // HTTP/2 `:path`: the same refusal.
    let port = h.addr().port();
    let uri = format!("http://api.example.com:{port}/admin;x/users");
    assert_eq!(h.h2_get(&uri, &[]).await, 400);
    h.nothing("h2 /admin;x/users");
}

/// Issue 3: an `auth = "none"` route keeps the client's credentials from its upstream, unless
/// it sets `forward_authorization`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_forward_no_credentials() {
    let h = Harness::start().await;
    let read = h.token("read").await;
    let auth = format!("Authorization: Bearer {read}");
    let query = format!("/docs/a?x=1&access_token={read}&ACCESS_TOKEN={read}&y=2");
    let res = h.send("GET", &query, "any.example", &[&auth]).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.at_public("public route");
    assert_eq!(seen.uri, "/docs/a?x=1&y=2");
    assert!(!seen.headers.contains_key("authorization"), "{seen:?}");
    assert!(
        !format!("{seen:?}").contains(&read),
        "the token reached: {seen:?}"
    );
    // Hidden after a `;` (a parameter to servers that split there): the pair goes.
    let res = h
        .send(
            "GET",
            &format!("/d?a=1;access_token={read}&b=2"),
            "any.example",
            &[],
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.at_public("after ;").uri, "/d?b=2");
    // Other schemes are credentials too.
    let res = h
        .send(
            "GET",
            "/d",
            "any.example",
            &["Authorization: Basic dXNlcjpwdw=="],
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert!(!h.at_public("basic").headers.contains_key("authorization"));
    // Nothing to strip: the target is forwarded byte for byte.
    let res = h.send("GET", "/d?q=access&t=1", "any.example", &[]).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.at_public("no token").uri, "/d?q=access&t=1");
    // `forward_authorization = true`: both travel on.
    let res = h
        .send(
            "GET",
            "/basic/x?access_token=abc",
            "any.example",
            &["Authorization: Basic dXNlcjpwdw=="],
        )
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.at_public("forward_authorization");
    assert_eq!(seen.uri, "/basic/x?access_token=abc");
    assert_eq!(seen.one("authorization"), "Basic dXNlcjpwdw==");
}

/// Issue 4: `HEAD` runs the `GET` handler upstream, so a rule or route for `GET` takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_meets_what_get_meets() {
    let h = Harness::start().await;
    let read = h.token("read").await;
    let reports = h.token("reports").await;
    for method in ["GET", "HEAD"] {
        let res = h
            .send(
                method,
                "/admin/reports/q3",
                "api.example.com",
                &[&format!("Authorization: Bearer {read}")],
            )
            .await;
        assert_eq!(res.status, 403, "{method}: {res:?}");
        h.nothing(method);
        let res = h
            .send(
                method,
                "/admin/reports/q3",
                "api.example.com",
                &[&format!("Authorization: Bearer {reports}")],
            )
            .await;
        assert_eq!(res.status, 200, "{method}: {res:?}");
        assert_eq!(h.at_protected(method).method.as_str(), method);
        // The route `ro` takes GET (and so HEAD); without a token that is 401, never the
        // public catch-all.
        let res = h.send(method, "/ro/x", "any.example", &[]).await;
        assert_eq!(res.status, 401, "{method} /ro: {res:?}");
        h.nothing(method);
    }
    // Another method is not the route's: the public catch-all takes it.
    let res = h.send("DELETE", "/ro/x", "any.example", &[]).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(h.at_public("DELETE /ro").method, Method::DELETE);
}

/// Method overrides never travel: an upstream honouring one would run a method the gateway
/// did not decide on. (The proxy drops the headers, `DEFAULT_DROPPED_HEADERS`, on protected and
/// public routes alike; a `_`/`.` spelling of one is refused, and so is a `_method` query
/// parameter.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_override_headers_never_reach_an_upstream() {
    let h = Harness::start().await;
    let read = h.token("read").await;
    let auth = format!("Authorization: Bearer {read}");
    let overrides = [
        "X-HTTP-Method-Override: DELETE",
        "X-Http-Method: DELETE",
        "X-Method-Override: DELETE",
        "X-Original-Method: DELETE",
    ];
    let mut headers: Vec<&str> = overrides.to_vec();
    headers.push(&auth);
    let res = h.send("GET", "/admin/x", "api.example.com", &headers).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.at_protected("protected");
    let res = h.send("GET", "/ro/x", "any.example", &headers).await;
    assert_eq!(res.status, 200, "{res:?}");
    let also = h.at_protected("ro");
    let res = h.send("GET", "/x", "any.example", &overrides).await;
    assert_eq!(res.status, 200, "{res:?}");
    let public = h.at_public("public");
    for seen in [seen, also, public] {
        let names: Vec<&str> = seen.headers.keys().map(|k| k.as_str()).collect();
        assert!(
            !names.iter().any(|n| n.contains("method")),
            "an override reached the upstream: {names:?}"
        );
        assert_eq!(seen.method, Method::GET);
    }
    for alias in [
        "X_HTTP_Method_Override: DELETE",
        "x.method.override: DELETE",
    ] {
        let res = h
            .send("GET", "/admin/x", "api.example.com", &[alias, &auth])
            .await;
        assert_eq!(res.status, 400, "{alias}: {res:?}");
        let res = h.send("GET", "/x", "any.example", &[alias]).await;
        assert_eq!(res.status, 400, "{alias}: {res:?}");
        h.nothing(alias);
    }
    // A `_method` query parameter (Rails, Laravel, Symfony, Express): refused, on every route.
    for (target, host) in [
        ("/admin/x?_method=DELETE", "api.example.com"),
        ("/ro/x?a=1&%5Fmethod=DELETE", "any.example"),
        ("/x?_METHOD=put", "any.example"),
        ("/x?a=1;%255Fmethod=put", "any.example"),
    ] {
        for method in ["POST", "GET"] {
            let res = h.send(method, target, host, &[&auth]).await;
            assert_eq!(res.status, 400, "{method} {target}: {res:?}");
            h.nothing(target);
        }
    }
    let res = h
        .send("GET", "/x?my_method=1&method=2", "any.example", &[])
        .await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        h.at_public("not an override").uri,
        "/x?my_method=1&method=2"
    );
}

/// The remaining probes, each refused or harmless, and nothing forwarded that should not be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_probes_are_refused_or_harmless() {
    let h = Harness::start().await;
    let read = h.token("read").await;
    let auth = format!("Authorization: Bearer {read}");

    // `OPTIONS *` asks the server, never an upstream.
    let res = h.send("OPTIONS", "*", "api.example.com", &[]).await;
    assert_eq!(res.status, 200, "{res:?}");
    h.nothing("OPTIONS *");

    // Absolute-form: the target's authority must be the Host; when it is, it routes.
    let res = h
        .send(
            "GET",
            "http://other.example/admin/x",
            "api.example.com",
            &[&auth],
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    h.nothing("absolute-form, another host");
    let res = h
        .send(
            "GET",
            "http://api.example.com/admin/x",
            "other.example",
            &[],
        )
        .await;
    assert_eq!(res.status, 400, "{res:?}");
    h.nothing("absolute-form, Host another");
    let res = h
        .send(
            "GET",
            "http://api.example.com/admin/x",
            "api.example.com",
            &[],
        )
        .await;
    assert_eq!(res.status, 401, "{res:?}");
    h.nothing("absolute-form, protected route");

    // IIS / Symfony rewrite headers naming a protected path, on a public route: dropped.
    let rewrites = [
        "X-Original-URL: /admin/x",
        "X-Rewrite-URL: /admin/x",
        "X-Forwarded-Prefix: /admin",
    ];
    let res = h.send("GET", "/x", "api.example.com", &rewrites).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.at_public("rewrite headers");
    assert_eq!(seen.uri, "/x");
    for name in ["x-original-url", "x-rewrite-url", "x-forwarded-prefix"] {
        assert!(!seen.headers.contains_key(name), "{name}: {seen:?}");
    }

    // Two `Authorization` headers, or a token in the header and the query: 400.
    for (case, target, headers) in [
        (
            "two headers",
            "/admin/x",
            vec![auth.as_str(), auth.as_str()],
        ),
        (
            "a bearer and a basic",
            "/admin/x",
            vec![auth.as_str(), "Authorization: Basic dXNlcjpwdw=="],
        ),
        (
            "header and query",
            &*format!("/admin/x?access_token={read}"),
            vec![auth.as_str()],
        ),
        (
            "header and ACCESS_TOKEN",
            "/admin/x?ACCESS_TOKEN=abc",
            vec![auth.as_str()],
        ),
    ] {
        let res = h.send("GET", target, "api.example.com", &headers).await;
        assert_eq!(res.status, 400, "{case}: {res:?}");
        h.nothing(case);
    }

    // Identity headers in odd spellings: refused (aliases) or replaced (case, repeats).
    for (case, forged) in [
        ("underscores", vec!["X_Mashery_Oauth_Client_Id: forged"]),
        ("dots", vec!["x.mashery.oauth.client.id: forged"]),
    ] {
        let mut headers = forged.clone();
        headers.push(&auth);
        let res = h.send("GET", "/admin/x", "api.example.com", &headers).await;
        assert_eq!(res.status, 400, "{case}: {res:?}");
        h.nothing(case);
        let res = h.send("GET", "/x", "any.example", &forged).await;
        assert_eq!(res.status, 400, "public {case}: {res:?}");
        h.nothing(case);
    }
    let forged = [
        "X-MASHERY-OAUTH-CLIENT-ID: forged",
        "x-mashery-oauth-client-id: forged2",
        "X-Mashery-Oauth-Scope: admin",
    ];
    let mut headers = forged.to_vec();
    headers.push(&auth);
    let res = h.send("GET", "/admin/x", "api.example.com", &headers).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.at_protected("upper case and repeats");
    assert_eq!(seen.one(CLIENT_ID), WEB_CLIENT);
    assert_eq!(seen.one("x-mashery-oauth-scope"), "read");
    let res = h.send("GET", "/x", "any.example", &forged).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert!(h.at_public("public, forged").identity_headers().is_empty());

    // Identity headers as trailers of a chunked body: never forwarded as such.
    let request = format!(
        "POST /admin/x HTTP/1.1\r\nHost: api.example.com\r\n{auth}\r\n\
         Transfer-Encoding: chunked\r\nTrailer: X-Mashery-Oauth-Client-Id\r\n\
         Connection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Mashery-Oauth-Client-Id: forged\r\n\r\n"
    );
    let res = send_raw(h.addr(), request.as_bytes()).await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = h.at_protected("trailers");
    assert_eq!(seen.one(CLIENT_ID), WEB_CLIENT);
    assert!(
        seen.trailers
            .as_ref()
            .is_none_or(|t| t.keys().all(|n| !n.as_str().contains("oauth"))),
        "{seen:?}"
    );

    // Content-Length beside Transfer-Encoding, toward a public route: a second request hidden
    // in the body never reaches an upstream as a request of its own.
    let request = "POST /x HTTP/1.1\r\nHost: any.example\r\nContent-Length: 4\r\n\
                   Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/smuggled HTTP/1.1\r\n\
                   Host: api.example.com\r\nConnection: close\r\n\r\n";
    let res = send_raw(h.addr(), request.as_bytes()).await;
    assert!(matches!(res.status, 200 | 400), "{res:?}");
    h.protected.assert_nothing("smuggled");
    let seen = h.public.take();
    assert!(
        seen.len() <= 1 && seen.iter().all(|r| r.uri == "/x"),
        "{seen:?}"
    );
}

/// An IPv4-mapped IPv6 peer (a dual-stack listener's `::ffff:127.0.0.1`) is the IPv4 peer to
/// `trusted_proxies`, whether the list names the IPv4 network or its mapped spelling; an
/// untrusted one's forwarding headers are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_mapped_peers_meet_ipv4_trusted_proxies() {
    for (trusted, trusts) in [
        ("127.0.0.0/8", true),
        ("::ffff:127.0.0.0/104", true),
        ("::ffff:127.0.0.1", true),
        ("10.0.0.0/8", false),
        ("::1", false),
    ] {
        let upstream = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServeConfig::sqlite()
            .public(&format!(
                "upstream = \"http://{}\"\ntrusted_proxies = [\"{trusted}\"]",
                upstream.addr
            ))
            .toml()
            .replacen(
                "[public]\nlisten = \"127.0.0.1:0\"",
                "[public]\nlisten = \"[::]:0\"",
                1,
            );
        let gateway = Gateway::start(dir.path(), &config);
        let token = common::admin::token(gateway.admin, "").await;
        // Over IPv4 to the dual-stack listener: the peer is `::ffff:127.0.0.1`.
        let v4 = SocketAddr::from(([127, 0, 0, 1], gateway.public().port()));
        let request = format!(
            "GET /x HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer {token}\r\n\
             X-Forwarded-For: 198.51.100.7\r\nConnection: close\r\n\r\n"
        );
        let res = send_raw(v4, request.as_bytes()).await;
        assert_eq!(res.status, 200, "{trusted}: {res:?}");
        let seen = upstream.take_one(trusted);
        let chain = seen.one("x-forwarded-for");
        assert_eq!(
            chain.starts_with("198.51.100.7"),
            trusts,
            "{trusted}: {chain}"
        );
        assert!(chain.ends_with("127.0.0.1"), "{trusted}: {chain}");
        assert!(!chain.contains("::ffff:"), "{trusted}: {chain}");
    }
}

/// Without `[[routes]]` the `OAuthLayer` alone decides: `HEAD` meets its rule for `GET`, and
/// a `_method` override is refused there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_alone_holds_head_and_method_overrides() {
    let upstream = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::sqlite()
        .public(&format!(
            "upstream = \"http://{}\"\nrequire_scopes = [{{ path = \"/admin\", methods = \
             [\"GET\"], scope = \"admin\" }}]",
            upstream.addr
        ))
        .toml();
    let gateway = Gateway::start(dir.path(), &config);
    let read = common::admin::token(gateway.admin, "read").await;
    let send = |method: &'static str, target: &'static str| {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer \
             {read}\r\nConnection: close\r\n\r\n"
        );
        let addr = gateway.public();
        async move { send_raw(addr, request.as_bytes()).await }
    };
    for method in ["GET", "HEAD"] {
        let res = send(method, "/admin/x").await;
        assert_eq!(res.status, 403, "{method}: {res:?}");
        upstream.assert_nothing(method);
    }
    for target in ["/admin/x?_method=GET", "/y?%5FMethod=DELETE"] {
        let res = send("POST", target).await;
        assert_eq!(res.status, 400, "{target}: {res:?}");
        upstream.assert_nothing(target);
    }
    let res = send("POST", "/admin/x").await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(upstream.take_one("POST").method, Method::POST);
}

/// Inside one route, a path that an upstream blind to case (ASCII, or letters that fold to
/// ASCII ones), `;parameters` or empty segments would read under another scope rule than the
/// one that decides is 400 and never forwarded, over HTTP/1.1 and h2, for `[public]`'s rules
/// (the `OAuthLayer` alone) and a route's (behind the route table). `case_insensitive` keeps
/// folding, and ordinary paths pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_rules_decide_under_every_reading() {
    let rules = "require_scopes = [{ path = \"/api/admin\", scope = \"admin\" }, { path = \
                 \"/api/keys\", scope = \"admin\" }, { path = \"/api/folded\", scope = \
                 \"admin\", case_insensitive = true }]";
    let upstream = Recorder::start().await;
    let u = upstream.addr;
    let public = ServeConfig::sqlite()
        .public(&format!("upstream = \"http://{u}\"\n{rules}"))
        .toml();
    let routed = ServeConfig::sqlite()
        .append(&format!(
            "[[routes]]\nname = \"api\"\npath = \"/api\"\nservice_key = \"{SERVICE}\"\nupstream \
             = \"http://{u}\"\n{rules}\n"
        ))
        .toml();
    for config in [public, routed] {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Gateway::start(dir.path(), &config);
        let read = common::admin::token(gateway.admin, "read").await;
        let admin = common::admin::token(gateway.admin, "admin").await;
        let addr = gateway.public();
        let send = |target: &str, token: &str| {
            let request = format!(
                "GET {target} HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer \
                 {token}\r\nConnection: close\r\n\r\n"
            );
            async move { send_raw(addr, request.as_bytes()).await }
        };
        for (target, status) in [
            ("/api/ADMIN", 400),
            ("/api/Admin;x", 400),
            ("/API/admin/x", 400),
            ("/api/%41dmin", 400),
            ("/api/adm%C4%B1n", 400),    // dotless ı
            ("/api/%EF%BD%81dmin", 400), // full-width a
            ("/api/%E2%84%AAeys", 400),  // Kelvin sign
            ("/api//admin", 403),        // merged: one reading, the rule's
            ("/api/admin;x/y", 403),     // as written no rule: the rule asks more
            ("/api/FOLDED/x", 403),      // case_insensitive folds
            ("/api/folded", 403),
        ] {
            let res = send(target, &read).await;
            assert_eq!(res.status, status, "{target}: {res:?}");
            upstream.assert_nothing(target);
            // With the scope too: an ambiguous path stays refused.
            if status == 400 {
                let res = send(target, &admin).await;
                assert_eq!(res.status, 400, "{target} with admin: {res:?}");
                upstream.assert_nothing(target);
            }
        }
        for (target, token, forwarded) in [
            ("/api/admin/x", &admin, "/api/admin/x"),
            ("/api/admin;x/y", &admin, "/api/admin;x/y"),
            ("/api//admin", &admin, "/api/admin"),
            ("/api/FOLDED/x", &admin, "/api/FOLDED/x"),
            ("/api/other;v=1", &read, "/api/other;v=1"),
            ("/api/administrator", &read, "/api/administrator"),
            ("/api/%C3%A9", &read, "/api/%C3%A9"),
            ("/api/%C5%BF", &read, "/api/%C5%BF"),
            ("/api/Other", &read, "/api/Other"),
        ] {
            let res = send(target, token).await;
            assert_eq!(res.status, 200, "{target}: {res:?}");
            assert_eq!(upstream.take_one(target).uri, forwarded);
        }
        // HTTP/2 `:path`: the same decisions.
        let port = addr.port();
        for (path, token, status) in [
            ("/api/ADMIN", &read, 400),
            ("/api/Admin;x", &admin, 400),
            ("/api//admin", &read, 403),
            ("/api/adm%C4%B1n", &read, 400),
            ("/api/admin", &admin, 200),
        ] {
            let mut sender = h2(addr).await;
            let request = Request::get(format!("http://gateway.test:{port}{path}"))
                .header("authorization", format!("Bearer {token}"))
                .body(Full::default())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status().as_u16(), status, "h2 {path}");
            if status == 200 {
                assert_eq!(upstream.take_one(path).uri, "/api/admin");
            } else {
                upstream.assert_nothing(path);
            }
        }
    }
}
