//! [`Store`](crate::store::Store) for [`PostgresStore`]: the shared statements and operations
//! ([`crate::store::sql`]) on the pool. Every write that ends or changes tokens publishes
//! their hashes with `NOTIFY` in its own transaction, delivered when (and only if) it commits.

use sqlx::postgres::PgRow;
use sqlx::Postgres;

use super::{listen, PostgresStore};
use crate::model::{AuthorizationCode, Client, Service, TokenRecord, TokenUpdate};
use crate::secret::TokenHash;
use crate::store::sql::rows::hashes_from_rows;
use crate::store::sql::{binds, clients, impl_sql_store, tokens, Statement};
use crate::store::Revocation;
use crate::Error;

impl PostgresStore {
    /// At most one row of `statement`, decoded.
    async fn read_one<T>(
        &self,
        statement: Statement,
        decode: fn(&PgRow) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        let row = statement
            .into_query::<Postgres>()
            .fetch_optional(&self.pool)
            .await;
        row.map_err(Error::store)?.as_ref().map(decode).transpose()
    }

    /// Every row of `statement`, decoded.
    async fn read_all<T>(
        &self,
        statement: Statement,
        decode: fn(&PgRow) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let rows = statement
            .into_query::<Postgres>()
            .fetch_all(&self.pool)
            .await;
        rows.map_err(Error::store)?.iter().map(decode).collect()
    }

    /// Runs `statement` on the pool (its own transaction).
    async fn execute(&self, statement: Statement) -> Result<(), Error> {
        let done = statement.into_query::<Postgres>().execute(&self.pool).await;
        done.map(drop).map_err(Error::store)
    }
}

impl_sql_store!(PostgresStore, Postgres, {
    async fn put_service(&self, service: &Service) -> Result<(), Error> {
        self.execute(binds::put_service::<Postgres>(service)?).await
    }

    async fn put_client(&self, client: &Client) -> Result<Vec<TokenHash>, Error> {
        let published = listen::now_micros();
        self.in_transaction(async |conn| {
            let ended = clients::put::<Postgres>(conn, client).await?;
            self.publish(conn, published, &ended).await?;
            Ok(ended)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<Option<Vec<TokenHash>>, Error> {
        let published = listen::now_micros();
        self.in_transaction(async |conn| {
            let ended = clients::delete::<Postgres>(conn, client_id).await?;
            if let Some(ended) = &ended {
                self.publish(conn, published, ended).await?;
            }
            Ok(ended)
        })
        .await
    }

    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        self.execute(binds::insert_code::<Postgres>(code)).await
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        let query = binds::insert_token::<Postgres>(token);
        query.execute(&self.pool).await.map_err(Error::store)?;
        Ok(())
    }

    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        let published = listen::now_micros();
        let statement = tokens::revoke::<Postgres>(which);
        self.in_transaction(async |conn| {
            let rows = statement
                .into_query::<Postgres>()
                .fetch_all(&mut *conn)
                .await;
            let revoked = hashes_from_rows(&rows.map_err(Error::store)?)?;
            self.publish(conn, published, &revoked).await?;
            Ok(revoked)
        })
        .await
    }

    async fn update_token(
        &self,
        token_hash: &TokenHash,
        update: &TokenUpdate,
    ) -> Result<bool, Error> {
        let published = listen::now_micros();
        let statement = tokens::update::<Postgres>(token_hash, update);
        self.in_transaction(async |conn| {
            let result = statement.into_query::<Postgres>().execute(&mut *conn).await;
            let updated = result.map_err(Error::store)?.rows_affected() > 0;
            if updated {
                self.publish(conn, published, &[*token_hash]).await?;
            }
            Ok(updated)
        })
        .await
    }
});
