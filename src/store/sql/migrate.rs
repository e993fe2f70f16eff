//! Running the schema migrations a database has not seen yet.

use super::Sql;
use crate::Error;

/// Applies `migrations[applied..]` on `conn`, inside the caller's transaction, calling
/// `record(conn, n)` after migration `n` (counted from 1); `applied` is what the database says
/// it has. A database that has more than `migrations` is newer than this tokengate: an error,
/// and nothing is applied.
pub(crate) async fn apply<D: Sql>(
    conn: &mut D::Connection,
    applied: i64,
    migrations: &[&'static str],
    record: impl AsyncFn(&mut D::Connection, i64) -> Result<(), Error>,
) -> Result<(), Error> {
    let start = usize::try_from(applied).map_err(Error::store)?;
    if start > migrations.len() {
        return Err(Error::store(format!(
            "database schema version {applied} is newer than this tokengate supports ({})",
            migrations.len()
        )));
    }
    for (index, sql) in migrations.iter().enumerate().skip(start) {
        sqlx::raw_sql(*sql)
            .execute(D::on(&mut *conn))
            .await
            .map_err(Error::store)?;
        record(&mut *conn, index as i64 + 1).await?;
    }
    Ok(())
}
