-- The outbox, notifications with their unread counters, and Web Push
-- subscriptions. Portable SQL for SQLite and PostgreSQL.

-- Domain events written in the same transaction as the action that caused
-- them. The relay claims rows (claimed_until is a lease, so a crashed relay's
-- rows are retried), publishes them and deletes them once the bus has them.
CREATE TABLE outbox (
    id            BIGINT PRIMARY KEY,
    event_key     TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    dead_at       BIGINT
);
CREATE INDEX outbox_pending_idx ON outbox (claimed_until, id) WHERE dead_at IS NULL;

-- One notification per event and recipient: a redelivered event finds its row.
CREATE TABLE notifications (
    id           BIGINT PRIMARY KEY,
    event_id     BIGINT NOT NULL,
    recipient_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    actor_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id      BIGINT,
    comment_id   BIGINT,
    created_at   BIGINT NOT NULL,
    read_at      BIGINT,
    UNIQUE (event_id, recipient_id)
);
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, id);
CREATE INDEX notifications_unread_idx ON notifications (recipient_id, id) WHERE read_at IS NULL;
CREATE INDEX notifications_post_idx ON notifications (post_id) WHERE post_id IS NOT NULL;
CREATE INDEX notifications_comment_idx ON notifications (comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX notifications_actor_idx ON notifications (actor_id, kind);

-- Unread counts, kept exact in the transactions that change them.
CREATE TABLE notification_counters (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    unread  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE push_subscriptions (
    id         BIGINT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);
