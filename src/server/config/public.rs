//! `[public]`: the public listener, where the OAuth layer guards an upstream (or the built-in
//! echo).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::{HeaderName, Method, Uri};
use serde::{Deserialize, Serialize};

use super::{ConfigError, LimitSetting, DEFAULT_FAILED_AUTH_LIMIT};
use crate::auth::IdentityHeaders;
use crate::forwarded::{ForwardedFrom, TrustedProxies};
use crate::path::{DotSegments, EscapedSlashes, PathOptions};

/// The public listener's address when the configuration names none.
pub const DEFAULT_PUBLIC_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// The cap on concurrent token lookups when neither the configuration nor the store's pool
/// size give one (a store handed to `Server::bind_with_store`, or the memory store).
pub const DEFAULT_MAX_CONCURRENT_LOOKUPS: usize = 16;

/// `[public]`: the public listener. On by default.
///
/// ```toml
/// [public]
/// listen = "127.0.0.1:8080"
/// upstream = "http://127.0.0.1:9000"   # without it, a built-in echo answers
/// service_key = "rmeqcgpw3zu2y47y9bs8vs2h"  # optional when the store holds one service
/// headers = "mashery"                  # or "neutral", or { client_id = "...", scope = "...", user_context = "..." }
/// forward_access_token = false
/// forward_authorization = false
/// # allow_query_tokens = false         # default: the service's allow_query_tokens
/// realm = "tokengate"
/// issuer = "https://auth.example.com"   # RFC 8414 issuer; default http://<listen>
/// authorization_endpoint = "https://www.example.com/oauth/authorize"   # the provider's page
/// # drop_request_headers = ["x-real-ip", "x-original-url"]  # default: proxy::DEFAULT_DROPPED_HEADERS
/// require_scopes = [{ path = "/admin", scope = "admin" }]   # also: methods = ["POST"], case_insensitive = true
/// merge_slashes = true
/// escaped_slashes = "reject"           # or "keep", "decode"
/// dot_segments = "reject"              # or "resolve"
/// cache_ttl_secs = 30
/// negative_ttl_secs = 5
/// cache_capacity = 1000000
/// upstream_timeout_secs = 30
/// header_read_timeout_secs = 10
/// max_headers = 64
/// max_header_bytes = 16384
/// max_body_bytes = 10485760
/// failed_auth_limit = { per_minute = 30, burst = 10 }  # the default; false switches it off
/// # max_concurrent_lookups = 2         # default: half the store's connection pool
/// lookup_wait_ms = 1000
/// mac_window_secs = 30                 # MAC requests: how far `ts` may be from the clock
/// mac_replay_capacity = 1000000        # MAC requests remembered against replay
/// trusted_proxies = ["10.0.0.0/8", "::1"]  # peers that may name the client; default none
/// trusted_proxy_header = "x-forwarded-for" # or "forwarded" (RFC 7239): what they write
/// forwarded_header = false             # also send RFC 7239 `Forwarded` upstream
/// cors = { origins = ["https://app.example.com"], max_age_secs = 600 }  # default: off
/// ```
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublicConfig {
    /// Whether the public listener runs (default `true`).
    pub enabled: bool,
    /// The address to listen on. Default [`DEFAULT_PUBLIC_LISTEN`].
    pub listen: SocketAddr,
    /// The upstream (`http://host:port[/base]` or `https://…`) that authorized requests are
    /// proxied to; without one, a built-in echo answers them with the injected identity
    /// headers.
    pub upstream: Option<String>,
    /// TLS on the listener: `{ cert = "chain.pem", key = "key.pem" }` (optionally
    /// `client_ca`); plain HTTP without it.
    pub tls: Option<crate::tls::TlsFiles>,
    /// An `https` upstream's certificate is verified against the CAs in this PEM file instead
    /// of the system's roots.
    pub upstream_ca: Option<std::path::PathBuf>,
    /// Offer HTTP/2 to an `https` upstream by ALPN (default `false`: HTTP/1.1 only).
    pub upstream_http2: bool,
    /// The service whose tokens are accepted; optional when the store holds exactly one.
    pub service_key: Option<String>,
    /// The identity header names: `"mashery"` (default), `"neutral"`, or a table of names.
    pub headers: HeadersConfig,
    /// Also send the access token upstream (`X-Mashery-Oauth-Access-Token`, or the table's
    /// `access_token` name).
    pub forward_access_token: bool,
    /// Forward the client's `Authorization` header, or its `access_token` query parameter,
    /// upstream (default `false`: both are removed).
    pub forward_authorization: bool,
    /// Accept tokens in the `access_token` query parameter; default: the service's
    /// `allow_query_tokens` setting.
    pub allow_query_tokens: Option<bool>,
    /// The realm named in `WWW-Authenticate` (default `tokengate`).
    pub realm: String,
    /// The public base URL: the RFC 8414 `issuer` and the base of the endpoint URLs it
    /// advertises (default `http://` and the listener's address).
    pub issuer: Option<String>,
    /// The provider's authorization page (the one that authenticates the user and calls
    /// `createAuthorizationCode`), published as the RFC 8414 `authorization_endpoint`: which
    /// §2 requires when a service enables `authorization_code` or `implicit`. An absolute
    /// `https` or `http` URL. Without it such metadata lacks the member (a WARN at start).
    pub authorization_endpoint: Option<String>,
    /// Scopes required by path prefix, in whole segments (the longest matching prefix wins;
    /// see [`crate::auth::ScopeRule`]).
    pub require_scopes: Vec<ScopeRule>,
    /// The client-supplied request headers the proxy drops before forwarding (every copy, any
    /// case; `_`/`.` aliases of them get 400). Default
    /// [`DEFAULT_DROPPED_HEADERS`](crate::proxy::DEFAULT_DROPPED_HEADERS) (`X-Real-IP`,
    /// `True-Client-IP`, `X-Original-URL`, `X-HTTP-Method-Override`, …); `[]` drops none.
    /// An identity header name is refused: the proxy would drop what the layer injects.
    pub drop_request_headers: Option<Vec<String>>,
    /// Merge runs of `/` in request paths (default `true`; see
    /// [`PathOptions::merge_slashes`]).
    pub merge_slashes: bool,
    /// `%2F` in request paths: `"reject"` (default, 400), `"keep"` or `"decode"` (see
    /// [`EscapedSlashes`]).
    pub escaped_slashes: String,
    /// `.` and `..` segments in request paths: `"reject"` (default, 400) or `"resolve"` (see
    /// [`DotSegments`]).
    pub dot_segments: String,
    /// The longest a valid token is cached, in seconds (default 30).
    pub cache_ttl_secs: u64,
    /// How long an unknown token is remembered as unknown, in seconds (default 5).
    pub negative_ttl_secs: u64,
    /// Most valid tokens cached (default 1,000,000).
    pub cache_capacity: u64,
    /// How long to wait for the upstream's response head, in seconds (default 30).
    pub upstream_timeout_secs: u64,
    /// How long a client may take to send a request's headers, in seconds (default 10).
    pub header_read_timeout_secs: u64,
    /// Most header fields in an HTTP/1 request (default 64); more get 431.
    pub max_headers: usize,
    /// Largest request header block in bytes (default 16,384, at least 8,192); larger gets
    /// 431 (HTTP/1) or a stream error (h2).
    pub max_header_bytes: usize,
    /// Largest request body forwarded, in bytes (default 10 MiB); larger gets 413.
    pub max_body_bytes: u64,
    /// Failed client authentications at `/oauth2/token`, `/oauth2/introspect` and
    /// `/oauth2/revoke` allowed per client address before its requests there are refused with
    /// `429`: a rate table, `true` for [`DEFAULT_FAILED_AUTH_LIMIT`](super::DEFAULT_FAILED_AUTH_LIMIT)
    /// (the default), or `false`.
    pub failed_auth_limit: LimitSetting,
    /// Most token lookups in the store at once on the gateway's cache misses (distinct tokens;
    /// one uncached token makes one lookup however many ask). Default: half the store's
    /// connection pool (2 for SQLite's 4 readers, 5 for PostgreSQL's default 10), at least 1;
    /// [`DEFAULT_MAX_CONCURRENT_LOOKUPS`] when the pool is not known.
    pub max_concurrent_lookups: Option<usize>,
    /// How long a cache miss waits for a lookup turn before it gets `503`, in milliseconds
    /// (default 1000).
    pub lookup_wait_ms: u64,
    /// MAC requests: how far their `ts` may be from the server clock, either side, in
    /// seconds (default 30).
    pub mac_window_secs: u64,
    /// MAC requests: most `(token, ts, nonce)` triples remembered against replay (default
    /// 1,000,000, about 40 MB when full); when full, new MAC requests get `503`.
    pub mac_replay_capacity: usize,
    /// The proxies in front of the gateway (CIDRs or addresses): only a peer in one of them
    /// may name the client address, scheme and host (see
    /// [`TrustedProxies`](crate::forwarded::TrustedProxies)). Default none: the TCP peer is
    /// the client.
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write: `"x-forwarded-for"` (default, with
    /// `X-Forwarded-Proto` and `X-Forwarded-Host`) or `"forwarded"` (RFC 7239).
    pub trusted_proxy_header: String,
    /// Also send an RFC 7239 `Forwarded` header upstream (default `false`).
    pub forwarded_header: bool,
    /// `[public.cors]`: CORS on the OAuth endpoints for these origins; default none (off).
    pub cors: Option<super::CorsConfig>,
}

impl Default for PublicConfig {
    fn default() -> Self {
        PublicConfig {
            enabled: true,
            listen: DEFAULT_PUBLIC_LISTEN,
            upstream: None,
            tls: None,
            upstream_ca: None,
            upstream_http2: false,
            service_key: None,
            headers: HeadersConfig::default(),
            forward_access_token: false,
            forward_authorization: false,
            allow_query_tokens: None,
            realm: "tokengate".to_owned(),
            issuer: None,
            authorization_endpoint: None,
            require_scopes: Vec::new(),
            drop_request_headers: None,
            merge_slashes: true,
            escaped_slashes: "reject".to_owned(),
            dot_segments: "reject".to_owned(),
            cache_ttl_secs: 30,
            negative_ttl_secs: 5,
            cache_capacity: 1_000_000,
            upstream_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            failed_auth_limit: LimitSetting::Default,
            max_concurrent_lookups: None,
            lookup_wait_ms: 1000,
            mac_window_secs: 30,
            mac_replay_capacity: 1_000_000,
            trusted_proxies: Vec::new(),
            trusted_proxy_header: "x-forwarded-for".to_owned(),
            forwarded_header: false,
            cors: None,
        }
    }
}

/// One `require_scopes` entry: `{ path = "/admin", scope = "admin" }`, optionally with
/// `methods = ["POST", "DELETE"]` and `case_insensitive = true`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeRule {
    /// The path prefix (starts with `/`), matched in whole segments.
    pub path: String,
    /// The scope required (space separated entries, all required).
    pub scope: String,
    /// The methods the rule applies to (default: every method).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Compare the path ignoring ASCII case (default `false`).
    #[serde(default)]
    pub case_insensitive: bool,
}

impl ScopeRule {
    /// The layer's rule; errors name `public.require_scopes[i]`'s key at fault.
    pub fn to_rule(&self, i: usize) -> Result<crate::auth::ScopeRule, ConfigError> {
        self.to_rule_at(&format!("public.require_scopes[{i}]"))
    }

    /// The layer's rule; errors name the key at fault under `at` (such as
    /// `routes[0].require_scopes[1]`).
    pub fn to_rule_at(&self, at: &str) -> Result<crate::auth::ScopeRule, ConfigError> {
        let key = |field: &str| format!("{at}.{field}");
        if !self.path.starts_with('/') {
            return Err(ConfigError::at(key("path"), "must start with `/`"));
        }
        if !quotable(&self.scope) || self.scope.trim().is_empty() {
            return Err(ConfigError::at(
                key("scope"),
                "must be a non-empty printable ASCII scope without `\"` or `\\`",
            ));
        }
        let rule = crate::auth::ScopeRule::new(&self.path, &self.scope)
            .map_err(|e| ConfigError::at(key("path"), e.to_string()))?;
        let methods = self
            .methods
            .iter()
            .map(|m| {
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| ConfigError::at(key("methods"), format!("`{m}` is not a method")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rule
            .methods(methods)
            .case_insensitive(self.case_insensitive))
    }
}

/// `headers`: a preset name or custom names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HeadersConfig {
    /// `"mashery"` or `"neutral"`.
    Preset(String),
    /// `{ client_id = "...", scope = "...", user_context = "...", access_token = "..." }`.
    Custom(CustomHeaders),
}

impl Default for HeadersConfig {
    fn default() -> Self {
        HeadersConfig::Preset("mashery".to_owned())
    }
}

/// Custom identity header names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomHeaders {
    /// The client id header.
    pub client_id: String,
    /// The scope header.
    pub scope: String,
    /// The user context header.
    pub user_context: String,
    /// The access token header (used with `forward_access_token = true`).
    #[serde(default)]
    pub access_token: Option<String>,
}

impl HeadersConfig {
    /// The identity header names, with the access token header when `forward_access_token`;
    /// errors name keys under `at` (such as `public` or `routes[0]`).
    pub fn identity_headers(
        &self,
        forward_access_token: bool,
        at: &str,
    ) -> Result<IdentityHeaders, ConfigError> {
        let (headers, access_token) = match self {
            HeadersConfig::Preset(name) if name == "mashery" => (
                IdentityHeaders::mashery(),
                Some(HeaderName::from_static("x-mashery-oauth-access-token")),
            ),
            HeadersConfig::Preset(name) if name == "neutral" => (
                IdentityHeaders::neutral(),
                Some(HeaderName::from_static("x-oauth-access-token")),
            ),
            HeadersConfig::Preset(other) => {
                return Err(ConfigError::at(
                    format!("{at}.headers"),
                    format!(
                        "unknown preset `{other}` (expected \"mashery\", \"neutral\" or a table \
                         of names)"
                    ),
                ))
            }
            HeadersConfig::Custom(c) => {
                let names = [
                    header_name(&c.client_id, &format!("{at}.headers.client_id"))?,
                    header_name(&c.scope, &format!("{at}.headers.scope"))?,
                    header_name(&c.user_context, &format!("{at}.headers.user_context"))?,
                ];
                let access_token = c
                    .access_token
                    .as_deref()
                    .map(|n| header_name(n, &format!("{at}.headers.access_token")))
                    .transpose()?;
                let mut all: Vec<&HeaderName> = names.iter().chain(&access_token).collect();
                all.sort_by_key(|n| n.as_str());
                all.dedup();
                if all.len() != names.len() + usize::from(access_token.is_some()) {
                    return Err(ConfigError::at(
                        format!("{at}.headers"),
                        "the header names must differ",
                    ));
                }
                let [client_id, scope, user_context] = names;
                (
                    IdentityHeaders::new(client_id, scope, user_context),
                    access_token,
                )
            }
        };
        if !forward_access_token {
            return Ok(headers);
        }
        match access_token {
            Some(name) => Ok(headers.with_access_token(name)),
            None => Err(ConfigError::at(
                format!("{at}.headers.access_token"),
                "required with forward_access_token = true",
            )),
        }
    }
}

fn header_name(value: &str, key: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(value.as_bytes())
        .map_err(|_| ConfigError::at(key, format!("`{value}` is not a valid header name")))
}

impl PublicConfig {
    /// The identity header names, with the access token header when
    /// `forward_access_token` is on.
    pub fn identity_headers(&self) -> Result<IdentityHeaders, ConfigError> {
        self.headers
            .identity_headers(self.forward_access_token, "public")
    }

    /// The names of `drop_request_headers`, if set: valid header names, none of them an
    /// identity header.
    pub fn dropped_headers(&self) -> Result<Option<Vec<HeaderName>>, ConfigError> {
        let Some(names) = &self.drop_request_headers else {
            return Ok(None);
        };
        let identity = self.identity_headers()?;
        let injected = [
            Some(identity.client_id()),
            Some(identity.scope()),
            Some(identity.user_context()),
            identity.access_token(),
        ];
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let key = format!("public.drop_request_headers[{i}]");
                let name = header_name(name, &key)?;
                if injected.contains(&Some(&name)) {
                    return Err(ConfigError::at(
                        key,
                        format!("`{name}` is an identity header the gateway injects"),
                    ));
                }
                Ok(name)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// How request paths are canonicalised (`merge_slashes`, `escaped_slashes`,
    /// `dot_segments`).
    pub fn path_options(&self) -> Result<PathOptions, ConfigError> {
        let escaped = match self.escaped_slashes.as_str() {
            "reject" => EscapedSlashes::Reject,
            "keep" => EscapedSlashes::Keep,
            "decode" => EscapedSlashes::Decode,
            other => {
                return Err(ConfigError::at(
                    "public.escaped_slashes",
                    format!("`{other}` (expected \"reject\", \"keep\" or \"decode\")"),
                ))
            }
        };
        let dots = match self.dot_segments.as_str() {
            "reject" => DotSegments::Reject,
            "resolve" => DotSegments::Resolve,
            other => {
                return Err(ConfigError::at(
                    "public.dot_segments",
                    format!("`{other}` (expected \"reject\" or \"resolve\")"),
                ))
            }
        };
        Ok(PathOptions::default()
            .merge_slashes(self.merge_slashes)
            .escaped_slashes(escaped)
            .dot_segments(dots))
    }

    /// The trusted proxies (`trusted_proxies`, `trusted_proxy_header`).
    pub fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        let from = match self.trusted_proxy_header.as_str() {
            "x-forwarded-for" => ForwardedFrom::XForwardedFor,
            "forwarded" => ForwardedFrom::Forwarded,
            other => {
                return Err(ConfigError::at(
                    "public.trusted_proxy_header",
                    format!("`{other}` (expected \"x-forwarded-for\" or \"forwarded\")"),
                ))
            }
        };
        TrustedProxies::parse(&self.trusted_proxies)
            .map(|trusted| trusted.forwarded_from(from))
            .map_err(|e| {
                ConfigError::at(
                    format!("public.trusted_proxies[{}]", e.index()),
                    e.to_string(),
                )
            })
    }

    /// The upstream URI, if one is configured.
    pub fn upstream_uri(&self) -> Result<Option<Uri>, ConfigError> {
        let Some(upstream) = &self.upstream else {
            return Ok(None);
        };
        let uri: Uri = upstream
            .parse()
            .map_err(|e| ConfigError::at("public.upstream", format!("not a URI: {e}")))?;
        // The proxy's own checks (http only, no user info, no query), with the key named.
        crate::proxy::ReverseProxy::new(uri.clone())
            .map_err(|e| ConfigError::at("public.upstream", e.to_string()))?;
        Ok(Some(uri))
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.identity_headers()?;
        self.dropped_headers()?;
        self.upstream_uri()?;
        if let Some(key) = &self.service_key {
            if key.is_empty() {
                return Err(ConfigError::at("public.service_key", "must not be empty"));
            }
        }
        // The same rules as `OAuthLayer::realm` and `ScopeRule::new`.
        if !quotable(&self.realm) {
            return Err(ConfigError::at(
                "public.realm",
                "must be printable ASCII without `\"` or `\\`",
            ));
        }
        for (i, rule) in self.require_scopes.iter().enumerate() {
            rule.to_rule(i)?;
        }
        self.path_options()?;
        self.trusted_proxies()?;
        if let Some(cors) = &self.cors {
            let _ = cors.layer()?;
        }
        for (key, value) in [
            ("public.cache_ttl_secs", self.cache_ttl_secs),
            ("public.negative_ttl_secs", self.negative_ttl_secs),
            ("public.upstream_timeout_secs", self.upstream_timeout_secs),
            ("public.mac_window_secs", self.mac_window_secs),
            (
                "public.header_read_timeout_secs",
                self.header_read_timeout_secs,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::at(key, "must be at least 1 second"));
            }
        }
        if self.cache_capacity == 0 {
            return Err(ConfigError::at(
                "public.cache_capacity",
                "must be greater than 0",
            ));
        }
        if self.max_headers == 0 {
            return Err(ConfigError::at(
                "public.max_headers",
                "must be greater than 0",
            ));
        }
        if self.max_header_bytes < 8192 {
            return Err(ConfigError::at(
                "public.max_header_bytes",
                "must be at least 8192 (hyper's smallest read buffer)",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "public.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if self.mac_replay_capacity == 0 {
            return Err(ConfigError::at(
                "public.mac_replay_capacity",
                "must be greater than 0",
            ));
        }
        if self.max_concurrent_lookups == Some(0) {
            return Err(ConfigError::at(
                "public.max_concurrent_lookups",
                "must be greater than 0",
            ));
        }
        self.failed_auth_limit
            .rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "public.failed_auth_limit")?;
        Ok(())
    }
}

fn quotable(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Some(std::path::Path::new("tokengate.toml")))
    }

    #[test]
    fn defaults_and_a_full_section() {
        let config = parse("").unwrap();
        let p = &config.public;
        assert!(p.enabled);
        assert_eq!(p.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(p.upstream, None);
        assert_eq!(p.realm, "tokengate");
        assert_eq!((p.cache_ttl_secs, p.negative_ttl_secs), (30, 5));
        assert_eq!(p.cache_capacity, 1_000_000);
        assert_eq!((p.max_headers, p.max_header_bytes), (64, 16384));
        assert_eq!(p.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(p.allow_query_tokens, None);
        assert_eq!(p.failed_auth_limit, LimitSetting::Default);
        assert_eq!((p.max_concurrent_lookups, p.lookup_wait_ms), (None, 1000));
        assert_eq!(p.path_options().unwrap(), PathOptions::default());
        assert_eq!((p.mac_window_secs, p.mac_replay_capacity), (30, 1_000_000));
        assert_eq!(p.trusted_proxies().unwrap(), TrustedProxies::none());
        assert!(!p.forwarded_header);
        assert_eq!(
            p.identity_headers().unwrap(),
            IdentityHeaders::mashery(),
            "mashery names, no access token header"
        );

        let config = parse(
            r#"
[public]
listen = "127.0.0.1:0"
upstream = "http://127.0.0.1:9000/api"
service_key = "svc"
headers = "neutral"
forward_access_token = true
forward_authorization = true
allow_query_tokens = true
realm = "reviews"
drop_request_headers = ["X-Real-IP", "x-original-url"]
require_scopes = [{ path = "/admin", scope = "admin" }, { path = "/w", scope = "read write", methods = ["POST"], case_insensitive = true }]
merge_slashes = false
escaped_slashes = "keep"
dot_segments = "resolve"
cache_ttl_secs = 10
negative_ttl_secs = 1
cache_capacity = 10
upstream_timeout_secs = 3
header_read_timeout_secs = 2
max_headers = 20
max_header_bytes = 8192
max_body_bytes = 1024
failed_auth_limit = false
max_concurrent_lookups = 3
lookup_wait_ms = 50
mac_window_secs = 90
mac_replay_capacity = 5
trusted_proxies = ["10.0.0.0/8", "::1"]
trusted_proxy_header = "forwarded"
forwarded_header = true
"#,
        )
        .unwrap();
        let p = &config.public;
        assert_eq!(p.failed_auth_limit, LimitSetting::Off);
        assert_eq!((p.max_concurrent_lookups, p.lookup_wait_ms), (Some(3), 50));
        assert_eq!((p.mac_window_secs, p.mac_replay_capacity), (90, 5));
        let trusted = p.trusted_proxies().unwrap();
        assert!(
            trusted.contains("10.1.2.3".parse().unwrap())
                && trusted.contains("::1".parse().unwrap())
        );
        assert!(!trusted.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(
            trusted,
            TrustedProxies::parse(["10.0.0.0/8", "::1"])
                .unwrap()
                .forwarded_from(ForwardedFrom::Forwarded)
        );
        assert!(p.forwarded_header);
        assert_eq!(
            p.identity_headers().unwrap().access_token().unwrap(),
            "x-oauth-access-token"
        );
        assert_eq!(p.require_scopes[1].scope, "read write");
        let rule = p.require_scopes[1].to_rule(1).unwrap();
        assert!(rule.covers(&Method::POST, "/W/x"));
        assert!(!rule.covers(&Method::GET, "/w/x"));
        assert_eq!(
            p.path_options().unwrap(),
            PathOptions::default()
                .merge_slashes(false)
                .escaped_slashes(EscapedSlashes::Keep)
                .dot_segments(DotSegments::Resolve)
        );
        assert_eq!(p.upstream_uri().unwrap().unwrap().path(), "/api");
        assert_eq!(p.allow_query_tokens, Some(true));
        assert_eq!(
            p.dropped_headers().unwrap().unwrap(),
            ["x-real-ip", "x-original-url"]
        );
        assert_eq!(parse("").unwrap().public.dropped_headers().unwrap(), None);
        let none = parse("[public]\ndrop_request_headers = []\n").unwrap();
        assert_eq!(none.public.dropped_headers().unwrap(), Some(vec![]));
    }

    #[test]
    fn custom_header_names() {
        let config = parse(
            "[public]\nforward_access_token = true\nheaders = { client_id = \"x-app\", scope = \
             \"x-scope\", user_context = \"x-user\", access_token = \"x-token\" }\n",
        )
        .unwrap();
        let names = config.public.identity_headers().unwrap();
        assert_eq!(names.client_id(), "x-app");
        assert_eq!(names.access_token().unwrap(), "x-token");

        let err = parse(
            "[public]\nforward_access_token = true\nheaders = { client_id = \"a\", scope = \
             \"b\", user_context = \"c\" }\n",
        )
        .unwrap_err();
        assert_eq!(err.key(), Some("public.headers.access_token"), "{err}");
        let err = parse(
            "[public]\nheaders = { client_id = \"a\", scope = \"a\", user_context = \"c\" }\n",
        )
        .unwrap_err();
        assert_eq!(err.key(), Some("public.headers"), "{err}");
        let err = parse(
            "[public]\nheaders = { client_id = \"a b\", scope = \"b\", user_context = \"c\" }\n",
        )
        .unwrap_err();
        assert_eq!(err.key(), Some("public.headers.client_id"), "{err}");
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let cases = [
            ("colour = 1", "public"),
            ("headers = \"kong\"", "public.headers"),
            ("upstream = \"ftp://api.example.com\"", "public.upstream"),
            ("upstream = \"not a uri\"", "public.upstream"),
            ("realm = \"a\\\"b\"", "public.realm"),
            (
                "require_scopes = [{ path = \"admin\", scope = \"admin\" }]",
                "public.require_scopes[0].path",
            ),
            (
                "require_scopes = [{ path = \"/a\", scope = \" \" }]",
                "public.require_scopes[0].scope",
            ),
            (
                "require_scopes = [{ path = \"/a/../b\", scope = \"s\" }]",
                "public.require_scopes[0].path",
            ),
            (
                "require_scopes = [{ path = \"/a\", scope = \"s\", methods = [\"G T\"] }]",
                "public.require_scopes[0].methods",
            ),
            ("escaped_slashes = \"allow\"", "public.escaped_slashes"),
            ("dot_segments = \"keep\"", "public.dot_segments"),
            ("cache_ttl_secs = 0", "public.cache_ttl_secs"),
            (
                "header_read_timeout_secs = 0",
                "public.header_read_timeout_secs",
            ),
            ("max_header_bytes = 4096", "public.max_header_bytes"),
            ("max_body_bytes = 0", "public.max_body_bytes"),
            ("service_key = \"\"", "public.service_key"),
            (
                "drop_request_headers = [\"x-ok\", \"a b\"]",
                "public.drop_request_headers[1]",
            ),
            (
                "drop_request_headers = [\"X-Mashery-Oauth-Scope\"]",
                "public.drop_request_headers[0]",
            ),
            (
                "max_concurrent_lookups = 0",
                "public.max_concurrent_lookups",
            ),
            ("lookup_wait_ms = -1", "public.lookup_wait_ms"),
            ("mac_window_secs = 0", "public.mac_window_secs"),
            ("mac_replay_capacity = 0", "public.mac_replay_capacity"),
            ("listen = \"localhost\"", "public.listen"),
            (
                "trusted_proxies = [\"::1\", \"10.0.0.1/8\"]",
                "public.trusted_proxies[1]",
            ),
            (
                "trusted_proxies = [\"proxy.internal\"]",
                "public.trusted_proxies[0]",
            ),
            (
                "trusted_proxy_header = \"x-real-ip\"",
                "public.trusted_proxy_header",
            ),
        ];
        for (line, key) in cases {
            let err = parse(&format!("[public]\n{line}\n")).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("tokengate.toml"), "{line}: {text}");
            assert!(
                err.key().is_some_and(|k| k.starts_with(key)),
                "{line}: {text}"
            );
        }
    }
}
