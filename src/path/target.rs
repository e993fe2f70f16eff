//! The request target as a whole: which request forms are accepted, and the request's URI
//! rewritten to the canonical target.

use http::uri::PathAndQuery;
use http::{Method, Request, Uri};

use super::{PathError, PathOptions};

/// The target a request came with, kept as a request extension when
/// [`PathOptions::canonicalize_request`] rewrote it (the first rewrite's original, if it is
/// run twice): what a client signed, for checks that must see the request as it was sent
/// (MAC signatures). Rules and the upstream never see it.
///
/// ```
/// use tokengate::path::{PathOptions, SentTarget};
///
/// let mut req = http::Request::get("//%61?x=1").body(()).unwrap();
/// PathOptions::default().canonicalize_request(&mut req).unwrap();
/// assert_eq!(req.uri(), "/a?x=1");
/// assert_eq!(req.extensions().get::<SentTarget>().unwrap().as_str(), "//%61?x=1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTarget(PathAndQuery);

impl SentTarget {
    /// The path and query as sent.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// What a request's target turned out to be, once canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetForm {
    /// A path (origin-form, or absolute-form whose path was taken): the request's URI now
    /// holds the canonical path, the query unchanged.
    Path,
    /// `OPTIONS *`: a question to the server itself, answered there, never forwarded.
    Asterisk,
}

impl PathOptions {
    /// Decides the request's target before anything else looks at it, and rewrites the
    /// request's URI to the canonical target (only when it differs: an already canonical one
    /// costs one scan and no allocation). Scheme and authority of an absolute-form target are
    /// kept; the query is kept byte for byte.
    ///
    /// Accepted: a target starting with `/` (HTTP/1.1 origin-form, or the path of an
    /// absolute-form target or of HTTP/2's `:path`), and `*` for `OPTIONS` only.
    ///
    /// # Errors
    /// [`PathError::NotOriginForm`] for `*` with another method, an authority-form target
    /// (`GET admin`, `CONNECT host:443`) or a `:path` that does not start with `/`; any other
    /// [`PathError`] for a path without a canonical form.
    ///
    /// ```
    /// use tokengate::path::{PathError, PathOptions, TargetForm};
    ///
    /// let options = PathOptions::default();
    /// let mut req = http::Request::get("http://host//%61dmin/x?b=%61").body(()).unwrap();
    /// assert_eq!(options.canonicalize_request(&mut req), Ok(TargetForm::Path));
    /// assert_eq!(req.uri(), "http://host/admin/x?b=%61");
    ///
    /// let mut req = http::Request::options("*").body(()).unwrap();
    /// assert_eq!(options.canonicalize_request(&mut req), Ok(TargetForm::Asterisk));
    /// let mut req = http::Request::get("*").body(()).unwrap();
    /// assert_eq!(options.canonicalize_request(&mut req), Err(PathError::NotOriginForm));
    /// let mut req = http::Request::get("admin").body(()).unwrap();
    /// assert_eq!(options.canonicalize_request(&mut req), Err(PathError::NotOriginForm));
    /// ```
    pub fn canonicalize_request<B>(&self, req: &mut Request<B>) -> Result<TargetForm, PathError> {
        let Some(pq) = req.uri().path_and_query() else {
            return Err(PathError::NotOriginForm);
        };
        match pq.as_str().as_bytes().first() {
            Some(b'/') => {}
            Some(b'*') if pq.as_str() == "*" && req.method() == Method::OPTIONS => {
                return Ok(TargetForm::Asterisk)
            }
            _ => return Err(PathError::NotOriginForm),
        }
        let canonical = match self.canonical_path(pq.path())? {
            std::borrow::Cow::Borrowed(_) => return Ok(TargetForm::Path),
            std::borrow::Cow::Owned(path) => path,
        };
        let target = match pq.query() {
            Some(query) => format!("{canonical}?{query}"),
            None => canonical,
        };
        let pq = PathAndQuery::try_from(target).map_err(|_| PathError::TooLong)?;
        // Built aside: on an error the request keeps the URI it came with.
        let mut parts = req.uri().clone().into_parts();
        let sent = parts.path_and_query.replace(pq);
        *req.uri_mut() = Uri::from_parts(parts).map_err(|_| PathError::TooLong)?;
        if let Some(sent) = sent {
            if req.extensions().get::<SentTarget>().is_none() {
                req.extensions_mut().insert(SentTarget(sent));
            }
        }
        Ok(TargetForm::Path)
    }
}
