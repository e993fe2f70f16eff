//! PostgreSQL's spelling of the shared statements ([`Dialect`]): `$n` placeholders, `BOOLEAN`,
//! JSON lists read as `jsonb`, ids ordered in the "C" collation (byte order, as the other
//! stores and the listing indexes).

use sqlx::postgres::PgQueryResult;
use sqlx::Postgres;

use crate::store::sql::rows::{client_columns, service_columns};
use crate::store::sql::Dialect;

/// `UPDATE` that revokes the still-active tokens matching `$condition` and returns their hashes.
macro_rules! revoke_where {
    ($condition:literal) => {
        concat!(
            "UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE AND ",
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
            " AND c.status = 'active' AND c.services::jsonb @> to_jsonb(t.service_key)"
        )
    };
}

impl Dialect for Postgres {
    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    const SERVICE: &'static str = concat!(
        "SELECT ",
        service_columns!(""),
        " FROM services WHERE key = $1"
    );
    const SERVICES: &'static str = concat!(
        "SELECT ",
        service_columns!(""),
        " FROM services ORDER BY key COLLATE \"C\""
    );
    const PUT_SERVICE: &'static str = "INSERT INTO services (key, name, access_token_ttl, \
         refresh_tokens, refresh_token_ttl, authorization_code_ttl, token_type, grants, \
         force_redirect_validation, allow_multiple_tokens, allow_query_tokens, \
         scopes, any_scope, require_pkce) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (key) DO UPDATE SET name = excluded.name, \
         access_token_ttl = excluded.access_token_ttl, \
         refresh_tokens = excluded.refresh_tokens, \
         refresh_token_ttl = excluded.refresh_token_ttl, \
         authorization_code_ttl = excluded.authorization_code_ttl, \
         token_type = excluded.token_type, grants = excluded.grants, \
         force_redirect_validation = excluded.force_redirect_validation, \
         allow_multiple_tokens = excluded.allow_multiple_tokens, \
         allow_query_tokens = excluded.allow_query_tokens, \
         scopes = excluded.scopes, any_scope = excluded.any_scope, \
         require_pkce = excluded.require_pkce";

    const CLIENT: &'static str = concat!(
        "SELECT ",
        client_columns!(""),
        " FROM clients WHERE client_id = $1"
    );
    const CLIENTS: &'static str =
        concat!("SELECT ", client_columns!(""), " FROM clients ORDER BY id");
    // The row lock holds off a concurrent change of the same client until this commits.
    const CLIENT_BEFORE_CHANGE: &'static str = concat!(
        "SELECT ",
        client_columns!(""),
        " FROM clients WHERE id = $1 FOR UPDATE"
    );
    const PUT_CLIENT: &'static str = "INSERT INTO clients (id, external_id, name, attributes, \
         client_id, secret_hash, redirect_uris, services, status, allowed_scopes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, \
         name = excluded.name, attributes = excluded.attributes, \
         client_id = excluded.client_id, secret_hash = excluded.secret_hash, \
         redirect_uris = excluded.redirect_uris, services = excluded.services, \
         status = excluded.status, allowed_scopes = excluded.allowed_scopes";
    const DELETE_SERVICE: &'static str = "DELETE FROM services WHERE key = $1";
    const META: &'static str = "SELECT value FROM meta WHERE key = $1";
    const SET_META: &'static str = "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    const CLAIM_META: &'static str =
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    const PREVIOUS_SECRET: &'static str = "SELECT secret_hash, successor_hash, valid_until \
         FROM previous_secrets WHERE client_id = $1";
    const PUT_PREVIOUS_SECRET: &'static str = "INSERT INTO previous_secrets (client_id, \
         secret_hash, successor_hash, valid_until) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash, \
         successor_hash = excluded.successor_hash, valid_until = excluded.valid_until";
    const DELETE_PREVIOUS_SECRET: &'static str =
        "DELETE FROM previous_secrets WHERE client_id = $1";
    const DELETE_CLIENT: &'static str =
        "DELETE FROM clients WHERE client_id = $1 RETURNING services";
    const END_TOKENS: &'static str = revoke_where!(
        "client_id = $1 AND service_key IN (SELECT jsonb_array_elements_text($2::jsonb))"
    );

    const INSERT_CODE: &'static str = "INSERT INTO authorization_codes (code_hash, service_key, \
         client_id, redirect_uri, scope, user_context, pkce_challenge, expires_at, used) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    const CODE: &'static str = "SELECT * FROM authorization_codes WHERE code_hash = $1";
    const REDEEM_CODE: &'static str = "UPDATE authorization_codes SET used = TRUE \
         WHERE code_hash = $1 AND used = FALSE RETURNING *";

    const INSERT_TOKEN: &'static str = "INSERT INTO tokens (token_hash, id, service_key, \
         client_id, token_type, grant_type, scope, user_context, created_at, expires_at, \
         revoked, refresh_hash, refresh_expires_at, refresh_used, family_id, code_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
    const HELD_TOKEN: &'static str = select_held_tokens!("t.token_hash = $1");
    const HELD_TOKENS: &'static str =
        select_held_tokens!("t.token_hash IN (SELECT jsonb_array_elements_text($1::jsonb))");
    const HELD_BY_REFRESH: &'static str = select_held_tokens!("t.refresh_hash = $1");
    const USE_REFRESH: &'static str = "UPDATE tokens SET refresh_used = TRUE \
         WHERE refresh_hash = $1 AND refresh_used = FALSE RETURNING 1";
    const REFRESH_EXISTS: &'static str =
        "SELECT EXISTS (SELECT 1 FROM tokens WHERE refresh_hash = $1)";
    const UPDATE_TOKEN: &'static str = "UPDATE tokens SET scope = coalesce($2, scope), \
         expires_at = coalesce($3, expires_at), \
         user_context = coalesce($4, user_context) WHERE token_hash = $1";

    const REVOKE_TOKEN: &'static str = revoke_where!("token_hash = $1");
    const REVOKE_FAMILY: &'static str = revoke_where!("family_id = $1");
    const REVOKE_CODE: &'static str = revoke_where!("code_hash = $1");
    const REVOKE_USER_APPLICATION: &'static str =
        revoke_where!("service_key = $1 AND client_id = $2 AND user_context = $3");
    const REVOKE_USER_APPLICATION_WITHOUT_CONTEXT: &'static str =
        revoke_where!("service_key = $1 AND client_id = $2 AND user_context IS NULL");

    const TOKENS_BY_OWNER: &'static str = "SELECT * FROM tokens \
         WHERE service_key = $1 AND user_context = $2 \
         ORDER BY created_at DESC, id COLLATE \"C\" DESC";
    const LIST_ALL: &'static str = "SELECT * FROM tokens \
         ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";
    const LIST_ALL_AFTER: &'static str = "SELECT * FROM tokens \
         WHERE (created_at, id COLLATE \"C\") < ($2, $3 COLLATE \"C\") \
         ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";
    const LIST_OWNER: &'static str = "SELECT * FROM tokens \
         WHERE coalesce(user_context, client_id) = $2 \
         ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";
    const LIST_OWNER_AFTER: &'static str = "SELECT * FROM tokens \
         WHERE coalesce(user_context, client_id) = $2 \
         AND (created_at, id COLLATE \"C\") < ($3, $4 COLLATE \"C\") \
         ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $1";

    // The expression matches the `tokens_purge` index. SKIP LOCKED: nodes purging at once
    // take different rows instead of queueing on each other's.
    const PURGE_TOKENS: &'static str = "DELETE FROM tokens WHERE ctid = ANY(ARRAY(SELECT ctid \
         FROM tokens WHERE greatest(expires_at, coalesce(refresh_expires_at, expires_at)) < $1 \
         LIMIT $2 FOR UPDATE SKIP LOCKED))";
    const PURGE_CODES: &'static str = "DELETE FROM authorization_codes WHERE ctid = \
         ANY(ARRAY(SELECT ctid FROM authorization_codes WHERE expires_at < $1 \
         LIMIT $2 FOR UPDATE SKIP LOCKED))";
}
