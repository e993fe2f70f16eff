//! Crash durability, end to end: `tokengate serve` under concurrent load is killed with SIGKILL
//! at a random moment, restarted on the same database, and everything its clients saw
//! acknowledged is checked.
//!
//! Each cycle, several tasks issue tokens (`client_credentials` at `/oauth2/token`, `password`
//! through JSON-RPC `oauth2.createAccessToken`), create authorization codes (JSON-RPC) and redeem
//! them (`/oauth2/token`), rotate refresh tokens, and revoke (RFC 7009 `/oauth2/revoke` for an
//! access token or a whole refresh family, JSON-RPC `oauth2.revokeAccessToken`). Only what the
//! server acknowledged (a 200 whose body was read in full) is recorded; a request in flight at
//! the kill has an unknown outcome, and nothing is asserted about it beyond consistency (a
//! family revocation is all or nothing). After the restart:
//!
//! * every acknowledged access token not acknowledged-revoked is valid, every acknowledged
//!   revocation holds (JSON-RPC `fetchAccessToken`, cross-checked with RFC 7662 introspection);
//! * every refresh token acknowledged as rotated away introspects inactive, the last one of
//!   each chain active;
//! * a code whose creation was acknowledged but which was never redeemed redeems once;
//! * a redeemed code presented again, and a rotated-away refresh token presented again, are
//!   refused with `invalid_grant` and revoke what they issued (the family), as DESIGN.md §4.3
//!   and §6 require (a share of the families each cycle, all of them at the end);
//! * SQLite: `PRAGMA integrity_check` is `ok` on the files as the kill left them (a copy, so
//!   that the restarted server recovers the WAL itself), and on the file after a clean stop.
//!
//! Randomness (kill times, operation mix) comes from `PROPTEST_RNG_SEED` (else a fixed seed),
//! printed at the start. Thread timing still varies from run to run.
//!
//! The PostgreSQL variant needs the test database of `tests/support/postgres.rs` (it fails,
//! naming it, when that database does not answer).
#![cfg(all(unix, feature = "cli", feature = "sqlite"))]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use sqlx::Connection;

mod common;
#[cfg(feature = "postgres")]
#[path = "support/postgres.rs"]
mod pg;

use common::config::ServeConfig;
use common::process::Gateway;
use common::{ADMIN_KEY, ADMIN_SECRET, REDIRECT, SERVICE, WEB_CLIENT, WEB_SECRET};

/// Concurrent load tasks.
const WORKERS: usize = 4;
/// Load before each kill, in milliseconds (drawn uniformly).
const LOAD_MS: std::ops::RangeInclusive<u64> = 300..=1500;
/// Share of the families whose code and rotated refresh tokens are replayed after a restart
/// (replaying revokes the family, so not all of them until the end).
const REPLAY_SHARE: f64 = 0.25;
/// `fetchAccessToken` list size (the server takes up to 1,000).
const FETCH_CHUNK: usize = 500;
/// Concurrent introspection requests during the checks.
const CHECKERS: usize = 4;
/// Refresh tokens introspected after each restart (a sample when there are more).
const INTROSPECTED_REFRESH: usize = 400;
/// Access tokens cross-checked by introspection after each restart.
const INTROSPECTED_ACCESS: usize = 32;

fn seed() -> u64 {
    std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(20261124)
}

// ---------------------------------------------------------------------------------------------
// What the clients were told.

/// What the server must say about a token after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Issued, never revoked: valid.
    Active,
    /// Revoked, acknowledged: invalid.
    Revoked,
    /// A revocation of it alone was in flight at a kill: either.
    Unknown,
    /// A revocation of its whole family was in flight at a kill: either, but the same for
    /// every such token of the family.
    Together,
}

/// One acknowledged access token, with the refresh token issued alongside it.
#[derive(Debug)]
struct Issued {
    access: String,
    refresh: Option<String>,
    /// `Some(true)`: rotated away (acknowledged); `Some(false)`: never presented; `None`: a
    /// rotation was in flight at a kill.
    rotated: Option<bool>,
    expect: Expect,
    /// How it was issued and in which cycle, for failure messages (never the token).
    origin: String,
}

/// A rotation chain: the first token and each one its refresh tokens brought.
#[derive(Debug, Default)]
struct Family {
    tokens: Vec<Issued>,
    /// The code it was redeemed from (acknowledged).
    code: Option<String>,
    /// No more load on it: an outcome is unknown, or it is revoked whole.
    frozen: bool,
    /// Its code and rotated refresh tokens have been replayed.
    replayed: bool,
}

impl Family {
    fn new(first: Issued, code: Option<String>) -> Self {
        Family {
            tokens: vec![first],
            code,
            ..Family::default()
        }
    }

    fn revoke_all(&mut self) {
        for t in &mut self.tokens {
            t.expect = Expect::Revoked;
        }
        self.frozen = true;
    }
}

/// Everything acknowledged so far.
#[derive(Default)]
struct Model {
    families: Vec<Family>,
    /// Codes whose creation was acknowledged but whose redemption was never sent.
    unredeemed: Vec<String>,
    /// Requests acknowledged, and requests whose outcome the kills made unknown.
    acked: usize,
    unknown: usize,
}

// ---------------------------------------------------------------------------------------------
// The HTTP API.

/// An answer read in full.
struct Answer {
    status: u16,
    body: Value,
}

/// The gateway's listeners, over one HTTP client.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    public: SocketAddr,
    admin: SocketAddr,
}

impl Api {
    fn new(gateway: &Gateway) -> Self {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            public: gateway.public(),
            admin: gateway.admin,
        }
    }

    async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Answer { status, body })
    }

    /// `POST /oauth2/{path}` with a form, as the seed confidential client (HTTP Basic).
    async fn public(&self, path: &str, form: &[(&str, &str)]) -> Result<Answer, reqwest::Error> {
        let url = format!("http://{}/oauth2/{path}", self.public);
        Self::exchange(
            self.http
                .post(url)
                .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
                .form(form),
        )
        .await
    }

    /// A JSON-RPC 2.0 call on the admin listener.
    async fn rpc(&self, method: &str, params: Value) -> Result<Answer, reqwest::Error> {
        let url = format!("http://{}/v2/json-rpc", self.admin);
        let call = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        Self::exchange(
            self.http
                .post(url)
                .basic_auth(ADMIN_KEY, Some(ADMIN_SECRET))
                .json(&call),
        )
        .await
    }
}

/// The body of a success: every request of this test is valid, so anything else read in full
/// is a failure.
fn success(what: &str, answer: Answer) -> Value {
    assert_eq!(answer.status, 200, "{what}: {}", answer.body);
    assert!(
        answer.body.get("error").is_none(),
        "{what}: {}",
        answer.body
    );
    answer.body
}

/// The `result` of a successful JSON-RPC call.
fn result(what: &str, answer: Answer) -> Value {
    success(what, answer)["result"].clone()
}

/// A 400 `invalid_grant` from `/oauth2/token`.
fn assert_invalid_grant(what: &str, answer: &Answer) {
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{what}: {}",
        answer.body
    );
}

fn client() -> Value {
    json!({"client_id": WEB_CLIENT, "client_secret": WEB_SECRET})
}

/// A token answer (`/oauth2/token` or `createAccessToken`) as an [`Issued`].
fn issued(body: &Value, origin: String) -> Issued {
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh = body["refresh_token"].as_str().map(str::to_owned);
    Issued {
        rotated: refresh.as_ref().map(|_| false),
        access,
        refresh,
        expect: Expect::Active,
        origin,
    }
}

// ---------------------------------------------------------------------------------------------
// The load.

/// The server went away while a request was in flight (after the kill began).
struct Lost;

/// One load task: its own families, so no two tasks race on one token.
struct Worker {
    api: Api,
    rng: StdRng,
    /// Set before the kill: a request failing after it has an unknown outcome; one failing
    /// before it is a bug.
    killing: Arc<AtomicBool>,
    families: Vec<Family>,
    unredeemed: Vec<String>,
    cycle: usize,
    id: usize,
    acked: usize,
    unknown: usize,
}

impl Worker {
    async fn send(
        &mut self,
        what: &str,
        request: impl std::future::Future<Output = Result<Answer, reqwest::Error>>,
    ) -> Result<Answer, Lost> {
        match request.await {
            Ok(answer) => {
                self.acked += 1;
                Ok(answer)
            }
            Err(e) => {
                assert!(
                    self.killing.load(Ordering::SeqCst),
                    "{what} failed while the server was up: {e}"
                );
                self.unknown += 1;
                Err(Lost)
            }
        }
    }

    fn origin(&self, how: &str) -> String {
        format!("{how} (cycle {}, task {})", self.cycle, self.id)
    }

    /// Runs operations until the server goes away.
    async fn run(mut self) -> Self {
        while !self.killing.load(Ordering::SeqCst) {
            let step = match self.rng.random_range(0..100) {
                0..=14 => self.client_credentials().await,
                15..=29 => self.password().await,
                30..=49 => self.code_flow().await,
                50..=74 => self.refresh().await,
                75..=84 => self.revoke_access(true).await,
                85..=94 => self.revoke_access(false).await,
                _ => self.revoke_family().await,
            };
            if step.is_err() {
                break;
            }
        }
        self
    }

    async fn client_credentials(&mut self) -> Result<(), Lost> {
        let api = self.api.clone();
        let answer = self
            .send(
                "client_credentials",
                api.public("token", &[("grant_type", "client_credentials")]),
            )
            .await?;
        let body = success("client_credentials", answer);
        let first = issued(&body, self.origin("client_credentials"));
        self.families.push(Family::new(first, None));
        Ok(())
    }

    async fn password(&mut self) -> Result<(), Lost> {
        let api = self.api.clone();
        let user = format!("user-{}-{}", self.id, self.rng.random_range(0..8));
        let params =
            json!([SERVICE, client(), {"grant_type": "password", "scope": "read"}, null, user]);
        let answer = self
            .send(
                "createAccessToken",
                api.rpc("oauth2.createAccessToken", params),
            )
            .await?;
        let body = result("createAccessToken", answer);
        let first = issued(&body, self.origin("createAccessToken password"));
        self.families.push(Family::new(first, None));
        Ok(())
    }

    async fn code_flow(&mut self) -> Result<(), Lost> {
        let api = self.api.clone();
        let user = format!("user-{}-{}", self.id, self.rng.random_range(0..8));
        let uri = json!({"redirect_uri": REDIRECT});
        let params = json!([SERVICE, {"client_id": WEB_CLIENT}, uri, "read write", user]);
        let answer = self
            .send(
                "createAuthorizationCode",
                api.rpc("oauth2.createAuthorizationCode", params),
            )
            .await?;
        let code = result("createAuthorizationCode", answer)["code"]
            .as_str()
            .expect("code")
            .to_owned();
        if self.killing.load(Ordering::SeqCst) {
            // Left for the checks after the restart: it must still redeem.
            self.unredeemed.push(code);
            return Err(Lost);
        }
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let answer = self
            .send("code redemption", api.public("token", &form))
            .await?;
        let body = success("code redemption", answer);
        let first = issued(&body, self.origin("authorization_code"));
        self.families.push(Family::new(first, Some(code)));
        Ok(())
    }

    /// A family whose last refresh token can be rotated.
    fn refreshable(&mut self) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.families.len())
            .filter(|&i| {
                let f = &self.families[i];
                let last = f.tokens.last().unwrap();
                !f.frozen && last.expect == Expect::Active && last.rotated == Some(false)
            })
            .collect();
        candidates.choose(&mut self.rng).copied()
    }

    /// The refresh token of family `i`'s last token (a [`Self::refreshable`] family).
    fn last_refresh(&self, i: usize) -> String {
        let last = self.families[i].tokens.last().unwrap();
        last.refresh.clone().unwrap()
    }

    async fn refresh(&mut self) -> Result<(), Lost> {
        let Some(i) = self.refreshable() else {
            return self.password().await;
        };
        let api = self.api.clone();
        let refresh = self.last_refresh(i);
        let origin = self.origin("refresh");
        let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
        let sent = self.send("refresh", api.public("token", &form)).await;
        let family = &mut self.families[i];
        let Ok(answer) = sent else {
            family.tokens.last_mut().unwrap().rotated = None;
            family.frozen = true;
            return Err(Lost);
        };
        let body = success("refresh", answer);
        family.tokens.last_mut().unwrap().rotated = Some(true);
        family.tokens.push(issued(&body, origin));
        Ok(())
    }

    /// Revokes one active access token, by RFC 7009 or JSON-RPC.
    async fn revoke_access(&mut self, rfc7009: bool) -> Result<(), Lost> {
        let candidates: Vec<(usize, usize)> = self
            .families
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.frozen)
            .flat_map(|(i, f)| {
                f.tokens
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.expect == Expect::Active)
                    .map(move |(j, _)| (i, j))
            })
            .collect();
        let Some(&(i, j)) = candidates.choose(&mut self.rng) else {
            return self.client_credentials().await;
        };
        let api = self.api.clone();
        let token = self.families[i].tokens[j].access.clone();
        let sent = if rfc7009 {
            let form = [
                ("token", token.as_str()),
                ("token_type_hint", "access_token"),
            ];
            self.send("RFC 7009 revoke", api.public("revoke", &form))
                .await
        } else {
            let params = json!([SERVICE, {"client_id": WEB_CLIENT}, token]);
            self.send(
                "revokeAccessToken",
                api.rpc("oauth2.revokeAccessToken", params),
            )
            .await
        };
        let family = &mut self.families[i];
        let Ok(answer) = sent else {
            family.tokens[j].expect = Expect::Unknown;
            family.frozen = true;
            return Err(Lost);
        };
        if rfc7009 {
            success("RFC 7009 revoke", answer);
        } else {
            assert_eq!(result("revokeAccessToken", answer), true);
        }
        family.tokens[j].expect = Expect::Revoked;
        Ok(())
    }

    /// Revokes a whole family with RFC 7009 and its last refresh token.
    async fn revoke_family(&mut self) -> Result<(), Lost> {
        let Some(i) = self.refreshable() else {
            return self.client_credentials().await;
        };
        let api = self.api.clone();
        let refresh = self.last_refresh(i);
        let form = [
            ("token", refresh.as_str()),
            ("token_type_hint", "refresh_token"),
        ];
        let sent = self
            .send("RFC 7009 family revoke", api.public("revoke", &form))
            .await;
        let family = &mut self.families[i];
        let Ok(answer) = sent else {
            for t in &mut family.tokens {
                if t.expect == Expect::Active {
                    t.expect = Expect::Together;
                }
            }
            family.frozen = true;
            return Err(Lost);
        };
        success("RFC 7009 family revoke", answer);
        family.revoke_all();
        Ok(())
    }
}

/// Runs [`WORKERS`] load tasks on the families that can take more, kills the gateway at a random
/// moment and collects what was acknowledged.
async fn load_then_kill(gateway: Gateway, model: &mut Model, rng: &mut StdRng, cycle: usize) {
    let api = Api::new(&gateway);
    let killing = Arc::new(AtomicBool::new(false));
    let (live, frozen): (Vec<Family>, Vec<Family>) =
        model.families.drain(..).partition(|f| !f.frozen);
    model.families = frozen;
    let mut shares: Vec<Vec<Family>> = (0..WORKERS).map(|_| Vec::new()).collect();
    for (n, family) in live.into_iter().enumerate() {
        shares[n % WORKERS].push(family);
    }
    let tasks: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(id, families)| {
            let worker = Worker {
                api: api.clone(),
                rng: StdRng::seed_from_u64(rng.random()),
                killing: killing.clone(),
                families,
                unredeemed: Vec::new(),
                cycle,
                id,
                acked: 0,
                unknown: 0,
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let load = rng.random_range(LOAD_MS);
    tokio::time::sleep(Duration::from_millis(load)).await;
    killing.store(true, Ordering::SeqCst);
    gateway.kill();
    for task in tasks {
        let worker = match task.await {
            Ok(worker) => worker,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        model.families.extend(worker.families);
        model.unredeemed.extend(worker.unredeemed);
        model.acked += worker.acked;
        model.unknown += worker.unknown;
    }
    eprintln!(
        "cycle {cycle}: killed after {load} ms; so far {} requests acknowledged, {} with unknown outcome, {} families",
        model.acked,
        model.unknown,
        model.families.len()
    );
}

// ---------------------------------------------------------------------------------------------
// The checks after a restart.

/// Collects every broken promise before failing, so that a failure shows its extent.
#[derive(Default)]
struct Broken(Vec<String>);

impl Broken {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self, when: &str) {
        if !self.0.is_empty() {
            let shown: Vec<&str> = self.0.iter().take(20).map(String::as_str).collect();
            panic!(
                "{when}: {} broken promises (seed {}), the first ones:\n  {}",
                self.0.len(),
                seed(),
                shown.join("\n  ")
            );
        }
    }
}

/// The acknowledged access tokens that are valid now, by `fetchAccessToken` lists.
async fn valid_access_tokens(api: &Api, model: &Model) -> HashSet<String> {
    let all: Vec<&str> = model
        .families
        .iter()
        .flat_map(|f| f.tokens.iter().map(|t| t.access.as_str()))
        .collect();
    let mut valid = HashSet::new();
    for chunk in all.chunks(FETCH_CHUNK) {
        let answer = api
            .rpc("oauth2.fetchAccessToken", json!([SERVICE, chunk]))
            .await
            .unwrap();
        let found = result("fetchAccessToken", answer);
        for record in found.as_array().expect("a list") {
            valid.insert(record["access_token"].as_str().unwrap().to_owned());
        }
    }
    valid
}

/// `check` of every item, [`CHECKERS`] tasks at a time, in the items' order.
async fn in_parallel<T, R, Fut>(api: &Api, items: Vec<T>, check: fn(Api, T) -> Fut) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let per_task = items.len().div_ceil(CHECKERS).max(1);
    let mut items = items.into_iter().peekable();
    let mut tasks = Vec::new();
    while items.peek().is_some() {
        let group: Vec<T> = items.by_ref().take(per_task).collect();
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::with_capacity(group.len());
            for item in group {
                results.push(check(api.clone(), item).await);
            }
            results
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        match task.await {
            Ok(done) => results.extend(done),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    results
}

/// Whether RFC 7662 introspection calls `token` active.
async fn introspect(api: Api, token: String) -> bool {
    let answer = api
        .public("introspect", &[("token", &token)])
        .await
        .unwrap();
    success("introspection", answer)["active"] == true
}

/// Checks every promise about the acknowledged tokens.
async fn check_tokens(api: &Api, model: &Model, rng: &mut StdRng, when: &str) {
    let mut broken = Broken::default();
    let valid = valid_access_tokens(api, model).await;
    for (i, family) in model.families.iter().enumerate() {
        let mut together = HashSet::new();
        for t in &family.tokens {
            let is_valid = valid.contains(&t.access);
            match t.expect {
                Expect::Active => broken.check(is_valid, || {
                    format!("family {i}: access token from {} is not valid", t.origin)
                }),
                Expect::Revoked => broken.check(!is_valid, || {
                    format!(
                        "family {i}: revoked access token from {} is valid",
                        t.origin
                    )
                }),
                Expect::Together => {
                    together.insert(is_valid);
                }
                Expect::Unknown => {}
            }
        }
        broken.check(together.len() <= 1, || {
            format!("family {i}: a family revocation in flight at the kill was applied in part")
        });
    }

    // Refresh tokens: rotated-away ones are inactive, the last of a live chain active (a
    // sample: every family's rotated ones are also replayed by the end).
    let mut refresh = Vec::new();
    for (i, family) in model.families.iter().enumerate() {
        for t in &family.tokens {
            let Some(token) = &t.refresh else { continue };
            let expected = match (t.rotated, t.expect) {
                (Some(true), _) | (_, Expect::Revoked) => false,
                (Some(false), Expect::Active) => true,
                _ => continue,
            };
            let label = format!("family {i}: refresh token from {}", t.origin);
            refresh.push((label, token.clone(), expected));
        }
    }
    // Some access tokens too, so that both read paths are seen to agree.
    let mut access: Vec<(String, String, bool)> = model
        .families
        .iter()
        .flat_map(|f| &f.tokens)
        .filter(|t| matches!(t.expect, Expect::Active | Expect::Revoked))
        .map(|t| {
            let label = format!("access token from {}", t.origin);
            (label, t.access.clone(), t.expect == Expect::Active)
        })
        .collect();
    access.shuffle(rng);
    access.truncate(INTROSPECTED_ACCESS);
    refresh.shuffle(rng);
    refresh.truncate(INTROSPECTED_REFRESH);
    refresh.extend(access);
    let tokens = refresh.iter().map(|r| r.1.clone()).collect();
    let answers = in_parallel(api, tokens, introspect).await;
    for ((label, _, expected), active) in refresh.iter().zip(answers) {
        broken.check(active == *expected, || {
            format!("{label}: introspection says active={active}, expected {expected}")
        });
    }
    broken.assert_none(when);
}

/// Redeems the codes left unredeemed by a kill (each must work once), and replays the codes
/// and rotated-away refresh tokens of `share` of the families: each is refused with
/// `invalid_grant` and revokes its family.
async fn redeem_and_replay(
    api: &Api,
    model: &mut Model,
    rng: &mut StdRng,
    share: f64,
    cycle: usize,
) {
    for code in std::mem::take(&mut model.unredeemed) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let answer = api.public("token", &form).await.unwrap();
        let body = success("redeeming a code created before the kill", answer);
        let origin = format!("authorization_code created before the kill of cycle {cycle}");
        model
            .families
            .push(Family::new(issued(&body, origin), Some(code)));
    }
    let mut chosen = Vec::new();
    let mut replays = Vec::new();
    for (i, family) in model.families.iter().enumerate() {
        if family.replayed || !rng.random_bool(share) {
            continue;
        }
        let rotated: Vec<&String> = family
            .tokens
            .iter()
            .filter(|t| t.rotated == Some(true))
            .filter_map(|t| t.refresh.as_ref())
            .collect();
        let refresh = rotated.choose(rng).map(|r| (*r).clone());
        if family.code.is_some() || refresh.is_some() {
            chosen.push(i);
            replays.push((family.code.clone(), refresh));
        }
    }
    in_parallel(api, replays, replay).await;
    for i in chosen {
        model.families[i].revoke_all();
        model.families[i].replayed = true;
    }
}

/// Presents a redeemed code and a rotated-away refresh token again: both are refused.
async fn replay(api: Api, (code, refresh): (Option<String>, Option<String>)) {
    if let Some(code) = code {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let answer = api.public("token", &form).await.unwrap();
        assert_invalid_grant("a redeemed code presented again", &answer);
    }
    if let Some(refresh) = refresh {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let answer = api.public("token", &form).await.unwrap();
        assert_invalid_grant("a rotated-away refresh token presented again", &answer);
    }
}

/// `PRAGMA integrity_check` of the SQLite database in `dir` as it is now, on a copy of the
/// main file and its WAL (opening the original would recover and checkpoint it, leaving the
/// restarted server nothing to recover).
async fn sqlite_integrity(dir: &Path, copy: bool) -> Vec<String> {
    let checked = tempfile::tempdir().unwrap();
    let path = if copy {
        for suffix in ["", "-wal"] {
            let from = dir.join(format!("tokengate.db{suffix}"));
            if from.exists() {
                std::fs::copy(&from, checked.path().join(format!("tokengate.db{suffix}"))).unwrap();
            }
        }
        checked.path().join("tokengate.db")
    } else {
        dir.join("tokengate.db")
    };
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows
}

// ---------------------------------------------------------------------------------------------
// The cycles.

/// `cycles` rounds of load, SIGKILL, restart and checks on the store `config` names; the SQLite
/// files are checked after each kill when `sqlite` is set.
async fn crash_cycles(dir: &Path, config: &str, cycles: usize, sqlite: bool) {
    let seed = seed();
    eprintln!("crash durability: seed {seed} (PROPTEST_RNG_SEED)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::default();
    let mut gateway = Gateway::start_logged(dir, config, "error");
    for cycle in 1..=cycles {
        load_then_kill(gateway, &mut model, &mut rng, cycle).await;
        if sqlite {
            let integrity = sqlite_integrity(dir, true).await;
            assert_eq!(
                integrity,
                ["ok"],
                "after the kill of cycle {cycle} (seed {seed})"
            );
        }
        let started = Instant::now();
        gateway = Gateway::start_logged(dir, config, "error");
        let restarted = started.elapsed();
        let api = Api::new(&gateway);
        let when = format!("after the kill of cycle {cycle}");
        check_tokens(&api, &model, &mut rng, &when).await;
        let checked = started.elapsed();
        let share = if cycle == cycles { 1.0 } else { REPLAY_SHARE };
        redeem_and_replay(&api, &mut model, &mut rng, share, cycle).await;
        eprintln!(
            "cycle {cycle}: restarted in {restarted:?}, checked by {checked:?}, replayed by {:?}",
            started.elapsed()
        );
    }
    // The replays' revocations, and a clean stop leaving a sound file.
    let api = Api::new(&gateway);
    check_tokens(&api, &model, &mut rng, "after the last replays").await;
    let replayed = model.families.iter().filter(|f| f.replayed).count();
    let tokens: usize = model.families.iter().map(|f| f.tokens.len()).sum();
    eprintln!(
        "crash durability: {cycles} kills, {} requests acknowledged, {} unknown, {tokens} tokens \
         in {} families checked, {replayed} families replayed",
        model.acked,
        model.unknown,
        model.families.len()
    );
    assert!(model.acked > 0 && replayed > 0, "the load did something");
    let status = gateway.terminate();
    assert!(status.success(), "{status}");
    if sqlite {
        assert_eq!(
            sqlite_integrity(dir, false).await,
            ["ok"],
            "after a clean stop"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    crash_cycles(dir.path(), &ServeConfig::sqlite().toml(), 5, true).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_writes_survive_sigkill() {
    let db = pg::TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    crash_cycles(
        dir.path(),
        &ServeConfig::new(db.store_url()).toml(),
        3,
        false,
    )
    .await;
}
