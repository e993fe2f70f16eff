//! SQLite's spelling of the shared statements ([`Dialect`]): `?n` placeholders, booleans as
//! `0`/`1`, JSON lists read with `json_each`.

use sqlx::sqlite::SqliteQueryResult;
use sqlx::Sqlite;

use crate::store::sql::rows::{client_columns, service_columns};
use crate::store::sql::Dialect;

/// `UPDATE` that revokes the still-active tokens matching `$condition` and returns their hashes.
macro_rules! revoke_where {
    ($condition:literal) => {
        concat!(
            "UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND ",
            $condition,
            " RETURNING token_hash"
        )
    };
}

/// `SELECT` of the token records matching `$condition` (on `tokens t`) whose client still holds
/// them: it exists, is active and lists the token's service (see `Store::token`).
macro_rules! select_held_tokens {
    ($condition:literal) => {
        concat!(
            "SELECT t.* FROM tokens t JOIN clients c ON c.client_id = t.client_id WHERE ",
            $condition,
            " AND c.status = 'active' \
             AND EXISTS (SELECT 1 FROM json_each(c.services) WHERE value = t.service_key)"
        )
    };
}

/// The SQL of [`Sqlite::INSERT_TOKEN`]'s columns, for the multi-row insert of group commit.
pub(super) const INSERT_TOKENS: &str = "INSERT INTO tokens (token_hash, id, service_key, \
     client_id, token_type, grant_type, scope, user_context, created_at, expires_at, revoked, \
     refresh_hash, refresh_expires_at, refresh_used, family_id, code_hash) VALUES ";

/// One row of [`INSERT_TOKENS`].
pub(super) const TOKEN_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The service and the client of one `createAccessToken` in one row, each side all NULL when
/// its record is missing (`key` and `client_id` are never NULL in a stored record).
pub(super) const SERVICE_AND_CLIENT: &str = concat!(
    "SELECT ",
    service_columns!("s."),
    ", ",
    client_columns!("c."),
    " FROM (SELECT 1) LEFT JOIN services s ON s.key = ?1 \
     LEFT JOIN clients c ON c.client_id = ?2"
);

impl Dialect for Sqlite {
    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    const SERVICE: &'static str = concat!(
        "SELECT ",
        service_columns!(""),
        " FROM services WHERE key = ?1"
    );
    const SERVICES: &'static str = concat!(
        "SELECT ",
        service_columns!(""),
        " FROM services ORDER BY key"
    );
    // `services` has no other unique column, so replacing the row is an upsert.
    const PUT_SERVICE: &'static str = "INSERT OR REPLACE INTO services (key, name, \
         access_token_ttl, refresh_tokens, refresh_token_ttl, authorization_code_ttl, \
         token_type, grants, force_redirect_validation, allow_multiple_tokens, \
         allow_query_tokens, scopes, any_scope, require_pkce) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

    const CLIENT: &'static str = concat!(
        "SELECT ",
        client_columns!(""),
        " FROM clients WHERE client_id = ?1"
    );
    const CLIENTS: &'static str =
        concat!("SELECT ", client_columns!(""), " FROM clients ORDER BY id");
    // `BEGIN IMMEDIATE` holds off every other writer already.
    const CLIENT_BEFORE_CHANGE: &'static str = concat!(
        "SELECT ",
        client_columns!(""),
        " FROM clients WHERE id = ?1"
    );
    // `INSERT OR REPLACE` would silently delete another client owning the `client_id`.
    const PUT_CLIENT: &'static str = "INSERT INTO clients (id, external_id, name, attributes, \
         client_id, secret_hash, redirect_uris, services, status, allowed_scopes) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, \
         name = excluded.name, attributes = excluded.attributes, \
         client_id = excluded.client_id, secret_hash = excluded.secret_hash, \
         redirect_uris = excluded.redirect_uris, services = excluded.services, \
         status = excluded.status, allowed_scopes = excluded.allowed_scopes";
    const DELETE_SERVICE: &'static str = "DELETE FROM services WHERE key = ?1";
    const META: &'static str = "SELECT value FROM meta WHERE key = ?1";
    const SET_META: &'static str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    const CLAIM_META: &'static str =
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING";
    const PREVIOUS_SECRET: &'static str = "SELECT secret_hash, successor_hash, valid_until \
         FROM previous_secrets WHERE client_id = ?1";
    const PUT_PREVIOUS_SECRET: &'static str = "INSERT INTO previous_secrets (client_id, \
         secret_hash, successor_hash, valid_until) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, \
         successor_hash = excluded.successor_hash, valid_until = excluded.valid_until";
    const DELETE_PREVIOUS_SECRET: &'static str =
        "DELETE FROM previous_secrets WHERE client_id = ?1";
    const DELETE_CLIENT: &'static str =
        "DELETE FROM clients WHERE client_id = ?1 RETURNING services";
    const END_TOKENS: &'static str =
        revoke_where!("client_id = ?1 AND service_key IN (SELECT value FROM json_each(?2))");

    const INSERT_CODE: &'static str = "INSERT INTO authorization_codes (code_hash, service_key, \
         client_id, redirect_uri, scope, user_context, pkce_challenge, expires_at, used) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    const CODE: &'static str = "SELECT * FROM authorization_codes WHERE code_hash = ?1";
    const REDEEM_CODE: &'static str = "UPDATE authorization_codes SET used = 1 \
         WHERE code_hash = ?1 AND used = 0 RETURNING *";

    const INSERT_TOKEN: &'static str = concat!(
        "INSERT INTO tokens (token_hash, id, service_key, client_id, token_type, grant_type, \
         scope, user_context, created_at, expires_at, revoked, refresh_hash, \
         refresh_expires_at, refresh_used, family_id, code_hash) VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    const HELD_TOKEN: &'static str = select_held_tokens!("t.token_hash = ?1");
    // `IN` probes the primary key once per distinct hash.
    const HELD_TOKENS: &'static str =
        select_held_tokens!("t.token_hash IN (SELECT value FROM json_each(?1))");
    const HELD_BY_REFRESH: &'static str = select_held_tokens!("t.refresh_hash = ?1");
    const USE_REFRESH: &'static str = "UPDATE tokens SET refresh_used = 1 \
         WHERE refresh_hash = ?1 AND refresh_used = 0 RETURNING 1";
    const REFRESH_EXISTS: &'static str =
        "SELECT EXISTS (SELECT 1 FROM tokens WHERE refresh_hash = ?1)";
    const UPDATE_TOKEN: &'static str = "UPDATE tokens SET scope = coalesce(?2, scope), \
         expires_at = coalesce(?3, expires_at), \
         user_context = coalesce(?4, user_context) WHERE token_hash = ?1";

    const REVOKE_TOKEN: &'static str = revoke_where!("token_hash = ?1");
    const REVOKE_FAMILY: &'static str = revoke_where!("family_id = ?1");
    const REVOKE_CODE: &'static str = revoke_where!("code_hash = ?1");
    const REVOKE_USER_APPLICATION: &'static str =
        revoke_where!("service_key = ?1 AND client_id = ?2 AND user_context = ?3");
    const REVOKE_USER_APPLICATION_WITHOUT_CONTEXT: &'static str =
        revoke_where!("service_key = ?1 AND client_id = ?2 AND user_context IS NULL");

    const TOKENS_BY_OWNER: &'static str = "SELECT * FROM tokens \
         WHERE service_key = ?1 AND user_context = ?2 ORDER BY created_at DESC, id DESC";
    // The owner expression is spelled exactly as in the index.
    const LIST_ALL: &'static str =
        "SELECT * FROM tokens ORDER BY created_at DESC, id DESC LIMIT ?1";
    const LIST_ALL_AFTER: &'static str = "SELECT * FROM tokens WHERE (created_at, id) < (?2, ?3) \
         ORDER BY created_at DESC, id DESC LIMIT ?1";
    const LIST_OWNER: &'static str = "SELECT * FROM tokens \
         WHERE coalesce(user_context, client_id) = ?2 \
         ORDER BY created_at DESC, id DESC LIMIT ?1";
    const LIST_OWNER_AFTER: &'static str = "SELECT * FROM tokens \
         WHERE coalesce(user_context, client_id) = ?2 AND (created_at, id) < (?3, ?4) \
         ORDER BY created_at DESC, id DESC LIMIT ?1";

    // The expression matches the `tokens_purge` index.
    const PURGE_TOKENS: &'static str = "DELETE FROM tokens WHERE rowid IN (SELECT rowid \
         FROM tokens WHERE max(expires_at, coalesce(refresh_expires_at, expires_at)) < ?1 \
         LIMIT ?2)";
    const PURGE_CODES: &'static str = "DELETE FROM authorization_codes WHERE rowid IN \
         (SELECT rowid FROM authorization_codes WHERE expires_at < ?1 LIMIT ?2)";
}

#[cfg(test)]
mod tests {
    use sqlx::{Row, Sqlite};

    use crate::store::sql::Dialect;
    use crate::store::SqliteStore;

    /// The listing queries walk an index in order: no full scan, no sort of the whole table.
    #[tokio::test]
    async fn listing_queries_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        for (sql, index) in [
            (Sqlite::LIST_ALL, "tokens_listing"),
            (Sqlite::LIST_ALL_AFTER, "tokens_listing"),
            (Sqlite::LIST_OWNER, "tokens_listing_owner"),
            (Sqlite::LIST_OWNER_AFTER, "tokens_listing_owner"),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(explain))
                .bind(10_i64)
                .bind("alice")
                .bind(0_i64)
                .bind("id")
                .fetch_all(&store.reader)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect();
            let plan = plan.join("; ");
            let uses = plan.split("; ").any(|step| {
                step.contains(&format!("USING INDEX {index} "))
                    || step.ends_with(&format!("USING INDEX {index}"))
            });
            assert!(uses, "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }
}
