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
/// One rule or none: the layer refuses (`400`, nothing forwarded) a path that an upstream
/// could read under another rule. The first rule covering the path blind to case (ASCII, and
/// escaped letters that fold to ASCII ones: `ı`, `İ`, `ſ`, the Kelvin sign, full-width forms)
/// must be the deciding one, so `/ADMIN` beside a case-sensitive `/admin` rule is refused;
/// and the path read as written (split at `/` only, `;parameters` and empty segments kept)
/// must fall under that rule or under none (then the rule asks for more than that upstream
/// needs), so `/api/public;x` beside `/api` and `/api/public` rules is refused.
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

    /// [`ScopeRule::covers`] for a path already canonical: its segment names as a
    /// parameter-, `%2F`- and empty-segment-blind reader sees them, case as the rule says.
    pub(crate) fn covers_canonical(&self, method: &Method, path: &str) -> bool {
        self.takes(method) && self.leads(names(path), |name, want| self.same(name, want))
    }

    /// Whether the rule covers the canonical `path` as an upstream blind to parameters, `%2F`,
    /// empty segments and case reads it (see [`crate::path::same_name_blind`]): it covers
    /// every path [`ScopeRule::covers_canonical`] does, and perhaps more.
    pub(crate) fn covers_blind(&self, method: &Method, path: &str) -> bool {
        self.takes(method) && self.leads(names(path), crate::path::same_name_blind)
    }

    /// Whether the rule covers the canonical `path` as written, to an upstream that splits it
    /// at `/` only and reads `;parameters` and empty segments as part of a segment, case as
    /// the rule says: it covers no path that [`ScopeRule::covers_canonical`] does not.
    pub(crate) fn covers_written(&self, method: &Method, path: &str) -> bool {
        let segments = path.split('/').skip(1);
        self.takes(method) && self.leads(segments, |name, want| self.same(name, want))
    }

    fn takes(&self, method: &Method) -> bool {
        self.methods.is_empty() || lists_method(&self.methods, method)
    }

    /// Whether the rule's segments are the first of `names`, compared by `same`.
    fn leads<'a>(
        &self,
        mut names: impl Iterator<Item = &'a str>,
        same: impl Fn(&str, &str) -> bool,
    ) -> bool {
        self.segments
            .iter()
            .all(|want| names.next().is_some_and(|name| same(name, want)))
    }

    fn same(&self, name: &str, want: &str) -> bool {
        if self.case_insensitive {
            name.eq_ignore_ascii_case(want)
        } else {
            name == want
        }
    }

    /// The precedence key: more segments first, then rules naming methods.
    pub(crate) fn precedence(&self) -> (std::cmp::Reverse<usize>, bool) {
        (
            std::cmp::Reverse(self.segments.len()),
            self.methods.is_empty(),
        )
    }
}

/// The index of the rule of `rules` (in precedence order) that decides `method` on the
/// canonical `path`, if any: the first that [covers](ScopeRule::covers_canonical) it. It
/// must also be the first the blind reading covers, and the as-written reading must find it
/// or no rule at all (then the upstream that reads so needs no scope, and the rule asks for
/// more); otherwise `Err(())`. Since written ⊆ covering ⊆ blind for each rule, one pass does.
pub(crate) fn decide(
    rules: &[ScopeRule],
    method: &Method,
    path: &str,
) -> Result<Option<usize>, ()> {
    let mut decided = None;
    for (i, rule) in rules.iter().enumerate() {
        match decided {
            None if rule.covers_blind(method, path) => {
                if !rule.covers_canonical(method, path) {
                    // The blind reading's rule is not the one that would decide.
                    return Err(());
                }
                if rule.covers_written(method, path) {
                    return Ok(Some(i));
                }
                decided = Some(i);
            }
            None => {}
            // A later rule would decide for an upstream that reads the path as written.
            Some(_) if rule.covers_written(method, path) => return Err(()),
            Some(_) => {}
        }
    }
    Ok(decided)
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

    /// `decide` over `rules` (in precedence order) for a GET of `path`, canonicalised.
    fn decided(rules: &[ScopeRule], path: &str) -> Result<Option<usize>, ()> {
        let canonical = PathOptions::default().canonical_path(path).unwrap();
        decide(rules, &Method::GET, &canonical)
    }

    #[test]
    fn one_rule_or_none_under_every_reading() {
        let rules = [ScopeRule::new("/api/admin", "admin").unwrap()];
        for ambiguous in [
            "/api/ADMIN",
            "/api/Admin;x",
            "/API/admin",
            "/api/%41dmin",
            "/api/adm%C4%B1n",    // ı
            "/api/%EF%BC%A1dmin", // full-width A
        ] {
            assert_eq!(decided(&rules, ambiguous), Err(()), "{ambiguous}");
        }
        for (path, rule) in [
            ("/api/admin", Some(0)),
            ("/api/admin/x", Some(0)),
            ("/api//admin", Some(0)), // merged: one reading
            // As written no rule covers it; the rule asks for more than that upstream needs.
            ("/api/admin;x/y", Some(0)),
            ("/api/admin%3Bx", Some(0)),
            ("/api/administrator", None),
            ("/api/adm%C3%ADn", None), // í folds to no ASCII letter
            ("/api/x", None),
            ("/", None),
        ] {
            assert_eq!(decided(&rules, path), Ok(rule), "{path}");
        }
        let folded = [ScopeRule::new("/api/admin", "admin")
            .unwrap()
            .case_insensitive(true)];
        for path in ["/api/ADMIN", "/api/Admin;x", "/API/admin/x"] {
            assert_eq!(decided(&folded, path), Ok(Some(0)), "{path}");
        }
        // ASCII case folds, `ı` does not under an ASCII-blind rule: refused.
        assert_eq!(decided(&folded, "/api/adm%C4%B1n"), Err(()));
    }

    #[test]
    fn params_and_empty_segments_that_pick_another_rule_are_refused() {
        let mut rules = vec![
            ScopeRule::new("/api/public", "read").unwrap(),
            ScopeRule::new("/api", "admin").unwrap(),
        ];
        rules.sort_by_key(ScopeRule::precedence);
        assert_eq!(decided(&rules, "/api/public/x"), Ok(Some(0)));
        assert_eq!(decided(&rules, "/api/other"), Ok(Some(1)));
        // As written, `/api` decides; blind to parameters, `/api/public`.
        assert_eq!(decided(&rules, "/api/public;x"), Err(()));
        assert_eq!(decided(&rules, "/api/public%3Bx/y"), Err(()));
        let keep = PathOptions::default().merge_slashes(false);
        let path = keep.canonical_path("/api//public").unwrap();
        assert_eq!(decide(&rules, &Method::GET, &path), Err(()));
        let root = [ScopeRule::new("/", "any").unwrap()];
        assert_eq!(decided(&root, "/ADMIN;x"), Ok(Some(0)));
        // Methods are the same under every reading.
        let post = [ScopeRule::new("/admin", "admin")
            .unwrap()
            .methods([Method::POST])];
        assert_eq!(decided(&post, "/ADMIN"), Ok(None));
        let canonical = PathOptions::default().canonical_path("/ADMIN").unwrap();
        assert_eq!(decide(&post, &Method::POST, &canonical), Err(()));
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
