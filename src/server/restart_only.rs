//! The settings a configuration reload cannot change: they take effect at a restart only.

use super::config::Config;

/// Puts back into `next` the running value of every setting only a restart changes, and
/// returns the keys of those that differ (for a WARN each). These are the listeners' sockets
/// and TLS (on or off, and which files: the files themselves are read again at each reload),
/// the store and its pepper, the admin listener (built once), the log, how the public
/// listener makes paths canonical (its access log and routes must agree) and its header
/// limits (settings of its connections).
pub(crate) fn keep_restart_only(running: &Config, next: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($key:literal => $section:ident . $field:ident),+ $(,)?) => {$(
            if running.$section.$field != next.$section.$field {
                changed.push($key);
                next.$section.$field = running.$section.$field.clone();
            }
        )+};
    }
    keep!(
        "store.url" => store.url,
        "store.pepper" => store.pepper,
        "admin.listen" => admin.listen,
        "admin.tls" => admin.tls,
        "admin.max_body_bytes" => admin.max_body_bytes,
        "admin.failed_auth_limit" => admin.failed_auth_limit,
        "admin.require_json_content_type" => admin.require_json_content_type,
        "public.enabled" => public.enabled,
        "public.listen" => public.listen,
        "public.tls" => public.tls,
        "public.header_read_timeout_secs" => public.header_read_timeout_secs,
        "public.max_header_bytes" => public.max_header_bytes,
        "public.max_headers" => public.max_headers,
        "public.merge_slashes" => public.merge_slashes,
        "public.escaped_slashes" => public.escaped_slashes,
        "public.dot_segments" => public.dot_segments,
        "log.format" => log.format,
        "log.access" => log.access,
    );
    let credentials = |config: &Config| {
        config
            .admin
            .credentials
            .iter()
            .map(|c| (c.key.clone(), c.secret.clone()))
            .collect::<Vec<_>>()
    };
    if credentials(running) != credentials(next) {
        changed.push("admin.credentials");
        next.admin.credentials = running.admin.credentials.clone();
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_toml(text, None).unwrap()
    }

    #[test]
    fn what_needs_a_restart_is_named_and_kept() {
        let running = config(
            "[store]\nurl = \"memory:\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             credentials = [{ key = \"ops\", secret = \"a\" }]\n\
             [public]\nlisten = \"127.0.0.1:0\"\ncache_ttl_secs = 30\n",
        );
        let mut next = config(
            "[store]\nurl = \"sqlite://other.db\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             credentials = [{ key = \"ops\", secret = \"b\" }]\n\
             [public]\nlisten = \"127.0.0.1:9\"\ncache_ttl_secs = 5\n[log]\naccess = true\n",
        );
        let changed = keep_restart_only(&running, &mut next);
        assert_eq!(
            changed,
            [
                "store.url",
                "public.listen",
                "log.access",
                "admin.credentials"
            ]
        );
        assert_eq!(next.store.url, "memory:");
        assert_eq!(next.public.listen, running.public.listen);
        assert!(!next.log.access);
        assert_eq!(next.admin.credentials[0].secret, "a");
        assert_eq!(next.public.cache_ttl_secs, 5, "reloadable: the new value");
        assert!(keep_restart_only(&running, &mut next).is_empty());
    }
}
