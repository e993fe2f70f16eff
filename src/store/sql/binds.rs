//! The model into statement parameters, for both SQL backends, in the column order of the
//! [`Dialect`] statements that take them.

use super::{Bind, Dialect, Sql, Statement};
use crate::model::{AuthorizationCode, Client, Service, TokenRecord};
use crate::Error;
use sqlx::query::Query;

/// A list as stored: JSON.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::store)
}

fn seconds_to_db(seconds: u64) -> Result<i64, Error> {
    i64::try_from(seconds).map_err(Error::store)
}

/// Binds the 16 columns of a token record, in the order of [`Dialect::INSERT_TOKEN`]. Bound
/// straight from the record: issuing a token is the hot write.
pub(crate) fn bind_token<'q, D: Sql>(
    query: Query<'q, D, D::Arguments>,
    t: &TokenRecord,
) -> Query<'q, D, D::Arguments> {
    let refresh = t.refresh.as_ref();
    query
        .string(t.token_hash.to_hex())
        .text(t.id.as_str())
        .text(t.service_key.as_str())
        .text(t.client_id.as_str())
        .string(t.token_type.storage_name())
        .text(t.grant_type.as_str())
        .text(t.scope.as_deref())
        .text(t.user_context.as_deref())
        .int(t.created_at)
        .int(t.expires_at)
        .flag(t.revoked)
        .string(refresh.map(|r| r.hash.to_hex()))
        .int(refresh.map(|r| r.expires_at))
        .flag(refresh.map(|r| r.used))
        .text(t.family_id.as_str())
        .string(t.code_hash.map(|h| h.to_hex()))
}

/// The insert of a token record.
pub(crate) fn insert_token<D: Dialect>(t: &TokenRecord) -> Query<'static, D, D::Arguments> {
    bind_token(sqlx::query(D::INSERT_TOKEN), t)
}

/// The upsert of a service.
pub(crate) fn put_service<D: Dialect>(s: &Service) -> Result<Statement, Error> {
    let grants: Vec<&str> = s.grants.iter().map(|g| g.as_str()).collect();
    Ok(Statement::new(D::PUT_SERVICE)
        .text(s.key.clone())
        .text(s.name.clone())
        .int(seconds_to_db(s.access_token_ttl)?)
        .flag(s.refresh_tokens)
        .int(seconds_to_db(s.refresh_token_ttl)?)
        .int(seconds_to_db(s.authorization_code_ttl)?)
        .text(s.token_type.storage_name())
        .text(to_json(&grants)?)
        .flag(s.force_redirect_validation)
        .flag(s.allow_multiple_tokens)
        .flag(s.allow_query_tokens)
        .text(s.scopes.as_ref().map(to_json).transpose()?)
        .flag(s.any_scope)
        .text(s.require_pkce.as_str().to_owned()))
}

/// The upsert of a client (by numeric id).
pub(crate) fn put_client<D: Dialect>(c: &Client) -> Result<Statement, Error> {
    Ok(Statement::new(D::PUT_CLIENT)
        .int(c.id)
        .int(c.external_id)
        .text(c.name.clone())
        .text(c.attributes.clone())
        .text(c.client_id.clone())
        .text(c.secret_hash.clone())
        .text(to_json(&c.redirect_uris)?)
        .text(to_json(&c.services)?)
        .text(c.status.as_str().to_owned())
        .text(c.allowed_scopes.as_ref().map(to_json).transpose()?))
}

/// The insert of an authorization code.
pub(crate) fn insert_code<D: Dialect>(c: &AuthorizationCode) -> Statement {
    Statement::new(D::INSERT_CODE)
        .hash(&c.code_hash)
        .text(c.service_key.clone())
        .text(c.client_id.clone())
        .text(c.redirect_uri.clone())
        .text(c.scope.clone())
        .text(c.user_context.clone())
        .text(c.pkce.as_ref().map(|p| p.challenge.clone()))
        .int(c.expires_at)
        .flag(c.used)
}
