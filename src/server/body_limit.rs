//! `BodyLimit`: the public listener's request body limit, answered with `413`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::proxy::ProxyBody;

use crate::BoxError;

/// Refuses a request whose `Content-Length` is over the limit with `413` (nothing is
/// forwarded); otherwise hands the inner service a body that fails once more than the limit
/// has arrived (a chunked or h2 body without a length), and answers `413` instead of whatever
/// the inner service made of the failed body (the proxy's `502`).
#[derive(Debug, Clone)]
pub(crate) struct BodyLimit<S> {
    pub(crate) inner: S,
    pub(crate) max: u64,
}

impl<S, B> tower::Service<Request<B>> for BodyLimit<S>
where
    S: tower::Service<Request<LimitedBody<B>>, Response = Response<ProxyBody>, Error = Infallible>,
    B: Body,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = LimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max) {
            return LimitFuture {
                inner: None,
                tripped: None,
            };
        }
        // The server holds a request to its declared length; only a body without one can run
        // past the limit, and only then is the flag needed.
        let tripped = (declared.is_none() && !req.body().is_end_stream())
            .then(|| Arc::new(AtomicBool::new(false)));
        let flag = tripped.clone();
        let req = req.map(|inner| LimitedBody {
            inner,
            remaining: self.max,
            tripped,
        });
        LimitFuture {
            inner: Some(self.inner.call(req)),
            tripped: flag,
        }
    }
}

pin_project! {
    /// The future of [`BodyLimit`]: `413` at once (`inner` is `None`), or the inner service's
    /// response, replaced by `413` when the body ran past the limit meanwhile. Not boxed.
    pub(crate) struct LimitFuture<F> {
        #[pin]
        inner: Option<F>,
        tripped: Option<Arc<AtomicBool>>,
    }
}

impl<F> Future for LimitFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, Infallible>>,
{
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Ok(too_large()));
        };
        let response = ready!(inner.poll(cx))?;
        if this
            .tripped
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Acquire))
        {
            return Poll::Ready(Ok(too_large()));
        }
        Poll::Ready(Ok(response))
    }
}

fn too_large() -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::from("request body too large\n"));
    *res.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// The body is larger than the limit.
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body too large")
    }
}

impl std::error::Error for TooLarge {}

pin_project! {
    /// A request body that fails once more than the limit has arrived.
    pub(crate) struct LimitedBody<B> {
        #[pin]
        inner: B,
        remaining: u64,
        tripped: Option<Arc<AtomicBool>>,
    }
}

impl<B> Body for LimitedBody<B>
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
        match std::task::ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > *this.remaining {
                    if let Some(flag) = this.tripped {
                        flag.store(true, Ordering::Release);
                    }
                    return Poll::Ready(Some(Err(Box::new(TooLarge))));
                }
                *this.remaining -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// `n` chunks of 6 bytes, without a length.
    struct Chunks(u8);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0 == 0 {
                return Poll::Ready(None);
            }
            self.0 -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"123456")))))
        }
    }

    /// Reads the whole body, as the proxy does, and answers 502 when it fails.
    async fn send(req: Request<Chunks>) -> StatusCode {
        let reader = tower::service_fn(|req: Request<LimitedBody<Chunks>>| async move {
            let status = match req.into_body().collect().await {
                Ok(_) => StatusCode::OK,
                Err(_) => StatusCode::BAD_GATEWAY,
            };
            let mut res = Response::new(ProxyBody::empty());
            *res.status_mut() = status;
            Ok::<_, Infallible>(res)
        });
        let limit = BodyLimit {
            inner: reader,
            max: 10,
        };
        limit.oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn declared_and_streamed_lengths_are_limited() {
        assert_eq!(send(Request::new(Chunks(1))).await, StatusCode::OK);
        assert_eq!(
            send(Request::new(Chunks(2))).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let declared = Request::post("/")
            .header(CONTENT_LENGTH, "11")
            .body(Chunks(0))
            .unwrap();
        assert_eq!(send(declared).await, StatusCode::PAYLOAD_TOO_LARGE);
        let fits = Request::post("/")
            .header(CONTENT_LENGTH, "6")
            .body(Chunks(1))
            .unwrap();
        assert_eq!(send(fits).await, StatusCode::OK);
    }
}
