//! The `meta` table (migration 0005): the store's own key/value metadata, such as the pepper's
//! fingerprint.

use sqlx::PgPool;

use crate::Error;

/// The value stored under `key`.
pub(super) async fn meta(pool: &PgPool, key: &str) -> Result<Option<String>, Error> {
    sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(Error::store)
}

/// Stores `value` under `key`, replacing what was there.
pub(super) async fn set_meta(pool: &PgPool, key: &str, value: &str) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(pool)
    .await
    .map_err(Error::store)?;
    Ok(())
}
