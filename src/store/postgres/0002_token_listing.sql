-- tokengate PostgreSQL schema, version 2: listing token records newest first (Store::list_tokens),
-- for the TIBCO-style `/oauth2/access_token/owners[/{owner}]` routes. Ids compare in the "C"
-- collation, as in every other store.

CREATE INDEX tokens_listing ON tokens (created_at DESC, (id COLLATE "C") DESC);
CREATE INDEX tokens_listing_owner
    ON tokens ((coalesce(user_context, client_id)), created_at DESC, (id COLLATE "C") DESC);
