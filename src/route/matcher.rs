//! [`HostPattern`] and [`RouteMatch`]: which requests a route takes, and how specific it is.

use std::cmp::Ordering;
use std::fmt;

use http::Method;

use crate::Error;

/// The host a route answers for: one name (`api.example.com`) or every name under a domain
/// (`*.example.com`: `a.example.com` and `a.b.example.com`, not `example.com`). Compared
/// without the port, ignoring ASCII case and one trailing dot: `api.example.com.` is the
/// same fully qualified name as `api.example.com` to DNS and to most upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this name (lower case).
    Exact(String),
    /// Any name ending in this suffix, which starts with `.` (lower case).
    Wildcard(String),
}

impl HostPattern {
    /// Parses `api.example.com` or `*.example.com`: letters, digits, `-` and `.`, no port
    /// (one trailing dot is dropped).
    ///
    /// ```
    /// use tokengate::route::HostPattern;
    /// let any = HostPattern::parse("*.Example.com").unwrap();
    /// assert!(any.matches("a.b.example.com") && !any.matches("example.com"));
    /// assert!(HostPattern::parse("api.example.com").unwrap().matches("API.example.com"));
    /// assert!(HostPattern::parse("a.*.com").is_err() && HostPattern::parse("a:80").is_err());
    /// // A trailing dot names the same host.
    /// assert!(HostPattern::parse("api.example.com").unwrap().matches("api.example.com."));
    /// assert!(any.matches("a.example.com.") && !any.matches("a.example.com.."));
    /// ```
    pub fn parse(pattern: &str) -> Result<HostPattern, Error> {
        let lower = pattern.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower),
        };
        let valid_label =
            |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if name.is_empty() || !name.split('.').all(valid_label) {
            return Err(Error::config(format!(
                "`{pattern}` is not a host name or `*.domain` pattern (letters, digits, `-`, \
                 `.`; no port)"
            )));
        }
        Ok(if wildcard {
            HostPattern::Wildcard(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_owned())
        })
    }

    /// Whether `host` (a request's host, without its port) is one this pattern names.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Wildcard(suffix) => {
                host.len() > suffix.len()
                    && host.as_bytes()[host.len() - suffix.len()..]
                        .eq_ignore_ascii_case(suffix.as_bytes())
            }
        }
    }

    /// Exact names first, then wildcards with the longer suffix first.
    fn rank(&self) -> (u8, usize) {
        match self {
            HostPattern::Exact(name) => (2, name.len()),
            HostPattern::Wildcard(suffix) => (1, suffix.len()),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Wildcard(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// What a route matches: an optional host, a path prefix in whole segments (on the canonical
/// path: see [`crate::path`]) and optionally methods.
///
/// ```
/// use http::Method;
/// use tokengate::route::{HostPattern, RouteMatch};
/// let m = RouteMatch::prefix("/reviews/")
///     .unwrap()
///     .host(HostPattern::parse("api.example.com").unwrap())
///     .methods([Method::GET]);
/// assert_eq!(m.path_prefix(), "/reviews");
/// assert!(m.matches(Some("api.example.com"), &Method::GET, "/reviews/12"));
/// assert!(m.matches(Some("api.example.com"), &Method::GET, "/reviews"));
/// assert!(!m.matches(Some("api.example.com"), &Method::GET, "/reviewsx"));
/// assert!(!m.matches(Some("api.example.com"), &Method::POST, "/reviews"));
/// assert!(!m.matches(None, &Method::GET, "/reviews"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    host: Option<HostPattern>,
    prefix: String,
    methods: Option<Vec<Method>>,
}

impl RouteMatch {
    /// Matches every request whose path is `prefix` or under it (`/a` takes `/a` and `/a/b`,
    /// not `/ab`); a trailing `/` is dropped, `/` takes everything. `prefix` must start with
    /// `/` and be canonical (no `.`/`..` or empty segments, no `%` escapes of unreserved
    /// characters) and hold no `;` parameters (`;`, `%3B`), which requests' paths are matched
    /// without (see [`crate::route::RouteTable`]).
    pub fn prefix(prefix: &str) -> Result<RouteMatch, Error> {
        let trimmed = prefix.trim_end_matches('/');
        let canonical = crate::path::PathOptions::default().canonical_path(prefix);
        let is_canonical = matches!(&canonical, Ok(c) if c.trim_end_matches('/') == trimmed);
        let has_params = prefix.contains(';') || prefix.contains("%3B");
        if !prefix.starts_with('/') || !is_canonical || prefix.contains(['?', '#']) || has_params {
            return Err(Error::config(format!(
                "`{prefix}` is not a canonical path prefix (it must start with `/`, without \
                 `.`/`..` or empty segments, `;`, `?` or `#`)"
            )));
        }
        Ok(RouteMatch {
            host: None,
            prefix: if trimmed.is_empty() { "/" } else { trimmed }.to_owned(),
            methods: None,
        })
    }

    /// Only requests for this host.
    pub fn host(mut self, host: HostPattern) -> Self {
        self.host = Some(host);
        self
    }

    /// Only requests with one of these methods (all methods when never called); a list
    /// naming `GET` takes `HEAD` too, which most upstreams answer with their `GET` handler.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        let mut methods: Vec<Method> = methods.into_iter().collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        self.methods = Some(methods);
        self
    }

    /// The path prefix, without a trailing `/` (except `/` itself).
    pub fn path_prefix(&self) -> &str {
        &self.prefix
    }

    /// The host pattern, if any.
    pub fn host_pattern(&self) -> Option<&HostPattern> {
        self.host.as_ref()
    }

    /// Whether a request for `host` (without port; `None` when it names none) with `method`
    /// and the canonical `path` is one this route takes.
    pub fn matches(&self, host: Option<&str>, method: &Method, path: &str) -> bool {
        self.takes(host, method) && self.covers_path(path)
    }

    /// [`RouteMatch::matches`] as an upstream blind to parameters, `%2F`, empty segments and
    /// case would read `path`: its segment names (see [`crate::path`]'s rules) against
    /// the prefix's, ignoring case (ASCII, and escaped letters that fold to ASCII ones).
    pub(crate) fn matches_blind(&self, host: Option<&str>, method: &Method, path: &str) -> bool {
        if !self.takes(host, method) {
            return false;
        }
        let mut names = crate::path::segment_names(path);
        self.prefix
            .split('/')
            .filter(|want| !want.is_empty())
            .all(|want| {
                names
                    .next()
                    .is_some_and(|name| crate::path::same_name_blind(name, want))
            })
    }

    /// Whether the host and method are the route's.
    fn takes(&self, host: Option<&str>, method: &Method) -> bool {
        if let Some(pattern) = &self.host {
            if !host.is_some_and(|h| pattern.matches(h)) {
                return false;
            }
        }
        self.methods
            .as_ref()
            .is_none_or(|methods| crate::path::lists_method(methods, method))
    }

    /// Whether `path` is the prefix or under it, in whole segments.
    pub(crate) fn covers_path(&self, path: &str) -> bool {
        self.prefix == "/"
            || path
                .strip_prefix(self.prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The order of evaluation: a host before no host (exact before wildcard, longer
    /// wildcard suffix first), then the longer path prefix, then a method list before none.
    /// `Ordering::Less` is evaluated first.
    pub(crate) fn precedence(&self, other: &RouteMatch) -> Ordering {
        let host = |m: &RouteMatch| m.host.as_ref().map_or((0, 0), HostPattern::rank);
        host(other)
            .cmp(&host(self))
            .then(other.prefix.len().cmp(&self.prefix.len()))
            .then(other.methods.is_some().cmp(&self.methods.is_some()))
    }

    /// Whether the two are the same match: the same host pattern and prefix (ignoring case as
    /// the blind reading does: the table refuses a path whose case-blind reading picks another route, so of
    /// `/api` and `/API` one could never answer), and either both
    /// without methods or with a method in common (`HEAD` is in common with `GET`, which
    /// takes it). (A route with methods and one without on the same host and prefix are not:
    /// the one with methods is tried first.)
    pub(crate) fn overlaps(&self, other: &RouteMatch) -> bool {
        use crate::path::lists_method;
        self.host == other.host
            && crate::path::same_name_blind(&self.prefix, &other.prefix)
            && match (&self.methods, &other.methods) {
                (Some(a), Some(b)) => {
                    a.iter().any(|m| lists_method(b, m)) || b.iter().any(|m| lists_method(a, m))
                }
                _ => self.methods.is_none() && other.methods.is_none(),
            }
    }
}

impl fmt::Display for RouteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            write!(f, "{host}")?;
        }
        f.write_str(&self.prefix)?;
        if let Some(methods) = &self.methods {
            let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
            write!(f, " [{}]", names.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(host: Option<&str>, prefix: &str) -> RouteMatch {
        let m = RouteMatch::prefix(prefix).unwrap();
        match host {
            Some(h) => m.host(HostPattern::parse(h).unwrap()),
            None => m,
        }
    }

    #[test]
    fn precedence_is_host_then_longest_prefix_then_methods() {
        let mut all = [
            m(None, "/"),
            m(None, "/a/b"),
            m(Some("*.example.com"), "/"),
            m(None, "/a").methods([Method::GET]),
            m(Some("api.example.com"), "/"),
            m(Some("*.b.example.com"), "/"),
            m(None, "/a"),
        ];
        all.sort_by(|a, b| a.precedence(b));
        let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "api.example.com/",
                "*.b.example.com/",
                "*.example.com/",
                "/a/b",
                "/a [GET]",
                "/a",
                "/"
            ]
        );
    }

    #[test]
    fn bad_prefixes_and_hosts_are_refused() {
        for bad in [
            "", "a", "/a/../b", "/a//b", "/%61", "/a?x", "/a/./b", "/a;b", "/a%3Bb",
        ] {
            assert!(RouteMatch::prefix(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "*", "*.", "a..b", "a b", "a:80", "*.*.a", "a.*"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(RouteMatch::prefix("/").unwrap().path_prefix(), "/");
    }

    #[test]
    fn overlap_needs_same_host_prefix_and_a_shared_method() {
        let get = m(None, "/a").methods([Method::GET]);
        let post = m(None, "/a").methods([Method::POST]);
        assert!(!get.overlaps(&post));
        let head = m(None, "/a").methods([Method::HEAD]);
        assert!(get.overlaps(&head) && head.overlaps(&get), "GET takes HEAD");
        assert!(
            m(None, "/api").overlaps(&m(None, "/API")),
            "case-blind readings"
        );
        assert!(get.overlaps(&m(None, "/a").methods([Method::GET, Method::PUT])));
        assert!(m(None, "/a").overlaps(&m(None, "/a/")));
        assert!(!m(None, "/a").overlaps(&get));
        assert!(!m(Some("x.example"), "/a").overlaps(&m(None, "/a")));
    }
}
