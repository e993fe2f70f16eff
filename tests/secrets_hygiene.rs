//! Secrets hygiene: one flow through `tokengate serve` with `RUST_LOG=debug` touching every way
//! a secret enters the process (JSON-RPC issuance of codes, password, code and refresh grants;
//! the RFC 6749 token endpoint with Basic and PKCE; introspection; revocation on both APIs;
//! gateway requests with bearer tokens, good and bad; JSON-RPC with `api_key` + `sig`, good and
//! bad; the TIBCO-style routes with a token in the path) — then no issued token, code, refresh
//! token, PKCE verifier, client secret, admin secret, `sig` or `Authorization` value may appear
//! in the log, nor in clear in the SQLite file, its WAL or its shared-memory file; nor, with
//! PostgreSQL (feature `postgres`: the test database of `tests/support/postgres.rs`), in a
//! `pg_dump` of the node's schema or in any row of it.
#![cfg(unix)]

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

use common::config::{ServeConfig, PEPPER_HEX};
use common::process::Gateway;
use common::{ADMIN_KEY, ADMIN_SECRET, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};

/// A client secret that form-encoding changes (`+ / = !`), sent form-encoded in Basic.
const ODD_CLIENT: &str = "oddclient000000000000000";
const ODD_SECRET: &str = "s3cr+t/with=odd!chars";
const VERIFIER: &str = "pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";

fn config(store: &str) -> String {
    ServeConfig::new(store)
        .public("forward_access_token = true")
        .append(&format!(
            r#"
[[clients]]
id = 12347
client_id = "{ODD_CLIENT}"
secret = "{ODD_SECRET}"
name = "Odd"
redirect_uris = ["{REDIRECT}"]
services = ["{SERVICE}"]
allowed_scopes = ["read"]
"#
        ))
        .toml()
}

/// Every secret value the flow saw, with a name for the failure message.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(
            value.len() >= 8,
            "{what} is too short to search for: {value:?}"
        );
        self.0.push((what.to_owned(), value.to_owned()));
    }

    /// Adds the `access_token` and `refresh_token` of a token answer; returns both.
    fn add_issued(&mut self, what: &str, answer: &Value) -> (String, Option<String>) {
        let access = answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {answer}"))
            .to_owned();
        self.add(&format!("{what} access token"), &access);
        let refresh = answer["refresh_token"].as_str().map(str::to_owned);
        if let Some(refresh) = &refresh {
            self.add(&format!("{what} refresh token"), refresh);
        }
        (access, refresh)
    }

    fn assert_absent(&self, place: &str, haystack: &[u8]) {
        for (what, value) in &self.0 {
            assert!(
                !contains(haystack, value.as_bytes()),
                "{what} (`{value}`) is in {place}"
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Flow {
    http: reqwest::Client,
    admin: SocketAddr,
    public: SocketAddr,
}

impl Flow {
    async fn rpc(&self, method: &str, params: Value) -> Value {
        let reply: Value = self
            .http
            .post(format!("http://{}/v2/json-rpc", self.admin))
            .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
            .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply
    }

    async fn result(&self, method: &str, params: Value) -> Value {
        let reply = self.rpc(method, params).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// A code for the web client via JSON-RPC, with a PKCE challenge when `pkce` is set.
    async fn code(&self, pkce: bool) -> String {
        let mut params = json!([SERVICE, {"client_id": WEB_CLIENT}, {"redirect_uri": REDIRECT},
                                "read", "user12345"]);
        if pkce {
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
            let array = params.as_array_mut().unwrap();
            array.push(json!("code"));
            array.push(json!({"code_challenge": challenge, "code_challenge_method": "S256"}));
        }
        let result = self.result("oauth2.createAuthorizationCode", params).await;
        result["code"].as_str().unwrap().to_owned()
    }

    async fn create(&self, token_data: Value, uri: Value, user: Value) -> Value {
        let client = json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET});
        self.result(
            "oauth2.createAccessToken",
            json!([SERVICE, client, token_data, uri, user]),
        )
        .await
    }

    /// `POST` a form to the public listener's `path`, with Basic `auth` when given.
    async fn form(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("http://{}{path}", self.public))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        if let Some((id, secret)) = auth {
            req = req.header("authorization", basic(id, secret));
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn gateway(&self, authorization: &str) -> u16 {
        self.http
            .get(format!("http://{}/reviews?page=2", self.public))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn read_if_exists(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// Asserts that the debug log holds no secret of the flow, nor any `Authorization` value or
/// `sig` parameter at all.
fn assert_clean_log(gateway: &Gateway, secrets: &Secrets) {
    let logs = gateway.logs();
    assert!(
        logs.contains("public request"),
        "debug logging is on:\n{logs}"
    );
    secrets.assert_absent("the debug log", logs.as_bytes());
    assert!(!logs.contains("Bearer "), "a bearer value in the log");
    assert!(!logs.contains("Basic "), "a Basic value in the log");
    assert!(!logs.contains("sig="), "a sig parameter in the log");
}

/// Runs the flow: every way a secret enters the process, each checked to have worked as it
/// should. Returns every secret value it saw and an issued token that stays stored.
async fn exercise(flow: &Flow) -> (Secrets, String) {
    let mut secrets = Secrets::default();
    for (what, value) in [
        ("the web client's secret", WEB_SECRET),
        ("the odd client's secret", ODD_SECRET),
        ("the admin secret", ADMIN_SECRET),
        ("the PKCE verifier", VERIFIER),
        ("the pepper", PEPPER_HEX),
    ] {
        secrets.add(what, value);
    }
    // The odd secret as it travels form-encoded.
    let encoded: String = form_urlencoded::byte_serialize(ODD_SECRET.as_bytes()).collect();
    secrets.add("the odd secret, form-encoded", &encoded);
    for (id, secret) in [
        (ADMIN_KEY, ADMIN_SECRET),
        (WEB_CLIENT, WEB_SECRET),
        (ODD_CLIENT, ODD_SECRET),
    ] {
        let value = basic(id, secret);
        let b64 = value.strip_prefix("Basic ").unwrap();
        secrets.add("an Authorization: Basic value", b64);
    }

    // --- JSON-RPC issuance.
    let code = flow.code(false).await;
    secrets.add("a code", &code);
    let issued = flow
        .create(
            json!({"grant_type": "authorization_code", "code": code}),
            json!({"redirect_uri": REDIRECT}),
            json!("user12345"),
        )
        .await;
    let (code_token, code_refresh) = secrets.add_issued("code grant", &issued);
    // The code again: refused (and what it issued revoked).
    let replay = flow
        .rpc(
            "oauth2.createAccessToken",
            json!([SERVICE, {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET},
                   {"grant_type": "authorization_code", "code": code},
                   {"redirect_uri": REDIRECT}, "user12345"]),
        )
        .await;
    assert!(replay.get("error").is_some(), "{replay}");
    assert!(code_refresh.is_some());

    let issued = flow
        .create(
            json!({"grant_type": "password", "scope": "read"}),
            Value::Null,
            json!("user12345"),
        )
        .await;
    let (password_token, password_refresh) = secrets.add_issued("password grant", &issued);
    let issued = flow
        .create(
            json!({"grant_type": "refresh_token", "refresh_token": password_refresh.unwrap()}),
            Value::Null,
            json!("user12345"),
        )
        .await;
    let (refreshed_token, refreshed_refresh) = secrets.add_issued("refresh grant", &issued);

    // A wrong client secret over JSON-RPC (the failure path logs too).
    let wrong = flow
        .rpc(
            "oauth2.createAccessToken",
            json!([SERVICE, {"client_id": WEB_CLIENT, "client_secret": "wrong-secret-value-1"},
                   {"grant_type": "client_credentials"}]),
        )
        .await;
    assert!(wrong.get("error").is_some(), "{wrong}");
    secrets.add("a wrong client secret", "wrong-secret-value-1");

    // --- The RFC 6749 token endpoint on the public listener.
    let (status, answer) = flow
        .form(
            "/oauth2/token",
            Some((ODD_CLIENT, ODD_SECRET)),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (cc_token, _) = secrets.add_issued("/oauth2/token client_credentials", &answer);

    let pkce_code = flow.code(true).await;
    secrets.add("a PKCE code", &pkce_code);
    let (status, answer) = flow
        .form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &pkce_code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", WEB_CLIENT),
                ("client_secret", WEB_SECRET),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (pkce_token, pkce_refresh) = secrets.add_issued("/oauth2/token PKCE code", &answer);

    let (status, answer) = flow
        .form(
            "/oauth2/token",
            Some((WEB_CLIENT, WEB_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", pkce_refresh.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (rest_refreshed, _) = secrets.add_issued("/oauth2/token refresh", &answer);
    // The rotated refresh token again: refused, family revoked.
    let (status, _) = flow
        .form(
            "/oauth2/token",
            Some((WEB_CLIENT, WEB_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", pkce_refresh.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 400);
    // Wrong secrets at the token endpoint, in Basic and in the body.
    let (status, _) = flow
        .form(
            "/oauth2/token",
            Some((WEB_CLIENT, "wrong-secret-value-2")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = flow
        .form(
            "/oauth2/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", WEB_CLIENT),
                ("client_secret", "wrong-secret-value-3"),
            ],
        )
        .await;
    assert_eq!(status, 401);
    secrets.add("a wrong client secret", "wrong-secret-value-2");
    secrets.add("a wrong client secret", "wrong-secret-value-3");

    // --- Introspection and revocation.
    let (status, answer) = flow
        .form(
            "/oauth2/introspect",
            Some((WEB_CLIENT, WEB_SECRET)),
            &[("token", &cc_token)],
        )
        .await;
    assert_eq!((status, &answer["active"]), (200, &json!(true)), "{answer}");
    let (status, answer) = flow
        .form(
            "/oauth2/introspect",
            Some((ADMIN_KEY, ADMIN_SECRET)),
            &[("token", "unknown-token-value-0123456789")],
        )
        .await;
    assert_eq!(
        (status, &answer["active"]),
        (200, &json!(false)),
        "{answer}"
    );
    secrets.add("an unknown token", "unknown-token-value-0123456789");
    let (status, _) = flow
        .form(
            "/oauth2/revoke",
            Some((WEB_CLIENT, WEB_SECRET)),
            &[("token", &rest_refreshed)],
        )
        .await;
    assert_eq!(status, 200);
    let revoked = flow
        .result(
            "oauth2.revokeAccessToken",
            json!([SERVICE, {"client_id": WEB_CLIENT, "client_secret": WEB_SECRET}, refreshed_token]),
        )
        .await;
    assert_eq!(revoked, json!(true));

    // --- The gateway: good, revoked, unknown and malformed bearer values.
    assert_eq!(flow.gateway(&format!("Bearer {password_token}")).await, 200);
    assert_eq!(flow.gateway(&format!("Bearer {cc_token}")).await, 200);
    // Revoked with its family when the rotated refresh token was replayed.
    assert_eq!(flow.gateway(&format!("bearer {pkce_token}")).await, 401);
    assert_eq!(
        flow.gateway(&format!("Bearer {refreshed_token}")).await,
        401
    );
    assert_eq!(flow.gateway(&format!("Bearer {code_token}")).await, 401);
    assert_eq!(flow.gateway("Bearer junk-token-value-0123").await, 401);
    assert_eq!(flow.gateway("Bearer bad,token;value").await, 400);
    assert_eq!(flow.gateway("Basic c29tZW9uZTpzb21ldGhpbmc=").await, 401);
    secrets.add("an unknown bearer token", "junk-token-value-0123");
    secrets.add("a malformed bearer value", "bad,token;value");
    secrets.add("a foreign Basic value", "c29tZW9uZTpzb21ldGhpbmc");

    // --- JSON-RPC with api_key + sig: good, wrong and stale.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "oauth2.fetchAccessToken",
                      "params": [SERVICE, cc_token]});
    for (sig, ok) in [
        (
            tokengate::rpc::signature(ADMIN_KEY, ADMIN_SECRET, now),
            true,
        ),
        (
            tokengate::rpc::signature(ADMIN_KEY, "not-the-secret", now),
            false,
        ),
        (
            tokengate::rpc::signature(ADMIN_KEY, ADMIN_SECRET, now - 1000),
            false,
        ),
    ] {
        secrets.add("a sig", &sig);
        let res = flow
            .http
            .post(format!(
                "http://{}/v2/json-rpc?api_key={ADMIN_KEY}&sig={sig}",
                flow.admin
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().is_success(), ok, "sig {sig}");
    }
    // A wrong admin password over Basic.
    let res = flow
        .http
        .post(format!("http://{}/v2/json-rpc", flow.admin))
        .basic_auth(ADMIN_KEY, Some("wrong-admin-secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    secrets.add("a wrong admin secret", "wrong-admin-secret");

    // --- The TIBCO-style routes carry a token in the path.
    let res = flow
        .http
        .get(format!(
            "http://{}/oauth2/access_token/{password_token}",
            flow.admin
        ))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = flow
        .http
        .delete(format!(
            "http://{}/oauth2/access_token/{password_token}",
            flow.admin
        ))
        .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let _ = refreshed_refresh;
    (secrets, cc_token)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_debug_log_or_the_sqlite_files() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_logged(dir.path(), &config("sqlite://tokengate.db"), "debug");
    let flow = Flow {
        http: reqwest::Client::new(),
        admin: gateway.admin,
        public: gateway.public(),
    };
    let (secrets, cc_token) = exercise(&flow).await;

    // The SQLite files while the server runs (the WAL holds the recent writes)…
    tokio::time::sleep(Duration::from_millis(300)).await;
    let db = dir.path().join("tokengate.db");
    let files = |label: &str| {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
            let bytes = read_if_exists(&path);
            secrets.assert_absent(&format!("{} ({label})", path.display()), &bytes);
        }
    };
    assert!(std::fs::metadata(&db).unwrap().len() > 0);
    files("running");
    // The files searched are the right ones: the tokens are there, as SHA-256 hex.
    let mut stored = read_if_exists(&db);
    stored.extend(read_if_exists(Path::new(&format!("{}-wal", db.display()))));
    let hash = hex::encode(sha2::Sha256::digest(cc_token.as_bytes()));
    assert!(
        contains(&stored, hash.as_bytes()),
        "the token's hash is stored"
    );

    // … the log …
    assert_clean_log(&gateway, &secrets);

    // … and the files after a clean shutdown (the WAL checkpointed into the database).
    let status = gateway.terminate();
    assert!(status.success(), "{status:?}");
    files("stopped");
}

/// The same flow on a `serve` node over PostgreSQL (a fresh schema), then the schema dumped
/// with `pg_dump` and row by row with SQL: no secret in clear, the token's hash present.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_debug_log_or_the_postgresql_database() {
    let db = pg::TestDb::new();
    let url = pg::url();
    let schema = db.schema().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_logged(dir.path(), &config(&db.store_url()), "debug");
    let flow = Flow {
        http: reqwest::Client::new(),
        admin: gateway.admin,
        public: gateway.public(),
    };
    let (secrets, cc_token) = exercise(&flow).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_clean_log(&gateway, &secrets);
    let hash = hex::encode(sha2::Sha256::digest(cc_token.as_bytes()));

    // Every row of every table of the schema, as text.
    let mut conn = db.connection().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "tokens"), "{tables:?}");
    let mut rows = Vec::new();
    for table in &tables {
        let select = format!("SELECT t::text FROM \"{schema}\".\"{table}\" t");
        let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(select))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for text in texts {
            rows.extend_from_slice(text.as_bytes());
            rows.push(b'\n');
        }
    }
    secrets.assert_absent("the schema's rows", &rows);
    assert!(
        contains(&rows, hash.as_bytes()),
        "the token's hash is stored"
    );

    // pg_dump of the schema: PostgreSQL's client tools are part of what this test needs
    // (`.ci/run` installs them when missing); without them the test fails, it does not pass.
    let dump = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--schema", &schema, "--dbname", &url])
        .output()
        .unwrap_or_else(|e| {
            panic!("pg_dump could not run ({e}): install PostgreSQL's client tools")
        });
    assert!(
        dump.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    secrets.assert_absent("pg_dump", &dump.stdout);
    assert!(
        contains(&dump.stdout, hash.as_bytes()),
        "pg_dump holds the data"
    );
    let status = gateway.terminate();
    assert!(status.success(), "{status:?}");
}
