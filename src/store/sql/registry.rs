//! Registry writes beyond upserts and the store's own metadata (the `meta` table of migration
//! 0005, which holds the pepper's fingerprint).

use super::{Dialect, Fields, Statement};
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
