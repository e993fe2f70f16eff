//! [`Store`](crate::store::Store) for [`SqliteStore`]: the shared statements and operations
//! ([`crate::store::sql`]) on SQLite's connections. Single-statement writes go through group
//! commit; an operation of several statements runs on the writer in a `BEGIN IMMEDIATE`
//! transaction; reads on the reader pool. A connection a failure may have poisoned is closed,
//! not pooled again.

use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Sqlite;

use super::failure::{retire_if_poisoned, Read};
use super::group_commit::{Op, Written};
use super::statements::SERVICE_AND_CLIENT;
use super::SqliteStore;
use crate::model::{AuthorizationCode, Client, Service, TokenRecord, TokenUpdate};
use crate::secret::TokenHash;
use crate::store::sql::rows::{client_from_row, service_from_row, SERVICE_COLUMNS};
use crate::store::sql::{binds, clients, impl_sql_store, tokens, Bind, Fields, Statement};
use crate::store::Revocation;
use crate::Error;

impl SqliteStore {
    /// At most one row of `statement`, decoded.
    async fn read_one<T>(
        &self,
        statement: Statement,
        decode: fn(&SqliteRow) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        let query = statement.into_query::<Sqlite>();
        query
            .read_optional(&self.reader)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    /// Every row of `statement`, decoded.
    async fn read_all<T>(
        &self,
        statement: Statement,
        decode: fn(&SqliteRow) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let query = statement.into_query::<Sqlite>();
        query
            .read_all(&self.reader)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Runs `operation` on the writer in a `BEGIN IMMEDIATE` transaction, committed if it
    /// succeeds (rolled back on drop if not).
    async fn in_transaction<T>(
        &self,
        operation: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut conn = self.writer.acquire().await.map_err(Error::store)?;
        let outcome = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(Error::store)?;
            let value = operation(&mut tx).await?;
            tx.commit().await.map_err(Error::store)?;
            Ok(value)
        }
        .await;
        retire_if_poisoned(&mut conn, outcome)
    }

    /// Runs `statement` through group commit; `returning` when it returns `token_hash` rows.
    async fn batched_statement(
        &self,
        statement: Statement,
        returning: bool,
    ) -> Result<Written, Error> {
        let query = move || statement.query::<Sqlite>();
        self.batched(Op::Query(Box::new(query), returning)).await
    }
}

impl_sql_store!(SqliteStore, Sqlite, {
    async fn put_service(&self, service: &Service) -> Result<(), Error> {
        let statement = binds::put_service::<Sqlite>(service)?;
        self.batched_statement(statement, false).await?;
        Ok(())
    }

    async fn put_client(&self, client: &Client) -> Result<Vec<TokenHash>, Error> {
        // Not batched: the client as it was, the upsert and the tokens it ends are one
        // transaction (client changes are rare).
        self.in_transaction(async |conn| clients::put::<Sqlite>(conn, client).await)
            .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error> {
        self.in_transaction(async |conn| clients::delete::<Sqlite>(conn, client_id).await)
            .await
    }

    async fn service_and_client(
        &self,
        key: &str,
        client_id: &str,
    ) -> Result<(Option<Service>, Option<Client>), Error> {
        let row = sqlx::query(SERVICE_AND_CLIENT)
            .text(key)
            .text(client_id)
            .read_optional(&self.reader)
            .await?
            .ok_or_else(|| Error::store("no row from the service and client lookup"))?;
        let service = match row.opt_text(0)? {
            Some(_) => Some(service_from_row(&row, 0)?),
            None => None,
        };
        let client = match row.opt_int(SERVICE_COLUMNS)? {
            Some(_) => Some(client_from_row(&row, SERVICE_COLUMNS)?),
            None => None,
        };
        Ok((service, client))
    }

    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        let statement = binds::insert_code::<Sqlite>(code);
        self.batched_statement(statement, false).await?;
        Ok(())
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        self.batched(Op::Token(Box::new(token.clone()))).await?;
        Ok(())
    }

    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        let statement = tokens::revoke::<Sqlite>(which);
        Ok(self.batched_statement(statement, true).await?.hashes())
    }

    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error> {
        let statement = tokens::update::<Sqlite>(token_hash, update);
        Ok(self.batched_statement(statement, false).await?.rows() > 0)
    }
});
