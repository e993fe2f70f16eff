//! The `tokengate.*` methods: what an operator does from the command line (`tokengate client
//! …`, `tokengate token …`), for a remote operator, where Mashery's `oauth2.*` API has no
//! equivalent. On the admin listener with the same credentials; every token they end is
//! evicted from this process's caches before they answer and reaches the other nodes through
//! the store's change feed.
//!
//! | Method | Params | Result |
//! |---|---|---|
//! | `tokengate.setClientStatus` | `client_id`, `status` (`active`/`disabled`) | `true` |
//! | `tokengate.removeClient` | `client_id` | `true` |
//! | `tokengate.rotateClientSecret` | `client_id`, `revoke_tokens`?, `grace_secs`? (default 0) | `{client_id, client_secret, tokens_revoked, old_secret_valid_until}` |
//! | `tokengate.listTokens` | `client_id` or `user_context`, `service_key`? | `[record]` (never a token) |
//! | `tokengate.revokeTokens` | `client_id` or `user_context`, `service_key`? | `{tokens_revoked}` |

use std::time::Duration;

use serde_json::{json, Value};

use super::error::RpcError;
use super::methods::{iso8601, Failure};
use super::params::Params;
use crate::model::{Client, ClientStatus, TokenRecord, UnixMillis};
use crate::oauth::{TokenOwner, TokenService, MAX_SECRET_GRACE_SECS};

/// Runs one `tokengate.*` call; `None` for a method this table does not have.
pub(crate) async fn dispatch(
    tokens: &TokenService,
    method: &str,
    params: Value,
) -> Option<Result<Value, Failure>> {
    Some(match method {
        "tokengate.setClientStatus" => set_client_status(tokens, params).await,
        "tokengate.removeClient" => remove_client(tokens, params).await,
        "tokengate.rotateClientSecret" => rotate_client_secret(tokens, params).await,
        "tokengate.listTokens" => list_tokens(tokens, params).await,
        "tokengate.revokeTokens" => revoke_tokens(tokens, params).await,
        _ => return None,
    })
}

fn no_such_client() -> Failure {
    Failure::Params(RpcError::invalid_params("no client has this `client_id`"))
}

async fn client(tokens: &TokenService, client_id: &str) -> Result<Client, Failure> {
    tokens
        .store()
        .client(client_id)
        .await?
        .ok_or_else(no_such_client)
}

async fn set_client_status(tokens: &TokenService, params: Value) -> Result<Value, Failure> {
    let mut p = Params::bind(&["client_id", "status"], params)?;
    let client_id: String = p.required("client_id")?;
    let status: String = p.required("status")?;
    let status = ClientStatus::parse(&status)
        .ok_or_else(|| RpcError::invalid_params("`status` must be `active` or `disabled`"))?;
    let client = client(tokens, &client_id).await?;
    tokens.put_client(&Client { status, ..client }).await?;
    Ok(Value::Bool(true))
}

async fn remove_client(tokens: &TokenService, params: Value) -> Result<Value, Failure> {
    let mut p = Params::bind(&["client_id"], params)?;
    let client_id: String = p.required("client_id")?;
    if tokens.delete_client(&client_id).await? {
        Ok(Value::Bool(true))
    } else {
        Err(no_such_client())
    }
}

async fn rotate_client_secret(tokens: &TokenService, params: Value) -> Result<Value, Failure> {
    let mut p = Params::bind(&["client_id", "revoke_tokens", "grace_secs"], params)?;
    let client_id: String = p.required("client_id")?;
    let revoke_tokens = p.optional("revoke_tokens")?.unwrap_or(false);
    let grace = p.optional::<u64>("grace_secs")?.unwrap_or(0);
    if grace > MAX_SECRET_GRACE_SECS {
        return Err(RpcError::invalid_params(format!(
            "`grace_secs` is at most {MAX_SECRET_GRACE_SECS} (30 days)"
        ))
        .into());
    }
    let grace = Duration::from_secs(grace);
    client(tokens, &client_id).await?;
    let rotated = tokens
        .rotate_client_secret(&client_id, grace, revoke_tokens)
        .await?
        .ok_or_else(|| RpcError::invalid_params("the client is public: it has no secret"))?;
    Ok(json!({
        "client_id": rotated.client.client_id,
        "client_secret": rotated.secret,
        "tokens_revoked": rotated.tokens_revoked,
        "old_secret_valid_until": rotated.old_valid_until.map(iso8601),
    }))
}

/// `client_id` or `user_context` (exactly one), and `service_key`.
fn owner(params: Value) -> Result<(TokenOwner, Option<String>), Failure> {
    let mut p = Params::bind(&["client_id", "user_context", "service_key"], params)?;
    let client_id: Option<String> = p.optional("client_id")?;
    let user_context: Option<String> = p.optional("user_context")?;
    let owner = match (client_id, user_context) {
        (Some(client_id), None) => TokenOwner::Client(client_id),
        (None, Some(user)) => TokenOwner::User(user),
        _ => {
            return Err(RpcError::invalid_params(
                "give exactly one of `client_id` and `user_context`",
            )
            .into())
        }
    };
    Ok((owner, p.optional("service_key")?))
}

async fn list_tokens(tokens: &TokenService, params: Value) -> Result<Value, Failure> {
    let (owner, service) = owner(params)?;
    let now = tokens.now();
    let records = tokens.find_tokens(&owner, service.as_deref()).await?;
    Ok(Value::Array(
        records.iter().map(|t| record_json(t, now)).collect(),
    ))
}

async fn revoke_tokens(tokens: &TokenService, params: Value) -> Result<Value, Failure> {
    let (owner, service) = owner(params)?;
    let ended = tokens.revoke_tokens_of(&owner, service.as_deref()).await?;
    Ok(json!({ "tokens_revoked": ended }))
}

/// `active`, `revoked` or `expired` at `now`.
pub fn record_status(t: &TokenRecord, now: UnixMillis) -> &'static str {
    if t.revoked {
        "revoked"
    } else if t.is_active(now) {
        "active"
    } else {
        "expired"
    }
}

/// A token record as `tokengate.listTokens` and `tokengate token list --json` show it: never
/// the token, only its record id.
pub fn record_json(t: &TokenRecord, now: UnixMillis) -> Value {
    json!({
        "id": t.id,
        "service_key": t.service_key,
        "client_id": t.client_id,
        "user_context": t.user_context,
        "scope": t.scope,
        "grant_type": t.grant_type.as_str(),
        "token_type": t.token_type.as_str(),
        "status": record_status(t, now),
        "created": iso8601(t.created_at),
        "expires": iso8601(t.expires_at),
    })
}
