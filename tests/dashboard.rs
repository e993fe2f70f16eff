//! The Grafana dashboard in `packaging/grafana/tokengate.json` queries only metrics that
//! `tokengate serve` exports: every metric name in every panel's PromQL is looked up in the
//! `# TYPE` lines of a running server's `/metrics` (histogram names with their `_bucket`,
//! `_sum` and `_count` series).
#![cfg(all(unix, feature = "cli", feature = "sqlite"))]

mod common;

use std::collections::BTreeSet;

use common::config::ServeConfig;
use common::process::Gateway;
use serde_json::Value;

/// Every `expr` string in the dashboard, wherever it is nested.
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => expressions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| expressions(item, out)),
        _ => {}
    }
}

/// The metric names an expression uses: identifiers of the project's and the process
/// conventions' families (`tokengate_…`, `process_…`), not PromQL functions or labels.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &expr[i..];
        if starts_word && (rest.starts_with("tokengate_") || rest.starts_with("process_")) {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.insert(rest[..len].to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
    names
}

/// The series names `/metrics` can show: each family, and a histogram's three series.
fn exported(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn metric_names_are_found_inside_promql() {
    let names = metric_names(
        "sum by (outcome) (rate(tokengate_requests_total{job=\"x\"}[5m])) / \
         histogram_quantile(0.99, rate(tokengate_upstream_duration_seconds_bucket[5m])) \
         + process_open_fds - my_tokengate_thing",
    );
    let expected: BTreeSet<String> = [
        "process_open_fds",
        "tokengate_requests_total",
        "tokengate_upstream_duration_seconds_bucket",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn every_dashboard_query_names_a_metric_the_server_exports() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/packaging/grafana/tokengate.json"
        ))
        .expect("the dashboard file"),
    )
    .expect("the dashboard is JSON");
    let mut queries = Vec::new();
    expressions(&dashboard, &mut queries);
    assert!(
        queries.len() >= 8,
        "the dashboard has its panels: {queries:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path(), &ServeConfig::sqlite().toml());
    let metrics = reqwest::get(format!("http://{}/metrics", gateway.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = exported(&metrics);
    assert!(exported.contains("tokengate_build_info"), "{metrics}");

    let mut missing = Vec::new();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "a query naming no metric: {query}");
        missing.extend(
            names
                .into_iter()
                .filter(|name| !exported.contains(name))
                .map(|name| format!("{name} (in `{query}`)")),
        );
    }
    assert!(missing.is_empty(), "not exported: {missing:#?}");
}
