//! The public listener's route table, built from `[[routes]]` (and `[public] upstream` as the
//! last, catch-all route when both are set).

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use tower::util::BoxCloneSyncService;
use tower::Layer;

use super::body_limit::BodyLimit;
use super::carry::Carry;
use super::config::{PublicConfig, RouteAuth, RouteConfig};
use super::metrics::{Metrics, RouteMetrics, TimedService};
use super::protect;
use crate::model::Service as ServiceSettings;
use crate::oauth::TokenService;
use crate::proxy::ProxyBody;
use crate::route::{Route, RouteTable, StripIdentity, StripPrefix, UpstreamPool};
use crate::Error;

/// One route's stack, boxed: the routes' stacks differ in type (with or without the layer).
pub(crate) type RouteService =
    BoxCloneSyncService<Request<Incoming>, Response<ProxyBody>, Infallible>;

/// The table the public listener routes by.
pub(crate) type RoutedApi = RouteTable<RouteService>;

/// Builds the table: each route's service key must name a stored service (an error names the
/// route and key); routes of one service share its token cache, which a reload keeps (see
/// [`Carry`]).
pub(crate) async fn route_table(
    routes: &[RouteConfig],
    public: &PublicConfig,
    tokens: &Arc<TokenService>,
    metrics: &Metrics,
    carry: &mut Carry,
    access_log: bool,
) -> Result<RoutedApi, Error> {
    let mut all: Vec<(String, RouteConfig)> = routes
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("routes[{i}]"), r.clone()))
        .collect();
    if let Some(catch_all) = catch_all(public, tokens).await? {
        all.push(("public".to_owned(), catch_all));
    }
    let mut built = Vec::with_capacity(all.len());
    for (at, route) in &all {
        let service = match (&route.auth, &route.service_key) {
            (RouteAuth::Oauth, Some(key)) => Some(stored_service(tokens, key, at, route).await?),
            _ => None,
        };
        let stats = carry.upstream_stats(&route.name);
        let pool = UpstreamPool::new(
            route
                .upstream_uris(at)?
                .into_iter()
                .map(|uri| protect::proxy(public, uri, route.upstream_timeout(public)))
                .collect::<Result<Vec<_>, _>>()?,
        )?
        .mark_out_for(route.mark_out());
        let pool = carry.upstream_pool(&route.name, pool);
        let matcher = route.route_match(at)?;
        let prefix = if route.strip_prefix {
            matcher.path_prefix().to_owned()
        } else {
            "/".to_owned()
        };
        let upstream = TimedService {
            inner: TimedService {
                inner: StripPrefix::new(pool, &prefix),
                stats: stats.clone(),
                access: false,
            },
            stats: metrics.upstream.clone(),
            access: access_log,
        };
        let identity = route.identity_headers(public, at)?;
        let max = route.max_body_bytes(public);
        let (stack, layer_metrics): (RouteService, _) = match service {
            Some(service) => {
                let cache =
                    protect::token_cache(public, tokens, &service.key, &metrics.resolve, carry);
                let allow_query = route
                    .allow_query_tokens
                    .or(public.allow_query_tokens)
                    .unwrap_or(service.allow_query_tokens);
                let mut layer = protect::oauth_layer(
                    public,
                    cache,
                    &service,
                    identity,
                    allow_query,
                    route
                        .forward_authorization
                        .unwrap_or(public.forward_authorization),
                )?;
                for rule in route.scope_rules(at)? {
                    layer = layer.rule(rule);
                }
                let layer = layer.with_metrics(carry.layer_metrics(&route.name));
                let layer_metrics = layer.metrics().clone();
                let stack = BodyLimit {
                    inner: layer.layer(upstream),
                    max,
                };
                (BoxCloneSyncService::new(stack), Some(layer_metrics))
            }
            None => {
                let stack = BodyLimit {
                    inner: StripIdentity::new(upstream, identity).forward_authorization(
                        route
                            .forward_authorization
                            .unwrap_or(public.forward_authorization),
                    ),
                    max,
                };
                (BoxCloneSyncService::new(stack), None)
            }
        };
        tracing::info!(
            route = %route.name,
            matches = %matcher,
            service = route.service_key.as_deref().unwrap_or("none (public route)"),
            upstreams = route.upstream_uris(at)?.len(),
            "route"
        );
        carry.metrics.routes.push(RouteMetrics {
            name: route.name.clone(),
            layer: layer_metrics,
            upstream: stats,
        });
        built.push(Route::new(route.name.as_str(), matcher, stack));
    }
    Ok(RouteTable::new(built)?.path_options(public.path_options()?))
}

/// `[public] upstream` as the route `public` (any host, `/`), with `[public]`'s service and
/// scope rules, when it is set.
async fn catch_all(
    public: &PublicConfig,
    tokens: &TokenService,
) -> Result<Option<RouteConfig>, Error> {
    let Some(upstream) = &public.upstream else {
        return Ok(None);
    };
    let service_key = match &public.service_key {
        Some(key) => key.clone(),
        None => {
            let mut services = tokens.store().services().await?;
            if services.len() != 1 {
                return Err(Error::config(
                    "public.service_key: required with [[routes]] and public.upstream (the \
                     catch-all route `public`) unless the store holds exactly one service",
                ));
            }
            services.pop().map(|s| s.key).unwrap_or_default()
        }
    };
    Ok(Some(RouteConfig {
        name: "public".to_owned(),
        service_key: Some(service_key),
        upstream: Some(upstream.clone()),
        require_scopes: public.require_scopes.clone(),
        ..RouteConfig::default()
    }))
}

async fn stored_service(
    tokens: &TokenService,
    key: &str,
    at: &str,
    route: &RouteConfig,
) -> Result<ServiceSettings, Error> {
    tokens.store().service(key).await?.ok_or_else(|| {
        Error::config(format!(
            "{at}.service_key: route `{}` names service `{key}`, which is neither in the \
             store nor in [[services]]",
            route.name
        ))
    })
}
