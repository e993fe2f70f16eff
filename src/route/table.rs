//! [`RouteTable`]: a request to the service of the most specific route that matches it.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use super::{json_error, RouteFuture, RouteMatch};
use crate::path::{PathOptions, TargetForm};
use crate::proxy::ProxyBody;
use crate::Error;

/// One route: a name (for logs and metrics), what it matches and the service that answers.
#[derive(Debug, Clone)]
pub struct Route<S> {
    name: Arc<str>,
    matcher: RouteMatch,
    service: S,
}

impl<S> Route<S> {
    /// A route named `name` taking the requests `matcher` matches to `service`.
    pub fn new(name: impl Into<Arc<str>>, matcher: RouteMatch, service: S) -> Self {
        Route {
            name: name.into(),
            matcher,
            service,
        }
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the route matches.
    pub fn matcher(&self) -> &RouteMatch {
        &self.matcher
    }
}

/// The name of the route a request was routed by, inserted as an extension of the request
/// (for the route's service) and of its response (for the access log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteName(pub Arc<str>);

/// Routes requests by host, path prefix and method to one of several services.
///
/// The request target is first made canonical (see [`crate::path`]; a target without one is
/// `400`, and so is one whose query has a `_method` override; `OPTIONS *` is answered `200`
/// here, as by the OAuth layer, and never routed), then the routes are tried in a
/// fixed order and the first that matches answers:
/// routes for an exact host, then for a `*.domain` wildcard (longer domain first), then for
/// any host; among those, the longer path prefix first; then a route with a method list before
/// one without. No match is `404` with a JSON body, and nothing is forwarded. Two routes with
/// the same host, prefix and a method in common (or both without methods) are refused by
/// [`RouteTable::new`]. A method list naming `GET` takes `HEAD` too.
///
/// A path has one route or none: the route of its canonical path must also be the route an
/// upstream blind to `;parameters` (Tomcat, Spring), to a kept `%2F`, to empty segments or to
/// ASCII case (`/ADMIN` served as `/admin`) would pick, or the request is refused with `400`
/// and nothing is forwarded. So `/admin;x/users` never reaches the public `/` route's upstream
/// beside an `/admin` route, and a route's prefix means what its scope rules mean. (Routing by
/// the blind reading instead would not be safe: an upstream that does read parameters would
/// then receive, on `/docs/x;y`'s public route, a path it serves from elsewhere.)
///
/// Every service is a `tower::Service` with `Error = Infallible` answering
/// `Response<ProxyBody>`; to mix kinds (an [`crate::auth::OAuthService`] around a proxy, a
/// public proxy) box them into one type, e.g. `tower::util::BoxCloneService`.
///
/// ```
/// use http::{Request, StatusCode};
/// use tokengate::proxy::ProxyBody;
/// use tokengate::route::{Route, RouteMatch, RouteTable};
/// use tower::ServiceExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let answer = |text: &'static str| {
///     tower::service_fn(move |_req: Request<String>| async move {
///         Ok::<_, std::convert::Infallible>(http::Response::new(ProxyBody::from(text)))
///     })
/// };
/// let table = RouteTable::new(vec![
///     Route::new("docs", RouteMatch::prefix("/docs").unwrap(), answer("docs")),
///     Route::new("api", RouteMatch::prefix("/api").unwrap(), answer("api")),
/// ])
/// .unwrap();
/// let req = Request::get("/docs/intro").header("host", "x").body(String::new()).unwrap();
/// assert_eq!(table.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
/// let req = Request::get("/other").header("host", "x").body(String::new()).unwrap();
/// assert_eq!(table.oneshot(req).await.unwrap().status(), StatusCode::NOT_FOUND);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RouteTable<S> {
    routes: Arc<[Route<S>]>,
    path: PathOptions,
}

impl<S> RouteTable<S> {
    /// The table of `routes`, sorted into the order of evaluation (ties keep the given
    /// order); an error names the two routes that match the same requests.
    pub fn new(mut routes: Vec<Route<S>>) -> Result<Self, Error> {
        for (i, route) in routes.iter().enumerate() {
            if let Some(other) = routes[..i]
                .iter()
                .find(|other| other.matcher.overlaps(&route.matcher))
            {
                return Err(Error::config(format!(
                    "routes `{}` and `{}` match the same requests ({})",
                    other.name, route.name, route.matcher
                )));
            }
        }
        routes.sort_by(|a, b| a.matcher.precedence(&b.matcher));
        Ok(RouteTable {
            routes: routes.into(),
            path: PathOptions::default(),
        })
    }

    /// How targets are made canonical before matching (default [`PathOptions::default`]);
    /// use the same options as the routes' layers.
    pub fn path_options(mut self, options: PathOptions) -> Self {
        self.path = options;
        self
    }

    /// The routes in their order of evaluation.
    pub fn routes(&self) -> &[Route<S>] {
        &self.routes
    }

    /// The route that takes a request for `host` (without port) with `method` and the
    /// canonical `path`, as the path is written.
    pub fn find(&self, host: Option<&str>, method: &http::Method, path: &str) -> Option<&Route<S>> {
        self.routes
            .iter()
            .find(|route| route.matcher.matches(host, method, path))
    }

    /// The route of [`RouteTable::find`], if it is also the route of the path as an upstream
    /// blind to parameters, `%2F`, empty segments and case reads it; `Err(())` when the two
    /// readings pick different routes (or one picks none).
    fn route_for(
        &self,
        host: Option<&str>,
        method: &http::Method,
        path: &str,
    ) -> Result<Option<&Route<S>>, ()> {
        let exact = self.find(host, method, path);
        let blind = self
            .routes
            .iter()
            .find(|route| route.matcher.matches_blind(host, method, path));
        match (exact, blind) {
            (Some(a), Some(b)) if std::ptr::eq(a, b) => Ok(Some(a)),
            (None, None) => Ok(None),
            _ => Err(()),
        }
    }
}

const NO_ROUTE: &str =
    r#"{"error":"not_found","error_description":"no route matches the request"}"#;
const AMBIGUOUS: &str = r#"{"error":"invalid_request","error_description":"the path reads as another route's path to some upstreams"}"#;
const BAD_TARGET: &str =
    r#"{"error":"invalid_request","error_description":"the request target or host is not valid"}"#;

impl<S, B> Service<Request<B>> for RouteTable<S>
where
    S: Service<Request<B>, Response = Response<ProxyBody>, Error = Infallible> + Clone,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = RouteFuture<Oneshot<S, Request<B>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each route's service is made ready when a request is routed to it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match self.path.canonicalize_request(&mut req) {
            Ok(TargetForm::Path) => {}
            // A question to the server itself, answered here as by the OAuth layer.
            Ok(TargetForm::Asterisk) => {
                return RouteFuture::ready(Response::new(ProxyBody::empty()))
            }
            Err(_) => return RouteFuture::ready(json_error(StatusCode::BAD_REQUEST, BAD_TARGET)),
        }
        // A `_method` override would run another method than the one routed on.
        if crate::auth::has_method_override(req.uri().query()) {
            return RouteFuture::ready(json_error(StatusCode::BAD_REQUEST, BAD_TARGET));
        }
        let Ok(host) = crate::host::request_host(req.headers(), req.uri(), req.version()) else {
            return RouteFuture::ready(json_error(StatusCode::BAD_REQUEST, BAD_TARGET));
        };
        let found = self.route_for(host.map(|h| h.host()), req.method(), req.uri().path());
        let route = match found {
            Ok(Some(route)) => route,
            Ok(None) => return RouteFuture::ready(json_error(StatusCode::NOT_FOUND, NO_ROUTE)),
            Err(()) => return RouteFuture::ready(json_error(StatusCode::BAD_REQUEST, AMBIGUOUS)),
        };
        let service = route.service.clone();
        let name = RouteName(route.name.clone());
        req.extensions_mut().insert(name.clone());
        RouteFuture::routed(service.oneshot(req), name)
    }
}
