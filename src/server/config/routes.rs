//! `[[routes]]`: one gateway in front of several APIs (see [`crate::route`]).
//!
//! ```toml
//! [[routes]]
//! name = "reviews"                      # in logs and the `route` label of metrics
//! host = "api.example.com"              # or "*.example.com"; absent: any host
//! path = "/reviews"                     # prefix in whole segments; default "/"
//! methods = ["GET", "POST"]             # absent: every method
//! service_key = "rmeqcgpw3zu2y47y9bs8vs2h"
//! upstreams = ["http://10.0.0.1:9000", "http://10.0.0.2:9000"]   # or upstream = "…"
//! strip_prefix = true                   # /reviews/12 reaches the upstream as /12
//! require_scopes = [{ path = "/reviews", methods = ["POST"], scope = "write" }]
//!
//! [[routes]]
//! name = "docs"
//! path = "/docs"
//! auth = "none"                         # no token needed; identity headers still stripped
//! upstream = "http://10.0.0.3:8000"
//! ```

use std::time::Duration;

use http::{Method, Uri};
use serde::{Deserialize, Serialize};

use super::{ConfigError, HeadersConfig, PublicConfig, ScopeRule};
use crate::auth::IdentityHeaders;
use crate::route::{HostPattern, RouteMatch};

/// Whether a route needs a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteAuth {
    /// A token of the route's service, checked by the OAuth layer (the default).
    #[default]
    Oauth,
    /// No token: a public path. Client-supplied identity headers are still removed.
    None,
}

/// One `[[routes]]` entry. Settings left out take the `[public]` section's value.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name: unique, letters, digits, `-`, `_` and `.`; used in logs and as the
    /// `route` label of metrics.
    pub name: String,
    /// `api.example.com` or `*.example.com`; absent: any host.
    #[serde(default)]
    pub host: Option<String>,
    /// The path prefix, in whole segments on the canonical path (default `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// The methods the route takes; absent: every method.
    #[serde(default)]
    pub methods: Option<Vec<String>>,
    /// The service whose tokens the route accepts (required with `auth = "oauth"`).
    #[serde(default)]
    pub service_key: Option<String>,
    /// The upstream (`http://host:port[/base]`); or several in `upstreams`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Several upstreams, taken in turn, each marked out for `mark_out_secs` after a failed
    /// connect or a `502`/`503`/`504`.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// How long a failed upstream is skipped, in seconds (default 10).
    #[serde(default)]
    pub mark_out_secs: Option<u64>,
    /// Whether the path prefix is removed before forwarding (default false).
    #[serde(default)]
    pub strip_prefix: bool,
    /// `"oauth"` (default) or `"none"`.
    #[serde(default)]
    pub auth: RouteAuth,
    /// The route's scope rules, matched on the path the client sent (before `strip_prefix`).
    #[serde(default)]
    pub require_scopes: Vec<ScopeRule>,
    /// The identity header preset or names (default: `[public] headers`).
    #[serde(default)]
    pub headers: Option<HeadersConfig>,
    /// Whether the token is forwarded in an identity header (default: `[public]`'s).
    #[serde(default)]
    pub forward_access_token: Option<bool>,
    /// Whether the `Authorization` header is forwarded (default: `[public]`'s).
    #[serde(default)]
    pub forward_authorization: Option<bool>,
    /// Whether tokens in the `access_token` query or form parameter are accepted (default:
    /// `[public]`'s, else the service's setting).
    #[serde(default)]
    pub allow_query_tokens: Option<bool>,
    /// Seconds to wait for the upstream's response head (default: `[public]`'s).
    #[serde(default)]
    pub upstream_timeout_secs: Option<u64>,
    /// The largest request body, in bytes (default: `[public]`'s).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
}

impl RouteConfig {
    /// What the route matches; `at` (such as `routes[0]`) prefixes the keys of errors.
    pub fn route_match(&self, at: &str) -> Result<RouteMatch, ConfigError> {
        let mut matcher = RouteMatch::prefix(self.path.as_deref().unwrap_or("/"))
            .map_err(|e| ConfigError::at(format!("{at}.path"), e.to_string()))?;
        if let Some(host) = &self.host {
            matcher = matcher.host(
                HostPattern::parse(host)
                    .map_err(|e| ConfigError::at(format!("{at}.host"), e.to_string()))?,
            );
        }
        if let Some(names) = &self.methods {
            if names.is_empty() {
                return Err(ConfigError::at(
                    format!("{at}.methods"),
                    "must not be empty (leave it out for every method)",
                ));
            }
            let methods = names
                .iter()
                .map(|m| {
                    Method::from_bytes(m.as_bytes()).map_err(|_| {
                        ConfigError::at(format!("{at}.methods"), format!("`{m}` is not a method"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            matcher = matcher.methods(methods);
        }
        Ok(matcher)
    }

    /// The upstream URIs (at least one), each checked as the proxy checks it.
    pub fn upstream_uris(&self, at: &str) -> Result<Vec<Uri>, ConfigError> {
        let listed: Vec<(String, &String)> = match (&self.upstream, self.upstreams.is_empty()) {
            (Some(_), false) => {
                return Err(ConfigError::at(
                    format!("{at}.upstreams"),
                    "give `upstream` or `upstreams`, not both",
                ))
            }
            (Some(one), true) => vec![(format!("{at}.upstream"), one)],
            (None, false) => self
                .upstreams
                .iter()
                .enumerate()
                .map(|(j, u)| (format!("{at}.upstreams[{j}]"), u))
                .collect(),
            (None, true) => {
                return Err(ConfigError::at(
                    format!("{at}.upstream"),
                    "required: the URL requests are forwarded to (or `upstreams`)",
                ))
            }
        };
        listed
            .into_iter()
            .map(|(key, text)| {
                let uri: Uri = text
                    .parse()
                    .map_err(|e| ConfigError::at(&key, format!("`{text}` is not a URL: {e}")))?;
                crate::proxy::ReverseProxy::new(uri.clone())
                    .map_err(|e| ConfigError::at(&key, format!("`{text}`: {e}")))?;
                Ok(uri)
            })
            .collect()
    }

    /// The identity headers of the route: its own `headers`/`forward_access_token`, else
    /// `[public]`'s.
    pub fn identity_headers(
        &self,
        public: &PublicConfig,
        at: &str,
    ) -> Result<IdentityHeaders, ConfigError> {
        let forward = self
            .forward_access_token
            .unwrap_or(public.forward_access_token);
        match &self.headers {
            Some(headers) => headers.identity_headers(forward, at),
            None => public.headers.identity_headers(forward, "public"),
        }
    }

    /// The upstream timeout.
    pub fn upstream_timeout(&self, public: &PublicConfig) -> Duration {
        Duration::from_secs(
            self.upstream_timeout_secs
                .unwrap_or(public.upstream_timeout_secs),
        )
    }

    /// The body limit.
    pub fn max_body_bytes(&self, public: &PublicConfig) -> u64 {
        self.max_body_bytes.unwrap_or(public.max_body_bytes)
    }

    /// How long a failed upstream is skipped.
    pub fn mark_out(&self) -> Duration {
        self.mark_out_secs
            .map_or(crate::route::DEFAULT_MARK_OUT, Duration::from_secs)
    }

    /// The scope rules.
    pub fn scope_rules(&self, at: &str) -> Result<Vec<crate::auth::ScopeRule>, ConfigError> {
        self.require_scopes
            .iter()
            .enumerate()
            .map(|(j, rule)| rule.to_rule_at(&format!("{at}.require_scopes[{j}]")))
            .collect()
    }

    fn validate(&self, at: &str, public: &PublicConfig) -> Result<RouteMatch, ConfigError> {
        let valid_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.name.is_empty() || !self.name.chars().all(valid_name) || self.name.len() > 64 {
            return Err(ConfigError::at(
                format!("{at}.name"),
                "must be 1 to 64 letters, digits, `-`, `_` or `.`",
            ));
        }
        let matcher = self.route_match(at)?;
        self.upstream_uris(at)?;
        self.identity_headers(public, at)?;
        self.scope_rules(at)?;
        match (self.auth, &self.service_key) {
            (RouteAuth::Oauth, None) => {
                return Err(ConfigError::at(
                    format!("{at}.service_key"),
                    "required with auth = \"oauth\": the service whose tokens the route accepts",
                ))
            }
            (RouteAuth::Oauth, Some(key)) if key.is_empty() => {
                return Err(ConfigError::at(
                    format!("{at}.service_key"),
                    "must not be empty",
                ))
            }
            (RouteAuth::None, Some(_)) => {
                return Err(ConfigError::at(
                    format!("{at}.service_key"),
                    "has no effect with auth = \"none\": leave it out",
                ))
            }
            (RouteAuth::None, None) if !self.require_scopes.is_empty() => {
                return Err(ConfigError::at(
                    format!("{at}.require_scopes"),
                    "has no effect with auth = \"none\"",
                ))
            }
            _ => {}
        }
        if self.max_body_bytes == Some(0) {
            return Err(ConfigError::at(
                format!("{at}.max_body_bytes"),
                "must be greater than 0",
            ));
        }
        if matches!(self.upstream_timeout_secs, Some(0)) || matches!(self.mark_out_secs, Some(0)) {
            let key = if self.mark_out_secs == Some(0) {
                "mark_out_secs"
            } else {
                "upstream_timeout_secs"
            };
            return Err(ConfigError::at(
                format!("{at}.{key}"),
                "must be at least 1 second",
            ));
        }
        Ok(matcher)
    }
}

/// Checks every route, that names are unique and that no two match the same requests.
/// (Whether each `service_key` names a service is checked when the server starts: it may be
/// in the store only.)
pub(super) fn validate_routes(
    routes: &[RouteConfig],
    public: &PublicConfig,
) -> Result<(), ConfigError> {
    let mut seen: Vec<(&str, RouteMatch)> = Vec::with_capacity(routes.len());
    for (i, route) in routes.iter().enumerate() {
        let at = format!("routes[{i}]");
        let matcher = route.validate(&at, public)?;
        if seen.iter().any(|(name, _)| *name == route.name) {
            return Err(ConfigError::at(
                format!("{at}.name"),
                format!("duplicate route name `{}`", route.name),
            ));
        }
        if let Some((other, _)) = seen.iter().find(|(_, m)| m.overlaps(&matcher)) {
            return Err(ConfigError::at(
                format!("{at}.path"),
                format!(
                    "route `{}` matches the same requests as route `{other}` ({matcher})",
                    route.name
                ),
            ));
        }
        seen.push((&route.name, matcher));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn routes(text: &str) -> Result<Config, super::ConfigError> {
        Config::from_toml(&format!("[store]\nurl = \"memory:\"\n{text}"), None)
    }

    const UP: &str = "upstream = \"http://127.0.0.1:9000\"";

    #[test]
    fn errors_name_the_route_and_key() {
        let cases = [
            (
                "[[routes]]\nname = \"a\"\nservice_key = \"s\"\nupstream = \"ftp://x\"".to_owned(),
                "routes[0].upstream",
            ),
            (
                "[[routes]]\nname = \"a\"\nservice_key = \"s\"\nupstreams = [\"http://a:1\", \"not a url\"]"
                    .to_owned(),
                "routes[0].upstreams[1]",
            ),
            (format!("[[routes]]\nname = \"a\"\n{UP}"), "routes[0].service_key"),
            (
                format!("[[routes]]\nname = \"a b\"\nservice_key = \"s\"\n{UP}"),
                "routes[0].name",
            ),
            (
                format!("[[routes]]\nname = \"a\"\nservice_key = \"s\"\nhost = \"*.\"\n{UP}"),
                "routes[0].host",
            ),
            (
                format!("[[routes]]\nname = \"a\"\nservice_key = \"s\"\npath = \"/a/../b\"\n{UP}"),
                "routes[0].path",
            ),
            (
                format!("[[routes]]\nname = \"a\"\nauth = \"none\"\nservice_key = \"s\"\n{UP}"),
                "routes[0].service_key",
            ),
            (
                format!("[[routes]]\nname = \"a\"\nservice_key = \"s\"\nmethods = [\"GE T\"]\n{UP}"),
                "routes[0].methods",
            ),
            (
                format!(
                    "[[routes]]\nname = \"a\"\nservice_key = \"s\"\n{UP}\nrequire_scopes = \
                     [{{ path = \"x\", scope = \"s\" }}]"
                ),
                "routes[0].require_scopes[0].path",
            ),
            (
                format!("[[routes]]\nname = \"a\"\nservice_key = \"s\"\n{UP}\nheaders = \"kong\""),
                "routes[0].headers",
            ),
            (
                format!("[[routes]]\nname = \"a\"\nservice_key = \"s\"\n{UP}\ncolour = 1"),
                "routes[0].colour",
            ),
        ];
        for (text, key) in cases {
            let err = routes(&text).unwrap_err();
            assert_eq!(err.key(), Some(key), "{text}: {err}");
        }
    }

    #[test]
    fn two_routes_with_the_same_match_or_name_are_refused() {
        let text = format!(
            "[[routes]]\nname = \"a\"\nservice_key = \"s\"\npath = \"/x\"\n{UP}\n\
             [[routes]]\nname = \"b\"\nservice_key = \"t\"\npath = \"/x/\"\n{UP}"
        );
        let err = routes(&text).unwrap_err();
        assert_eq!(err.key(), Some("routes[1].path"), "{err}");
        assert!(err.to_string().contains("route `a`"), "{err}");

        let text = format!(
            "[[routes]]\nname = \"a\"\nservice_key = \"s\"\npath = \"/x\"\nmethods = [\"GET\"]\n{UP}\n\
             [[routes]]\nname = \"b\"\nservice_key = \"t\"\npath = \"/x\"\nmethods = [\"POST\"]\n{UP}\n\
             [[routes]]\nname = \"c\"\nservice_key = \"t\"\nhost = \"a.example\"\npath = \"/x\"\n{UP}"
        );
        let config = routes(&text).unwrap();
        assert_eq!(config.routes.len(), 3);

        let text = format!(
            "[[routes]]\nname = \"a\"\nservice_key = \"s\"\npath = \"/x\"\n{UP}\n\
             [[routes]]\nname = \"a\"\nservice_key = \"s\"\npath = \"/y\"\n{UP}"
        );
        assert_eq!(routes(&text).unwrap_err().key(), Some("routes[1].name"));
    }
}
