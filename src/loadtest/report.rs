//! What a run measured: counts by outcome (overall and by token class), throughput, and latency
//! percentiles from an HDR histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::client::Outcome;
use super::mix::TokenClass;

/// Latencies are recorded in microseconds, up to an hour, to 3 significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

/// The running tally, shared by the workers.
pub(crate) struct Tally {
    histogram: Histogram<u64>,
    outcomes: BTreeMap<Outcome, u64>,
    classes: BTreeMap<TokenClass, BTreeMap<Outcome, u64>>,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Tally {
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid bounds"),
            outcomes: BTreeMap::new(),
            classes: BTreeMap::new(),
        }
    }

    pub(crate) fn record(
        &mut self,
        class: Option<TokenClass>,
        outcome: Outcome,
        latency: Duration,
    ) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
        self.histogram
            .saturating_record(micros.clamp(1, MAX_MICROS));
        if let Some(class) = class {
            *self
                .classes
                .entry(class)
                .or_default()
                .entry(outcome.clone())
                .or_default() += 1;
        }
        *self.outcomes.entry(outcome).or_default() += 1;
    }
}

/// The final report of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// `gateway`, `token` or `rpc`.
    pub scenario: &'static str,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Closed loop: the number of workers.
    pub concurrency: Option<usize>,
    /// Open loop: the requests per second asked for.
    pub rate: Option<f64>,
    /// Requests completed (answered, failed or timed out).
    pub requests: u64,
    /// Requests with no HTTP answer (connection failures and timeouts).
    pub errors: u64,
    /// From the start of the load to the last answer.
    pub elapsed: Duration,
    /// Completed requests by outcome: an HTTP status (`"200"`), `"rpc_error"` (a JSON-RPC
    /// error answer), `"timeout"` or `"failed"`.
    pub outcomes: BTreeMap<String, u64>,
    /// Gateway scenario: the outcomes by token class.
    pub classes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Gateway scenario: the prepared tokens by class.
    pub population: BTreeMap<String, usize>,
    /// Open loop: requests due before the deadline that were never sent because
    /// `--max-in-flight` requests were outstanding until then (a sign of overload).
    pub missed: u64,
    /// Latency percentiles in microseconds: `p50`, `p90`, `p99`, `p99_9`, `max`, `mean`.
    pub latency_micros: BTreeMap<&'static str, f64>,
}

impl Report {
    pub(crate) fn new(
        tally: Tally,
        elapsed: Duration,
        scenario: &'static str,
        mode: super::Mode,
        population: BTreeMap<String, usize>,
        missed: u64,
    ) -> Report {
        let h = &tally.histogram;
        let mut latency_micros = BTreeMap::new();
        if !h.is_empty() {
            for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)] {
                latency_micros.insert(name, h.value_at_quantile(q) as f64);
            }
            latency_micros.insert("max", h.max() as f64);
            latency_micros.insert("mean", (h.mean() * 10.0).round() / 10.0);
        }
        let keyed = |m: &BTreeMap<Outcome, u64>| m.iter().map(|(k, v)| (k.key(), *v)).collect();
        let (concurrency, rate, mode) = match mode {
            super::Mode::Closed { concurrency } => (Some(concurrency), None, "closed"),
            super::Mode::Open { rate, .. } => (None, Some(rate), "open"),
        };
        Report {
            scenario,
            mode,
            concurrency,
            rate,
            requests: h.len(),
            errors: tally
                .outcomes
                .iter()
                .filter(|(o, _)| o.is_transport_error())
                .map(|(_, n)| n)
                .sum(),
            elapsed,
            outcomes: keyed(&tally.outcomes),
            classes: tally
                .classes
                .iter()
                .map(|(c, m)| (c.as_str().to_owned(), keyed(m)))
                .collect(),
            population,
            latency_micros,
            missed,
        }
    }

    /// Completed requests per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }

    /// The report as JSON (`--json`).
    pub fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "requests": self.requests,
            "errors": self.errors,
            "missed": self.missed,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "throughput": (self.throughput() * 10.0).round() / 10.0,
            "status": self.outcomes,
            "classes": self.classes,
            "population": self.population,
            "latency_micros": self.latency_micros,
        })
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let pacing = match (self.concurrency, self.rate) {
            (Some(c), _) => format!("closed loop, {c} concurrent"),
            (_, Some(r)) => format!("open loop, {r} req/s scheduled"),
            _ => String::new(),
        };
        let _ = writeln!(out, "scenario:    {} ({pacing})", self.scenario);
        let _ = writeln!(
            out,
            "requests:    {} in {:.2} s, {:.1} req/s, {} without an answer",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            self.errors
        );
        let counts = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.missed > 0 {
            let _ = writeln!(
                out,
                "missed:      {} due requests never sent (--max-in-flight outstanding)",
                self.missed
            );
        }
        let _ = writeln!(out, "status:      {}", counts(&self.outcomes));
        for (class, m) in &self.classes {
            let tokens = match self.population.get(class) {
                Some(n) => format!("{n} tokens"),
                None => "a fresh random token each".to_owned(),
            };
            let _ = writeln!(out, "  {class:<10} {} ({tokens})", counts(m));
        }
        if !self.latency_micros.is_empty() {
            let ms = |k: &str| self.latency_micros[k] / 1000.0;
            let _ = writeln!(
                out,
                "latency ms:  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
                ms("p50"),
                ms("p90"),
                ms("p99"),
                ms("p99_9"),
                ms("max"),
                ms("mean"),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::Mode;

    #[test]
    fn percentiles_counts_and_json() {
        let mut tally = Tally::new();
        for i in 1..=1000u64 {
            tally.record(
                Some(TokenClass::Valid),
                Outcome::Status(200),
                Duration::from_micros(i),
            );
        }
        tally.record(
            Some(TokenClass::Unknown),
            Outcome::Status(401),
            Duration::from_secs(2),
        );
        tally.record(None, Outcome::Timeout, Duration::from_secs(10));
        let report = Report::new(
            tally,
            Duration::from_secs(1),
            "gateway",
            Mode::Closed { concurrency: 2 },
            BTreeMap::from([("valid".to_owned(), 10)]),
            0,
        );
        assert_eq!(report.requests, 1002);
        assert_eq!(report.errors, 1);
        assert_eq!(report.latency_micros["p50"], 501.0);
        assert!(report.latency_micros["max"] >= 9_990_000.0);
        let json = report.to_json();
        assert_eq!(json["status"]["200"], 1000);
        assert_eq!(json["status"]["timeout"], 1);
        assert_eq!(json["classes"]["unknown"]["401"], 1);
        assert_eq!(json["throughput"], 1002.0);
        assert!(report.render().contains("p99.9"));
    }
}
