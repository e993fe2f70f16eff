//! The recording upstream: an HTTP server (h1 and h2) that records every complete request it
//! receives and answers `200 upstream`, for tests that must assert what reached the upstream
//! behind the gateway.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

/// A request as the upstream received it. Only complete requests (whose body was read to the
/// end) are recorded.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: Method,
    /// The request target as received (path and query).
    pub uri: String,
    /// Every header, as received.
    pub headers: HeaderMap,
    /// The body, when the recorder keeps bodies ([`Recorder::keeping_bodies`]); else empty.
    pub body: Bytes,
    /// The trailer fields that came after the body, if any.
    pub trailers: Option<HeaderMap>,
}

impl Received {
    /// The only value of `name`; panics when it is absent or repeated.
    pub fn one(&self, name: &str) -> &str {
        let values: Vec<_> = self.headers.get_all(name).iter().collect();
        assert_eq!(values.len(), 1, "{name}: {:?}", self.headers);
        values[0].to_str().unwrap()
    }

    /// The names of every header in the identity namespace (containing `oauth`).
    pub fn identity_headers(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k.contains("oauth"))
            .collect()
    }
}

/// The recording upstream; lives as long as the test's runtime.
pub struct Recorder {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Recorder {
    /// Records method, target and headers of every complete request (bodies are read, not
    /// kept).
    pub async fn start() -> Recorder {
        Recorder::spawn(false).await
    }

    /// Like [`Recorder::start`], keeping the bodies too.
    pub async fn keeping_bodies() -> Recorder {
        Recorder::spawn(true).await
    }

    async fn spawn(keep_bodies: bool) -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let addr = super::serve(tower::service_fn(move |req: Request<Incoming>| {
            let sink = sink.clone();
            async move {
                let (parts, body) = req.into_parts();
                if let Ok(body) = body.collect().await {
                    let trailers = body.trailers().cloned();
                    sink.lock().unwrap().push(Received {
                        method: parts.method,
                        uri: parts.uri.to_string(),
                        headers: parts.headers,
                        body: if keep_bodies {
                            body.to_bytes()
                        } else {
                            Bytes::new()
                        },
                        trailers,
                    });
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"upstream"))))
            }
        }))
        .await;
        Recorder { addr, seen }
    }

    /// The requests received since the last call.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// The only request received since the last call; panics (naming `case`) unless there
    /// was exactly one.
    pub fn take_one(&self, case: &str) -> Received {
        let mut seen = self.take();
        assert_eq!(seen.len(), 1, "{case}: {seen:?}");
        seen.pop().unwrap()
    }

    /// Panics (naming `case`) if anything was received since the last call.
    pub fn assert_nothing(&self, case: &str) {
        let seen = self.take();
        assert!(seen.is_empty(), "{case}: forwarded {seen:?}");
    }
}
