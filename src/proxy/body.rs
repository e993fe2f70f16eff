//! [`ProxyBody`], the proxy's response body, and the client's request body on its way
//! upstream.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

use super::pool::PooledBody;
use crate::BoxError;

/// The response body of [`ReverseProxy`](super::ReverseProxy): the upstream's body, streamed as it arrives, or a
/// small body generated locally (the 502/504 texts). A layer in front of the proxy can build
/// its own responses with it too.
///
/// ```
/// use http_body::Body;
/// use tokengate::proxy::ProxyBody;
///
/// let body = ProxyBody::from("bad gateway\n");
/// assert_eq!(body.size_hint().exact(), Some(12));
/// assert!(ProxyBody::empty().is_end_stream());
/// ```
pub struct ProxyBody(pub(super) BodyKind);

/// The bodies that the proxy itself makes are kept as they are; only bodies of other types are
/// boxed.
pub(super) enum BodyKind {
    /// An upstream's response body (holding its pooled connection until it ends).
    Upstream(PooledBody),
    /// Bytes known in advance (or none).
    Full(Full<Bytes>),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl ProxyBody {
    /// Wraps any body with `Bytes` chunks.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use tokengate::proxy::ProxyBody;
    ///
    /// let body = ProxyBody::new(Full::new(Bytes::from_static(b"hello")));
    /// # let _ = body;
    /// ```
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ProxyBody(BodyKind::Boxed(
            body.map_err(|e| -> BoxError { e.into() }).boxed_unsync(),
        ))
    }

    /// A body with no content.
    ///
    /// ```
    /// use http_body::Body;
    /// use tokengate::proxy::ProxyBody;
    ///
    /// assert!(ProxyBody::empty().is_end_stream());
    /// ```
    pub fn empty() -> Self {
        ProxyBody(BodyKind::Full(Full::new(Bytes::new())))
    }
}

impl Default for ProxyBody {
    /// [`ProxyBody::empty`].
    fn default() -> Self {
        ProxyBody::empty()
    }
}

impl From<Bytes> for ProxyBody {
    /// A body of exactly these bytes.
    fn from(bytes: Bytes) -> Self {
        ProxyBody(BodyKind::Full(Full::new(bytes)))
    }
}

impl From<&'static str> for ProxyBody {
    /// A body of exactly this text.
    fn from(text: &'static str) -> Self {
        ProxyBody::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for ProxyBody {
    /// A body of exactly this text.
    fn from(text: String) -> Self {
        ProxyBody::from(Bytes::from(text))
    }
}

impl fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyBody")
            .field("size_hint", &self.size_hint())
            .finish_non_exhaustive()
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Every kind is `Unpin`.
        match &mut self.0 {
            BodyKind::Upstream(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(Into::into))),
            BodyKind::Full(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|never| match never {}))),
            BodyKind::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Upstream(body) => body.is_end_stream(),
            BodyKind::Full(body) => body.is_end_stream(),
            BodyKind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyKind::Upstream(body) => body.size_hint(),
            BodyKind::Full(body) => body.size_hint(),
            BodyKind::Boxed(body) => body.size_hint(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The client's request body on its way upstream, flagging a failure to read it.
    pub(super) struct ClientBody<B> {
        #[pin]
        pub(super) inner: B,
        pub(super) failed: Arc<AtomicBool>,
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => {
                this.failed.store(true, Ordering::Release);
                Poll::Ready(Some(Err(e.into())))
            }
            other => other.map(|frame| frame.map(|f| f.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
