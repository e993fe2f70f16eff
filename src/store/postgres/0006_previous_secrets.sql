-- tokengate PostgreSQL schema, version 6: a client's previous secret during the grace period of a
-- rotation (`tokengate client rotate-secret --grace SECS`, issue 19). Only hashes. A row counts
-- while `valid_until` (ms since the epoch) is ahead and the client's `secret_hash` is still
-- `successor_hash`; any other change of the secret leaves the row without effect.

CREATE TABLE previous_secrets (
    client_id      TEXT PRIMARY KEY,
    secret_hash    TEXT NOT NULL,
    successor_hash TEXT NOT NULL,
    valid_until    BIGINT NOT NULL
);
