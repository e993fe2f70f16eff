//! Registry writes beyond upserts, the store's own metadata (the `meta` table of migration
//! 0005, which holds the pepper's fingerprint) and clients' previous secrets (migration 0006).

use super::{Dialect, Fields, Statement};
use crate::model::PreviousSecret;
use crate::Error;

/// The statement reading the value stored under `key` (decoded by [`value`]).
pub(crate) fn meta<D: Dialect>(key: &str) -> Statement {
    Statement::new(D::META).text(key.to_owned())
}

/// The first column of a row, as text: the value of [`meta`].
pub(crate) fn value<R: Fields>(row: &R) -> Result<String, Error> {
    row.text(0)
}

/// Stores `value` under `key`, replacing what was there, on `conn` inside the caller's
/// transaction.
pub(crate) async fn set_meta<D: Dialect>(
    conn: &mut D::Connection,
    key: &str,
    value: &str,
) -> Result<(), Error> {
    Statement::new(D::SET_META)
        .text(key.to_owned())
        .text(value.to_owned())
        .into_query::<D>()
        .execute(D::on(conn))
        .await
        .map_err(Error::store)?;
    Ok(())
}

/// Stores `value` under `key` unless the key has a value, then reads back what is stored, on
/// `conn` inside the caller's transaction: of two transactions racing, the second's insert
/// waits for the first (PostgreSQL's unique index; SQLite's single writer) and does nothing,
/// and its read sees the first one's value.
pub(crate) async fn claim_meta<D: Dialect>(
    conn: &mut D::Connection,
    key: &str,
    value: &str,
) -> Result<String, Error> {
    Statement::new(D::CLAIM_META)
        .text(key.to_owned())
        .text(value.to_owned())
        .into_query::<D>()
        .execute(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    let row = meta::<D>(key)
        .into_query::<D>()
        .fetch_one(D::on(conn))
        .await
        .map_err(Error::store)?;
    self::value(&row)
}

/// Deletes the service with `key`; `false` when there is none. Its tokens and codes stay (no
/// client can hold them once none lists the service: see `Store::token`).
pub(crate) async fn delete_service<D: Dialect>(
    conn: &mut D::Connection,
    key: &str,
) -> Result<bool, Error> {
    let deleted = Statement::new(D::DELETE_SERVICE)
        .text(key.to_owned())
        .into_query::<D>()
        .execute(D::on(conn))
        .await
        .map_err(Error::store)?;
    Ok(D::rows_affected(&deleted) > 0)
}

/// The statement reading client `client_id`'s previous secret (decoded by [`previous_secret`]).
pub(crate) fn previous_secret_of<D: Dialect>(client_id: &str) -> Statement {
    Statement::new(D::PREVIOUS_SECRET).text(client_id.to_owned())
}

/// A row of [`previous_secret_of`].
pub(crate) fn previous_secret<R: Fields>(row: &R) -> Result<PreviousSecret, Error> {
    Ok(PreviousSecret {
        secret_hash: row.text(0)?,
        successor_hash: row.text(1)?,
        valid_until: row.int(2)?,
    })
}

/// Stores `previous` as client `client_id`'s previous secret, replacing the one kept before, on
/// `conn` inside the caller's transaction.
pub(crate) async fn put_previous_secret<D: Dialect>(
    conn: &mut D::Connection,
    client_id: &str,
    previous: &PreviousSecret,
) -> Result<(), Error> {
    Statement::new(D::PUT_PREVIOUS_SECRET)
        .text(client_id.to_owned())
        .text(previous.secret_hash.clone())
        .text(previous.successor_hash.clone())
        .int(previous.valid_until)
        .into_query::<D>()
        .execute(D::on(conn))
        .await
        .map_err(Error::store)?;
    Ok(())
}
