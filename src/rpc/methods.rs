//! The `oauth2.*` method table: binds params, calls [`TokenService`], shapes results.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::RpcError;
use super::params::Params;
use crate::model::TokenInfo;
use crate::oauth::{
    ClientCredentials, PkceParams, RedirectTarget, TokenChanges, TokenRequest, TokenService,
    TokenStatusFilter,
};
use crate::Error;

/// Most tokens one `fetchAccessToken` list may carry.
pub(crate) const MAX_TOKEN_LIST: usize = 1000;

/// `access_token`: one token or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Runs one call.
pub(crate) async fn dispatch(
    tokens: &TokenService,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    let outcome = match method {
        "oauth2.fetchApplication" => fetch_application(tokens, params).await,
        "oauth2.createAuthorizationCode" => create_authorization_code(tokens, params).await,
        "oauth2.createAccessToken" => create_access_token(tokens, params).await,
        "oauth2.fetchAccessToken" => fetch_access_token(tokens, params).await,
        "oauth2.fetchUserApplications" => fetch_user_applications(tokens, params).await,
        "oauth2.revokeAccessToken" => revoke_access_token(tokens, params).await,
        "oauth2.revokeUserApplication" => revoke_user_application(tokens, params).await,
        "oauth2.updateAccessToken" => update_access_token(tokens, params).await,
        _ => match super::registry::dispatch(tokens, method, params).await {
            Some(outcome) => outcome,
            None => return Err(RpcError::method_not_found()),
        },
    };
    outcome.map_err(|e| match e {
        Failure::Params(e) => e,
        Failure::Core(e) => RpcError::from_error(&e),
    })
}

/// A method's failure: bad params, or the core's error.
pub(crate) enum Failure {
    Params(RpcError),
    Core(Error),
}

impl From<RpcError> for Failure {
    fn from(e: RpcError) -> Self {
        Failure::Params(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

type Outcome = Result<Value, Failure>;

fn to_json<T: serde::Serialize>(value: T) -> Outcome {
    serde_json::to_value(value).map_err(|_| {
        Failure::Params(RpcError::new(
            super::error::INTERNAL_ERROR,
            "Internal error",
        ))
    })
}

async fn fetch_application(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(&["service_key", "client", "uri", "response_type"], params)?;
    let service_key: String = p.required("service_key")?;
    let client: ClientCredentials = p.required("client")?;
    let uri: Option<RedirectTarget> = p.optional("uri")?;
    let response_type: Option<String> = p.optional("response_type")?;
    let app = tokens
        .fetch_application(
            &service_key,
            &client,
            uri.as_ref(),
            response_type.as_deref(),
        )
        .await?;
    to_json(app)
}

async fn create_authorization_code(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(
        &[
            "service_key",
            "client",
            "uri",
            "scope",
            "user_context",
            "response_type",
            "pkce",
        ],
        params,
    )?;
    let service_key: String = p.required("service_key")?;
    let client: ClientCredentials = p.required("client")?;
    let uri: Option<RedirectTarget> = p.optional("uri")?;
    let scope: Option<String> = p.optional("scope")?;
    let user_context: Option<String> = p.optional("user_context")?;
    let response_type: Option<String> = p.optional("response_type")?;
    let pkce: Option<PkceParams> = p.optional("pkce")?;
    let grant = tokens
        .create_authorization_code(
            &service_key,
            &client,
            uri.as_ref(),
            scope.as_deref(),
            user_context.as_deref(),
            response_type.as_deref(),
            pkce.as_ref(),
        )
        .await?;
    to_json(grant)
}

async fn create_access_token(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(
        &["service_key", "client", "token_data", "uri", "user_context"],
        params,
    )?;
    let service_key: String = p.required("service_key")?;
    let client: ClientCredentials = p.required("client")?;
    let token_data: TokenRequest = p.required("token_data")?;
    let uri: Option<RedirectTarget> = p.optional("uri")?;
    let user_context: Option<String> = p.optional("user_context")?;
    let issued = tokens
        .create_access_token(
            &service_key,
            &client,
            &token_data,
            uri.as_ref(),
            user_context.as_deref(),
        )
        .await?;
    to_json(issued)
}

async fn fetch_access_token(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(&["service_key", "access_token"], params)?;
    let service_key: String = p.required("service_key")?;
    match p.required::<OneOrMany>("access_token")? {
        OneOrMany::One(token) => Ok(token_json(
            &tokens.fetch_access_token(&service_key, &token).await?,
        )),
        OneOrMany::Many(list) if list.len() > MAX_TOKEN_LIST => Err(RpcError::invalid_params(
            format!("at most {MAX_TOKEN_LIST} tokens per call"),
        )
        .into()),
        OneOrMany::Many(list) => {
            let found = tokens.fetch_access_tokens(&service_key, &list).await?;
            Ok(Value::Array(
                found
                    .into_iter()
                    .map(|(token, info)| {
                        let mut v = token_json(&info);
                        v["access_token"] = Value::String(token);
                        v
                    })
                    .collect(),
            ))
        }
    }
}

/// The `fetchAccessToken` result object.
pub(crate) fn token_json(info: &TokenInfo) -> Value {
    json!({
        "client_id": info.client_id,
        "token_type": info.token_type.as_str(),
        "grant_type": info.grant_type.as_str(),
        "expires": iso8601(info.expires_at),
        "scope": info.scope,
        "user_context": info.user_context,
        "extended": match (&info.mac_secret, info.token_type) {
            (Some(secret), crate::model::TokenType::Mac(alg)) =>
                json!({"secret": secret, "algorithm": alg.as_str()}),
            _ => Value::Null,
        },
    })
}

/// `2012-01-19T02:20:38Z` from epoch milliseconds (whole seconds, UTC), as `expires` in fetch
/// results; empty when out of range.
///
/// ```
/// assert_eq!(tokengate::rpc::iso8601(1_326_939_638_000), "2012-01-19T02:20:38Z");
/// ```
pub fn iso8601(millis: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

async fn fetch_user_applications(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(&["service_key", "user_context", "token_status"], params)?;
    let service_key: String = p.required("service_key")?;
    let user_context: String = p.required("user_context")?;
    let filter = match p.optional::<String>("token_status")? {
        None => TokenStatusFilter::default(),
        Some(s) => TokenStatusFilter::parse(&s).ok_or_else(|| {
            RpcError::invalid_params("`token_status` must be active, inactive or all")
        })?,
    };
    let apps = tokens
        .fetch_user_applications(&service_key, &user_context, filter)
        .await?;
    to_json(apps)
}

async fn revoke_access_token(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(&["service_key", "client", "access_token"], params)?;
    let service_key: String = p.required("service_key")?;
    let client: ClientCredentials = p.required("client")?;
    let token: String = p.required("access_token")?;
    tokens
        .revoke_access_token(&service_key, &client, &token)
        .await?;
    Ok(Value::Bool(true))
}

async fn revoke_user_application(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(&["service_key", "client", "user_context"], params)?;
    let service_key: String = p.required("service_key")?;
    let client: ClientCredentials = p.required("client")?;
    let user_context: String = p.required("user_context")?;
    tokens
        .revoke_user_application(&service_key, &client, &user_context)
        .await?;
    Ok(Value::Bool(true))
}

async fn update_access_token(tokens: &TokenService, params: Value) -> Outcome {
    let mut p = Params::bind(
        &[
            "service_key",
            "client",
            "access_token",
            "scope",
            "expires_in",
            "user_context",
            "client_id",
            "client_secret",
        ],
        params,
    )?;
    let service_key: String = p.required("service_key")?;
    let nested: Option<ClientCredentials> = p.optional("client")?;
    let flat_id: Option<String> = p.optional("client_id")?;
    let flat_secret: Option<String> = p.optional("client_secret")?;
    let client = match (nested, flat_id) {
        (Some(c), None) if flat_secret.is_none() => c,
        (None, Some(client_id)) => ClientCredentials {
            client_id,
            client_secret: flat_secret.filter(|s| !s.is_empty()),
        },
        _ => {
            return Err(RpcError::invalid_params(
                "give either `client` or `client_id`/`client_secret`",
            )
            .into())
        }
    };
    let token: String = p.required("access_token")?;
    let changes = TokenChanges {
        scope: p.optional("scope")?,
        expires_in: p.optional("expires_in")?,
        user_context: p.optional("user_context")?,
    };
    let info = tokens
        .update_access_token(&service_key, &client, &token, &changes)
        .await?;
    Ok(token_json(&info))
}
