-- Account security. Portable SQL (the same text on both engines).
-- sessions: one row per refresh-token family (a signed-in device), for the
-- sessions list; whether it is still live is its tokens' business.
CREATE TABLE sessions (
    family_id    BIGINT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device       TEXT NOT NULL,
    address      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id, last_used_at);

-- Single-use tokens sent by mail (password reset, email verification):
-- only their SHA-256 hash is stored.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);
