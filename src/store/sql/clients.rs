//! Clients: a change and the tokens it ends, in one transaction.

use super::binds::{self, to_json};
use super::rows::{client_from_row, from_json, hashes_from_rows};
use super::{Dialect, Fields, Statement};
use crate::model::Client;
use crate::secret::TokenHash;
use crate::Error;

/// The client with developer key `client_id`.
pub(crate) fn client<D: Dialect>(client_id: &str) -> Statement {
    Statement::new(D::CLIENT).text(client_id.to_owned())
}

/// Stores `c` on `conn`, inside the caller's write transaction, and revokes the tokens the
/// change ends ([`Client::ended_services`] of the client as it was); returns their hashes.
pub(crate) async fn put<D: Dialect>(
    conn: &mut D::Connection,
    c: &Client,
) -> Result<Vec<TokenHash>, Error> {
    let upsert = binds::put_client::<D>(c)?;
    let before = Statement::new(D::CLIENT_BEFORE_CHANGE)
        .int(c.id)
        .into_query::<D>()
        .fetch_optional(D::on(&mut *conn))
        .await
        .map_err(Error::store)?
        .map(|row| client_from_row(&row, 0))
        .transpose()?;
    upsert
        .into_query::<D>()
        .execute(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    match before {
        Some(before) => end_tokens::<D>(conn, &before.client_id, &before.ended_services(c)).await,
        None => Ok(Vec::new()),
    }
}

/// Deletes the client with developer key `client_id` on `conn`, inside the caller's write
/// transaction, and revokes its tokens; returns their hashes, `None` when there is no such
/// client.
pub(crate) async fn delete<D: Dialect>(
    conn: &mut D::Connection,
    client_id: &str,
) -> Result<Option<Vec<TokenHash>>, Error> {
    let Some(row) = Statement::new(D::DELETE_CLIENT)
        .text(client_id.to_owned())
        .into_query::<D>()
        .fetch_optional(D::on(&mut *conn))
        .await
        .map_err(Error::store)?
    else {
        return Ok(None);
    };
    Statement::new(D::DELETE_PREVIOUS_SECRET)
        .text(client_id.to_owned())
        .into_query::<D>()
        .execute(D::on(&mut *conn))
        .await
        .map_err(Error::store)?;
    let services: Vec<String> = from_json(&row.text("services")?)?;
    end_tokens::<D>(conn, client_id, &services).await.map(Some)
}

/// Revokes the live tokens of `client_id` on `services`; returns their hashes.
async fn end_tokens<D: Dialect>(
    conn: &mut D::Connection,
    client_id: &str,
    services: &[String],
) -> Result<Vec<TokenHash>, Error> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let rows = Statement::new(D::END_TOKENS)
        .text(client_id.to_owned())
        .text(to_json(&services)?)
        .into_query::<D>()
        .fetch_all(D::on(conn))
        .await
        .map_err(Error::store)?;
    hashes_from_rows(&rows)
}
