-- tokengate SQLite schema, version 2: listing token records newest first (Store::list_tokens),
-- for the TIBCO-style `/oauth2/access_token/owners[/{owner}]` routes.

-- Every record, newest first; `id` breaks ties between records of the same millisecond.
CREATE INDEX tokens_listing ON tokens (created_at DESC, id DESC);
-- One owner's records, newest first. The owner is the user context, or the client for records
-- without one; the query must spell the expression exactly the same way for SQLite to use it.
CREATE INDEX tokens_listing_owner ON tokens (coalesce(user_context, client_id), created_at DESC, id DESC);
