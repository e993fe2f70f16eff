//! The parts of a protected stack that the single-upstream listener and every route share:
//! the token cache of a service, the OAuth layer and the upstream proxy, from `[public]`.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;

use super::carry::{CacheKnobs, CarriedCache, Carry};
use super::config::{PublicConfig, DEFAULT_MAX_CONCURRENT_LOOKUPS};
use super::metrics::{Histogram, TimedResolver};
use crate::auth::{IdentityHeaders, MacPolicy, OAuthLayer};
use crate::model::{Service as ServiceSettings, TokenType};
use crate::oauth::TokenService;
use crate::proxy::ReverseProxy;
use crate::resolve::{LimitedResolver, LocalResolver, TokenCache};
use crate::Error;

/// The token cache for `service`'s tokens (evicted by `tokens`' revocations): the previous
/// snapshot's when a reload keeps it (see [`Carry::cache`]); the first one made is the one
/// `/metrics` shows.
pub(crate) fn token_cache(
    config: &PublicConfig,
    tokens: &Arc<TokenService>,
    service: &str,
    resolve: &Arc<Histogram>,
    carry: &mut Carry,
) -> TokenCache {
    let knobs = CacheKnobs {
        ttl_secs: config.cache_ttl_secs,
        negative_ttl_secs: config.negative_ttl_secs,
        capacity: config.cache_capacity,
        max_concurrent_lookups: config
            .max_concurrent_lookups
            .unwrap_or(DEFAULT_MAX_CONCURRENT_LOOKUPS),
        lookup_wait_ms: config.lookup_wait_ms,
    };
    let CarriedCache {
        cache,
        lookups,
        feed,
        ..
    } = carry.cache(service, knobs, || {
        let lookups = LimitedResolver::new(
            TimedResolver {
                inner: LocalResolver::new(tokens.clone(), service.to_owned()),
                histogram: resolve.clone(),
            },
            knobs.max_concurrent_lookups,
            Duration::from_millis(knobs.lookup_wait_ms),
        );
        let cache = TokenCache::builder(lookups.clone())
            .ttl(Duration::from_secs(knobs.ttl_secs))
            .negative_ttl(Duration::from_secs(knobs.negative_ttl_secs))
            .max_capacity(knobs.capacity)
            .build();
        cache.listen_to(tokens);
        CarriedCache {
            knobs,
            cache,
            lookups,
            feed: Default::default(),
        }
    });
    if carry.metrics.lookups.is_none() {
        carry.metrics.lookups = Some(lookups);
    }
    if carry.metrics.cache.is_none() {
        carry.metrics.cache = Some(cache.clone());
        carry.metrics.feed = feed;
    }
    cache
}

/// The OAuth layer over `cache` with `[public]`'s realm, path, and MAC settings.
pub(crate) fn oauth_layer(
    config: &PublicConfig,
    cache: TokenCache,
    service: &ServiceSettings,
    identity: IdentityHeaders,
    allow_query_tokens: bool,
    forward_authorization: bool,
) -> Result<OAuthLayer, Error> {
    Ok(OAuthLayer::new(cache)
        .realm(&config.realm)?
        .headers(identity)
        .allow_query_tokens(allow_query_tokens)
        .forward_authorization(forward_authorization)
        .path_options(config.path_options()?)
        .mac_policy(
            MacPolicy::default()
                .scheme(&scheme(config))
                .window(Duration::from_secs(config.mac_window_secs))?
                .replay_capacity(config.mac_replay_capacity)?,
        )
        .mac_challenges(matches!(service.token_type, TokenType::Mac(_))))
}

/// The proxy to `uri` with `[public]`'s `drop_request_headers` and the given timeout.
pub(crate) fn proxy(
    config: &PublicConfig,
    uri: Uri,
    timeout: Duration,
) -> Result<ReverseProxy, Error> {
    let mut proxy = ReverseProxy::new(uri)?
        .timeout(timeout)
        .forwarded_header(config.forwarded_header)
        .offer_http2(config.upstream_http2);
    if let Some(ca) = &config.upstream_ca {
        let roots = crate::tls::Roots::CaFile(ca.clone());
        let tls = crate::tls::client_config(&roots)
            .map_err(|e| Error::config(format!("public.upstream_ca: {e}")))?;
        proxy = proxy.tls_config(tls);
    }
    Ok(match config.dropped_headers()? {
        Some(names) => proxy.drop_request_headers(names),
        None => proxy,
    })
}

/// The scheme the public listener serves: `https` with `tls`, else `http`.
pub(crate) fn scheme(config: &PublicConfig) -> http::uri::Scheme {
    match config.tls {
        Some(_) => http::uri::Scheme::HTTPS,
        None => http::uri::Scheme::HTTP,
    }
}
