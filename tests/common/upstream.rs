//! A recording upstream: an HTTP server on a loopback port that keeps every request it
//! receives, to check what the gateway forwarded (and that it forwarded nothing).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

/// A request as the upstream received it (complete: its body was read to the end).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// The request target as received (path and query).
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// The only value of `name`; panics when it is absent or repeated.
    pub fn one(&self, name: &str) -> &str {
        let values: Vec<_> = self.headers.get_all(name).iter().collect();
        assert_eq!(values.len(), 1, "{name}: {:?}", self.headers);
        values[0].to_str().unwrap()
    }
}

/// An HTTP server that records every request it receives (after reading its body) and
/// answers `200 upstream`. Lives as long as the test's runtime.
pub struct Recorder {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Starts one on a fresh loopback port.
    pub async fn start() -> Recorder {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let addr = super::serve(tower::service_fn(move |req: Request<Incoming>| {
            let sink = sink.clone();
            async move {
                let (parts, body) = req.into_parts();
                if let Ok(body) = body.collect().await {
                    sink.lock().unwrap().push(Recorded {
                        method: parts.method,
                        uri: parts.uri.to_string(),
                        headers: parts.headers,
                        body: body.to_bytes(),
                    });
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"upstream"))))
            }
        }))
        .await;
        Recorder { addr, seen }
    }

    /// The requests received since the last call.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}
