-- tokengate PostgreSQL schema, version 3: a token is only as valid as its client.

-- Tokens whose client no longer holds them (deleted, disabled, or no longer listing the token's
-- service) end now, as the store ends them from this version on when the client changes
-- (`Client::ended_services`). The condition is the one every token lookup applies.
UPDATE tokens SET revoked = TRUE WHERE revoked = FALSE AND NOT EXISTS (
    SELECT 1 FROM clients c
    WHERE c.client_id = tokens.client_id AND c.status = 'active'
      AND c.services::jsonb @> to_jsonb(tokens.service_key));
