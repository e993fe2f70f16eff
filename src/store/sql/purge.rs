//! The batched delete of expired token records and codes.

use super::{Dialect, Statement};
use crate::model::UnixMillis;
use crate::Error;

/// Deletes up to `limit` token records and then codes (as many as the tokens left of `limit`)
/// that expired before `before`, on `conn` inside the caller's write transaction; returns how
/// many were deleted.
pub(crate) async fn expired<D: Dialect>(
    conn: &mut D::Connection,
    before: UnixMillis,
    limit: u32,
) -> Result<u64, Error> {
    let limit = i64::from(limit);
    let deleted = Statement::new(D::PURGE_TOKENS)
        .int(before)
        .int(limit)
        .into_query::<D>()
        .execute(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    let tokens = D::rows_affected(&deleted);
    let deleted = Statement::new(D::PURGE_CODES)
        .int(before)
        .int(limit - tokens as i64)
        .into_query::<D>()
        .execute(D::on(conn))
        .await
        .map_err(Error::store)?;
    Ok(tokens + D::rows_affected(&deleted))
}
