-- tokengate SQLite schema, version 3: a token is only as valid as its client, and a change feed
-- that reaches every process using the file.

-- Tokens whose client no longer holds them (deleted, disabled, or no longer listing the token's
-- service) end now, as the store ends them from this version on when the client changes
-- (`Client::ended_services`). The condition is the one every token lookup applies.
UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND NOT EXISTS (
    SELECT 1 FROM clients c
    WHERE c.client_id = tokens.client_id AND c.status = 'active'
      AND EXISTS (SELECT 1 FROM json_each(c.services) WHERE value = tokens.service_key));

-- The change feed: every change to a token that a cache may hold (revoked, scope, lifetime, user
-- context), written by this trigger in the transaction that makes the change, whichever process
-- or connection makes it. Each process polls it when `PRAGMA data_version` says another
-- connection committed (src/store/sqlite/feed.rs).
CREATE TABLE token_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL
) STRICT;

-- Keeps the last 100 000 changes: a reader further behind than that sees a gap (its next `seq`
-- is gone) and flushes its cache instead.
CREATE TRIGGER tokens_changed AFTER UPDATE OF revoked, scope, expires_at, user_context ON tokens
WHEN old.revoked IS NOT new.revoked OR old.scope IS NOT new.scope
  OR old.expires_at IS NOT new.expires_at OR old.user_context IS NOT new.user_context
BEGIN
    INSERT INTO token_changes (token_hash) VALUES (new.token_hash);
    DELETE FROM token_changes WHERE seq <= last_insert_rowid() - 100000;
END;
