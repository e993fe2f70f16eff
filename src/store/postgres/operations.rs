//! [`Store`] for [`PostgresStore`]: the shared statements and operations
//! ([`crate::store::sql`]) on the pool. Every write that ends or changes tokens publishes
//! their hashes with `NOTIFY` in its own transaction, delivered when (and only if) it commits.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Postgres;

use super::{listen, PostgresStore};
use crate::model::{AuthorizationCode, Client, Service, TokenRecord, TokenUpdate, UnixMillis};
use crate::secret::TokenHash;
use crate::store::sql::rows::{
    client_from_row, code_from_row, hashes_from_rows, service_from_row, token_from_row,
};
use crate::store::sql::{binds, clients, codes, purge, tokens, Dialect, Statement};
use crate::store::{Redemption, Revocation, Rotation, Store, TokenCursor};
use crate::Error;

type Decode<T> = fn(&PgRow) -> Result<T, Error>;

fn service_row(row: &PgRow) -> Result<Service, Error> {
    service_from_row(row, 0)
}

fn client_row(row: &PgRow) -> Result<Client, Error> {
    client_from_row(row, 0)
}

impl PostgresStore {
    /// At most one row of `statement`, decoded.
    async fn read_one<T>(
        &self,
        statement: Statement,
        decode: Decode<T>,
    ) -> Result<Option<T>, Error> {
        let query = statement.query::<Postgres>();
        let row = query
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store)?;
        row.as_ref().map(decode).transpose()
    }

    /// Every row of `statement`, decoded.
    async fn read_all<T>(&self, statement: Statement, decode: Decode<T>) -> Result<Vec<T>, Error> {
        let query = statement.query::<Postgres>();
        let rows = query.fetch_all(&self.pool).await.map_err(Error::store)?;
        rows.iter().map(decode).collect()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn put_service(&self, service: &Service) -> Result<(), Error> {
        let query = binds::put_service::<Postgres>(service)?;
        query
            .query::<Postgres>()
            .execute(&self.pool)
            .await
            .map_err(Error::store)?;
        Ok(())
    }

    async fn service(&self, key: &str) -> Result<Option<Service>, Error> {
        let statement = Statement::new(Postgres::SERVICE).text(key.to_owned());
        self.read_one(statement, service_row).await
    }

    async fn services(&self) -> Result<Vec<Service>, Error> {
        self.read_all(Statement::new(Postgres::SERVICES), service_row)
            .await
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

    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        self.read_one(clients::client::<Postgres>(client_id), client_row)
            .await
    }

    async fn clients(&self) -> Result<Vec<Client>, Error> {
        self.read_all(Statement::new(Postgres::CLIENTS), client_row)
            .await
    }

    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), Error> {
        let query = binds::insert_code::<Postgres>(code).query::<Postgres>();
        query.execute(&self.pool).await.map_err(Error::store)?;
        Ok(())
    }

    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error> {
        self.read_one(codes::code::<Postgres>(code_hash), code_from_row)
            .await
    }

    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error> {
        self.in_transaction(async |conn| codes::redeem::<Postgres>(conn, code_hash).await)
            .await
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        let query = binds::insert_token::<Postgres>(token);
        query.execute(&self.pool).await.map_err(Error::store)?;
        Ok(())
    }

    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error> {
        self.read_one(tokens::held::<Postgres>(token_hash), token_from_row)
            .await
    }

    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        if token_hashes.is_empty() {
            return Ok(Vec::new());
        }
        let statement = tokens::held_among::<Postgres>(token_hashes)?;
        self.read_all(statement, token_from_row).await
    }

    async fn token_by_refresh(
        &self,
        refresh_hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, Error> {
        let statement = tokens::held_by_refresh::<Postgres>(refresh_hash);
        self.read_one(statement, token_from_row).await
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error> {
        self.in_transaction(async |conn| tokens::rotate::<Postgres>(conn, refresh_hash, next).await)
            .await
    }

    async fn revoke(&self, which: Revocation<'_>) -> Result<Vec<TokenHash>, Error> {
        let published = listen::now_micros();
        let statement = tokens::revoke::<Postgres>(which);
        self.in_transaction(async |conn| {
            let rows = statement.query::<Postgres>().fetch_all(&mut *conn).await;
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
            let result = statement.query::<Postgres>().execute(&mut *conn).await;
            let updated = result.map_err(Error::store)?.rows_affected() > 0;
            if updated {
                self.publish(conn, published, &[*token_hash]).await?;
            }
            Ok(updated)
        })
        .await
    }

    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error> {
        let statement = tokens::by_owner::<Postgres>(service_key, user_context);
        self.read_all(statement, token_from_row).await
    }

    async fn list_tokens(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error> {
        let statement = tokens::page::<Postgres>(owner, after, limit);
        self.read_all(statement, token_from_row).await
    }

    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error> {
        self.in_transaction(async |conn| purge::expired::<Postgres>(conn, before, limit).await)
            .await
    }
}
