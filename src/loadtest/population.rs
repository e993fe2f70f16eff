//! Who the run acts as (service, client, admin caller) and the token population it prepares
//! through the admin JSON-RPC API before the load starts.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use serde_json::{json, Value};

use super::client::HttpClient;
use super::mix::TokenClass;
use super::{BoxError, LoadtestArgs};
use crate::server::Config;

/// Calls per JSON-RPC batch (the API's limit).
const BATCH: usize = 100;

/// The identities a run uses; each is `None` when neither the flags nor the configuration
/// name it.
pub(crate) struct Identities {
    pub(crate) service_key: Option<String>,
    pub(crate) client: Option<(String, String)>,
    pub(crate) admin: Option<(String, String)>,
}

impl Identities {
    /// From the flags, else the configuration file (the only service or
    /// `public.service_key`; the first client with a secret registered for it; the first
    /// admin credentials, `$TOKENGATE_ADMIN_KEY`/`_SECRET` included).
    pub(crate) fn resolve(args: &LoadtestArgs, config: &Config) -> Result<Identities, BoxError> {
        let service_key = args
            .service_key
            .clone()
            .or_else(|| config.public.service_key.clone())
            .or_else(|| match config.services.as_slice() {
                [only] => Some(only.key.clone()),
                _ => None,
            });
        let configured = |id: Option<&str>| {
            config.clients.iter().find(|c| {
                c.secret.is_some()
                    && id.is_none_or(|id| c.client_id == id)
                    && service_key
                        .as_ref()
                        .is_none_or(|key| c.services.contains(key))
            })
        };
        let client = match (&args.client_id, &args.client_secret) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            (Some(id), None) => Some((
                id.clone(),
                configured(Some(id))
                    .and_then(|c| c.secret.clone())
                    .ok_or_else(|| format!("--client-secret is required for client {id}"))?,
            )),
            (None, Some(_)) => return Err("--client-secret needs --client-id".into()),
            (None, None) => configured(None)
                .map(|c| (c.client_id.clone(), c.secret.clone().unwrap_or_default())),
        };
        let admin = match (&args.admin_key, &args.admin_secret) {
            (Some(key), Some(secret)) => Some((key.clone(), secret.clone())),
            (None, None) => config.admin_credentials()?.into_iter().next(),
            _ => return Err("--admin-key and --admin-secret go together".into()),
        };
        Ok(Identities {
            service_key,
            client,
            admin,
        })
    }

    pub(crate) fn service_key(&self) -> Result<&str, BoxError> {
        self.service_key.as_deref().ok_or_else(|| {
            "no service: name it with --service-key (or a configuration file with one service)"
                .into()
        })
    }

    pub(crate) fn client(&self) -> Result<(&str, &str), BoxError> {
        self.client
            .as_ref()
            .map(|(id, secret)| (id.as_str(), secret.as_str()))
            .ok_or_else(|| {
                "no client: name it with --client-id and --client-secret (or a configuration \
                 file with a confidential client of the service)"
                    .into()
            })
    }

    pub(crate) fn admin(&self) -> Result<(&str, &str), BoxError> {
        self.admin
            .as_ref()
            .map(|(k, s)| (k.as_str(), s.as_str()))
            .ok_or_else(|| {
                "no admin credentials: --admin-key and --admin-secret, $TOKENGATE_ADMIN_KEY and \
                 $TOKENGATE_ADMIN_SECRET, or the configuration file's [admin] credentials"
                    .into()
            })
    }
}

/// `Basic base64(user:password)`.
pub(crate) fn basic(user: &str, password: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header value")
}

/// A JSON-RPC `POST` to the admin listener.
pub(crate) fn rpc_request(admin: &Uri, auth: &HeaderValue, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("{admin}v2/json-rpc"))
        .header(AUTHORIZATION, auth.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .expect("a valid request")
}

/// One `createAccessToken` call's parameters.
pub(crate) fn create_params(
    service_key: &str,
    (client_id, secret): (&str, &str),
    grant: &str,
    scope: Option<&str>,
    n: usize,
) -> Value {
    let mut token_data = json!({ "grant_type": grant });
    if let Some(scope) = scope {
        token_data["scope"] = json!(scope);
    }
    let user = (grant == "password").then(|| format!("loadtest-user-{n}"));
    json!([
        service_key,
        { "client_id": client_id, "client_secret": secret },
        token_data,
        null,
        user
    ])
}

/// Makes the `count` calls `call(i)` in batches and returns each call's `result`, in order.
async fn batched(
    http: &HttpClient,
    admin: &Uri,
    auth: &HeaderValue,
    count: usize,
    call: impl Fn(usize) -> Value,
) -> Result<Vec<Value>, BoxError> {
    let mut results = Vec::with_capacity(count);
    for start in (0..count).step_by(BATCH) {
        let calls: Vec<Value> = (start..count.min(start + BATCH))
            .map(|i| {
                let mut c = call(i);
                c["jsonrpc"] = json!("2.0");
                c["id"] = json!(i);
                c
            })
            .collect();
        let body = Bytes::from(serde_json::to_vec(&calls)?);
        let answer = http
            .json(rpc_request(admin, auth, body))
            .await
            .map_err(|e| format!("JSON-RPC at {admin}: {e}"))?;
        let mut answers = match answer {
            Value::Array(answers) => answers,
            other => return Err(format!("JSON-RPC at {admin}: unexpected answer {other}").into()),
        };
        answers.sort_by_key(|a| a["id"].as_u64());
        for a in answers {
            if !a["error"].is_null() {
                return Err(format!(
                    "JSON-RPC {}: {}",
                    calls[0]["method"].as_str().unwrap_or(""),
                    a["error"]
                )
                .into());
            }
            results.push(a["result"].clone());
        }
    }
    Ok(results)
}

/// Issues `counts[class]` tokens for the valid, revoked and expired classes, revokes and
/// expires theirs, and returns the tokens by class. Expired tokens are shortened to
/// `expires_in = 1` (the least the API accepts) and this waits until they have expired.
pub(crate) async fn prepare(
    http: &HttpClient,
    admin: &Uri,
    ids: &Identities,
    grant: &str,
    scope: Option<&str>,
    counts: [usize; 4],
) -> Result<[Vec<String>; 4], BoxError> {
    let mut pools: [Vec<String>; 4] = Default::default();
    let total: usize = counts.iter().sum();
    if total == 0 {
        return Ok(pools);
    }
    let (admin_key, admin_secret) = ids.admin()?;
    let auth = basic(admin_key, admin_secret);
    let service_key = ids.service_key()?;
    let client = ids.client()?;
    let created = batched(http, admin, &auth, total, |i| {
        json!({
            "method": "oauth2.createAccessToken",
            "params": create_params(service_key, client, grant, scope, i),
        })
    })
    .await?;
    let mut tokens = created.into_iter().map(|r| {
        r["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("createAccessToken answered without a token: {r}"))
    });
    for class in TokenClass::ALL {
        for _ in 0..counts[class as usize] {
            pools[class as usize].push(tokens.next().expect("one per call")?);
        }
    }
    let revoked = &pools[TokenClass::Revoked as usize];
    batched(http, admin, &auth, revoked.len(), |i| {
        json!({
            "method": "oauth2.revokeAccessToken",
            "params": [service_key, { "client_id": client.0 }, revoked[i]],
        })
    })
    .await?;
    let expired = &pools[TokenClass::Expired as usize];
    if !expired.is_empty() {
        batched(http, admin, &auth, expired.len(), |i| {
            json!({
                "method": "oauth2.updateAccessToken",
                "params": {
                    "service_key": service_key,
                    "client_id": client.0,
                    "client_secret": client.1,
                    "access_token": expired[i],
                    "expires_in": 1,
                },
            })
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(pools)
}
