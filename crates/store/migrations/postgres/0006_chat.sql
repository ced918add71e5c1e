-- Chat: direct rooms and group channels, their members with read marks,
-- messages (idempotent by the sender's client id) and per-user removals.
-- Portable SQL for SQLite and PostgreSQL.
CREATE TABLE chat_rooms (
    id               BIGINT PRIMARY KEY,
    kind             TEXT NOT NULL,
    name             TEXT,
    owner_id         BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- "lowId:highId" for direct rooms: one room per pair.
    direct_key       TEXT UNIQUE,
    created_at       BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL
);

CREATE TABLE chat_members (
    room_id      BIGINT NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at    BIGINT NOT NULL,
    last_read_id BIGINT NOT NULL DEFAULT 0,
    read_at      BIGINT,
    delivered_id BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX chat_members_user_idx ON chat_members (user_id);

CREATE TABLE chat_messages (
    id            BIGINT PRIMARY KEY,
    room_id       BIGINT NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text          TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    retracted_at  BIGINT,
    UNIQUE (room_id, sender_id, client_msg_id)
);
CREATE INDEX chat_messages_room_idx ON chat_messages (room_id, id);

-- Messages a user removed for themselves.
CREATE TABLE chat_hidden (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, message_id)
);

-- `message` notifications name their room; one unread per recipient and room.
ALTER TABLE notifications ADD COLUMN room_id BIGINT;
CREATE INDEX notifications_room_idx ON notifications (room_id) WHERE room_id IS NOT NULL;
CREATE UNIQUE INDEX notifications_message_unread_idx ON notifications (recipient_id, room_id)
    WHERE kind = 'message' AND read_at IS NULL;
