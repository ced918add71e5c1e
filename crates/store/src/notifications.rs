//! Notifications with exact unread counters, and Web Push subscriptions.

use std::collections::BTreeMap;

use async_trait::async_trait;
use starling_core::model::{
    LoveTarget, NotificationKind, NotificationRecord, PushSubscriptionRecord, Subject,
};
use starling_core::ports::{NotificationStore, PushSubscriptionStore};
use starling_core::{
    CommentId, Error, EventId, NotificationId, PostId, PushSubscriptionId, Result, RoomId,
    Snowflake, Timestamp, UserId,
};

use crate::{Dialect, SqlStore, db_err};

const COLUMNS: &str = "id, event_id, recipient_id, kind, actor_id, post_id, comment_id, room_id, \
     report_id, created_at, read_at";

struct Row {
    id: i64,
    event_id: i64,
    recipient_id: i64,
    kind: String,
    actor_id: i64,
    post_id: Option<i64>,
    comment_id: Option<i64>,
    room_id: Option<i64>,
    report_id: Option<i64>,
    created_at: i64,
    read_at: Option<i64>,
}

crate::db::from_row!(Row {
    id,
    event_id,
    recipient_id,
    kind,
    actor_id,
    post_id,
    comment_id,
    room_id,
    report_id,
    created_at,
    read_at
});

impl TryFrom<Row> for NotificationRecord {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self> {
        let kind = NotificationKind::parse(&r.kind).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("unknown notification kind {:?}", r.kind))
        })?;
        Ok(NotificationRecord {
            id: NotificationId::from_i64(r.id),
            event_id: EventId::from_i64(r.event_id),
            recipient_id: UserId::from_i64(r.recipient_id),
            kind,
            actor_id: UserId::from_i64(r.actor_id),
            post_id: r.post_id.map(|p| PostId(Snowflake(p))),
            comment_id: r.comment_id.map(|c| CommentId(Snowflake(c))),
            room_id: r.room_id.map(RoomId::from_i64),
            report_id: r.report_id.map(starling_core::ReportId::from_i64),
            created_at: Timestamp(r.created_at),
            read_at: r.read_at.map(Timestamp),
        })
    }
}

fn records(rows: Vec<Row>) -> Result<Vec<NotificationRecord>> {
    rows.into_iter().map(TryFrom::try_from).collect()
}

/// A query whose row exists exactly while `subject` does, and its binds.
/// For a subject that stands once (a follow, a love): the query finding the
/// notification already stored about it, from any event.
fn already_told(recipient: UserId, subject: Subject) -> Option<(&'static str, Vec<i64>)> {
    match subject {
        Subject::Follow { actor, .. } => Some((
            "SELECT n.id FROM notifications n
             WHERE n.recipient_id = $1 AND n.kind = 'follow' AND n.actor_id = $2",
            vec![recipient.get(), actor.get()],
        )),
        Subject::Love {
            actor,
            target: LoveTarget::Post(p),
        } => Some((
            "SELECT n.id FROM notifications n
             WHERE n.recipient_id = $1 AND n.kind = 'love' AND n.actor_id = $2
               AND n.post_id = $3 AND n.comment_id IS NULL",
            vec![recipient.get(), actor.get(), p.get()],
        )),
        Subject::Love {
            actor,
            target: LoveTarget::Comment(c),
        } => Some((
            "SELECT n.id FROM notifications n
             WHERE n.recipient_id = $1 AND n.kind = 'love' AND n.actor_id = $2
               AND n.comment_id = $3",
            vec![recipient.get(), actor.get(), c.get()],
        )),
        _ => None,
    }
}

fn subject_exists(subject: Subject) -> (&'static str, Vec<i64>) {
    match subject {
        Subject::Post(p) => (
            "SELECT p.id FROM posts p WHERE p.id = $1 AND p.deleted_at IS NULL",
            vec![p.get()],
        ),
        Subject::Comment(c) => (
            "SELECT c.id FROM comments c JOIN posts p ON p.id = c.post_id
             WHERE c.id = $1 AND c.deleted_at IS NULL AND p.deleted_at IS NULL",
            vec![c.get()],
        ),
        Subject::Love {
            actor,
            target: LoveTarget::Post(p),
        } => (
            "SELECT l.target_id FROM loves l JOIN posts p ON p.id = l.target_id
             WHERE l.target_id = $1 AND l.user_id = $2 AND p.deleted_at IS NULL",
            vec![p.get(), actor.get()],
        ),
        Subject::Love {
            actor,
            target: LoveTarget::Comment(c),
        } => (
            "SELECT l.target_id FROM loves l JOIN comments c ON c.id = l.target_id
             JOIN posts p ON p.id = c.post_id
             WHERE l.target_id = $1 AND l.user_id = $2
               AND c.deleted_at IS NULL AND p.deleted_at IS NULL",
            vec![c.get(), actor.get()],
        ),
        Subject::Follow { actor, followee } => (
            "SELECT f.follower_id FROM follows f WHERE f.follower_id = $1 AND f.followee_id = $2",
            vec![actor.get(), followee.get()],
        ),
        Subject::Room(room) => (
            "SELECT r.id FROM chat_rooms r WHERE r.id = $1",
            vec![room.get()],
        ),
        Subject::Membership { room, member } => (
            "SELECT m.room_id FROM chat_members m WHERE m.room_id = $1 AND m.user_id = $2",
            vec![room.get(), member.get()],
        ),
        Subject::Report(r) => ("SELECT r.id FROM reports r WHERE r.id = $1", vec![r.get()]),
    }
}

/// The notifications about `subject`, as a condition and its binds.
fn about(subject: Subject) -> (&'static str, Vec<i64>) {
    match subject {
        Subject::Post(p) => ("post_id = $1", vec![p.get()]),
        Subject::Comment(c) => ("comment_id = $1", vec![c.get()]),
        Subject::Love {
            actor,
            target: LoveTarget::Post(p),
        } => (
            "kind = 'love' AND post_id = $1 AND actor_id = $2 AND comment_id IS NULL",
            vec![p.get(), actor.get()],
        ),
        Subject::Love {
            actor,
            target: LoveTarget::Comment(c),
        } => (
            "kind = 'love' AND comment_id = $1 AND actor_id = $2",
            vec![c.get(), actor.get()],
        ),
        Subject::Follow { actor, followee } => (
            "kind = 'follow' AND actor_id = $1 AND recipient_id = $2",
            vec![actor.get(), followee.get()],
        ),
        Subject::Room(room) => ("room_id = $1", vec![room.get()]),
        Subject::Membership { room, member } => (
            "room_id = $1 AND recipient_id = $2",
            vec![room.get(), member.get()],
        ),
        Subject::Report(r) => ("report_id = $1", vec![r.get()]),
    }
}

/// A 64-bit key naming `subject`, for PostgreSQL advisory locks.
fn lock_key(subject: Subject) -> i64 {
    let (tag, a, b) = match subject {
        Subject::Post(p) => (1u8, p.get(), 0),
        Subject::Comment(c) => (2, c.get(), 0),
        Subject::Love { actor, target } => (3, target.id(), actor.get()),
        Subject::Follow { actor, followee } => (4, actor.get(), followee.get()),
        Subject::Room(room) => (5, room.get(), 0),
        Subject::Membership { room, member } => (6, room.get(), member.get()),
        Subject::Report(r) => (7, r.get(), 0),
    };
    // FNV-1a over the tag and both ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::iter::once(tag)
        .chain(a.to_le_bytes())
        .chain(b.to_le_bytes())
    {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Serialises storing a notification against removing the notifications of
/// any subject that would remove it (PostgreSQL; SQLite's writers are serial).
/// Advisory locks, taken in key order, never touch the rows that writers
/// lock, so they cannot deadlock with them.
async fn lock_subjects(
    tx: &mut crate::db::Tx,
    dialect: Dialect,
    subjects: &[Subject],
) -> Result<()> {
    if dialect != Dialect::Postgres {
        return Ok(());
    }
    let mut keys: Vec<i64> = subjects.iter().map(|s| lock_key(*s)).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        crate::db::query("SELECT pg_advisory_xact_lock($1)")
            .bind(k)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn add_unread(tx: &mut crate::db::Tx, user: UserId, delta: i64) -> Result<i64> {
    crate::db::query_scalar(
        "INSERT INTO notification_counters (user_id, unread) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET unread = notification_counters.unread + $2
         RETURNING unread",
    )
    .bind(user.get())
    .bind(delta)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)
}

/// Stores `n` in `tx` unless one exists for its event and recipient, or its
/// subject is gone; returns the recipient's unread count when stored.
/// The subjects whose removal would remove `n`.
fn subjects_of(n: &NotificationRecord, subject: Subject) -> Vec<Subject> {
    let mut subjects = vec![subject];
    subjects.extend(n.post_id.map(Subject::Post));
    subjects.extend(n.comment_id.map(Subject::Comment));
    subjects.extend(n.room_id.map(Subject::Room));
    subjects.extend(n.report_id.map(Subject::Report));
    subjects
}

/// The caller holds the locks of [`subjects_of`] (see [`lock_subjects`]).
async fn insert_one(
    tx: &mut crate::db::Tx,
    n: &NotificationRecord,
    subject: Subject,
) -> Result<Option<i64>> {
    let (check, binds) = subject_exists(subject);
    let mut q = crate::db::query_scalar::<i64>(check.to_owned());
    for b in binds {
        q = q.bind(b);
    }
    if q.fetch_optional(&mut *tx).await.map_err(db_err)?.is_none() {
        return Ok(None);
    }
    // Nobody hears from (or about) a deleted account: its rows are on their
    // way out, and this one would outlive the batch that removes them.
    let live: i64 = crate::db::query_scalar(
        "SELECT COUNT(*) FROM users WHERE id IN ($1, $2) AND deleted_at IS NULL",
    )
    .bind(n.actor_id.get())
    .bind(n.recipient_id.get())
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    if live < if n.actor_id == n.recipient_id { 1 } else { 2 } {
        return Ok(None);
    }
    if let Some((told, binds)) = already_told(n.recipient_id, subject) {
        // A follow or love undone and redone before the worker got to the
        // first event: each event finds it standing, but it is one.
        let mut q = crate::db::query_scalar::<i64>(told.to_owned());
        for b in binds {
            q = q.bind(b);
        }
        if q.fetch_optional(&mut *tx).await.map_err(db_err)?.is_some() {
            return Ok(None);
        }
    }
    // No conflict target: a repeated event, or a second unread
    // `message` notification for the same room, is skipped alike.
    let inserted = crate::db::query(
        "INSERT INTO notifications
             (id, event_id, recipient_id, kind, actor_id, post_id, comment_id, room_id, report_id,
              created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING",
    )
    .bind(n.id.get())
    .bind(n.event_id.get())
    .bind(n.recipient_id.get())
    .bind(n.kind.as_str())
    .bind(n.actor_id.get())
    .bind(n.post_id.map(PostId::get))
    .bind(n.comment_id.map(CommentId::get))
    .bind(n.room_id.map(RoomId::get))
    .bind(n.report_id.map(starling_core::ReportId::get))
    .bind(n.created_at.millis())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(None);
    }
    Ok(Some(add_unread(tx, n.recipient_id, 1).await?))
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn insert_notification(
        &self,
        n: &NotificationRecord,
        subject: Subject,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        // Whoever deletes the subject removes its notifications after
        // committing, under the same lock: either this check sees the
        // deletion, or the removal sees this row.
        lock_subjects(&mut tx, self.dialect, &subjects_of(n, subject)).await?;
        let unread = insert_one(&mut tx, n, subject).await?;
        if unread.is_some() {
            tx.commit().await.map_err(db_err)?;
        }
        Ok(unread)
    }

    async fn insert_notifications(
        &self,
        items: &[(NotificationRecord, Subject)],
    ) -> Result<Vec<Option<i64>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        // Every lock first, in key order (as one insert does), so batches
        // never wait on each other in a cycle.
        let all: Vec<Subject> = items
            .iter()
            .flat_map(|(n, subject)| subjects_of(n, *subject))
            .collect();
        lock_subjects(&mut tx, self.dialect, &all).await?;
        let mut out = Vec::with_capacity(items.len());
        for (n, subject) in items {
            out.push(insert_one(&mut tx, n, *subject).await?);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn notifications(
        &self,
        recipient: UserId,
        before: Option<NotificationId>,
        limit: u32,
        unread_only: bool,
    ) -> Result<Vec<NotificationRecord>> {
        let unread = if unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE recipient_id = $1 AND id < $2{unread}
             ORDER BY id DESC LIMIT $3"
        );
        let rows = crate::db::query_as::<Row>(sql)
            .bind(recipient.get())
            .bind(before.map_or(i64::MAX, NotificationId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        records(rows)
    }

    async fn notifications_after(
        &self,
        recipient: UserId,
        after: NotificationId,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE recipient_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = crate::db::query_as::<Row>(sql)
            .bind(recipient.get())
            .bind(after.get())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        records(rows)
    }

    async fn notification(&self, id: NotificationId) -> Result<NotificationRecord> {
        let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id = $1");
        crate::db::query_as::<Row>(sql)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found("notification"))?
            .try_into()
    }

    async fn unread_count(&self, recipient: UserId) -> Result<i64> {
        let n: Option<i64> =
            crate::db::query_scalar("SELECT unread FROM notification_counters WHERE user_id = $1")
                .bind(recipient.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(n.unwrap_or(0))
    }

    async fn mark_read(&self, recipient: UserId, id: NotificationId, at: Timestamp) -> Result<i64> {
        let mut tx = self.begin().await?;
        let changed = crate::db::query(
            "UPDATE notifications SET read_at = $3
             WHERE id = $1 AND recipient_id = $2 AND read_at IS NULL",
        )
        .bind(id.get())
        .bind(recipient.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if changed {
            let unread = add_unread(&mut tx, recipient, -1).await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(unread);
        }
        let mine: Option<i64> = crate::db::query_scalar(
            "SELECT id FROM notifications WHERE id = $1 AND recipient_id = $2",
        )
        .bind(id.get())
        .bind(recipient.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        drop(tx);
        match mine {
            Some(_) => self.unread_count(recipient).await,
            None => Err(Error::not_found("notification")),
        }
    }

    async fn mark_all_read(&self, recipient: UserId, at: Timestamp) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query(
            "UPDATE notifications SET read_at = $2 WHERE recipient_id = $1 AND read_at IS NULL",
        )
        .bind(recipient.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        crate::db::query("UPDATE notification_counters SET unread = 0 WHERE user_id = $1")
            .bind(recipient.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn mark_room_read(
        &self,
        recipient: UserId,
        room: RoomId,
        at: Timestamp,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin().await?;
        let changed = crate::db::query(
            "UPDATE notifications SET read_at = $3
             WHERE recipient_id = $1 AND room_id = $2 AND kind = 'message' AND read_at IS NULL",
        )
        .bind(recipient.get())
        .bind(room.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        let delta = -i64::try_from(changed).unwrap_or(i64::MAX);
        let unread = add_unread(&mut tx, recipient, delta).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(unread))
    }

    async fn remove_notifications(&self, subject: Subject) -> Result<Vec<(UserId, i64)>> {
        let (cond, binds) = about(subject);
        let sql = format!(
            "DELETE FROM notifications WHERE {cond}
             RETURNING recipient_id, CASE WHEN read_at IS NULL THEN 1 ELSE 0 END"
        );
        let mut tx = self.begin().await?;
        lock_subjects(&mut tx, self.dialect, &[subject]).await?;
        let mut q = crate::db::query_as::<(i64, i32)>(sql);
        for b in binds {
            q = q.bind(b);
        }
        let removed = q.fetch_all(&mut *tx).await.map_err(db_err)?;
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        // Counters in user order, so concurrent removals never deadlock.
        let mut unread_removed: BTreeMap<i64, i64> = BTreeMap::new();
        for (recipient, unread) in removed {
            *unread_removed.entry(recipient).or_default() += i64::from(unread);
        }
        let mut out = Vec::with_capacity(unread_removed.len());
        for (recipient, n) in unread_removed {
            let user = UserId::from_i64(recipient);
            let unread = add_unread(&mut tx, user, -n).await?;
            out.push((user, unread));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }
}

struct PushRow {
    id: i64,
    user_id: i64,
    endpoint: String,
    p256dh: String,
    auth: String,
    created_at: i64,
}

crate::db::from_row!(PushRow {
    id,
    user_id,
    endpoint,
    p256dh,
    auth,
    created_at
});

impl From<PushRow> for PushSubscriptionRecord {
    fn from(r: PushRow) -> Self {
        PushSubscriptionRecord {
            id: PushSubscriptionId::from_i64(r.id),
            user_id: UserId::from_i64(r.user_id),
            endpoint: r.endpoint,
            p256dh: r.p256dh,
            auth: r.auth,
            created_at: Timestamp(r.created_at),
        }
    }
}

#[async_trait]
impl PushSubscriptionStore for SqlStore {
    async fn save_push_subscription(
        &self,
        sub: &PushSubscriptionRecord,
        keep: usize,
    ) -> Result<PushSubscriptionRecord> {
        let mut tx = self.begin().await?;
        if self.dialect == Dialect::Postgres {
            // One user's saves take turns, so the cap holds under concurrent
            // subscribes (SQLite's writers are serial already). The two-key
            // form's key space is apart from the one-key locks elsewhere.
            crate::db::query("SELECT pg_advisory_xact_lock(9, ($1 % 2147483647)::int4)")
                .bind(sub.user_id.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let row = crate::db::query_as::<PushRow>(
            "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh,
                 auth = excluded.auth, created_at = excluded.created_at
             RETURNING id, user_id, endpoint, p256dh, auth, created_at",
        )
        .bind(sub.id.get())
        .bind(sub.user_id.get())
        .bind(&sub.endpoint)
        .bind(&sub.p256dh)
        .bind(&sub.auth)
        .bind(sub.created_at.millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        // This one stays, with the newest `keep - 1` others.
        let others = i64::try_from(keep.saturating_sub(1)).unwrap_or(i64::MAX);
        crate::db::query(
            "DELETE FROM push_subscriptions
             WHERE user_id = $1 AND id <> $2 AND id NOT IN (
                 SELECT id FROM push_subscriptions WHERE user_id = $1 AND id <> $2
                 ORDER BY created_at DESC, id DESC LIMIT $3)",
        )
        .bind(sub.user_id.get())
        .bind(row.id)
        .bind(others)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.into())
    }

    async fn push_subscriptions(&self, user: UserId) -> Result<Vec<PushSubscriptionRecord>> {
        Ok(crate::db::query_as::<PushRow>(
            "SELECT id, user_id, endpoint, p256dh, auth, created_at
             FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(Into::into)
        .collect())
    }

    async fn delete_push_subscription(&self, user: UserId, id: PushSubscriptionId) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = crate::db::query("DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2")
            .bind(id.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n == 1)
    }

    async fn delete_push_endpoint(&self, user: UserId, endpoint: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
            .bind(user.get())
            .bind(endpoint)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}
