//! Registry writes beyond upserts: deleting a service.

use sqlx::SqlitePool;

use crate::Error;

/// Deletes the service with `key`; `false` when there is none. Its tokens and codes stay (no
/// client can hold them once none lists the service: see `Store::token`).
pub(super) async fn delete_service(writer: &SqlitePool, key: &str) -> Result<bool, Error> {
    let deleted = sqlx::query("DELETE FROM services WHERE key = ?1")
        .bind(key)
        .execute(writer)
        .await
        .map_err(Error::store)?;
    Ok(deleted.rows_affected() > 0)
}
