-- tokengate PostgreSQL schema, version 5: the store's own metadata (issue 19).
-- `pepper_check`: HMAC(pepper, "tokengate pepper check") as hex, so a start with another pepper
-- than the one the stored secrets and tokens were made under is refused, not silent.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
