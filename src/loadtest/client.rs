//! The HTTP client: hyper-util's pooled client over plain TCP, with a per-request timeout.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// An HTTP answer, its body read to the end.
    Status(u16),
    /// A JSON-RPC answer carrying an error (HTTP 200).
    RpcError,
    /// No answer within the timeout.
    Timeout,
    /// The connection failed or broke.
    Failed,
}

impl Outcome {
    /// The report's key: `200`, `rpc_error`, `timeout`, `failed`.
    pub(crate) fn key(&self) -> String {
        match self {
            Outcome::Status(code) => code.to_string(),
            Outcome::RpcError => "rpc_error".into(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Failed => "failed".into(),
        }
    }

    /// Whether no HTTP answer came.
    pub(crate) fn is_transport_error(&self) -> bool {
        matches!(self, Outcome::Timeout | Outcome::Failed)
    }
}

/// A cheap-to-clone pooled HTTP/1.1 client.
#[derive(Clone)]
pub(crate) struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client keeping up to `pool` idle connections per host.
    pub(crate) fn new(pool: usize, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpClient { inner, timeout }
    }

    /// Sends `request` and reads the whole answer.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> (Outcome, Bytes) {
        let exchange = async {
            let response = self.inner.request(request).await.ok()?;
            let status = response.status();
            let body = response.into_body().collect().await.ok()?.to_bytes();
            Some((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Some((status, body))) => (Outcome::Status(status.as_u16()), body),
            Ok(None) => (Outcome::Failed, Bytes::new()),
            Err(_) => (Outcome::Timeout, Bytes::new()),
        }
    }

    /// Sends `request`, expecting a 200 with a JSON body; the parsed body or why not.
    pub(crate) async fn json(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<serde_json::Value, String> {
        match self.send(request).await {
            (Outcome::Status(200), body) => {
                serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"))
            }
            (Outcome::Status(code), body) => Err(format!(
                "HTTP {code}{}",
                if code == StatusCode::UNAUTHORIZED.as_u16() || code == 403 {
                    " (check the admin credentials)".to_owned()
                } else {
                    format!(
                        ": {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    )
                }
            )),
            (outcome, _) => Err(format!("no answer ({})", outcome.key())),
        }
    }
}
