//! [`OAuthLayer`]: the settings of the gateway check, shared by every [`OAuthService`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tower::Layer;

use super::proof::Proof;
use super::reject::{Challenges, Rejection};
use super::{IdentityHeaders, MacPolicy, OAuthService, ScopeRule};
use crate::path::PathOptions;
use crate::resolve::TokenCache;
use crate::striped::Striped;
use crate::Error;

/// A tower [`Layer`] that lets through only requests with a valid bearer token, and tells the
/// inner service who is calling.
///
/// For each request, in order:
/// 0. the request target is made canonical ([`crate::path`], options
///    [`OAuthLayer::path_options`]): a target without a canonical form, or neither `/…` nor
///    `OPTIONS *`, gets 400 (no challenge) and nothing is forwarded; `OPTIONS *` is answered
///    `200` by the layer itself; otherwise the request's URI becomes the canonical target,
///    which the scope rules match and the inner service receives; a path that an upstream
///    blind to case, `;parameters` or empty segments would read under another scope rule
///    than the one that decides (see [`ScopeRule`]) gets 400 too, with or without a token;
/// 1. every client-supplied identity header is removed (any case, every copy); an alias spelled
///    with `_` or `.` of one, or of a framing header (`Transfer_Encoding`, `Content_Length`),
///    gets 400 `invalid_request`. The `Host` is not this layer's to judge on a bearer request
///    (no decision depends on it; requests built in-process often have none): the
///    [`ReverseProxy`](crate::proxy::ReverseProxy) and `tokengate serve`'s listener refuse a
///    missing, repeated or invalid one ([`request_host`](crate::host::request_host)); a MAC
///    request, whose signature covers host and port, needs a valid one here;
/// 2. the token is taken from `Authorization: Bearer` (or the `access_token` query parameter,
///    if allowed), or from signed `Authorization: MAC` credentials (draft-ietf-oauth-v2-http-mac-01,
///    read from the request as the client sent it; a `ts` outside the [`MacPolicy`] window →
///    401 `invalid_token`); none → 401, malformed → 400, and so is a token in both, or beside
///    a query parameter that some upstream may read as `access_token` (`ACCESS_TOKEN`,
///    `%61ccess_token`, `access_token[]`, …);
/// 3. it is resolved through the [`TokenCache`]: invalid → 401 `invalid_token` (the same for
///    unknown, expired, revoked and other services' tokens); the store failing on an uncached
///    token → 503 with `Retry-After`, and nothing is forwarded;
/// 4. the token must come under the scheme of its type: a bearer token as `Bearer`, a MAC
///    token as `MAC` with a signature that verifies under its key and a `(token, ts, nonce)`
///    not seen before; else 401 `invalid_token`, as for an unknown token (a full replay
///    memory → 503);
/// 5. the route's required scope, if any, is checked → 403 `insufficient_scope`;
/// 6. hop-by-hop headers (and those named in `Connection`) are removed, so none can remove what
///    comes next; `Authorization` (or the query's `access_token`, whichever the token came
///    in) is removed unless forwarding is on (a MAC `Authorization` always); one value of each
///    identity header is inserted, and the token's [`CachedToken`](crate::resolve::CachedToken)
///    as a request extension (client, scope, user context, expiry: `Extension<CachedToken>`
///    in axum).
///
/// Rejections are responses (RFC 6750 §3 `WWW-Authenticate`, empty body), never errors.
///
/// ```
/// use std::sync::Arc;
/// use tokengate::auth::{IdentityHeaders, OAuthLayer};
/// use tokengate::resolve::{LocalResolver, TokenCache};
/// use tokengate::{oauth::TokenService, secret::Pepper, store::MemoryStore};
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let cache = TokenCache::builder(LocalResolver::new(tokens.clone(), "svc")).build();
/// cache.listen_to(&tokens);
/// let layer = OAuthLayer::new(cache)
///     .realm("reviews")?
///     .headers(IdentityHeaders::mashery())
///     .require_scope("/admin", "admin")?;
/// let app = tower::ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|_req: http::Request<String>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
///     });
/// # let _ = app;
/// # Ok::<_, tokengate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OAuthLayer {
    pub(crate) settings: Arc<Settings>,
}

/// Everything an [`OAuthService`] needs, shared.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) cache: TokenCache,
    pub(crate) headers: IdentityHeaders,
    pub(crate) realm: String,
    /// The scope rules, in precedence order (see [`ScopeRule`]).
    pub(crate) scopes: Vec<ScopeRule>,
    /// How request targets are canonicalised.
    pub(crate) path: PathOptions,
    pub(crate) allow_query_tokens: bool,
    pub(crate) forward_authorization: bool,
    pub(crate) challenges: Challenges,
    pub(crate) metrics: Arc<LayerMetrics>,
    /// How MAC requests are checked, and their replay memory.
    pub(crate) mac: Proof,
    /// Whether the challenges name `MAC` rather than `Bearer`.
    pub(crate) mac_challenges: bool,
}

impl OAuthLayer {
    /// A layer resolving tokens through `cache`, with the Mashery header names, realm
    /// `tokengate`, no scope rules, header tokens only and `Authorization` not forwarded.
    pub fn new(cache: TokenCache) -> Self {
        let realm = "tokengate".to_owned();
        OAuthLayer {
            settings: Arc::new(Settings {
                cache,
                headers: IdentityHeaders::default(),
                challenges: Challenges::new(&realm, std::iter::empty(), false),
                realm,
                scopes: Vec::new(),
                path: PathOptions::default(),
                allow_query_tokens: false,
                forward_authorization: false,
                metrics: Arc::default(),
                mac: Proof::new(MacPolicy::default()),
                mac_challenges: false,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let settings = Arc::make_mut(&mut self.settings);
        f(settings);
        settings.challenges = Challenges::new(
            &settings.realm,
            settings.scopes.iter().map(ScopeRule::scope),
            settings.mac_challenges,
        );
        self
    }

    /// The realm named in `WWW-Authenticate` (printable ASCII without `"` or `\`).
    pub fn realm(self, realm: impl Into<String>) -> Result<Self, Error> {
        let realm = realm.into();
        if !quotable(&realm) {
            return Err(Error::config(
                "realm must be printable ASCII without quotes",
            ));
        }
        Ok(self.edit(|s| s.realm = realm))
    }

    /// The identity header names (default [`IdentityHeaders::mashery`]).
    pub fn headers(self, headers: IdentityHeaders) -> Self {
        self.edit(|s| s.headers = headers)
    }

    /// Requests under `path_prefix` (whole segments: `/admin` covers `/admin/x`, not
    /// `/administrator`) need `scope` (space separated entries, all required), whatever their
    /// method: [`OAuthLayer::rule`] with [`ScopeRule::new`].
    ///
    /// # Errors
    /// A configuration error for a path or scope that [`ScopeRule::new`] refuses.
    pub fn require_scope(
        self,
        path_prefix: impl Into<String>,
        scope: impl Into<String>,
    ) -> Result<Self, Error> {
        Ok(self.rule(ScopeRule::new(path_prefix, scope)?))
    }

    /// Adds a scope rule. The first rule that covers a request decides: the longest path (in
    /// segments) first, at equal length a rule naming methods before one that does not, then
    /// in the order added; a request no rule covers needs no scope.
    ///
    /// ```
    /// use http::Method;
    /// # use std::sync::Arc;
    /// # use tokengate::resolve::{LocalResolver, TokenCache};
    /// # use tokengate::{oauth::TokenService, secret::Pepper, store::MemoryStore};
    /// use tokengate::auth::{OAuthLayer, ScopeRule};
    ///
    /// # let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"p".to_vec())));
    /// # let cache = TokenCache::builder(LocalResolver::new(tokens, "svc")).build();
    /// let layer = OAuthLayer::new(cache)
    ///     .rule(ScopeRule::new("/reviews", "read")?)
    ///     .rule(ScopeRule::new("/reviews", "write")?.methods([Method::POST, Method::PUT]))
    ///     .rule(ScopeRule::new("/admin", "admin")?.case_insensitive(true));
    /// # let _ = layer;
    /// # Ok::<_, tokengate::Error>(())
    /// ```
    pub fn rule(self, rule: ScopeRule) -> Self {
        self.edit(|s| {
            s.scopes.push(rule);
            s.scopes.sort_by_key(ScopeRule::precedence);
        })
    }

    /// How request paths are canonicalised (default [`PathOptions::default`]: slashes
    /// merged, `%2F` and dot segments refused).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tokengate::resolve::{LocalResolver, TokenCache};
    /// # use tokengate::{oauth::TokenService, secret::Pepper, store::MemoryStore};
    /// use tokengate::auth::OAuthLayer;
    /// use tokengate::path::{EscapedSlashes, PathOptions};
    ///
    /// # let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"p".to_vec())));
    /// # let cache = TokenCache::builder(LocalResolver::new(tokens, "svc")).build();
    /// // An API with `/` in its ids, sent as `%2F`.
    /// let layer = OAuthLayer::new(cache)
    ///     .path_options(PathOptions::default().escaped_slashes(EscapedSlashes::Keep));
    /// # let _ = layer;
    /// ```
    pub fn path_options(self, options: PathOptions) -> Self {
        self.edit(|s| s.path = options)
    }

    /// Accept tokens in the `access_token` query parameter too (RFC 6750 §2.3; off by default:
    /// query strings end up in logs).
    pub fn allow_query_tokens(self, allow: bool) -> Self {
        self.edit(|s| s.allow_query_tokens = allow)
    }

    /// Forward the client's `Authorization` header, or the `access_token` query parameter a
    /// token came in, to the inner service (off by default: both are removed).
    pub fn forward_authorization(self, forward: bool) -> Self {
        self.edit(|s| s.forward_authorization = forward)
    }

    /// How `Authorization: MAC` requests are checked (default [`MacPolicy::default`]). Every
    /// layer checks them: a MAC token passes only so, a bearer token never so. Setting a
    /// policy starts a new, empty replay memory.
    pub fn mac_policy(self, policy: MacPolicy) -> Self {
        self.edit(|s| s.mac = Proof::new(policy))
    }

    /// Whether the layer guards a MAC service: its `WWW-Authenticate` challenges name `MAC`
    /// (`MAC error="invalid_token"`) instead of `Bearer` (default off).
    pub fn mac_challenges(self, mac: bool) -> Self {
        self.edit(|s| s.mac_challenges = mac)
    }

    /// Counts the request outcomes into `metrics` (shared with another layer, or kept from a
    /// layer this one replaces) instead of counters of its own.
    pub(crate) fn with_metrics(self, metrics: Arc<LayerMetrics>) -> Self {
        self.edit(|s| s.metrics = metrics)
    }

    /// The request outcome counters.
    pub fn metrics(&self) -> &Arc<LayerMetrics> {
        &self.settings.metrics
    }

    /// The token cache (for its statistics, or to invalidate entries).
    pub fn cache(&self) -> &TokenCache {
        &self.settings.cache
    }
}

impl<S> Layer<S> for OAuthLayer {
    type Service = OAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OAuthService::new(inner, self.settings.clone())
    }
}

impl Settings {
    /// The index of the scope rule for `method` on `path` (canonical), if one applies; or
    /// `Err(())` when an upstream could read the path under another rule than the one that
    /// decides (see [`ScopeRule`]'s "one rule or none").
    pub(crate) fn scope_rule(
        &self,
        method: &http::Method,
        path: &str,
    ) -> Result<Option<usize>, ()> {
        super::rule::decide(&self.scopes, method, path)
    }
}

pub(crate) fn quotable(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// How requests through an [`OAuthLayer`] ended, for metrics.
///
/// Counted per thread: every request through the layer but `OPTIONS *` increments one of
/// these (a refused request target counts as `invalid_request`), and a
/// counter shared by every core would move between them on each request.
#[derive(Debug, Default)]
pub struct LayerMetrics {
    counts: Striped<Outcomes>,
}

/// One thread's outcome counters.
#[derive(Debug, Default)]
struct Outcomes {
    allowed: AtomicU64,
    no_token: AtomicU64,
    invalid_token: AtomicU64,
    insufficient_scope: AtomicU64,
    invalid_request: AtomicU64,
    unavailable: AtomicU64,
}

impl LayerMetrics {
    pub(crate) fn allowed(&self) {
        self.counts.local().allowed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, rejection: Rejection) {
        let counts = self.counts.local();
        let counter = match rejection {
            Rejection::NoToken => &counts.no_token,
            Rejection::InvalidToken => &counts.invalid_token,
            Rejection::InsufficientScope(_) => &counts.insufficient_scope,
            Rejection::InvalidRequest | Rejection::BadTarget => &counts.invalid_request,
            Rejection::Asterisk => return,
            Rejection::Unavailable => &counts.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(outcome, count)` pairs: `allowed`, `no_token`, `invalid_token`, `insufficient_scope`,
    /// `invalid_request`, `unavailable`.
    pub fn outcomes(&self) -> [(&'static str, u64); 6] {
        let c = &self.counts;
        [
            ("allowed", c.sum(|o| &o.allowed)),
            ("no_token", c.sum(|o| &o.no_token)),
            ("invalid_token", c.sum(|o| &o.invalid_token)),
            ("insufficient_scope", c.sum(|o| &o.insufficient_scope)),
            ("invalid_request", c.sum(|o| &o.invalid_request)),
            ("unavailable", c.sum(|o| &o.unavailable)),
        ]
    }
}
