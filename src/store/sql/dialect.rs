//! The statements the shared store code runs: the same tables and meaning in both backends,
//! each spelled in its backend's SQL (`?1` or `$1`, `1` or `TRUE`, `json_each` or `jsonb`).
//! The parameters of each are listed in order.

use super::Sql;

/// A backend's SQL: implemented by `Sqlite` (`sqlite/statements.rs`) and `Postgres`
/// (`postgres/statements.rs`).
pub(crate) trait Dialect: Sql {
    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// The [`service_columns!`](super::rows::service_columns) of the service with key `1`.
    const SERVICE: &'static str;
    /// The [`service_columns!`](super::rows::service_columns) of every service, by key (byte
    /// order).
    const SERVICES: &'static str;
    /// Inserts or replaces a service: the columns of [`super::binds::put_service`].
    const PUT_SERVICE: &'static str;

    /// The [`client_columns!`](super::rows::client_columns) of the client with developer key
    /// `1`.
    const CLIENT: &'static str;
    /// The [`client_columns!`](super::rows::client_columns) of every client, by numeric id.
    const CLIENTS: &'static str;
    /// The client with numeric id `1` as it is before a change, locked against concurrent
    /// changes until the transaction ends where the backend has row locks.
    const CLIENT_BEFORE_CHANGE: &'static str;
    /// Inserts or updates a client by numeric id (a `client_id` owned by another id fails):
    /// the columns of [`super::binds::put_client`].
    const PUT_CLIENT: &'static str;
    /// Deletes the client with developer key `1`, returning its `services`.
    const DELETE_CLIENT: &'static str;
    /// Revokes the live tokens of client `1` on the services in the JSON array `2`,
    /// returning their `token_hash`.
    const END_TOKENS: &'static str;

    /// Deletes the service with key `1`.
    const DELETE_SERVICE: &'static str;
    /// The `value` stored in `meta` under key `1`.
    const META: &'static str;
    /// Stores `meta` value `2` under key `1`, replacing what was there.
    const SET_META: &'static str;
    /// Stores `meta` value `2` under key `1` unless the key has one (`ON CONFLICT DO NOTHING`).
    const CLAIM_META: &'static str;
    /// The `secret_hash`, `successor_hash`, `valid_until` of client `1`'s previous secret.
    const PREVIOUS_SECRET: &'static str;
    /// Stores client `1`'s previous secret: `secret_hash` `2`, `successor_hash` `3`,
    /// `valid_until` `4`, replacing the one kept before.
    const PUT_PREVIOUS_SECRET: &'static str;
    /// Deletes client `1`'s previous secret (when the client is deleted).
    const DELETE_PREVIOUS_SECRET: &'static str;

    /// Inserts a code: the columns of [`super::binds::insert_code`].
    const INSERT_CODE: &'static str;
    /// The code with hash `1`.
    const CODE: &'static str;
    /// Marks the code with hash `1` used if it was not, returning the row (`RETURNING *`).
    const REDEEM_CODE: &'static str;

    /// Inserts a token record: the columns of [`super::binds::bind_token`].
    const INSERT_TOKEN: &'static str;
    /// The record with token hash `1`, if its client holds it.
    const HELD_TOKEN: &'static str;
    /// The records whose token hash is in the JSON array `1`, if their clients hold them.
    const HELD_TOKENS: &'static str;
    /// The record with refresh hash `1`, if its client holds it.
    const HELD_BY_REFRESH: &'static str;
    /// Marks refresh token `1` used if it was not, returning a row if it did.
    const USE_REFRESH: &'static str;
    /// Whether a record has refresh hash `1` (one boolean column).
    const REFRESH_EXISTS: &'static str;
    /// Sets `scope` (`2`), `expires_at` (`3`), `user_context` (`4`) of token `1` where given.
    const UPDATE_TOKEN: &'static str;

    /// Revokes the live token with hash `1`, returning its `token_hash` (as every revocation).
    const REVOKE_TOKEN: &'static str;
    /// Revokes the live tokens of family `1`.
    const REVOKE_FAMILY: &'static str;
    /// Revokes the live tokens issued from code `1`.
    const REVOKE_CODE: &'static str;
    /// Revokes the live tokens of service `1`, client `2`, user context `3`.
    const REVOKE_USER_APPLICATION: &'static str;
    /// Revokes the live tokens of service `1`, client `2` without a user context.
    const REVOKE_USER_APPLICATION_WITHOUT_CONTEXT: &'static str;

    /// The records of service `1` and user context `2`, newest first.
    const TOKENS_BY_OWNER: &'static str;
    /// Listing: the first `1` records, newest first (`created_at`, then `id`, descending).
    const LIST_ALL: &'static str;
    /// Listing: `1` records after the cursor (`2` `created_at`, `3` `id`).
    const LIST_ALL_AFTER: &'static str;
    /// Listing: the first `1` records of owner `2` (`coalesce(user_context, client_id)`).
    const LIST_OWNER: &'static str;
    /// Listing: `1` records of owner `2` after the cursor (`3` `created_at`, `4` `id`).
    const LIST_OWNER_AFTER: &'static str;

    /// Deletes up to `2` token records that expired (access and refresh token) before `1`.
    const PURGE_TOKENS: &'static str;
    /// Deletes up to `2` codes that expired before `1`.
    const PURGE_CODES: &'static str;
}
