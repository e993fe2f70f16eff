//! `[public.cors]`: CORS on the public OAuth endpoints (token, introspect, revoke, metadata),
//! for browser applications on other origins. Off unless configured; the proxied routes never
//! get it.

use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ConfigError;

/// How long a browser may cache a preflight answer when `max_age_secs` is not set.
pub const DEFAULT_CORS_MAX_AGE_SECS: u64 = 600;

/// `[public.cors]`.
///
/// ```
/// use tokengate::server::config::Config;
/// let text = "[public.cors]\norigins = [\"https://app.example.com\"]\nmax_age_secs = 60\n";
/// let config = Config::from_toml(text, None).unwrap();
/// assert_eq!(config.public.cors.unwrap().max_age_secs, 60);
/// let err = Config::from_toml("[public.cors]\norigins = [\"https://a.example/path\"]\n", None)
///     .unwrap_err();
/// assert_eq!(err.key(), Some("public.cors.origins[0]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// The origins whose pages may call the endpoints: `scheme://host[:port]` each (no path),
    /// or `["*"]` for any origin. At least one.
    pub origins: Vec<String>,
    /// How long a browser may cache a preflight answer, in seconds. Default
    /// [`DEFAULT_CORS_MAX_AGE_SECS`].
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            origins: Vec::new(),
            max_age_secs: DEFAULT_CORS_MAX_AGE_SECS,
        }
    }
}

impl CorsConfig {
    /// The tower-http layer: the configured origins, methods `GET`, `POST` (and the preflight's
    /// `OPTIONS`), request headers `Authorization` and `Content-Type`, no credentials mode.
    pub fn layer(&self) -> Result<CorsLayer, ConfigError> {
        if self.origins.is_empty() {
            return Err(ConfigError::at(
                "public.cors.origins",
                "must name at least one origin (leave [public.cors] out for no CORS)",
            ));
        }
        let origin = if self.origins == ["*"] {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(self.origin_values()?)
        };
        Ok(CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE])
            .max_age(Duration::from_secs(self.max_age_secs)))
    }

    /// The origins as browsers send them (`https://app.example.com`, lower case, no default
    /// port).
    fn origin_values(&self) -> Result<Vec<HeaderValue>, ConfigError> {
        let mut values = Vec::new();
        for (i, origin) in self.origins.iter().enumerate() {
            let bad = |why: &str| {
                ConfigError::at(
                    format!("public.cors.origins[{i}]"),
                    format!("`{origin}` {why}"),
                )
            };
            if origin == "*" {
                return Err(bad("is only allowed alone (`origins = [\"*\"]`)"));
            }
            let url = url::Url::parse(origin)
                .map_err(|_| bad("is not an origin such as `https://app.example.com`"))?;
            if !matches!(url.scheme(), "https" | "http")
                || url.host().is_none()
                || !url.username().is_empty()
                || url.password().is_some()
                || url.path() != "/"
                || origin.ends_with('/')
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(bad(
                    "is not an origin: `https://` or `http://`, a host and an optional port, \
                     nothing else",
                ));
            }
            let serialized = url.origin().ascii_serialization();
            values.push(HeaderValue::from_str(&serialized).map_err(|_| bad("is not ASCII"))?);
        }
        Ok(values)
    }
}
