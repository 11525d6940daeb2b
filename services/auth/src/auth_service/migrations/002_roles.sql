-- Roles user < operator < admin, and disabled accounts (an admin switches them off; their
-- sessions are revoked at the same moment, so their tokens stop working at once).

ALTER TABLE auth.users DROP CONSTRAINT users_roles_known;
ALTER TABLE auth.users ADD CONSTRAINT users_roles_known
    CHECK (roles <@ ARRAY['user', 'operator', 'admin']::text[]);
ALTER TABLE auth.users ADD COLUMN disabled_at timestamptz;

-- The admin's user list pages newest first on (created_at, id).
CREATE INDEX users_created ON auth.users (created_at DESC, id DESC);
