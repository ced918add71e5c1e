-- Uploaded images. The files (original and preview) live in the blob store
-- under blob_key and preview_key; this row says who uploaded them and which
-- post, if any, shows them. Portable SQL for SQLite and PostgreSQL.
CREATE TABLE media (
    id              BIGINT PRIMARY KEY,
    owner_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blob_key        TEXT NOT NULL,
    preview_key     TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            BIGINT NOT NULL,
    width           BIGINT NOT NULL,
    height          BIGINT NOT NULL,
    -- NULL until a post attaches the upload; set once, never changed.
    post_id         BIGINT REFERENCES posts (id) ON DELETE CASCADE,
    position        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    -- Set when the post showing the upload is deleted: its files are then due
    -- for removal by the cleanup job.
    post_deleted_at BIGINT
);
-- A post's media in order (every post view reads this).
CREATE INDEX media_post_idx ON media (post_id, position);
-- The cleanup job: uploads never attached, oldest first ...
CREATE INDEX media_unattached_idx ON media (created_at) WHERE post_id IS NULL;
-- ... and uploads of deleted posts.
CREATE INDEX media_released_idx ON media (post_deleted_at) WHERE post_deleted_at IS NOT NULL;
-- Deleting a user cascades here.
CREATE INDEX media_owner_idx ON media (owner_id);
