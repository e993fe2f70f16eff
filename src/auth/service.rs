//! [`OAuthService`] and its [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::bearer::{self, Source};
use super::layer::Settings;
use super::mac::Signed;
use super::reject::Rejection;
use crate::path::TargetForm;
use crate::resolve::{CachedToken, Lookup};
use crate::Error;

/// The service an [`OAuthLayer`](super::OAuthLayer) wraps around `S`. See the layer for what
/// it does to each request.
#[derive(Debug, Clone)]
pub struct OAuthService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> OAuthService<S> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>) -> Self {
        OAuthService { inner, settings }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, without the layer.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

type LookupFuture = crate::BoxFuture<Result<Lookup, Error>>;

impl<S, B, ResBody> Service<Request<B>> for OAuthService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let settings = &self.settings;
        // One canonical target, before any decision: what the rules match and what is
        // forwarded.
        match settings.path.canonicalize_request(&mut req) {
            Ok(TargetForm::Path) => {}
            Ok(TargetForm::Asterisk) => {
                return ResponseFuture::reject(settings, Rejection::Asterisk)
            }
            Err(_) => return ResponseFuture::reject(settings, Rejection::BadTarget),
        }
        // A `_method` override would run another method than the one the rules decide on.
        if super::has_method_override(req.uri().query()) {
            return ResponseFuture::reject(settings, Rejection::BadTarget);
        }
        // The scope rule that decides, unless an upstream blind to case, `;parameters` or
        // empty segments would read the path under another rule (or none): then 400.
        let Ok(rule) = settings.scope_rule(req.method(), req.uri().path()) else {
            return ResponseFuture::reject(settings, Rejection::BadTarget);
        };
        if !settings.headers.strip(req.headers_mut()) {
            return ResponseFuture::reject(settings, Rejection::InvalidRequest);
        }
        let (key, source, owned, proof) = match bearer::find(&req, settings.allow_query_tokens) {
            Err(_) => return ResponseFuture::reject(settings, Rejection::InvalidRequest),
            // Read before anything rewrites the request: the client signed it as it sent it.
            Ok(None) => match Signed::find(&req, settings.mac.policy.default_port()) {
                Err(_) => return ResponseFuture::reject(settings, Rejection::InvalidRequest),
                Ok(None) => return ResponseFuture::reject(settings, Rejection::NoToken),
                Ok(Some(signed)) if !settings.mac.fresh(&signed) => {
                    return ResponseFuture::reject(settings, Rejection::InvalidToken)
                }
                Ok(Some(signed)) => {
                    let token = signed.id().to_owned();
                    (
                        settings.cache.key(&token),
                        Source::Header,
                        Some(token),
                        Some(signed),
                    )
                }
            },
            Ok(Some((token, source))) => {
                let key = settings.cache.key(&token);
                // The token itself is needed only on a miss, or to forward it.
                let keep = settings.headers.access_token().is_some();
                (key, source, keep.then(|| token.into_owned()), None)
            }
        };
        match settings.cache.cached_key(&key) {
            Some(Lookup::Valid(entry)) => {
                match authorize(
                    settings,
                    entry,
                    rule,
                    &mut req,
                    source,
                    owned.as_deref(),
                    proof.as_ref(),
                ) {
                    Ok(()) => ResponseFuture::inner(self.inner.call(req)),
                    Err(rejection) => ResponseFuture::reject(settings, rejection),
                }
            }
            Some(Lookup::Invalid) => ResponseFuture::reject(settings, Rejection::InvalidToken),
            None => {
                let token = match owned {
                    Some(token) => token,
                    None => match bearer::find(&req, settings.allow_query_tokens) {
                        Ok(Some((token, _))) => token.into_owned(),
                        _ => unreachable!("the token was found above"),
                    },
                };
                if settings.cache.refuse_forged(&token) {
                    return ResponseFuture::reject(settings, Rejection::InvalidToken);
                }
                let cache = settings.cache.clone();
                let ready = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, ready);
                ResponseFuture {
                    state: State::Resolving {
                        resolving: Box::new(Resolving {
                            lookup: Box::pin(async move { cache.resolve(key, token).await }),
                            pending: Some(Pending {
                                req,
                                inner,
                                source,
                                proof,
                                rule,
                            }),
                            settings: settings.clone(),
                        }),
                    },
                }
            }
        }
    }
}

/// Checks that the token is presented as its type demands (`proof`: the request's MAC
/// credentials) and the scope of `rule` (the one that decides, if any), and rewrites the
/// request for the inner service.
fn authorize<B>(
    settings: &Settings,
    entry: CachedToken,
    rule: Option<usize>,
    req: &mut Request<B>,
    source: Source,
    token: Option<&str>,
    proof: Option<&Signed>,
) -> Result<(), Rejection> {
    settings.mac.check(&entry, proof)?;
    if let Some(rule) = rule {
        if !entry.has_scope(settings.scopes[rule].scope()) {
            return Err(Rejection::InsufficientScope(rule));
        }
    }
    crate::proxy::strip_hop_by_hop(req.headers_mut());
    // The client's credential stays here unless asked for, wherever it came from. A MAC
    // signature never travels on: another node would accept it again within the window.
    if !settings.forward_authorization || proof.is_some() {
        match source {
            Source::Header => {
                req.headers_mut().remove(AUTHORIZATION);
            }
            Source::Query => bearer::remove_query_token(req.uri_mut()),
        }
    }
    let headers = req.headers_mut();
    let names = &settings.headers;
    headers.insert(names.client_id().clone(), entry.client_id_header().clone());
    if let Some(scope) = entry.scope_header() {
        headers.insert(names.scope().clone(), scope.clone());
    }
    if let Some(user_context) = entry.user_context_header() {
        headers.insert(names.user_context().clone(), user_context.clone());
    }
    if let (Some(name), Some(token)) = (names.access_token(), proof.map(Signed::id).or(token)) {
        if let Ok(mut value) = HeaderValue::from_str(token) {
            value.set_sensitive(true);
            headers.insert(name.clone(), value);
        }
    }
    req.extensions_mut().insert(entry);
    settings.metrics.allowed();
    Ok(())
}

/// A token being resolved, and the request waiting for it. Boxed in the future: only cache
/// misses need it, and a hit's future stays the size of the inner service's.
struct Resolving<S, B> {
    lookup: LookupFuture,
    pending: Option<Pending<S, B>>,
    settings: Arc<Settings>,
}

/// A request waiting for its token to be resolved.
struct Pending<S, B> {
    req: Request<B>,
    inner: S,
    source: Source,
    proof: Option<Signed>,
    /// The scope rule that decides, if any.
    rule: Option<usize>,
}

pin_project! {
    /// The future of [`OAuthService`]: a rejection, the inner service's future (not boxed), or
    /// a token lookup (boxed; only on a cache miss) followed by the inner service's future.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Inner { #[pin] future: S::Future },
        Resolving { resolving: Box<Resolving<S, B>> },
        Rejected { response: Option<S::Response> },
    }
}

impl<S, B, ResBody> ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    fn inner(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    fn reject(settings: &Settings, rejection: Rejection) -> Self {
        settings.metrics.rejected(rejection);
        ResponseFuture {
            state: State::Rejected {
                response: Some(settings.challenges.response(rejection)),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")))
                }
                StateProj::Resolving { resolving } => {
                    let Resolving {
                        lookup,
                        pending,
                        settings,
                    } = &mut **resolving;
                    let outcome = ready!(lookup.as_mut().poll(cx));
                    let Pending {
                        mut req,
                        mut inner,
                        source,
                        proof,
                        rule,
                    } = pending.take().expect("polled after completion");
                    let rejection = match outcome {
                        Ok(Lookup::Valid(entry)) => {
                            let token = match settings.headers.access_token() {
                                Some(_) => bearer::find(&req, settings.allow_query_tokens)
                                    .ok()
                                    .flatten()
                                    .map(|(t, _)| t.into_owned()),
                                None => None,
                            };
                            authorize(
                                settings,
                                entry,
                                rule,
                                &mut req,
                                source,
                                token.as_deref(),
                                proof.as_ref(),
                            )
                            .err()
                        }
                        Ok(Lookup::Invalid) => Some(Rejection::InvalidToken),
                        Err(_) => Some(Rejection::Unavailable),
                    };
                    match rejection {
                        None => State::Inner {
                            future: inner.call(req),
                        },
                        Some(rejection) => {
                            settings.metrics.rejected(rejection);
                            State::Rejected {
                                response: Some(settings.challenges.response(rejection)),
                            }
                        }
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}
