//! [`RemoteResolver`]: `oauth2.fetchAccessToken` over HTTP or HTTPS, for gateway nodes without
//! a store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::json;

use super::Resolve;
use crate::model::{GrantType, TokenInfo, TokenType};
use crate::secret::TagKey;
use crate::tls::Connector;
use crate::Error;

/// Largest answer read from the remote service.
const MAX_ANSWER: usize = 64 * 1024;

/// Resolves tokens by calling `oauth2.fetchAccessToken` on a tokengate (or Mashery-compatible)
/// JSON-RPC endpoint, with a pooled hyper client and admin credentials (HTTP Basic). An
/// `https` endpoint's certificate is verified (the system's roots, or
/// [`RemoteResolver::tls_config`]) and must name the endpoint's host.
///
/// An `-2001` answer is an invalid token; anything else that is not a result (HTTP failure,
/// timeout, other errors) is an error, so the gateway answers 503 rather than 401.
///
/// Given the token service's tag key ([`RemoteResolver::tag_key`]), it refuses tokens whose
/// integrity tag is wrong without a call; without it, every uncached token costs one call
/// (the [`TokenCache`](super::TokenCache)'s negative cache then absorbs repeats).
///
/// ```
/// use std::time::Duration;
/// use tokengate::resolve::RemoteResolver;
/// let resolver = RemoteResolver::new(
///     "http://127.0.0.1:8081/v2/json-rpc".parse().unwrap(),
///     "rmeqcgpw3zu2y47y9bs8vs2h",
///     "ops",
///     "change-me",
/// )
/// .timeout(Duration::from_secs(2));
/// # let _ = resolver;
/// ```
#[derive(Debug, Clone)]
pub struct RemoteResolver {
    client: Client<Connector, Full<Bytes>>,
    tls: Option<Arc<rustls::ClientConfig>>,
    offer_http2: bool,
    endpoint: Uri,
    service_key: String,
    authorization: HeaderValue,
    timeout: Duration,
    tags: Option<TagKey>,
}

impl RemoteResolver {
    /// A resolver calling `endpoint` (e.g. `http://auth:8081/v2/json-rpc`) for `service_key`,
    /// authenticating with `key` and `secret`.
    pub fn new(endpoint: Uri, service_key: impl Into<String>, key: &str, secret: &str) -> Self {
        let mut authorization = HeaderValue::from_str(&format!(
            "Basic {}",
            STANDARD.encode(format!("{key}:{secret}"))
        ))
        .expect("base64 is a valid header value");
        authorization.set_sensitive(true);
        let tls = crate::tls::for_uri(&endpoint);
        RemoteResolver {
            client: client(tls.as_ref(), false),
            tls,
            offer_http2: false,
            endpoint,
            service_key: service_key.into(),
            authorization,
            timeout: Duration::from_secs(5),
            tags: None,
        }
    }

    /// Checks the integrity tag of tokens before calling: `key` is the token service's
    /// ([`Pepper::tag_key_hex`](crate::secret::Pepper::tag_key_hex) there,
    /// [`TagKey::from_hex`] here). Only for a tokengate token service: tokens of another issuer
    /// carry no tag and would all be refused.
    pub fn tag_key(mut self, key: TagKey) -> Self {
        self.tags = Some(key);
        self
    }

    /// The TLS client configuration for an `https` endpoint, e.g. trusting only the token
    /// service's CA ([`crate::tls::client_config`]). Ignored for `http`.
    ///
    /// ```no_run
    /// use tokengate::resolve::RemoteResolver;
    /// use tokengate::tls::{client_config, Roots};
    ///
    /// let tls = client_config(&Roots::CaFile("auth-ca.pem".into())).unwrap();
    /// let resolver = RemoteResolver::new(
    ///     "https://auth.internal:8081/v2/json-rpc".parse().unwrap(),
    ///     "rmeqcgpw3zu2y47y9bs8vs2h",
    ///     "ops",
    ///     "change-me",
    /// )
    /// .tls_config(tls);
    /// # let _ = resolver;
    /// ```
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        if self.tls.is_some() {
            self.tls = Some(config);
            self.client = client(self.tls.as_ref(), self.offer_http2);
        }
        self
    }

    /// Whether to offer HTTP/2 by ALPN to an `https` endpoint (default `false`).
    pub fn offer_http2(mut self, enabled: bool) -> Self {
        self.offer_http2 = enabled;
        self.client = client(self.tls.as_ref(), enabled);
        self
    }

    /// How long one call may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn call(&self, token: &str) -> Result<serde_json::Value, Error> {
        let body = json!({
            "jsonrpc": "2.0",
            "method": "oauth2.fetchAccessToken",
            "params": [self.service_key, token],
            "id": 1,
        });
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, self.authorization.clone())
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(Error::store)?;
        let exchange = async {
            let res = self.client.request(req).await.map_err(Error::store)?;
            if res.status() != StatusCode::OK {
                return Err(Error::store(format!(
                    "token service answered {}",
                    res.status()
                )));
            }
            let bytes = Limited::new(res.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(Error::store)?
                .to_bytes();
            serde_json::from_slice(&bytes).map_err(Error::store)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::store("token service timed out"))?
    }
}

/// A pooled client over TCP, or TLS with `tls`.
fn client(
    tls: Option<&Arc<rustls::ClientConfig>>,
    offer_http2: bool,
) -> Client<Connector, Full<Bytes>> {
    let connector =
        crate::tls::connector(tls, offer_http2 && tls.is_some(), Duration::from_secs(90));
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The `fetchAccessToken` result object.
#[derive(Deserialize)]
struct Fetched {
    client_id: String,
    token_type: String,
    grant_type: String,
    expires: String,
    scope: Option<String>,
    user_context: Option<String>,
    extended: Option<Extended>,
}

#[derive(Deserialize)]
struct Extended {
    secret: String,
    algorithm: String,
}

impl Fetched {
    fn into_info(self, service_key: &str) -> Result<TokenInfo, Error> {
        let bad = |what: &str| Error::store(format!("token service sent a bad {what}"));
        let expires = time::OffsetDateTime::parse(
            &self.expires,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| bad("expires"))?;
        let token_type = match (self.token_type.as_str(), &self.extended) {
            ("mac", Some(ext)) => {
                TokenType::Mac(ext.algorithm.parse().map_err(|_| bad("algorithm"))?)
            }
            ("bearer", _) => TokenType::Bearer,
            _ => return Err(bad("token_type")),
        };
        Ok(TokenInfo {
            service_key: service_key.to_owned(),
            client_id: self.client_id,
            token_type,
            grant_type: self
                .grant_type
                .parse::<GrantType>()
                .map_err(|_| bad("grant_type"))?,
            scope: self.scope,
            user_context: self.user_context,
            expires_at: (expires.unix_timestamp_nanos() / 1_000_000) as i64,
            mac_secret: self.extended.map(|e| e.secret),
        })
    }
}

#[async_trait]
impl Resolve for RemoteResolver {
    async fn resolve(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        let answer = self.call(token).await?;
        if let Some(result) = answer.get("result").filter(|r| !r.is_null()) {
            let fetched: Fetched = serde_json::from_value(result.clone()).map_err(Error::store)?;
            return fetched.into_info(&self.service_key).map(Some);
        }
        match answer.pointer("/error/code").and_then(|c| c.as_i64()) {
            Some(crate::rpc::error::OAUTH_ERROR) => Ok(None),
            _ => Err(Error::store("token service answered an error")),
        }
    }

    fn may_know(&self, token: &str) -> bool {
        self.tags.as_ref().is_none_or(|tags| tags.verifies(token))
    }
}
