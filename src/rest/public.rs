//! [`PublicEndpoints`]: the standard endpoints of one or several services behind one router.

use std::collections::HashMap;
use std::sync::Arc;

use http::Request;
use http_body::Body;

use super::shared::{BoxError, RestResponse};
use super::{
    EndpointUrls, IntrospectionEndpoint, MetadataEndpoint, RevocationEndpoint, TokenEndpoint,
    DEFAULT_MAX_FORM_BYTES,
};
use crate::oauth::TokenService;
use crate::rpc::Credentials;
use crate::Error;

/// The RFC 8414 well-known path.
const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

/// The public, standard endpoints of the services a process serves, routed by path, as a
/// `tower::Service` with `Error = Infallible`:
///
/// | path | endpoint |
/// |---|---|
/// | `POST /oauth2/token` | [`TokenEndpoint`] (RFC 6749) |
/// | `POST /oauth2/introspect` | [`IntrospectionEndpoint`] (RFC 7662) |
/// | `POST /oauth2/revoke` | [`RevocationEndpoint`] (RFC 7009) |
/// | `GET /.well-known/oauth-authorization-server` | [`MetadataEndpoint`] (RFC 8414) |
///
/// * **One service**: those paths serve it; its issuer is the configured issuer.
/// * **Several services**: each one's endpoints are under `/oauth2/{service_key}/` (`token`,
///   `introspect`, `revoke`), its issuer is `{issuer}/oauth2/{service_key}` and its metadata is
///   at `/.well-known/oauth-authorization-server/oauth2/{service_key}` (RFC 8414 §3.1). The
///   unprefixed paths serve the service named by [`PublicEndpoints::default_service`], if any.
///
/// Endpoint URLs in metadata are the issuer base followed by these paths, so the issuer is the
/// public base URL clients reach this router at (`https://auth.example.com`). Every other path
/// gets an empty 404, so the router can sit in front of other services; [`PublicEndpoints::owns`]
/// tells in advance whether a path is one of its own.
///
/// ```
/// use std::sync::Arc;
/// use tokengate::oauth::TokenService;
/// use tokengate::rest::PublicEndpoints;
/// use tokengate::secret::Pepper;
/// use tokengate::store::MemoryStore;
///
/// let tokens = Arc::new(TokenService::new(Arc::new(MemoryStore::new()), Pepper::new(b"pepper".to_vec())));
/// let public = PublicEndpoints::new(tokens, ["rmeqcgpw3zu2y47y9bs8vs2h"], "https://auth.example.com")?;
/// assert!(public.owns("/oauth2/token"));
/// assert!(!public.owns("/api/reviews"));
/// # Ok::<_, tokengate::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PublicEndpoints {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    tokens: Arc<TokenService>,
    services: Vec<String>,
    issuer: String,
    default: Option<String>,
    admin: Credentials,
    authorization_endpoint: Option<String>,
    max_body: usize,
    /// Built from the settings above by [`Inner::mount`].
    routes: Routes,
}

#[derive(Debug, Clone, Default)]
struct Routes {
    /// The unprefixed paths.
    default: Option<Mount>,
    /// `/oauth2/{key}/…`, with several services.
    by_key: HashMap<String, Mount>,
}

/// The four endpoints of one service at one place.
#[derive(Debug, Clone)]
struct Mount {
    token: TokenEndpoint,
    introspect: IntrospectionEndpoint,
    revoke: RevocationEndpoint,
    metadata: MetadataEndpoint,
}

/// Which endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Token,
    Introspect,
    Revoke,
    Metadata,
}

impl PublicEndpoints {
    /// The endpoints of `services` (at least one), with `issuer` the public base URL (an
    /// `https` or `http` URL without query or fragment; a trailing `/` is dropped).
    ///
    /// A configuration error ([`Error::is_config`]) when `services` is empty or repeats a key,
    /// a key contains `/`, or the issuer is not such a URL.
    pub fn new<I, S>(
        tokens: Arc<TokenService>,
        services: I,
        issuer: impl AsRef<str>,
    ) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let services: Vec<String> = services.into_iter().map(Into::into).collect();
        if services.is_empty() {
            return Err(Error::config(
                "the public endpoints need at least one service",
            ));
        }
        for (i, key) in services.iter().enumerate() {
            if key.is_empty() || key.contains('/') {
                return Err(Error::config(format!(
                    "service key {key:?} cannot be a path segment"
                )));
            }
            if services[..i].contains(key) {
                return Err(Error::config(format!("service key {key:?} is repeated")));
            }
        }
        let mut inner = Inner {
            tokens,
            services,
            issuer: issuer_base(issuer.as_ref())?,
            default: None,
            admin: Credentials::default(),
            authorization_endpoint: None,
            max_body: DEFAULT_MAX_FORM_BYTES,
            routes: Routes::default(),
        };
        inner.mount();
        Ok(PublicEndpoints {
            inner: Arc::new(inner),
        })
    }

    fn configure(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        change(inner);
        inner.mount();
        self
    }

    /// With several services, also serves `service_key` at the unprefixed paths
    /// (`/oauth2/token`, …), with the configured issuer as its issuer. A configuration error
    /// when it is not one of the services.
    pub fn default_service(self, service_key: &str) -> Result<Self, Error> {
        if !self.inner.services.iter().any(|s| s == service_key) {
            return Err(Error::config(format!(
                "default service {service_key:?} is not one of the public endpoints' services"
            )));
        }
        let key = service_key.to_owned();
        Ok(self.configure(|inner| inner.default = Some(key)))
    }

    /// Lets callers presenting these admin credentials (HTTP Basic) use the introspection
    /// endpoints, besides the services' confidential clients.
    pub fn admin_credentials(self, credentials: Credentials) -> Self {
        self.configure(|inner| inner.admin = credentials)
    }

    /// Publishes `url` as the `authorization_endpoint` in the metadata: the provider's page
    /// that authenticates the user, asks for consent and calls `createAuthorizationCode`.
    pub fn authorization_endpoint(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.configure(|inner| inner.authorization_endpoint = Some(url))
    }

    /// Largest request body of the form endpoints (default [`DEFAULT_MAX_FORM_BYTES`]).
    pub fn max_body_bytes(self, limit: usize) -> Self {
        self.configure(|inner| inner.max_body = limit)
    }

    /// The issuer of the unprefixed paths (the configured base URL, without trailing `/`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The URLs published for `service_key`: at the unprefixed paths for the single or
    /// default service, else under `/oauth2/{service_key}`. `None` for a service not served.
    pub fn urls(&self, service_key: &str) -> Option<&EndpointUrls> {
        let routes = &self.inner.routes;
        routes
            .by_key
            .get(service_key)
            .or_else(|| {
                routes
                    .default
                    .as_ref()
                    .filter(|m| m.token.service_key() == service_key)
            })
            .map(|m| m.metadata.urls())
    }

    /// Whether `path` is one of the router's endpoints.
    pub fn owns(&self, path: &str) -> bool {
        self.inner.route(path).is_some()
    }

    pub(crate) async fn handle<B>(&self, req: Request<B>) -> RestResponse
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let Some((mount, which)) = self.inner.route(req.uri().path()) else {
            return super::shared::empty(http::StatusCode::NOT_FOUND);
        };
        match which {
            Which::Token => mount.token.handle(req).await,
            Which::Introspect => mount.introspect.handle(req).await,
            Which::Revoke => mount.revoke.handle(req).await,
            Which::Metadata => mount.metadata.handle(req).await,
        }
    }
}

impl Inner {
    /// Builds the routes from the settings.
    fn mount(&mut self) {
        let single = self.services.len() == 1;
        let default = if single {
            self.services.first().cloned()
        } else {
            self.default.clone()
        };
        self.routes = Routes {
            default: default.map(|key| self.endpoints(&key, "", "/oauth2")),
            by_key: if single {
                HashMap::new()
            } else {
                self.services
                    .iter()
                    .map(|key| {
                        let prefix = format!("/oauth2/{key}");
                        (key.clone(), self.endpoints(key, &prefix, &prefix))
                    })
                    .collect()
            },
        };
    }

    /// A service's endpoints, with `issuer_path` appended to the issuer and the endpoints at
    /// `{prefix}/token` etc.
    fn endpoints(&self, key: &str, issuer_path: &str, prefix: &str) -> Mount {
        let issuer = format!("{}{issuer_path}", self.issuer);
        let url = |name: &str| format!("{}{prefix}/{name}", self.issuer);
        let urls = EndpointUrls {
            issuer: issuer.clone(),
            token_endpoint: url("token"),
            introspection_endpoint: url("introspect"),
            revocation_endpoint: url("revoke"),
            authorization_endpoint: self.authorization_endpoint.clone(),
        };
        Mount {
            token: TokenEndpoint::new(self.tokens.clone(), key).max_body_bytes(self.max_body),
            introspect: IntrospectionEndpoint::new(self.tokens.clone(), key, issuer)
                .admin_credentials(self.admin.clone())
                .max_body_bytes(self.max_body),
            revoke: RevocationEndpoint::new(self.tokens.clone(), key).max_body_bytes(self.max_body),
            metadata: MetadataEndpoint::new(self.tokens.clone(), key, urls),
        }
    }

    fn route(&self, path: &str) -> Option<(&Mount, Which)> {
        let endpoint = |name: &str| match name {
            "token" => Some(Which::Token),
            "introspect" => Some(Which::Introspect),
            "revoke" => Some(Which::Revoke),
            _ => None,
        };
        if let Some(rest) = path.strip_prefix(WELL_KNOWN) {
            if rest.is_empty() {
                return self.routes.default.as_ref().map(|m| (m, Which::Metadata));
            }
            let key = rest.strip_prefix("/oauth2/")?;
            return self.routes.by_key.get(key).map(|m| (m, Which::Metadata));
        }
        let rest = path.strip_prefix("/oauth2/")?;
        match rest.split_once('/') {
            None => Some((self.routes.default.as_ref()?, endpoint(rest)?)),
            Some((key, name)) => Some((self.routes.by_key.get(key)?, endpoint(name)?)),
        }
    }
}

/// Checks and normalizes the issuer base URL.
fn issuer_base(issuer: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::config(format!("issuer {issuer:?} {why}"));
    let url = url::Url::parse(issuer).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("must be an https (or http) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

super::endpoint_service!(PublicEndpoints);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Pepper;
    use crate::store::MemoryStore;

    fn tokens() -> Arc<TokenService> {
        Arc::new(TokenService::new(
            Arc::new(MemoryStore::new()),
            Pepper::new(b"pepper".to_vec()),
        ))
    }

    #[test]
    fn one_service_is_served_at_the_plain_paths() {
        let public = PublicEndpoints::new(tokens(), ["svc"], "https://auth.example.com/").unwrap();
        assert_eq!(public.issuer(), "https://auth.example.com");
        for path in [
            "/oauth2/token",
            "/oauth2/introspect",
            "/oauth2/revoke",
            "/.well-known/oauth-authorization-server",
        ] {
            assert!(public.owns(path), "{path}");
        }
        for path in [
            "/oauth2/svc/token",
            "/oauth2/authorize",
            "/oauth2/token/",
            "/oauth2/access_token/x",
            "/.well-known/oauth-authorization-server/oauth2/svc",
            "/.well-known/openid-configuration",
            "/",
        ] {
            assert!(!public.owns(path), "{path}");
        }
        let urls = public.urls("svc").unwrap();
        assert_eq!(urls.issuer, "https://auth.example.com");
        assert_eq!(urls.token_endpoint, "https://auth.example.com/oauth2/token");
        assert!(public.urls("other").is_none());
    }

    #[test]
    fn several_services_are_served_under_their_keys() {
        let public =
            PublicEndpoints::new(tokens(), ["a", "b"], "https://auth.example.com").unwrap();
        assert!(public.owns("/oauth2/a/token"));
        assert!(public.owns("/oauth2/b/revoke"));
        assert!(public.owns("/.well-known/oauth-authorization-server/oauth2/b"));
        assert!(!public.owns("/oauth2/c/token"));
        assert!(!public.owns("/oauth2/token"), "no default service");
        assert!(!public.owns("/.well-known/oauth-authorization-server"));
        let b = public.urls("b").unwrap();
        assert_eq!(b.issuer, "https://auth.example.com/oauth2/b");
        assert_eq!(
            b.revocation_endpoint,
            "https://auth.example.com/oauth2/b/revoke"
        );

        let public = public.default_service("b").unwrap();
        assert!(public.owns("/oauth2/token"));
        assert!(public.owns("/.well-known/oauth-authorization-server"));
        assert!(public.owns("/oauth2/a/token"));
        assert!(public.clone().default_service("c").is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let none: [&str; 0] = [];
        assert!(PublicEndpoints::new(tokens(), none, "https://a.example")
            .unwrap_err()
            .is_config());
        assert!(PublicEndpoints::new(tokens(), ["a", "a"], "https://a.example").is_err());
        assert!(PublicEndpoints::new(tokens(), ["a/b"], "https://a.example").is_err());
        for issuer in [
            "auth.example.com",
            "ftp://a.example",
            "https://a.example?x=1",
            "https://a.example#f",
        ] {
            assert!(
                PublicEndpoints::new(tokens(), ["a"], issuer).is_err(),
                "{issuer}"
            );
        }
    }
}
