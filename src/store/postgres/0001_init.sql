-- tokengate PostgreSQL schema, version 1: the SQLite schema (src/store/sqlite/0001_init.sql)
-- with PostgreSQL's types. Enums are stored by name, lists as JSON arrays in TEXT, hashes as
-- 64-char lowercase hex, times as BIGINT unix milliseconds, flags as BOOLEAN. No foreign keys:
-- like the memory store, records refer to services and clients by key, and a client's
-- `client_id` may change on upsert.

CREATE TABLE services (
    key                       TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    access_token_ttl          BIGINT NOT NULL,
    refresh_tokens            BOOLEAN NOT NULL,
    refresh_token_ttl         BIGINT NOT NULL,
    authorization_code_ttl    BIGINT NOT NULL,
    token_type                TEXT NOT NULL,
    grants                    TEXT NOT NULL,
    force_redirect_validation BOOLEAN NOT NULL,
    allow_multiple_tokens     BOOLEAN NOT NULL,
    allow_query_tokens        BOOLEAN NOT NULL
);

CREATE TABLE clients (
    id             BIGINT PRIMARY KEY,
    external_id    BIGINT,
    name           TEXT NOT NULL,
    attributes     TEXT,
    client_id      TEXT NOT NULL UNIQUE,
    secret_hash    TEXT,
    redirect_uris  TEXT NOT NULL,
    services       TEXT NOT NULL,
    status         TEXT NOT NULL,
    allowed_scopes TEXT
);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    service_key    TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT,
    scope          TEXT,
    user_context   TEXT,
    pkce_challenge TEXT,
    expires_at     BIGINT NOT NULL,
    used           BOOLEAN NOT NULL
);

CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

CREATE TABLE tokens (
    token_hash         TEXT PRIMARY KEY,
    id                 TEXT NOT NULL,
    service_key        TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    token_type         TEXT NOT NULL,
    grant_type         TEXT NOT NULL,
    scope              TEXT,
    user_context       TEXT,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    revoked            BOOLEAN NOT NULL,
    -- The refresh half: all three set, or all three NULL.
    refresh_hash       TEXT UNIQUE,
    refresh_expires_at BIGINT,
    refresh_used       BOOLEAN,
    family_id          TEXT NOT NULL,
    code_hash          TEXT,
    CHECK ((refresh_hash IS NULL) = (refresh_expires_at IS NULL)
       AND (refresh_hash IS NULL) = (refresh_used IS NULL))
);

-- tokens_by_owner, newest first.
CREATE INDEX tokens_owner ON tokens (service_key, user_context, created_at);
-- Revocation::UserApplication.
CREATE INDEX tokens_user_application ON tokens (service_key, client_id, user_context);
-- Revocation::Family.
CREATE INDEX tokens_family ON tokens (family_id);
-- Revocation::Code.
CREATE INDEX tokens_code ON tokens (code_hash) WHERE code_hash IS NOT NULL;
-- purge_expired: a record can go once both its access and its refresh token have expired. The
-- query must spell this expression exactly the same way for PostgreSQL to use the index.
CREATE INDEX tokens_purge ON tokens (greatest(expires_at, coalesce(refresh_expires_at, expires_at)));
