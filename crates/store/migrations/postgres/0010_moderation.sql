-- Moderation: reports, the audit log, invites, and report notifications.
-- Portable SQL (the same text on both engines).

-- A report of a user, post, comment or chat message. target_user_id is the
-- reported account (the author of reported content), kept so the queue shows
-- it and so removing the account removes its reports.
CREATE TABLE reports (
    id             BIGINT PRIMARY KEY,
    reporter_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_type    TEXT NOT NULL,
    target_id      BIGINT NOT NULL,
    target_user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    reason         TEXT NOT NULL,
    comment        TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    resolved_at    BIGINT,
    -- NULL once the resolving moderator's account is deleted: the report stays resolved.
    resolved_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action         TEXT,
    note           TEXT
);
CREATE INDEX reports_open_idx ON reports (id) WHERE resolved_at IS NULL;
CREATE INDEX reports_resolved_idx ON reports (resolved_at, id) WHERE resolved_at IS NOT NULL;
CREATE INDEX reports_reporter_idx ON reports (reporter_id);
CREATE INDEX reports_target_user_idx ON reports (target_user_id);

-- What moderators did, newest first. A moderator's lines outlive their
-- account (moderator_id becomes NULL): the history is not erased with it.
CREATE TABLE audit_log (
    id           BIGINT PRIMARY KEY,
    moderator_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_log_moderator_idx ON audit_log (moderator_id);

-- Invite codes for registration_mode = invite.
CREATE TABLE invites (
    id         BIGINT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    created_by BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    max_uses   BIGINT NOT NULL,
    uses       BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX invites_created_by_idx ON invites (created_by);

-- `report` notifications name their report, and go with it (a report goes
-- with its reporter's or the reported account's deletion).
ALTER TABLE notifications ADD COLUMN report_id BIGINT REFERENCES reports (id) ON DELETE CASCADE;
CREATE INDEX notifications_report_idx ON notifications (report_id) WHERE report_id IS NOT NULL;
