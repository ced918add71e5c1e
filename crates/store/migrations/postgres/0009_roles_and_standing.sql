-- Roles and account standing. Portable SQL (the same text on both engines).
-- role: user | moderator | admin. A NULL time means "not so".
--   suspended_at: suspended by a moderator (no login, content hidden everywhere)
--   silenced_at:  silenced by a moderator (left out of the public feed and search)
--   pending_at:   registered under approval mode and not yet approved
--   email_verified_at: when the address was confirmed
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN suspended_at BIGINT;
ALTER TABLE users ADD COLUMN silenced_at BIGINT;
ALTER TABLE users ADD COLUMN pending_at BIGINT;
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE INDEX users_pending_idx ON users (pending_at);
