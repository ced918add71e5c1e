-- A push subscription belongs to one user: the same endpoint registered by a
-- second user is a second row, not a takeover of the first user's. Rows are
-- looked up, capped and deleted per user, so (user_id, endpoint) replaces both
-- the endpoint key and the user index. SQLite cannot drop a column constraint,
-- so the table is rebuilt.
CREATE TABLE push_subscriptions_new (
    id         BIGINT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, endpoint)
);
INSERT INTO push_subscriptions_new (id, user_id, endpoint, p256dh, auth, created_at)
    SELECT id, user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions;
DROP TABLE push_subscriptions;
ALTER TABLE push_subscriptions_new RENAME TO push_subscriptions;
