//! [`Store`] for [`SqliteStore`]: the shared statements and operations ([`crate::store::sql`])
//! on SQLite's connections. Single-statement writes go through group commit; an operation of
//! several statements runs on the writer in a `BEGIN IMMEDIATE` transaction; reads on the
//! reader pool. A connection a failure may have poisoned is closed, not pooled again.

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Sqlite;

use super::failure::{retire_if_poisoned, Read};
use super::group_commit::Op;
use super::statements::SERVICE_AND_CLIENT;
use super::SqliteStore;
use crate::model::{AuthorizationCode, Client, Service, TokenRecord, TokenUpdate, UnixMillis};
use crate::secret::TokenHash;
use crate::store::sql::rows::{
    client_from_row, code_from_row, service_from_row, token_from_row, SERVICE_COLUMNS,
};
use crate::store::sql::{self, binds, clients, codes, purge, tokens, Dialect, Fields, Statement};
use crate::store::{Redemption, Revocation, Rotation, Store, TokenCursor};
use crate::Error;

type Decode<T> = fn(&SqliteRow) -> Result<T, Error>;

fn service_row(row: &SqliteRow) -> Result<Service, Error> {
    service_from_row(row, 0)
}

fn client_row(row: &SqliteRow) -> Result<Client, Error> {
    client_from_row(row, 0)
}

impl SqliteStore {
    /// At most one row of `statement`, decoded.
    async fn read_one<T>(
        &self,
        statement: Statement,
        decode: Decode<T>,
    ) -> Result<Option<T>, Error> {
        let row = statement
            .query::<Sqlite>()
            .read_optional(&self.reader)
            .await?;
        row.as_ref().map(decode).transpose()
    }

    /// Every row of `statement`, decoded.
    async fn read_all<T>(&self, statement: Statement, decode: Decode<T>) -> Result<Vec<T>, Error> {
        let rows = statement.query::<Sqlite>().read_all(&self.reader).await?;
        rows.iter().map(decode).collect()
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
    ) -> Result<super::group_commit::Written, Error> {
        let query = move || statement.query::<Sqlite>();
        self.batched(Op::Query(Box::new(query), returning)).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_service(&self, service: &Service) -> Result<(), Error> {
        let statement = binds::put_service::<Sqlite>(service)?;
        self.batched_statement(statement, false).await?;
        Ok(())
    }

    async fn service(&self, key: &str) -> Result<Option<Service>, Error> {
        let statement = Statement::new(Sqlite::SERVICE).text(key.to_owned());
        self.read_one(statement, service_row).await
    }

    async fn services(&self) -> Result<Vec<Service>, Error> {
        self.read_all(Statement::new(Sqlite::SERVICES), service_row)
            .await
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

    async fn client(&self, client_id: &str) -> Result<Option<Client>, Error> {
        self.read_one(clients::client::<Sqlite>(client_id), client_row)
            .await
    }

    async fn clients(&self) -> Result<Vec<Client>, Error> {
        self.read_all(Statement::new(Sqlite::CLIENTS), client_row)
            .await
    }

    async fn service_and_client(
        &self,
        key: &str,
        client_id: &str,
    ) -> Result<(Option<Service>, Option<Client>), Error> {
        use sql::Bind;
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
        self.batched_statement(binds::insert_code::<Sqlite>(code), false)
            .await?;
        Ok(())
    }

    async fn code(&self, code_hash: &TokenHash) -> Result<Option<AuthorizationCode>, Error> {
        self.read_one(codes::code::<Sqlite>(code_hash), code_from_row)
            .await
    }

    async fn redeem_code(&self, code_hash: &TokenHash) -> Result<Redemption, Error> {
        self.in_transaction(async |conn| codes::redeem::<Sqlite>(conn, code_hash).await)
            .await
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), Error> {
        self.batched(Op::Token(Box::new(token.clone()))).await?;
        Ok(())
    }

    async fn token(&self, token_hash: &TokenHash) -> Result<Option<TokenRecord>, Error> {
        self.read_one(tokens::held::<Sqlite>(token_hash), token_from_row)
            .await
    }

    async fn tokens(&self, token_hashes: &[TokenHash]) -> Result<Vec<TokenRecord>, Error> {
        if token_hashes.is_empty() {
            return Ok(Vec::new());
        }
        let statement = tokens::held_among::<Sqlite>(token_hashes)?;
        self.read_all(statement, token_from_row).await
    }

    async fn token_by_refresh(
        &self,
        refresh_hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, Error> {
        let statement = tokens::held_by_refresh::<Sqlite>(refresh_hash);
        self.read_one(statement, token_from_row).await
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &TokenHash,
        next: &TokenRecord,
    ) -> Result<Rotation, Error> {
        self.in_transaction(async |conn| tokens::rotate::<Sqlite>(conn, refresh_hash, next).await)
            .await
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

    async fn tokens_by_owner(
        &self,
        service_key: &str,
        user_context: &str,
    ) -> Result<Vec<TokenRecord>, Error> {
        let statement = tokens::by_owner::<Sqlite>(service_key, user_context);
        self.read_all(statement, token_from_row).await
    }

    async fn list_tokens(
        &self,
        owner: Option<&str>,
        after: Option<&TokenCursor>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, Error> {
        let statement = tokens::page::<Sqlite>(owner, after, limit);
        self.read_all(statement, token_from_row).await
    }

    async fn purge_expired(&self, before: UnixMillis, limit: u32) -> Result<u64, Error> {
        self.in_transaction(async |conn| purge::expired::<Sqlite>(conn, before, limit).await)
            .await
    }
}
