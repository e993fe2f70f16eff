//! RFC 6750 §3 rejections, with their `WWW-Authenticate` values built once.

use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

/// Why the layer refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No token: 401 with a bare challenge.
    NoToken,
    /// Unknown, expired, revoked or another service's token: 401 `invalid_token`.
    InvalidToken,
    /// The route needs a scope the token lacks: 403 `insufficient_scope`. The index names the
    /// rule.
    InsufficientScope(usize),
    /// Malformed request: 400 `invalid_request`.
    InvalidRequest,
    /// The token could not be checked: 503 with `Retry-After`.
    Unavailable,
}

/// The prebuilt challenge values of one layer.
#[derive(Debug, Clone)]
pub(crate) struct Challenges {
    no_token: HeaderValue,
    invalid_token: HeaderValue,
    invalid_request: HeaderValue,
    insufficient_scope: Vec<HeaderValue>,
}

impl Challenges {
    /// Challenges for `realm` and the scopes of the route rules, in order: `Bearer` ones, or
    /// with `mac` the MAC draft's (`MAC`, then its parameters; the draft names no realm).
    pub(crate) fn new<'a>(realm: &str, scopes: impl Iterator<Item = &'a str>, mac: bool) -> Self {
        let value = |s: String| HeaderValue::from_str(&s).expect("realm and scopes are checked");
        let (base, separator) = if mac {
            ("MAC".to_owned(), " ")
        } else {
            (format!("Bearer realm=\"{realm}\""), ", ")
        };
        let with = |params: String| value(format!("{base}{separator}{params}"));
        Challenges {
            no_token: value(base.clone()),
            invalid_token: with("error=\"invalid_token\"".to_owned()),
            invalid_request: with("error=\"invalid_request\"".to_owned()),
            insufficient_scope: scopes
                .map(|s| with(format!("error=\"insufficient_scope\", scope=\"{s}\"")))
                .collect(),
        }
    }

    /// The response for a rejection, with an empty body.
    pub(crate) fn response<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let (status, challenge) = match rejection {
            Rejection::NoToken => (StatusCode::UNAUTHORIZED, Some(&self.no_token)),
            Rejection::InvalidToken => (StatusCode::UNAUTHORIZED, Some(&self.invalid_token)),
            Rejection::InsufficientScope(i) => {
                (StatusCode::FORBIDDEN, self.insufficient_scope.get(i))
            }
            Rejection::InvalidRequest => (StatusCode::BAD_REQUEST, Some(&self.invalid_request)),
            Rejection::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
        };
        let mut res = Response::new(B::default());
        *res.status_mut() = status;
        if let Some(challenge) = challenge {
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, challenge.clone());
        }
        if rejection == Rejection::Unavailable {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res
    }
}
