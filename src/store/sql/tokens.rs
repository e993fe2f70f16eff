//! Token records: how a refresh token is rotated, and which statement revokes, updates, finds
//! and lists records.

use super::binds::{insert_token, to_json};
use super::{Dialect, Fields, Statement};
use crate::model::TokenUpdate;
use crate::secret::TokenHash;
use crate::store::{Revocation, Rotation, TokenCursor};
use crate::Error;

/// The record of `token_hash`, if its client holds it.
pub(crate) fn held<D: Dialect>(token_hash: &TokenHash) -> Statement {
    Statement::new(D::HELD_TOKEN).hash(token_hash)
}

/// The records of those of `token_hashes` whose clients hold them. The hashes travel as one
/// JSON array: one prepared statement whatever the list's length, and no limit on bound
/// variables to chunk at.
pub(crate) fn held_among<D: Dialect>(token_hashes: &[TokenHash]) -> Result<Statement, Error> {
    let hexes: Vec<String> = token_hashes.iter().map(TokenHash::to_hex).collect();
    Ok(Statement::new(D::HELD_TOKENS).text(to_json(&hexes)?))
}

/// The record that carries `refresh_hash`, if its client holds it.
pub(crate) fn held_by_refresh<D: Dialect>(refresh_hash: &TokenHash) -> Statement {
    Statement::new(D::HELD_BY_REFRESH).hash(refresh_hash)
}

/// Every record of a service for one user context, newest first.
pub(crate) fn by_owner<D: Dialect>(service_key: &str, user_context: &str) -> Statement {
    Statement::new(D::TOKENS_BY_OWNER)
        .text(service_key.to_owned())
        .text(user_context.to_owned())
}

/// A page of the listing. Four statements rather than `$n IS NULL OR …`, so that each can use
/// its index (`tokens_listing`, `tokens_listing_owner`: see `0002_token_listing.sql`).
pub(crate) fn page<D: Dialect>(
    owner: Option<&str>,
    after: Option<&TokenCursor>,
    limit: u32,
) -> Statement {
    let limit = i64::from(limit);
    let (sql, owner) = match (owner, after) {
        (None, None) => (D::LIST_ALL, None),
        (None, Some(_)) => (D::LIST_ALL_AFTER, None),
        (Some(owner), None) => (D::LIST_OWNER, Some(owner)),
        (Some(owner), Some(_)) => (D::LIST_OWNER_AFTER, Some(owner)),
    };
    let mut statement = Statement::new(sql).int(limit);
    if let Some(owner) = owner {
        statement = statement.text(owner.to_owned());
    }
    if let Some(after) = after {
        statement = statement.int(after.created_at).text(after.id.clone());
    }
    statement
}

/// The statement that revokes the still-live tokens `which` selects and returns their
/// `token_hash`. One statement: one implicit transaction, or one part of a batch.
pub(crate) fn revoke<D: Dialect>(which: Revocation<'_>) -> Statement {
    match which {
        Revocation::Token(hash) => Statement::new(D::REVOKE_TOKEN).hash(hash),
        Revocation::Family(family_id) => {
            Statement::new(D::REVOKE_FAMILY).text(family_id.to_owned())
        }
        Revocation::Code(hash) => Statement::new(D::REVOKE_CODE).hash(hash),
        // `user_context = NULL` matches nothing: NULL has its own statement (both use the
        // index).
        Revocation::UserApplication {
            service_key,
            client_id,
            user_context,
        } => {
            let sql = match user_context {
                Some(_) => D::REVOKE_USER_APPLICATION,
                None => D::REVOKE_USER_APPLICATION_WITHOUT_CONTEXT,
            };
            let statement = Statement::new(sql)
                .text(service_key.to_owned())
                .text(client_id.to_owned());
            match user_context {
                Some(user_context) => statement.text(user_context.to_owned()),
                None => statement,
            }
        }
    }
}

/// The statement that applies `update` to the record of `token_hash`.
pub(crate) fn update<D: Dialect>(token_hash: &TokenHash, update: &TokenUpdate) -> Statement {
    Statement::new(D::UPDATE_TOKEN)
        .hash(token_hash)
        .text(update.scope.clone())
        .int(update.expires_at)
        .text(update.user_context.clone())
}

/// Rotates refresh token `refresh_hash` on `conn`, inside the caller's write transaction:
/// marks it used and stores `next`.
///
/// A concurrent rotation cannot mark it too: SQLite has one writer; under PostgreSQL the
/// other `UPDATE` waits for this row lock until this transaction ends, and then finds the
/// token used if it committed. If the insert fails the caller's transaction is rolled back
/// on drop: nothing is marked.
pub(crate) async fn rotate<D: Dialect>(
    conn: &mut D::Connection,
    refresh_hash: &TokenHash,
    next: &crate::model::TokenRecord,
) -> Result<Rotation, Error> {
    let marked = Statement::new(D::USE_REFRESH)
        .hash(refresh_hash)
        .into_query::<D>()
        .fetch_optional(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    if marked.is_none() {
        let exists = Statement::new(D::REFRESH_EXISTS)
            .hash(refresh_hash)
            .into_query::<D>()
            .fetch_one(D::on(&mut *conn))
            .await
            .map_err(Error::store)?
            .flag(0)?;
        return Ok(if exists {
            Rotation::Reused
        } else {
            Rotation::Unknown
        });
    }
    insert_token::<D>(next)
        .execute(D::on(conn))
        .await
        .map_err(Error::store)?;
    Ok(Rotation::Rotated)
}
