-- Users, sessions (refresh-token families), refresh tokens and signing keys.

CREATE TABLE auth.users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    username      text NOT NULL,
    name          text,
    password_hash text NOT NULL,
    roles         text[] NOT NULL DEFAULT ARRAY['user']::text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_roles_known CHECK (roles <@ ARRAY['user', 'admin']::text[])
);
-- Case-insensitive uniqueness: "Alice" and "alice" are the same account.
CREATE UNIQUE INDEX users_email_key ON auth.users (lower(email));
CREATE UNIQUE INDEX users_username_key ON auth.users (lower(username));

-- A session is one login and the family of refresh tokens rotated from it.
CREATE TABLE auth.sessions (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    user_agent     text,
    ip             text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_user_idx ON auth.sessions (user_id);

-- Only the SHA-256 of a refresh token is stored; used_at marks a rotated (spent) token,
-- whose reuse revokes the whole session.
CREATE TABLE auth.refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON auth.refresh_tokens (session_id);

CREATE TABLE auth.signing_keys (
    kid                   text PRIMARY KEY,
    private_key_encrypted text NOT NULL,
    public_jwk            jsonb NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    retired_at            timestamptz
);
-- At most one active key: makes first-start generation race-safe (ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX signing_keys_one_active ON auth.signing_keys ((true))
    WHERE retired_at IS NULL;
