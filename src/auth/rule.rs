//! [`ScopeRule`]: a scope required for a path prefix of whole segments, optionally for some
//! methods only.

use http::Method;

use crate::path::{lists_method, segment_names as names, PathOptions};
use crate::Error;

/// A scope that requests under a path need: `/admin` covers `/admin` and `/admin/…`, never
/// `/administrator`.
///
/// Matching is on whole segments of the canonical path (see [`crate::path`]), and errs on the
/// side of covering: empty segments never count (`//admin` is `/admin` even with
/// [`PathOptions::merge_slashes`] off), a segment's `;parameters` are ignored
/// (`/admin;x=1/y` and `/admin%3Bx/y` are under `/admin`, as Tomcat and Spring may read
/// them), and a kept `%2F`
/// separates segments (`/%2Fadmin` is under `/admin`). A rule may be limited to some methods
/// and may ignore ASCII case (for upstreams that fold case; escapes like `%C3%A9` are compared
/// as they are).
///
/// In an [`OAuthLayer`](super::OAuthLayer), the first rule that covers a request decides:
/// longest path (in segments) first, and at equal length a rule naming methods before one
/// that does not, then in the order added. A request no rule covers needs no scope.
///
/// ```
/// use http::Method;
/// use tokengate::auth::ScopeRule;
///
/// let rule = ScopeRule::new("/admin", "admin")?.methods([Method::POST, Method::DELETE]);
/// assert!(rule.covers(&Method::POST, "/admin/users"));
/// assert!(rule.covers(&Method::POST, "//%61dmin;x/users"));
/// assert!(!rule.covers(&Method::GET, "/admin/users"));
/// assert!(!rule.covers(&Method::POST, "/administrator"));
///
/// let folded = ScopeRule::new("/admin", "admin")?.case_insensitive(true);
/// assert!(folded.covers(&Method::GET, "/ADMIN"));
/// # Ok::<_, tokengate::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRule {
    path: String,
    /// The path's segments, canonical.
    segments: Vec<String>,
    scope: String,
    methods: Vec<Method>,
    case_insensitive: bool,
}

impl ScopeRule {
    /// Requests under `path` (starting with `/`; canonicalised like a request path) need
    /// `scope` (space separated entries, all required), whatever their method.
    ///
    /// # Errors
    /// A configuration error when `path` does not start with `/`, has no canonical form or
    /// holds a `;` (parameters are ignored in requests, so never match), or `scope` is empty or
    /// not printable ASCII without `"` and `\`.
    ///
    /// ```
    /// use tokengate::auth::ScopeRule;
    ///
    /// assert!(ScopeRule::new("/admin", "admin").is_ok());
    /// assert!(ScopeRule::new("admin", "admin").unwrap_err().is_config());
    /// assert!(ScopeRule::new("/a;b", "admin").unwrap_err().is_config());
    /// ```
    pub fn new(path: impl Into<String>, scope: impl Into<String>) -> Result<Self, Error> {
        let (path, scope) = (path.into(), scope.into());
        let canonical = PathOptions::default()
            .canonical_path(&path)
            .map_err(|e| Error::config(format!("scope rule path `{path}`: {e}")))?;
        if canonical.contains(';') {
            return Err(Error::config(format!(
                "scope rule path `{path}`: `;` parameters never match"
            )));
        }
        if !super::layer::quotable(&scope) || scope.trim().is_empty() {
            return Err(Error::config(
                "scope rules need a path starting with / and a printable scope",
            ));
        }
        let segments = names(&canonical).map(str::to_owned).collect();
        Ok(ScopeRule {
            path,
            segments,
            scope,
            methods: Vec::new(),
            case_insensitive: false,
        })
    }

    /// Limits the rule to these methods (by default it applies to every method). A rule
    /// naming `GET` applies to `HEAD` too: most servers answer a `HEAD` with their `GET`
    /// handler.
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::auth::ScopeRule;
    ///
    /// let rule = ScopeRule::new("/reviews", "write")?.methods([Method::POST]);
    /// assert!(!rule.covers(&Method::GET, "/reviews"));
    /// let read = ScopeRule::new("/reviews", "read")?.methods([Method::GET]);
    /// assert!(read.covers(&Method::HEAD, "/reviews"));
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Whether the path is compared ignoring ASCII case (default `false`), for an upstream
    /// that serves `/ADMIN` as `/admin`.
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::auth::ScopeRule;
    ///
    /// let rule = ScopeRule::new("/admin", "admin")?.case_insensitive(true);
    /// assert!(rule.covers(&Method::GET, "/%41DMIN/x"));
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn case_insensitive(mut self, fold: bool) -> Self {
        self.case_insensitive = fold;
        self
    }

    /// The path the rule was made with.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The scope it requires.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether the rule applies to `method` on `path`, a path as a client may send it: it is
    /// canonicalised with the default [`PathOptions`] first, and one that has no canonical
    /// form is covered (the layer refuses those before any rule is asked).
    ///
    /// ```
    /// use http::Method;
    /// use tokengate::auth::ScopeRule;
    ///
    /// let rule = ScopeRule::new("/admin", "admin")?;
    /// assert!(rule.covers(&Method::GET, "/admin"));
    /// assert!(rule.covers(&Method::GET, "/ad%6din/x"));
    /// assert!(rule.covers(&Method::GET, "/x/..%2Fadmin"), "no canonical form: covered");
    /// assert!(!rule.covers(&Method::GET, "/administrator"));
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn covers(&self, method: &Method, path: &str) -> bool {
        match PathOptions::default().canonical_path(path) {
            Ok(canonical) => self.covers_canonical(method, &canonical),
            Err(_) => true,
        }
    }

    /// [`ScopeRule::covers`] for a path already canonical.
    pub(crate) fn covers_canonical(&self, method: &Method, path: &str) -> bool {
        if !self.methods.is_empty() && !lists_method(&self.methods, method) {
            return false;
        }
        let mut names = names(path);
        self.segments.iter().all(|want| {
            names.next().is_some_and(|name| {
                if self.case_insensitive {
                    name.eq_ignore_ascii_case(want)
                } else {
                    name == want
                }
            })
        })
    }

    /// The precedence key: more segments first, then rules naming methods.
    pub(crate) fn precedence(&self) -> (std::cmp::Reverse<usize>, bool) {
        (
            std::cmp::Reverse(self.segments.len()),
            self.methods.is_empty(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_segments() {
        let rule = ScopeRule::new("/admin/", "admin").unwrap();
        let get = Method::GET;
        for covered in [
            "/admin",
            "/admin/",
            "/admin/x",
            "/admin;x",
            "/admin;x=1/y",
            "/admin%3Bx=1/y",
            "/;p/admin",
            "//admin",
            "/%2Fadmin",
        ] {
            assert!(rule.covers(&get, covered), "{covered}");
        }
        for outside in [
            "/",
            "/administrator",
            "/adm",
            "/x/admin",
            "/ADMIN",
            "/admin%20",
        ] {
            assert!(!rule.covers(&get, outside), "{outside}");
        }
        let root = ScopeRule::new("/", "any").unwrap();
        assert!(root.covers(&get, "/"));
        assert!(root.covers(&get, "/anything"));
    }

    #[test]
    fn kept_slashes_separate_segments() {
        let rule = ScopeRule::new("/ids/a", "read").unwrap();
        assert!(rule.covers_canonical(&Method::GET, "/ids/a%2Fb"));
        assert!(rule.covers_canonical(&Method::GET, "/ids%2Fa"));
    }

    #[test]
    fn methods_and_case() {
        let rule = ScopeRule::new("/Admin", "admin")
            .unwrap()
            .methods([Method::DELETE])
            .case_insensitive(true);
        assert!(rule.covers(&Method::DELETE, "/aDmIn/1"));
        assert!(!rule.covers(&Method::GET, "/admin/1"));
        assert!(rule.precedence() < ScopeRule::new("/b", "b").unwrap().precedence());
        assert!(
            ScopeRule::new("/a/b", "b").unwrap().precedence() < rule.precedence(),
            "longer first"
        );
    }

    #[test]
    fn bad_rules() {
        for path in ["admin", "", "/a;b", "/a%2Fb", "/a/../b", "/a\\b"] {
            assert!(ScopeRule::new(path, "s").unwrap_err().is_config(), "{path}");
        }
        for scope in ["", " ", "a\"b", "a\\b", "é"] {
            assert!(
                ScopeRule::new("/a", scope).unwrap_err().is_config(),
                "{scope}"
            );
        }
    }
}
