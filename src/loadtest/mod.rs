//! `tokengate loadtest` (feature `cli`): drives a running gateway over HTTP and reports
//! throughput, answers by status and latency percentiles from an HDR histogram.
//!
//! Three scenarios ([`Scenario`]):
//!
//! - `gateway`: `GET` requests with bearer tokens through the public listener's OAuth layer,
//!   with a [`Mix`] of valid, unknown (a fresh random well-formed token per request), revoked
//!   and expired tokens. The tokens are prepared before the run through the admin JSON-RPC API
//!   (`createAccessToken` in batches of 100, then `revokeAccessToken`, and
//!   `updateAccessToken` with `expires_in = 1` followed by a wait for the expired ones).
//! - `token`: `POST /oauth2/token` `grant_type=client_credentials` on the public listener.
//! - `rpc`: JSON-RPC `oauth2.createAccessToken` on the admin listener.
//!
//! Two modes ([`Mode`]): closed loop (`--concurrency C`: C workers, each sending its next
//! request when the previous one is answered) and open loop (`--rate R`: request `i` is due at
//! `start + i/R` whatever the answers; its latency is measured from that scheduled time, so a
//! stalled server shows up in the percentiles instead of silently slowing the generator down,
//! the "coordinated omission" of closed-loop tools). A run stops after `--requests N`, or after
//! `--duration D` (default 10 s when neither is given), whichever comes first.
//!
//! **Targets.** The tool only loads addresses on the loopback range, unless the user names the
//! address explicitly with `--target` / `--admin-target`. Without those flags the addresses
//! come from the configuration file (`--config`: `public.listen`, `admin.listen`; an
//! unspecified address such as `0.0.0.0` means the local host) or the defaults
//! `127.0.0.1:8080` / `127.0.0.1:8081`, and a non-loopback address there is refused.
//!
//! The HTTP client is hyper-util's pooled client (already the reverse proxy's client): no
//! second HTTP stack in the binary, no TLS, proxy or redirect machinery on the measured path,
//! and one keep-alive connection per concurrent request.

mod client;
mod mix;
mod population;
mod progress;
mod report;
mod run;
mod target;

use std::time::Duration;

use clap::{Args, ValueEnum};

pub use mix::{Mix, MixError, TokenClass};
pub use report::Report;
pub use target::{TargetError, Targets};

use crate::server::Config;

use crate::BoxError;

/// What the run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Bearer requests through the public listener's OAuth layer.
    Gateway,
    /// `POST /oauth2/token` (`client_credentials`) on the public listener.
    Token,
    /// JSON-RPC `oauth2.createAccessToken` on the admin listener.
    Rpc,
}

impl Scenario {
    /// The name used on the command line and in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Gateway => "gateway",
            Scenario::Token => "token",
            Scenario::Rpc => "rpc",
        }
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A fixed number of workers, each waiting for its answer before the next request.
    Closed {
        /// The number of workers.
        concurrency: usize,
    },
    /// A fixed schedule of requests per second, whatever the answers.
    Open {
        /// Requests per second.
        rate: f64,
        /// Most requests in flight; past it, due requests wait (and their wait is counted).
        max_in_flight: usize,
    },
}

/// The arguments of `tokengate loadtest`.
#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// What to load.
    #[arg(long, value_enum, default_value = "gateway")]
    pub scenario: Scenario,
    /// The public listener (gateway and token scenarios), e.g. `http://127.0.0.1:8080`. Any
    /// address named here is loaded; without it, only a loopback address from the
    /// configuration or the default.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The admin listener (token preparation, rpc scenario), e.g. `http://127.0.0.1:8081`.
    /// Any address named here is used; without it, only a loopback address.
    #[arg(long, value_name = "URL")]
    pub admin_target: Option<String>,
    /// The path requested on the public listener (gateway scenario).
    #[arg(long, default_value = "/loadtest", value_name = "PATH")]
    pub path: String,
    /// The service whose tokens are used (default: `public.service_key` or the only service
    /// of the configuration file).
    #[arg(long, value_name = "KEY")]
    pub service_key: Option<String>,
    /// The client tokens are issued to (default: the first client of the configuration file
    /// with a secret and the service).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The client's secret.
    #[arg(long, env = "TOKENGATE_LOADTEST_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The admin API key (default: `$TOKENGATE_ADMIN_KEY`, else the configuration's first
    /// credentials).
    #[arg(long, value_name = "KEY")]
    pub admin_key: Option<String>,
    /// The admin API secret (default: `$TOKENGATE_ADMIN_SECRET`, else the configuration's).
    #[arg(long, value_name = "SECRET")]
    pub admin_secret: Option<String>,
    /// The grant used to issue tokens (`client_credentials` or `password`).
    #[arg(long, default_value = "client_credentials", value_parser = ["client_credentials", "password"])]
    pub grant: String,
    /// The scope asked for when issuing tokens.
    #[arg(long)]
    pub scope: Option<String>,
    /// How many distinct tokens to prepare (gateway scenario), shared among the valid, revoked
    /// and expired classes by the mix's weights.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub tokens: usize,
    /// The token mix (gateway scenario): weights of `valid`, `unknown`, `revoked`, `expired`.
    #[arg(long, default_value = "valid=100", value_name = "CLASS=WEIGHT,...")]
    pub mix: Mix,
    /// Closed loop: this many requests in flight at all times (the default mode, 16).
    #[arg(long, short = 'c', conflicts_with = "rate", value_name = "C")]
    pub concurrency: Option<usize>,
    /// Open loop: this many requests per second on a fixed schedule.
    #[arg(long, short = 'r', value_name = "R")]
    pub rate: Option<f64>,
    /// Open loop: most requests in flight (default 1024).
    #[arg(long, default_value_t = 1024, requires = "rate", value_name = "N")]
    pub max_in_flight: usize,
    /// Stop after this many requests.
    #[arg(long, short = 'n', value_name = "N")]
    pub requests: Option<u64>,
    /// Stop after this long (`500ms`, `10s`, `2m`; default 10s when --requests is not given).
    #[arg(long, short = 'd', value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Give up on a request after this long (counted as an error).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The seed of the token mix's order.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl LoadtestArgs {
    /// The pacing the flags ask for (closed loop with 16 workers by default).
    pub fn mode(&self) -> Result<Mode, BoxError> {
        match (self.rate, self.concurrency) {
            (Some(rate), _) if !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0) => Err(
                format!("--rate {rate}: expected a positive number of requests per second").into(),
            ),
            (Some(rate), _) => Ok(Mode::Open {
                rate,
                max_in_flight: self.max_in_flight.max(1),
            }),
            (None, Some(0)) => Err("--concurrency must be at least 1".into()),
            (None, concurrency) => Ok(Mode::Closed {
                concurrency: concurrency.unwrap_or(16),
            }),
        }
    }

    /// The run's bounds: (most requests, longest duration); 10 s when neither is given.
    pub fn bounds(&self) -> (Option<u64>, Option<Duration>) {
        match (self.requests, self.duration) {
            (None, None) => (None, Some(Duration::from_secs(10))),
            bounds => bounds,
        }
    }
}

/// Parses `250ms`, `10s`, `2m`, `1h` or a plain number of seconds (`1.5`).
///
/// ```
/// # use std::time::Duration;
/// use tokengate::loadtest::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{s}`: expected a duration such as 500ms, 10s or 2m"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("`{s}`: unknown unit `{other}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{s}`: out of range"))
}

/// Runs `tokengate loadtest`: resolves the targets and credentials from `args` and `config`
/// (the `--config` file, or the defaults), prepares the tokens, runs the load, prints the
/// report (text, or JSON with `--json`) on stdout and returns it.
pub async fn run(args: LoadtestArgs, config: &Config) -> Result<Report, BoxError> {
    let mode = args.mode()?;
    let targets = Targets::resolve(&args, config)?;
    let plan = run::Plan::prepare(&args, config, &targets).await?;
    let report = run::execute(plan, mode, args.bounds()).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render());
    }
    Ok(report)
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

    fn parse(args: &[&str]) -> Result<LoadtestArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("loadtest").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_are_a_bounded_closed_loop_on_valid_tokens() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.scenario, Scenario::Gateway);
        assert_eq!(args.mode().unwrap(), Mode::Closed { concurrency: 16 });
        assert_eq!(args.bounds(), (None, Some(Duration::from_secs(10))));
        assert_eq!(args.mix, Mix::default());
        assert_eq!(args.tokens, 100);
        assert!(!args.json);
    }

    #[test]
    fn parses_open_loop_bounds_and_the_mix() {
        let args = parse(&[
            "--rate",
            "500",
            "--duration",
            "1500ms",
            "--requests",
            "300",
            "--mix",
            "valid=90,unknown=5,revoked=5,expired=0",
            "--scenario",
            "token",
            "--json",
            "--target",
            "http://10.0.0.1:8080",
        ])
        .unwrap();
        assert_eq!(
            args.mode().unwrap(),
            Mode::Open {
                rate: 500.0,
                max_in_flight: 1024
            }
        );
        assert_eq!(
            args.bounds(),
            (Some(300), Some(Duration::from_millis(1500)))
        );
        assert_eq!(args.mix.weight(TokenClass::Unknown), 5);
        assert_eq!(args.scenario, Scenario::Token);
        assert_eq!(args.target.as_deref(), Some("http://10.0.0.1:8080"));
        let args = parse(&["-c", "4", "-n", "10"]).unwrap();
        assert_eq!(args.mode().unwrap(), Mode::Closed { concurrency: 4 });
        assert_eq!(args.bounds(), (Some(10), None));
    }

    #[test]
    fn refuses_contradictions_and_nonsense() {
        assert!(parse(&["--rate", "10", "--concurrency", "2"]).is_err());
        assert!(parse(&["--max-in-flight", "10"]).is_err(), "needs --rate");
        assert!(parse(&["--mix", "valid=0"]).is_err());
        assert!(parse(&["--duration", "soon"]).is_err());
        assert!(parse(&["--scenario", "nginx"]).is_err());
        assert!(parse(&["--grant", "implicit"]).is_err());
        assert!(parse(&["--rate", "0"]).unwrap().mode().is_err());
        assert!(parse(&["--rate", "NaN"]).unwrap().mode().is_err());
        assert!(parse(&["-c", "0"]).unwrap().mode().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
