//! The [`Store`](crate::store::Store) methods that read the same on both SQL backends.

/// `#[async_trait] impl Store for $store` with the methods given (what the backend does its
/// own way: its single-statement writes, which SQLite batches and PostgreSQL follows with a
/// `NOTIFY`) and every other method, written once here: the reads, and the operations of
/// several statements, run in the backend's write transaction.
///
/// `$store` provides, as inherent methods: `read_one(Statement, fn(&Row) -> Result<T, Error>)`
/// and `read_all(…)` on its readers, and `in_transaction(async |conn| …)` on its writer.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            $($own)*

            async fn meta(&self, key: &str) -> Result<Option<String>, $crate::Error> {
                use $crate::store::sql::registry;
                self.read_one(registry::meta::<$db>(key), registry::value).await
            }

            async fn set_meta(&self, key: &str, value: &str) -> Result<(), $crate::Error> {
                use $crate::store::sql::registry;
                self.in_transaction(async |conn| registry::set_meta::<$db>(conn, key, value).await)
                    .await
            }

            async fn claim_meta(&self, key: &str, value: &str) -> Result<String, $crate::Error> {
                use $crate::store::sql::registry;
                self.in_transaction(async |conn| registry::claim_meta::<$db>(conn, key, value).await)
                    .await
            }

            async fn previous_secret(
                &self,
                client_id: &str,
            ) -> Result<Option<$crate::model::PreviousSecret>, $crate::Error> {
                use $crate::store::sql::registry;
                let statement = registry::previous_secret_of::<$db>(client_id);
                self.read_one(statement, registry::previous_secret).await
            }

            async fn put_previous_secret(
                &self,
                client_id: &str,
                previous: &$crate::model::PreviousSecret,
            ) -> Result<(), $crate::Error> {
                use $crate::store::sql::registry;
                self.in_transaction(async |conn| {
                    registry::put_previous_secret::<$db>(conn, client_id, previous).await
                })
                .await
            }

            async fn delete_service(&self, key: &str) -> Result<bool, $crate::Error> {
                use $crate::store::sql::registry;
                self.in_transaction(async |conn| registry::delete_service::<$db>(conn, key).await)
                    .await
            }

            async fn service(
                &self,
                key: &str,
            ) -> Result<Option<$crate::model::Service>, $crate::Error> {
                use $crate::store::sql::{rows, Dialect, Statement};
                let statement = Statement::new(<$db as Dialect>::SERVICE).text(key.to_owned());
                self.read_one(statement, rows::service_row).await
            }

            async fn services(&self) -> Result<Vec<$crate::model::Service>, $crate::Error> {
                use $crate::store::sql::{rows, Dialect, Statement};
                let statement = Statement::new(<$db as Dialect>::SERVICES);
                self.read_all(statement, rows::service_row).await
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> Result<Option<$crate::model::Client>, $crate::Error> {
                use $crate::store::sql::{clients, rows};
                let statement = clients::client::<$db>(client_id);
                self.read_one(statement, rows::client_row).await
            }

            async fn clients(&self) -> Result<Vec<$crate::model::Client>, $crate::Error> {
                use $crate::store::sql::{rows, Dialect, Statement};
                let statement = Statement::new(<$db as Dialect>::CLIENTS);
                self.read_all(statement, rows::client_row).await
            }

            async fn code(
                &self,
                code_hash: &$crate::secret::TokenHash,
            ) -> Result<Option<$crate::model::AuthorizationCode>, $crate::Error> {
                use $crate::store::sql::{codes, rows};
                self.read_one(codes::code::<$db>(code_hash), rows::code_from_row).await
            }

            async fn redeem_code(
                &self,
                code_hash: &$crate::secret::TokenHash,
            ) -> Result<$crate::store::Redemption, $crate::Error> {
                use $crate::store::sql::codes;
                self.in_transaction(async |conn| codes::redeem::<$db>(conn, code_hash).await)
                    .await
            }

            async fn token(
                &self,
                token_hash: &$crate::secret::TokenHash,
            ) -> Result<Option<$crate::model::TokenRecord>, $crate::Error> {
                use $crate::store::sql::{rows, tokens};
                self.read_one(tokens::held::<$db>(token_hash), rows::token_from_row).await
            }

            async fn tokens(
                &self,
                token_hashes: &[$crate::secret::TokenHash],
            ) -> Result<Vec<$crate::model::TokenRecord>, $crate::Error> {
                use $crate::store::sql::{rows, tokens};
                if token_hashes.is_empty() {
                    return Ok(Vec::new());
                }
                let statement = tokens::held_among::<$db>(token_hashes)?;
                self.read_all(statement, rows::token_from_row).await
            }

            async fn token_by_refresh(
                &self,
                refresh_hash: &$crate::secret::TokenHash,
            ) -> Result<Option<$crate::model::TokenRecord>, $crate::Error> {
                use $crate::store::sql::{rows, tokens};
                let statement = tokens::held_by_refresh::<$db>(refresh_hash);
                self.read_one(statement, rows::token_from_row).await
            }

            async fn rotate_refresh(
                &self,
                refresh_hash: &$crate::secret::TokenHash,
                next: &$crate::model::TokenRecord,
            ) -> Result<$crate::store::Rotation, $crate::Error> {
                use $crate::store::sql::tokens;
                self.in_transaction(async |conn| {
                    tokens::rotate::<$db>(conn, refresh_hash, next).await
                })
                .await
            }

            async fn tokens_by_owner(
                &self,
                service_key: &str,
                user_context: &str,
            ) -> Result<Vec<$crate::model::TokenRecord>, $crate::Error> {
                use $crate::store::sql::{rows, tokens};
                let statement = tokens::by_owner::<$db>(service_key, user_context);
                self.read_all(statement, rows::token_from_row).await
            }

            async fn list_tokens(
                &self,
                owner: Option<&str>,
                after: Option<&$crate::store::TokenCursor>,
                limit: u32,
            ) -> Result<Vec<$crate::model::TokenRecord>, $crate::Error> {
                use $crate::store::sql::{rows, tokens};
                let statement = tokens::page::<$db>(owner, after, limit);
                self.read_all(statement, rows::token_from_row).await
            }

            async fn purge_expired(
                &self,
                before: $crate::model::UnixMillis,
                limit: u32,
            ) -> Result<u64, $crate::Error> {
                use $crate::store::sql::purge;
                self.in_transaction(async |conn| {
                    purge::expired::<$db>(conn, before, limit).await
                })
                .await
            }
        }
    };
}
pub(crate) use impl_sql_store;
