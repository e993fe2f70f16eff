//! The TLS lines of `/metrics`: handshakes by result and certificate expiry, per listener.

use std::fmt::Write as _;

use super::listener::ListenerTls;

/// Writes the TLS metrics of `listeners` (none without TLS).
pub(crate) fn render(listeners: &[(&'static str, ListenerTls)], out: &mut String) {
    if listeners.is_empty() {
        return;
    }
    let name = "tokengate_tls_handshakes_total";
    let _ = writeln!(
        out,
        "# HELP {name} TLS handshakes on a listener, by result."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for (listener, tls) in listeners {
        let (ok, failed) = (tls.handshakes.completed(), tls.handshakes.failed());
        let _ = writeln!(out, "{name}{{listener=\"{listener}\",result=\"ok\"}} {ok}");
        let _ = writeln!(
            out,
            "{name}{{listener=\"{listener}\",result=\"failed\"}} {failed}"
        );
    }
    let name = "tokengate_tls_certificate_expiry_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} When the certificate a listener serves expires (Unix seconds)."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (listener, tls) in listeners {
        if let Some(at) = tls.tls.certificate().not_after() {
            let _ = writeln!(out, "{name}{{listener=\"{listener}\"}} {at}");
        }
    }
}
