//! The run: what each request is (the plan) and how requests are paced (closed or open loop).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use rand::RngExt;
use serde_json::json;
use tokio::time::Instant;

use super::client::{HttpClient, Outcome};
use super::mix::TokenClass;
use super::population::{self, basic, create_params, rpc_request, Identities};
use super::progress::{Counters, Progress};
use super::report::{Report, Tally};
use super::{BoxError, LoadtestArgs, Mode, Scenario, Targets};
use crate::server::Config;

/// Everything needed to build request `i`.
pub(crate) struct Plan {
    scenario: Scenario,
    http: HttpClient,
    kind: Kind,
    population: BTreeMap<String, usize>,
}

enum Kind {
    Gateway {
        uri: Uri,
        wheel: Vec<TokenClass>,
        pools: [Vec<HeaderValue>; 4],
    },
    Token {
        uri: Uri,
        auth: HeaderValue,
        body: Bytes,
    },
    Rpc {
        admin: Uri,
        auth: HeaderValue,
        body: Bytes,
    },
}

impl Plan {
    /// Resolves the identities and prepares the token population (gateway scenario).
    pub(crate) async fn prepare(
        args: &LoadtestArgs,
        config: &Config,
        targets: &Targets,
    ) -> Result<Plan, BoxError> {
        let ids = Identities::resolve(args, config)?;
        let pool = match args.mode()? {
            Mode::Closed { concurrency } => concurrency,
            Mode::Open { max_in_flight, .. } => max_in_flight,
        };
        let http = HttpClient::new(pool, args.timeout);
        let mut population = BTreeMap::new();
        let kind = match args.scenario {
            Scenario::Gateway => {
                let path = if args.path.starts_with('/') {
                    args.path.clone()
                } else {
                    format!("/{}", args.path)
                };
                let uri: Uri = format!(
                    "http://{}{path}",
                    targets.public.authority().expect("a base URL")
                )
                .parse()
                .map_err(|e| format!("--path {}: {e}", args.path))?;
                let counts = args.mix.population(args.tokens);
                let tokens = population::prepare(
                    &http,
                    &targets.admin,
                    &ids,
                    &args.grant,
                    args.scope.as_deref(),
                    counts,
                )
                .await?;
                let mut pools: [Vec<HeaderValue>; 4] = Default::default();
                for class in TokenClass::ALL {
                    let list = &tokens[class as usize];
                    if class != TokenClass::Unknown {
                        population.insert(class.as_str().to_owned(), list.len());
                    }
                    pools[class as usize] = list.iter().map(|t| bearer(t)).collect();
                }
                Kind::Gateway {
                    uri,
                    wheel: args.mix.wheel(args.seed),
                    pools,
                }
            }
            Scenario::Token => {
                let (id, secret) = ids.client()?;
                let mut body = form_urlencoded::Serializer::new(String::new());
                body.append_pair("grant_type", "client_credentials");
                if let Some(scope) = &args.scope {
                    body.append_pair("scope", scope);
                }
                let encode =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                Kind::Token {
                    uri: format!("{}oauth2/token", targets.public).parse()?,
                    auth: basic(&encode(id), &encode(secret)),
                    body: Bytes::from(body.finish()),
                }
            }
            Scenario::Rpc => {
                let (key, secret) = ids.admin()?;
                let params = create_params(
                    ids.service_key()?,
                    ids.client()?,
                    &args.grant,
                    args.scope.as_deref(),
                    0,
                );
                let call = json!({
                    "jsonrpc": "2.0", "id": 1,
                    "method": "oauth2.createAccessToken", "params": params,
                });
                Kind::Rpc {
                    admin: targets.admin.clone(),
                    auth: basic(key, secret),
                    body: Bytes::from(serde_json::to_vec(&call)?),
                }
            }
        };
        Ok(Plan {
            scenario: args.scenario,
            http,
            kind,
            population,
        })
    }

    /// Request `i` and the class of its token (gateway scenario).
    fn request(&self, i: u64) -> (Option<TokenClass>, Request<Full<Bytes>>) {
        match &self.kind {
            Kind::Gateway { uri, wheel, pools } => {
                let class = wheel[(i % wheel.len() as u64) as usize];
                let pool = &pools[class as usize];
                let auth = if class == TokenClass::Unknown || pool.is_empty() {
                    bearer(&crate::secret::junk_token())
                } else {
                    pool[rand::rng().random_range(0..pool.len())].clone()
                };
                let request = Request::get(uri.clone())
                    .header(AUTHORIZATION, auth)
                    .body(Full::default())
                    .expect("a valid request");
                (Some(class), request)
            }
            Kind::Token { uri, auth, body } => {
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(uri.clone())
                    .header(AUTHORIZATION, auth.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Full::new(body.clone()))
                    .expect("a valid request");
                (None, request)
            }
            Kind::Rpc { admin, auth, body } => (None, rpc_request(admin, auth, body.clone())),
        }
    }

    /// Sends request `i`; its class and outcome.
    async fn send(&self, i: u64) -> (Option<TokenClass>, Outcome) {
        let (class, request) = self.request(i);
        let (mut outcome, body) = self.http.send(request).await;
        if matches!(self.kind, Kind::Rpc { .. }) && outcome == Outcome::Status(200) {
            let ok = serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v["error"].is_null() && !v["result"].is_null());
            if !ok {
                outcome = Outcome::RpcError;
            }
        }
        (class, outcome)
    }
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("tokens are header-safe")
}

struct Shared {
    plan: Plan,
    tally: Mutex<Tally>,
    counters: Arc<Counters>,
    last: Mutex<Option<Instant>>,
}

impl Shared {
    async fn one(&self, i: u64, since: Instant) {
        let (class, outcome) = self.plan.send(i).await;
        let now = Instant::now();
        if outcome.is_transport_error() {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.tally
            .lock()
            .expect("not poisoned")
            .record(class, outcome, now - since);
        self.counters.done.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last.lock().expect("not poisoned");
        *last = Some(last.map_or(now, |l| l.max(now)));
    }
}

/// Runs `plan` paced by `mode` until `max_requests` have been sent or `max_duration` has
/// passed (whichever comes first), waits for the requests in flight and reports.
pub(crate) async fn execute(
    plan: Plan,
    mode: Mode,
    (max_requests, max_duration): (Option<u64>, Option<Duration>),
) -> Report {
    let scenario = plan.scenario.as_str();
    let population = plan.population.clone();
    let counters = Arc::new(Counters::default());
    let shared = Arc::new(Shared {
        plan,
        tally: Mutex::new(Tally::new()),
        counters: counters.clone(),
        last: Mutex::new(None),
    });
    let progress = Progress::start(counters, max_requests, max_duration);
    let start = Instant::now();
    let deadline = max_duration.map(|d| start + d);
    let within = move |i: u64, at: Instant| {
        max_requests.is_none_or(|n| i < n) && deadline.is_none_or(|d| at < d)
    };
    let mut missed = 0;
    match mode {
        Mode::Closed { concurrency } => {
            let next = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..concurrency)
                .map(|_| {
                    let shared = shared.clone();
                    let next = next.clone();
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let now = Instant::now();
                            if !within(i, now) {
                                break;
                            }
                            shared.one(i, now).await;
                        }
                    })
                })
                .collect();
            for worker in workers {
                let _ = worker.await;
            }
        }
        Mode::Open {
            rate,
            max_in_flight,
        } => {
            let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
            let mut i = 0u64;
            loop {
                // Request i is due at start + i/rate, whatever happened before.
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                if !within(i, due) {
                    break;
                }
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                // With every slot taken, due requests wait; at the deadline the ones still
                // waiting are reported as missed rather than stretching the run.
                let acquire = slots.clone().acquire_owned();
                let slot = match deadline {
                    Some(end) => tokio::select! {
                        slot = acquire => slot,
                        () = tokio::time::sleep_until(end) => break,
                    },
                    None => acquire.await,
                }
                .expect("never closed");
                let shared = shared.clone();
                tokio::spawn(async move {
                    // Measured from the scheduled time: waiting for a slot counts.
                    shared.one(i, due).await;
                    drop(shared);
                    drop(slot);
                });
                i += 1;
            }
            let due_in_bounds = match (max_requests, max_duration) {
                (Some(n), Some(d)) => n.min((d.as_secs_f64() * rate).ceil() as u64),
                (Some(n), None) => n,
                (None, Some(d)) => (d.as_secs_f64() * rate).ceil() as u64,
                (None, None) => i,
            };
            missed = due_in_bounds.saturating_sub(i);
            let _ = slots.acquire_many(max_in_flight as u32).await;
        }
    }
    drop(progress);
    let end = shared
        .last
        .lock()
        .expect("not poisoned")
        .unwrap_or_else(Instant::now);
    let shared = Arc::into_inner(shared).expect("every worker has finished");
    Report::new(
        shared.tally.into_inner().expect("not poisoned"),
        end - start,
        scenario,
        mode,
        population,
        missed,
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoadtestArgs,
    }

    /// A server that accepts connections and never answers: the open loop still stops at the
    /// deadline (plus the request timeout) and reports what it could not send.
    #[tokio::test]
    async fn an_unanswering_server_bounds_the_open_loop() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let target = format!("http://{addr}");
        let args = Cli::parse_from([
            "loadtest",
            "--scenario",
            "token",
            "--client-id",
            "a",
            "--client-secret",
            "b",
            "--target",
            &target,
            "--rate",
            "100",
            "--max-in-flight",
            "2",
            "--duration",
            "500ms",
            "--timeout",
            "200ms",
        ])
        .args;
        let config = Config::default();
        let targets = Targets::resolve(&args, &config).unwrap();
        let plan = Plan::prepare(&args, &config, &targets).await.unwrap();
        let started = std::time::Instant::now();
        let report = execute(plan, args.mode().unwrap(), args.bounds()).await;
        assert!(started.elapsed() < Duration::from_secs(2), "bounded");
        assert_eq!(report.requests + report.missed, 50, "{report:?}");
        assert!(report.missed > 0, "{report:?}");
        assert_eq!(report.errors, report.requests);
        assert_eq!(report.outcomes.get("timeout"), Some(&report.requests));
        // Measured from the scheduled time: waiting for a slot counts.
        assert!(report.latency_micros["max"] >= 200_000.0, "{report:?}");
    }
}
