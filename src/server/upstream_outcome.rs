//! What the upstream did with a proxied request, as the metrics and the access log see it:
//! the response-head latency, failures by [`UpstreamFailure`] kind, and for the access log an
//! [`AccessNote`] on the response.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::metrics::Histogram;
use crate::proxy::UpstreamFailure;

/// The upstream's latency histogram and failure counters.
#[derive(Debug, Default)]
pub(crate) struct UpstreamStats {
    pub(crate) duration: Histogram,
    failures: [AtomicU64; UpstreamFailure::ALL.len()],
}

impl UpstreamStats {
    /// Counts one failure of `kind`.
    pub(crate) fn failed(&self, kind: UpstreamFailure) {
        let i = UpstreamFailure::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(UpstreamFailure::ALL.len() - 1);
        self.failures[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `tokengate_upstream_duration_seconds` and `tokengate_upstream_failures_total{kind}`.
    pub(crate) fn render(&self, out: &mut String) {
        self.duration.render(
            out,
            "tokengate_upstream_duration_seconds",
            "Time until the upstream's response head.",
        );
        let name = "tokengate_upstream_failures_total";
        let _ = writeln!(
            out,
            "# HELP {name} Proxied requests that got no response from the upstream, by kind."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (kind, count) in UpstreamFailure::ALL.iter().zip(&self.failures) {
            let _ = writeln!(
                out,
                "{name}{{kind=\"{}\"}} {}",
                kind.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
    }
}

/// What the access log learns from inside the protected stack, put on the response by the
/// upstream timer when the access log is on.
#[derive(Debug, Clone)]
pub(crate) struct AccessNote {
    /// The client the token was issued to.
    pub(crate) client_id: Option<String>,
    /// The upstream's status; `None` when the upstream gave no response.
    pub(crate) upstream_status: Option<u16>,
}
