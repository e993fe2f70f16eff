//! Rows into the model, for both SQL backends. A row that does not parse is a store error,
//! never a panic.
//!
//! Services and clients are read by position from the columns [`service_columns!`] and
//! [`client_columns!`] name (so that one row can carry both, see SQLite's
//! `service_and_client`); codes and tokens by column name.

use serde::de::DeserializeOwned;

use super::Fields;
use crate::model::{
    AuthorizationCode, Client, ClientStatus, PkceChallenge, RefreshState, Service, TokenRecord,
    TokenType,
};
use crate::secret::TokenHash;
use crate::Error;

/// The `services` columns [`service_from_row`] reads, in its order, each after `$table`
/// (`""` or a table alias such as `"s."`).
macro_rules! service_columns {
    ($table:literal) => {
        concat!(
            $table,
            "key, ",
            $table,
            "name, ",
            $table,
            "access_token_ttl, ",
            $table,
            "refresh_tokens, ",
            $table,
            "refresh_token_ttl, ",
            $table,
            "authorization_code_ttl, ",
            $table,
            "token_type, ",
            $table,
            "grants, ",
            $table,
            "force_redirect_validation, ",
            $table,
            "allow_multiple_tokens, ",
            $table,
            "allow_query_tokens, ",
            $table,
            "scopes, ",
            $table,
            "any_scope, ",
            $table,
            "require_pkce"
        )
    };
}
pub(crate) use service_columns;

/// How many columns [`service_columns!`] names (where SQLite's `service_and_client` row
/// starts the client's).
#[cfg(feature = "sqlite")]
pub(crate) const SERVICE_COLUMNS: usize = 14;

/// The `clients` columns [`client_from_row`] reads, in its order, each after `$table`.
macro_rules! client_columns {
    ($table:literal) => {
        concat!(
            $table,
            "id, ",
            $table,
            "external_id, ",
            $table,
            "name, ",
            $table,
            "attributes, ",
            $table,
            "client_id, ",
            $table,
            "secret_hash, ",
            $table,
            "redirect_uris, ",
            $table,
            "services, ",
            $table,
            "status, ",
            $table,
            "allowed_scopes"
        )
    };
}
pub(crate) use client_columns;

fn corrupt(what: &str, value: &str) -> Error {
    Error::store(format!("corrupt {what} in the database: {value:?}"))
}

/// A hash stored as hex.
pub(crate) fn hash_from_db(hex: &str) -> Result<TokenHash, Error> {
    TokenHash::from_hex(hex).ok_or_else(|| corrupt("hash", hex))
}

/// A list stored as JSON.
pub(crate) fn from_json<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|_| corrupt("JSON list", json))
}

fn seconds(row: &impl Fields, column: usize) -> Result<u64, Error> {
    u64::try_from(row.int(column)?).map_err(Error::store)
}

/// The `token_hash` column of each row (a `RETURNING token_hash`).
pub(crate) fn hashes_from_rows<R: Fields>(rows: &[R]) -> Result<Vec<TokenHash>, Error> {
    rows.iter()
        .map(|row| hash_from_db(&row.text("token_hash")?))
        .collect()
}

/// The service whose [`service_columns!`] start at column `first` of `row`.
pub(crate) fn service_from_row(row: &impl Fields, first: usize) -> Result<Service, Error> {
    let grants: Vec<String> = from_json(&row.text(first + 7)?)?;
    Ok(Service {
        key: row.text(first)?,
        name: row.text(first + 1)?,
        access_token_ttl: seconds(row, first + 2)?,
        refresh_tokens: row.flag(first + 3)?,
        refresh_token_ttl: seconds(row, first + 4)?,
        authorization_code_ttl: seconds(row, first + 5)?,
        token_type: TokenType::from_storage_name(&row.text(first + 6)?).map_err(Error::store)?,
        grants: grants
            .iter()
            .map(|g| g.parse().map_err(Error::store))
            .collect::<Result<_, _>>()?,
        force_redirect_validation: row.flag(first + 8)?,
        allow_multiple_tokens: row.flag(first + 9)?,
        allow_query_tokens: row.flag(first + 10)?,
        scopes: row
            .opt_text(first + 11)?
            .map(|json| from_json(&json))
            .transpose()?,
        any_scope: row.flag(first + 12)?,
        require_pkce: row.text(first + 13)?.parse().map_err(Error::store)?,
    })
}

/// The client whose [`client_columns!`] start at column `first` of `row`.
pub(crate) fn client_from_row(row: &impl Fields, first: usize) -> Result<Client, Error> {
    let status = row.text(first + 8)?;
    Ok(Client {
        id: row.int(first)?,
        external_id: row.opt_int(first + 1)?,
        name: row.text(first + 2)?,
        attributes: row.opt_text(first + 3)?,
        client_id: row.text(first + 4)?,
        secret_hash: row.opt_text(first + 5)?,
        redirect_uris: from_json(&row.text(first + 6)?)?,
        services: from_json(&row.text(first + 7)?)?,
        status: ClientStatus::parse(&status).ok_or_else(|| corrupt("client status", &status))?,
        allowed_scopes: row
            .opt_text(first + 9)?
            .map(|json| from_json(&json))
            .transpose()?,
    })
}

/// The service of a row of [`service_columns!`] alone.
pub(crate) fn service_row(row: &impl Fields) -> Result<Service, Error> {
    service_from_row(row, 0)
}

/// The client of a row of [`client_columns!`] alone.
pub(crate) fn client_row(row: &impl Fields) -> Result<Client, Error> {
    client_from_row(row, 0)
}

/// An `authorization_codes` row.
pub(crate) fn code_from_row(row: &impl Fields) -> Result<AuthorizationCode, Error> {
    Ok(AuthorizationCode {
        code_hash: hash_from_db(&row.text("code_hash")?)?,
        service_key: row.text("service_key")?,
        client_id: row.text("client_id")?,
        redirect_uri: row.opt_text("redirect_uri")?,
        scope: row.opt_text("scope")?,
        user_context: row.opt_text("user_context")?,
        pkce: row
            .opt_text("pkce_challenge")?
            .map(|challenge| PkceChallenge { challenge }),
        expires_at: row.int("expires_at")?,
        used: row.flag("used")?,
    })
}

/// A `tokens` row.
pub(crate) fn token_from_row(row: &impl Fields) -> Result<TokenRecord, Error> {
    let refresh = match row.opt_text("refresh_hash")? {
        None => None,
        Some(hex) => Some(RefreshState {
            hash: hash_from_db(&hex)?,
            expires_at: row.int("refresh_expires_at")?,
            used: row.flag("refresh_used")?,
        }),
    };
    Ok(TokenRecord {
        id: row.text("id")?,
        token_hash: hash_from_db(&row.text("token_hash")?)?,
        service_key: row.text("service_key")?,
        client_id: row.text("client_id")?,
        token_type: TokenType::from_storage_name(&row.text("token_type")?).map_err(Error::store)?,
        grant_type: row.text("grant_type")?.parse().map_err(Error::store)?,
        scope: row.opt_text("scope")?,
        user_context: row.opt_text("user_context")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        revoked: row.flag("revoked")?,
        refresh,
        family_id: row.text("family_id")?,
        code_hash: row
            .opt_text("code_hash")?
            .map(|hex| hash_from_db(&hex))
            .transpose()?,
    })
}
