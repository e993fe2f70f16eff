-- tokengate PostgreSQL schema, version 4: what a service lets its clients be granted (issue 12).
-- `scopes`: the declared scopes as a JSON array, NULL when the service declares none.
-- `any_scope`: whether clients without allowed_scopes may ask for any scope at /oauth2/token
-- (off: existing services no longer hand out scopes nobody granted).
-- `require_pkce`: `off`, `public` (public clients must use PKCE, RFC 9700 §2.1.1) or `all`.

ALTER TABLE services ADD COLUMN scopes TEXT;
ALTER TABLE services ADD COLUMN any_scope BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE services ADD COLUMN require_pkce TEXT NOT NULL DEFAULT 'public';
