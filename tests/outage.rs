//! Store outages under the real binary: `tokengate serve` over real sockets, in front of a
//! recording upstream, with its real store taken away while it runs and given back, and no
//! restart in between.
//!
//! The ways the store goes away:
//!
//! * **SQLite unreadable**: the database file's content is overwritten in place with bytes that
//!   are not a database (after a checkpoint, so the WAL holds nothing), then written back.
//!   Every connection, open or new, gets `SQLITE_NOTADB`. Permissions and paths do not do it:
//!   the tests may run as root, which `chmod 000` does not stop, and an open descriptor
//!   survives `chmod`, `rename` and `unlink`, so a running server with its pooled
//!   connections would not even notice.
//! * **SQLite locked**: another connection holds `BEGIN EXCLUSIVE` on the file. In WAL mode
//!   that blocks writers only (readers read the last committed snapshot; the lock that would
//!   block them, `locking_mode=EXCLUSIVE`, cannot be taken while the server has connections
//!   open), so writes fail after the configured busy timeout and reads go on.
//! * **PostgreSQL stopped**: the node reaches PostgreSQL through a TCP proxy in the test; the
//!   proxy closes every connection and refuses new ones, then listens again. The shared
//!   server is never touched.
//! * **PostgreSQL connections killed**: the node's database (one only this test uses) stops
//!   accepting connections (`ALLOW_CONNECTIONS false`) and the node's backends are killed with
//!   `pg_terminate_backend`, then connections are allowed again.
//!
//! What each case checks while the store is away: a token cached before the outage passes
//! until its cache bound and then gets 503 (SQLite; a PostgreSQL node flushes its cache when
//! its revocation feed drops, so there it is 503 as soon as the node notices); an uncached
//! valid token gets 503 with `Retry-After` and the upstream receives nothing; `/oauth2/token`
//! answers 503 `temporarily_unavailable`, JSON-RPC `createAccessToken` and `fetchAccessToken`
//! `-32603` without detail, introspection and revocation 503, each within a bound set by the
//! configured timeouts (a burst of writes too); `/readyz` is 503. Locked SQLite fails the
//! writes only: lookups, the gateway and `/readyz` keep working. Then, once the store is back
//! and without a restart: everything works again within a deadline, the tokens issued before
//! are still valid, and the client owns only the tokens issued after (none was issued during
//! the outage).
#![cfg(all(unix, feature = "sqlite", feature = "cli"))]

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::config::ServeConfig;
use common::process::Gateway;
use common::upstream::Recorder;
use common::{ADMIN_KEY, ADMIN_SECRET, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};

/// The gateway's cache bound for valid tokens (`cache_ttl_secs`).
const CACHE_TTL: Duration = Duration::from_secs(4);

/// How long any one answer may take while the store is away: well above the configured
/// timeouts (SQLite busy timeout 250 ms, PostgreSQL acquire timeout 1 s), well below the
/// defaults they replace (5 s, and sqlx's 30 s acquire timeout).
const ANSWER_BOUND: Duration = Duration::from_secs(4);

/// Concurrent writes in the burst sent while SQLite is locked: one busy timeout (250 ms) each
/// would take them well past [`ANSWER_BOUND`].
const BURST: usize = 24;

/// How long the node may take to work again once the store is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// The user the tokens issued before the outage belong to; the tokens issued during and after
/// it are client_credentials tokens, owned by the client.
const USER: &str = "alice";

// ---------------------------------------------------------------------------------------------
// The node under test and its APIs.

/// An HTTP answer: status, `Retry-After`, `WWW-Authenticate`, body (JSON when it is JSON, else
/// a string).
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    challenge: Option<String>,
    body: Value,
}

impl Answer {
    async fn from(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let retry_after = header("retry-after");
        let challenge = header("www-authenticate");
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            retry_after,
            challenge,
            body,
        }
    }

    /// 503 with `Retry-After: 5`.
    fn assert_unavailable(&self, what: &str) {
        assert_eq!(self.status, 503, "{what}: {self:?}");
        assert_eq!(self.retry_after.as_deref(), Some("5"), "{what}: {self:?}");
    }
}

/// `tokengate serve` in front of a recording upstream.
struct Node {
    gateway: Gateway,
    upstream: Recorder,
    http: reqwest::Client,
}

/// The tokens a test prepares before the outage.
struct Before {
    /// Passed the gateway once just before the outage: cached.
    cached: String,
    /// When the request that cached it was sent: its cache entry lives at least until
    /// [`CACHE_TTL`] after that.
    cached_from: Instant,
    /// Valid, never presented to the gateway.
    uncached: String,
}

impl Node {
    async fn start(dir: &Path, store_url: &str) -> Node {
        let upstream = Recorder::start().await;
        let config = ServeConfig::new(store_url)
            .public(&format!(
                "upstream = \"http://{}\"\ncache_ttl_secs = {}",
                upstream.addr,
                CACHE_TTL.as_secs()
            ))
            // What `token_endpoint` asks for.
            .service("scopes = [\"read\"]");
        let gateway = Gateway::start(dir, &config.toml());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Node {
            gateway,
            upstream,
            http,
        }
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.admin)
    }

    fn public_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.public())
    }

    /// A JSON-RPC 2.0 call; the whole reply.
    async fn rpc(&self, method: &str, params: Value) -> Value {
        let res = self
            .http
            .post(self.admin_url("/v2/json-rpc"))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{method}");
        res.json().await.unwrap()
    }

    /// `createAccessToken` for the client, with a password grant for `user` or a
    /// client_credentials grant without one.
    async fn rpc_create(&self, user: Option<&str>) -> Value {
        let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
        let grant = if user.is_some() {
            "password"
        } else {
            "client_credentials"
        };
        let data = json!({"grant_type": grant, "scope": "read"});
        self.rpc(
            "oauth2.createAccessToken",
            json!([SERVICE, client, data, null, user]),
        )
        .await
    }

    async fn rpc_fetch(&self, token: &str) -> Value {
        self.rpc("oauth2.fetchAccessToken", json!([SERVICE, token]))
            .await
    }

    /// A password-grant token for [`USER`], issued through JSON-RPC.
    async fn user_token(&self) -> String {
        let reply = self.rpc_create(Some(USER)).await;
        reply["result"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{reply}"))
            .to_owned()
    }

    /// `GET /outage` on the public listener with `token`.
    async fn through_gateway(&self, token: &str) -> Answer {
        let res = self
            .http
            .get(self.public_url("/outage"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        Answer::from(res).await
    }

    /// A form `POST` to an RFC endpoint, authenticated as the client.
    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let res = self
            .http
            .post(self.public_url(path))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(form)
            .send()
            .await
            .unwrap();
        Answer::from(res).await
    }

    /// RFC 6749 client_credentials at `/oauth2/token`.
    async fn token_endpoint(&self) -> Answer {
        self.post_form(
            "/oauth2/token",
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await
    }

    /// An authorization code for [`USER`], made through JSON-RPC.
    async fn code(&self) -> String {
        let reply = self
            .rpc(
                "oauth2.createAuthorizationCode",
                json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT}, "read", USER]),
            )
            .await;
        reply["result"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{reply}"))
            .to_owned()
    }

    /// Redeems `code` at `/oauth2/token`.
    async fn redeem(&self, code: &str) -> Answer {
        self.post_form(
            "/oauth2/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await
    }

    async fn introspect(&self, token: &str) -> Answer {
        self.post_form("/oauth2/introspect", &[("token", token)])
            .await
    }

    async fn revoke(&self, token: &str) -> Answer {
        self.post_form("/oauth2/revoke", &[("token", token)]).await
    }

    async fn readyz(&self) -> u16 {
        let res = self.http.get(self.admin_url("/readyz")).send().await;
        res.unwrap().status().as_u16()
    }

    /// The token records owned by the client (its client_credentials tokens), through the
    /// TIBCO-style listing.
    async fn client_tokens(&self) -> usize {
        let res = self
            .http
            .get(self.admin_url(&format!(
                "/oauth2/access_token/owners/{WEB_CLIENT}?limit=1000"
            )))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["tokens"].as_array().unwrap().len()
    }

    /// Issues two tokens, passes one through the gateway (so it is cached) and checks the
    /// baseline: the store is up, nothing else was forwarded, the client owns no token.
    async fn prepare(&self) -> Before {
        assert_eq!(self.readyz().await, 200);
        let cached = self.user_token().await;
        let uncached = self.user_token().await;
        assert_eq!(self.client_tokens().await, 0);
        let cached_from = Instant::now();
        let answer = self.through_gateway(&cached).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(self.upstream.take().len(), 1);
        Before {
            cached,
            cached_from,
            uncached,
        }
    }

    /// Just after the store went away: the cached token still passes (its cache entry lives).
    async fn assert_cached_passes(&self, before: &Before) {
        let answer = self.through_gateway(&before.cached).await;
        assert!(
            before.cached_from.elapsed() < CACHE_TTL,
            "the machine is too slow for this test: {:?} since the token was cached",
            before.cached_from.elapsed()
        );
        assert_eq!(answer.status, 200, "served from the cache: {answer:?}");
        assert_eq!(self.upstream.take().len(), 1);
    }

    /// Then its cache bound passes, and it gets 503 (never 401: the token is valid); nothing
    /// more is forwarded.
    async fn assert_cached_refused_past_its_bound(&self, before: &Before) {
        let deadline = before.cached_from + CACHE_TTL + Duration::from_secs(5);
        loop {
            let answer = self.through_gateway(&before.cached).await;
            if answer.status == 503 {
                answer.assert_unavailable("cached token past its bound");
                assert!(
                    before.cached_from.elapsed() >= CACHE_TTL,
                    "refused before its cache bound"
                );
                break;
            }
            assert_eq!(answer.status, 200, "{answer:?}");
            assert!(
                Instant::now() < deadline,
                "still served past its cache bound"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Requests that passed while the entry lived were forwarded; none after.
        self.upstream.take();
        self.assert_refused_at_the_gateway(&before.cached, "cached token past its bound")
            .await;
    }

    /// While the store is away and the cache holds nothing: 503 with `Retry-After`, and the
    /// upstream receives nothing.
    async fn assert_refused_at_the_gateway(&self, token: &str, what: &str) {
        let answer = in_time(what, self.through_gateway(token)).await;
        answer.assert_unavailable(what);
        assert_eq!(
            answer.challenge, None,
            "{what}: not an authentication failure"
        );
        assert!(self.upstream.take().is_empty(), "{what}: forwarded");
    }

    /// While the store cannot be written: every way of issuing or revoking fails, quickly,
    /// and precisely.
    async fn assert_writes_fail(&self, before: &Before) {
        let (token, created, revoked) = tokio::join!(
            in_time("/oauth2/token", self.token_endpoint()),
            in_time("createAccessToken", self.rpc_create(None)),
            in_time("/oauth2/revoke", self.revoke(&before.uncached)),
        );
        token.assert_unavailable("/oauth2/token");
        assert_eq!(token.body["error"], "temporarily_unavailable", "{token:?}");
        assert!(token.body.get("access_token").is_none(), "{token:?}");
        assert_internal_error(&created, "createAccessToken");
        revoked.assert_unavailable("/oauth2/revoke");
    }

    /// While the store cannot be read: lookups fail quickly and precisely, and the node says
    /// it is not ready.
    async fn assert_reads_fail(&self, before: &Before) {
        let (fetched, introspected, ready) = tokio::join!(
            in_time("fetchAccessToken", self.rpc_fetch(&before.uncached)),
            in_time("/oauth2/introspect", self.introspect(&before.uncached)),
            in_time("/readyz", self.readyz()),
        );
        assert_internal_error(&fetched, "fetchAccessToken");
        introspected.assert_unavailable("/oauth2/introspect");
        assert_eq!(ready, 503, "/readyz");
        self.assert_refused_at_the_gateway(&before.uncached, "uncached token")
            .await;
    }

    /// Once the store is back: within [`RECOVERY_BOUND`], without a restart, every API works
    /// again, the tokens issued before the outage are still valid, and the only tokens of the
    /// client are the two issued now (nothing was issued during the outage).
    async fn assert_recovers(&self, before: &Before) {
        let started = Instant::now();
        loop {
            let ready = self.readyz().await == 200;
            let passes = ready && self.through_gateway(&before.uncached).await.status == 200;
            if passes {
                break;
            }
            assert!(
                started.elapsed() < RECOVERY_BOUND,
                "not recovered in {RECOVERY_BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "{}: recovered {:?} after the store came back",
            std::thread::current().name().unwrap_or("?"),
            started.elapsed()
        );

        assert_eq!(self.through_gateway(&before.cached).await.status, 200);
        let issued = self.token_endpoint().await;
        assert_eq!(issued.status, 200, "{issued:?}");
        let fresh = issued.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(self.through_gateway(&fresh).await.status, 200);
        let created = self.rpc_create(None).await;
        assert!(created["result"]["access_token"].is_string(), "{created}");
        let fetched = self.rpc_fetch(&before.uncached).await;
        assert_eq!(fetched["result"]["user_context"], USER, "{fetched}");
        let introspected = self.introspect(&before.uncached).await;
        assert_eq!(introspected.body["active"], true, "{introspected:?}");
        assert_eq!(self.upstream.take().len(), 3);

        assert_eq!(
            self.client_tokens().await,
            2,
            "tokens issued during the outage"
        );

        let revoked = self.revoke(&before.uncached).await;
        assert_eq!(revoked.status, 200, "{revoked:?}");
        assert_eq!(self.through_gateway(&before.uncached).await.status, 401);
        assert!(self.upstream.take().is_empty());
    }
}

/// The output of `answer`, which must come within [`ANSWER_BOUND`].
async fn in_time<T>(what: &str, answer: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let output = answer.await;
    let took = started.elapsed();
    assert!(took < ANSWER_BOUND, "{what} took {took:?}");
    output
}

/// A JSON-RPC reply that is `-32603` without detail.
fn assert_internal_error(reply: &Value, what: &str) {
    assert!(reply.get("result").is_none(), "{what}: {reply}");
    assert_eq!(reply["error"]["code"], -32603, "{what}: {reply}");
    assert_eq!(
        reply["error"]["message"], "Internal error",
        "{what}: {reply}"
    );
    let members = reply["error"].as_object().unwrap().len();
    assert_eq!(
        members, 2,
        "{what}: no detail beyond code and message: {reply}"
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite.

/// A SQLite node in a temporary directory; the URL sets a short busy timeout.
async fn sqlite_node() -> (Node, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), "sqlite://tokengate.db?busy_timeout=250ms").await;
    (node, dir.path().join("tokengate.db"), dir)
}

/// A connection of the test's own to the node's database.
async fn sqlite_connection(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::Connection;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(5));
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the node's database")
}

/// The database file made unreadable in place, and given back.
struct Clobbered {
    path: PathBuf,
    content: Vec<u8>,
}

impl Clobbered {
    /// Checkpoints the WAL into the database file (so it holds everything and the WAL
    /// nothing), then overwrites the file's bytes, same inode, with bytes that are not a
    /// database.
    async fn clobber(path: &Path) -> Clobbered {
        use sqlx::Connection;
        let mut conn = sqlite_connection(path).await;
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(busy, 0, "the checkpoint could not complete");
        conn.close().await.unwrap();
        let wal = std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
        assert_eq!(wal, 0, "the WAL still holds frames");

        let content = std::fs::read(path).unwrap();
        overwrite(path, &vec![0xA5; content.len()]);
        Clobbered {
            path: path.to_owned(),
            content,
        }
    }

    /// Writes the database's own bytes back.
    fn restore(self) {
        overwrite(&self.path, &self.content);
    }
}

/// Writes `bytes` over the start of the file, in place.
fn overwrite(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
    file.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unreadable_then_back() {
    let (node, path, _dir) = sqlite_node().await;
    let before = node.prepare().await;

    let clobbered = Clobbered::clobber(&path).await;
    node.assert_cached_passes(&before).await;
    node.assert_reads_fail(&before).await;
    node.assert_writes_fail(&before).await;
    node.assert_cached_refused_past_its_bound(&before).await;

    clobbered.restore();
    node.assert_recovers(&before).await;

    let mut conn = sqlite_connection(&path).await;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_writer_then_released() {
    let (node, path, _dir) = sqlite_node().await;
    let before = node.prepare().await;
    let mut codes = Vec::new();
    for _ in 0..BURST {
        codes.push(node.code().await);
    }

    let mut lock = sqlite_connection(&path).await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .unwrap();
    node.assert_writes_fail(&before).await;

    // Bursts of writes fail about as fast as one. Token inserts queued behind the lock fail
    // with it (rerun one by one, they would wait a busy timeout each); code redemptions,
    // transactions of their own on the one writer connection, wait for that connection no
    // longer than the busy timeout either.
    let issued = in_time(
        "a burst of /oauth2/token",
        futures::future::join_all((0..BURST).map(|_| node.token_endpoint())),
    )
    .await;
    let redeemed = in_time(
        "a burst of code redemptions",
        futures::future::join_all(codes.iter().map(|code| node.redeem(code))),
    )
    .await;
    for answer in issued.iter().chain(&redeemed) {
        answer.assert_unavailable("a write in a burst");
    }

    // WAL readers are not blocked by a writer: lookups go on, the uncached token passes, the
    // node stays ready (the gateway works), and the revocation that failed left it valid.
    let answer = node.through_gateway(&before.uncached).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(node.upstream.take().len(), 1);
    let fetched = node.rpc_fetch(&before.uncached).await;
    assert_eq!(fetched["result"]["user_context"], USER, "{fetched}");
    assert_eq!(node.introspect(&before.uncached).await.body["active"], true);
    assert_eq!(node.readyz().await, 200);

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    drop(lock);
    node.assert_recovers(&before).await;

    // The failed redemption consumed nothing: the code is still good, once.
    let redeemed = node.redeem(&codes[0]).await;
    assert_eq!(redeemed.status, 200, "{redeemed:?}");
    assert_eq!(node.redeem(&codes[0]).await.status, 400);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

/// `store_url` with short timeouts, as the node's `store.url`.
#[cfg(feature = "postgres")]
fn with_short_timeouts(store_url: &str) -> String {
    let mut url = url::Url::parse(store_url).unwrap();
    url.query_pairs_mut()
        .append_pair("acquire_timeout", "1s")
        .append_pair("statement_timeout", "2s");
    url.to_string()
}

/// Where the test database listens.
#[cfg(feature = "postgres")]
async fn postgres_addr() -> std::net::SocketAddr {
    let url = url::Url::parse(&pg::url()).unwrap();
    let host = url.host_str().unwrap().to_owned();
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host, port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// A PostgreSQL node flushes its cache when its revocation feed drops (a revocation could be
/// missed meanwhile), so the cached token is refused as soon as the node notices: well before
/// its cache bound.
#[cfg(feature = "postgres")]
async fn assert_cache_flushed(node: &Node, before: &Before) {
    let deadline = Instant::now() + ANSWER_BOUND;
    loop {
        let answer = node.through_gateway(&before.cached).await;
        if answer.status == 503 {
            answer.assert_unavailable("cached token after the feed dropped");
            assert!(
                before.cached_from.elapsed() < CACHE_TTL,
                "the machine is too slow for this test: {:?} since the token was cached",
                before.cached_from.elapsed()
            );
            break;
        }
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(Instant::now() < deadline, "the cache was not flushed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whatever passed before the flush was forwarded; nothing after.
    node.upstream.take();
    node.assert_refused_at_the_gateway(&before.cached, "cached token after the flush")
        .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_then_started() {
    use common::tcp_proxy::TcpProxy;
    let db = pg::TestDb::new();
    let proxy = TcpProxy::start(postgres_addr().await).await;
    let dir = tempfile::tempdir().unwrap();
    let mut through_proxy = url::Url::parse(&db.store_url()).unwrap();
    through_proxy.set_ip_host(proxy.addr().ip()).unwrap();
    through_proxy.set_port(Some(proxy.addr().port())).unwrap();
    let store_url = with_short_timeouts(through_proxy.as_str());
    let node = Node::start(dir.path(), &store_url).await;
    let before = node.prepare().await;

    proxy.stop().await;
    assert_cache_flushed(&node, &before).await;
    node.assert_reads_fail(&before).await;
    node.assert_writes_fail(&before).await;

    proxy.restart().await;
    node.assert_recovers(&before).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_and_refused_then_allowed() {
    use sqlx::AssertSqlSafe;
    let database = pg::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &with_short_timeouts(&database.url())).await;
    let before = node.prepare().await;

    let mut admin = database.admin().await;
    let name = database.name();
    let refuse = format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false");
    sqlx::query(AssertSqlSafe(refuse))
        .execute(&mut admin)
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        killed.len() >= 2 && killed.iter().all(|k| *k),
        "the node's pool and its listener: {killed:?}"
    );
    // The backends are gone once PostgreSQL has processed the signals.
    let deadline = Instant::now() + ANSWER_BOUND;
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} backends still there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert_cache_flushed(&node, &before).await;
    node.assert_reads_fail(&before).await;
    node.assert_writes_fail(&before).await;

    let allow = format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true");
    sqlx::query(AssertSqlSafe(allow))
        .execute(&mut admin)
        .await
        .unwrap();
    node.assert_recovers(&before).await;
}
