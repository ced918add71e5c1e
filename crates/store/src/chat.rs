//! Chat rooms, members with read marks, messages and their search.

use async_trait::async_trait;
use starling_core::messaging::Envelope;
use starling_core::model::{
    MemberRecord, MessageRecord, ReadMark, RoomEntry, RoomKind, RoomRecord,
};
use starling_core::ports::ChatStore;
use starling_core::{Error, MessageId, Result, RoomId, Timestamp, UserId};

use crate::{Dialect, SqlStore, db_err, placeholders};

const ROOM_COLUMNS: &str = "r.id, r.kind, r.name, r.owner_id, r.created_at, r.last_activity_at";
pub(crate) const MESSAGE_COLUMNS: &str =
    "m.id, m.room_id, m.sender_id, m.text, m.client_msg_id, m.created_at, m.retracted_at";
const MEMBER_COLUMNS: &str = "room_id, user_id, joined_at, last_read_id, read_at";

struct RoomRow {
    id: i64,
    kind: String,
    name: Option<String>,
    owner_id: Option<i64>,
    created_at: i64,
    last_activity_at: i64,
}

crate::db::from_row!(RoomRow {
    id,
    kind,
    name,
    owner_id,
    created_at,
    last_activity_at
});

impl TryFrom<RoomRow> for RoomRecord {
    type Error = Error;
    fn try_from(r: RoomRow) -> Result<Self> {
        Ok(RoomRecord {
            id: RoomId::from_i64(r.id),
            kind: RoomKind::parse(&r.kind).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("unknown room kind {:?}", r.kind))
            })?,
            name: r.name,
            owner_id: r.owner_id.map(UserId::from_i64),
            created_at: Timestamp(r.created_at),
            last_activity_at: Timestamp(r.last_activity_at),
        })
    }
}

struct EntryRow {
    room: RoomRow,
    last_id: Option<i64>,
    unread: i64,
}

crate::db::from_row!(EntryRow {
    #[flatten]
    room,
    last_id,
    unread
});

pub(crate) struct MessageRow {
    id: i64,
    room_id: i64,
    sender_id: Option<i64>,
    text: String,
    client_msg_id: String,
    created_at: i64,
    retracted_at: Option<i64>,
}

crate::db::from_row!(MessageRow {
    id,
    room_id,
    sender_id,
    text,
    client_msg_id,
    created_at,
    retracted_at
});

impl From<MessageRow> for MessageRecord {
    fn from(r: MessageRow) -> Self {
        MessageRecord {
            id: MessageId::from_i64(r.id),
            room_id: RoomId::from_i64(r.room_id),
            sender_id: r.sender_id.map(UserId::from_i64),
            text: r.text,
            client_msg_id: r.client_msg_id,
            created_at: Timestamp(r.created_at),
            retracted_at: r.retracted_at.map(Timestamp),
        }
    }
}

struct MemberRow {
    room_id: i64,
    user_id: i64,
    joined_at: i64,
    last_read_id: i64,
    read_at: Option<i64>,
}

crate::db::from_row!(MemberRow {
    room_id,
    user_id,
    joined_at,
    last_read_id,
    read_at
});

impl From<MemberRow> for MemberRecord {
    fn from(r: MemberRow) -> Self {
        MemberRecord {
            room_id: RoomId::from_i64(r.room_id),
            user_id: UserId::from_i64(r.user_id),
            joined_at: Timestamp(r.joined_at),
            last_read_id: r.last_read_id,
            read_at: r.read_at.map(Timestamp),
        }
    }
}

fn direct_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a.get() <= b.get() { (a, b) } else { (b, a) };
    format!("{lo}:{hi}")
}

/// Messages `$1` has not removed (used with the alias `m`).
const NOT_HIDDEN: &str =
    "NOT EXISTS (SELECT 1 FROM chat_hidden h WHERE h.user_id = $1 AND h.message_id = m.id)";

async fn insert_member(
    tx: &mut crate::db::Tx,
    room: RoomId,
    user: UserId,
    at: Timestamp,
) -> Result<u64> {
    crate::db::query(
        "INSERT INTO chat_members (room_id, user_id, joined_at) VALUES ($1, $2, $3)
         ON CONFLICT (room_id, user_id) DO NOTHING",
    )
    .bind(room.get())
    .bind(user.get())
    .bind(at.millis())
    .execute(&mut *tx)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| match db_err(e) {
        Error::NotFound { .. } => Error::not_found("user"),
        other => other,
    })
}

#[async_trait]
impl ChatStore for SqlStore {
    async fn find_direct_room(&self, a: UserId, b: UserId) -> Result<Option<RoomRecord>> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM chat_rooms r WHERE r.direct_key = $1");
        crate::db::query_as::<RoomRow>(sql)
            .bind(direct_key(a, b))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn direct_room(&self, a: UserId, b: UserId, room: &RoomRecord) -> Result<RoomRecord> {
        let key = direct_key(a, b);
        if let Some(r) = self.find_direct_room(a, b).await? {
            return Ok(r);
        }
        let mut tx = self.begin().await?;
        let created = crate::db::query(
            "INSERT INTO chat_rooms (id, kind, direct_key, created_at, last_activity_at)
             VALUES ($1, 'direct', $2, $3, $3) ON CONFLICT (direct_key) DO NOTHING",
        )
        .bind(room.id.get())
        .bind(&key)
        .bind(room.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if created {
            for u in [a, b] {
                insert_member(&mut tx, room.id, u, room.created_at).await?;
            }
            tx.commit().await.map_err(db_err)?;
        } else {
            drop(tx);
        }
        self.find_direct_room(a, b)
            .await?
            .ok_or_else(|| Error::not_found("chat room"))
    }

    async fn create_group(&self, room: &RoomRecord, members: &[UserId]) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query(
            "INSERT INTO chat_rooms (id, kind, name, owner_id, created_at, last_activity_at)
             VALUES ($1, 'group', $2, $3, $4, $4)",
        )
        .bind(room.id.get())
        .bind(room.name.as_deref())
        .bind(room.owner_id.map(UserId::get))
        .bind(room.created_at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for u in members {
            insert_member(&mut tx, room.id, *u, room.created_at).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn room(&self, id: RoomId) -> Result<RoomRecord> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM chat_rooms r WHERE r.id = $1");
        crate::db::query_as::<RoomRow>(sql)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found("chat room"))?
            .try_into()
    }

    async fn members_of(&self, rooms: &[RoomId]) -> Result<Vec<MemberRecord>> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM chat_members WHERE room_id IN ({})
             ORDER BY room_id, joined_at, user_id",
            placeholders(1, rooms.len())
        );
        let mut q = crate::db::query_as::<MemberRow>(sql);
        for r in rooms {
            q = q.bind(r.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn member(&self, room: RoomId, user: UserId) -> Result<Option<MemberRecord>> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM chat_members WHERE room_id = $1 AND user_id = $2"
        );
        Ok(crate::db::query_as::<MemberRow>(sql)
            .bind(room.get())
            .bind(user.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Into::into))
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomEntry>> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS},
                 (SELECT m.id FROM chat_messages m
                  WHERE m.room_id = r.id AND {NOT_HIDDEN}
                  ORDER BY m.id DESC LIMIT 1) AS last_id,
                 (SELECT count(*) FROM chat_messages m
                  WHERE m.room_id = r.id AND m.id > me.last_read_id AND (m.sender_id IS NULL OR m.sender_id <> $1)
                    AND m.retracted_at IS NULL AND {NOT_HIDDEN}) AS unread
             FROM chat_members me JOIN chat_rooms r ON r.id = me.room_id
             WHERE me.user_id = $1
             ORDER BY r.last_activity_at DESC, r.id DESC"
        );
        let rows = crate::db::query_as::<EntryRow>(sql)
            .bind(user.get())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(RoomEntry {
                    room: r.room.try_into()?,
                    last_message_id: r.last_id.map(MessageId::from_i64),
                    unread: r.unread,
                })
            })
            .collect()
    }

    async fn rename_room(&self, room: RoomId, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query("UPDATE chat_rooms SET name = $2 WHERE id = $1")
            .bind(room.get())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_room(&self, room: RoomId) -> Result<()> {
        let mut tx = self.begin().await?;
        // Children first: SQLite's cascade would do it too, but explicit
        // deletes keep the FTS triggers and PostgreSQL's work predictable.
        for sql in [
            "DELETE FROM chat_hidden WHERE message_id IN (SELECT id FROM chat_messages WHERE room_id = $1)",
            "DELETE FROM chat_messages WHERE room_id = $1",
            "DELETE FROM chat_members WHERE room_id = $1",
            "DELETE FROM chat_rooms WHERE id = $1",
        ] {
            crate::db::query(sql)
                .bind(room.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn add_member(
        &self,
        room: RoomId,
        user: UserId,
        at: Timestamp,
        max: usize,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        if self.dialect == Dialect::Postgres {
            // Serialise membership changes of one room, so the size check holds.
            crate::db::query("SELECT id FROM chat_rooms WHERE id = $1 FOR UPDATE")
                .bind(room.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let count: i64 =
            crate::db::query_scalar("SELECT count(*) FROM chat_members WHERE room_id = $1")
                .bind(room.get())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let already: Option<i64> = crate::db::query_scalar(
            "SELECT user_id FROM chat_members WHERE room_id = $1 AND user_id = $2",
        )
        .bind(room.get())
        .bind(user.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if already.is_some() {
            return Ok(false);
        }
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            return Err(Error::Conflict {
                code: "room_full",
                message: format!("a group has at most {max} members"),
                field: None,
            });
        }
        insert_member(&mut tx, room, user, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool> {
        let mut tx = self.begin().await?;
        let removed =
            crate::db::query("DELETE FROM chat_members WHERE room_id = $1 AND user_id = $2")
                .bind(room.get())
                .bind(user.get())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected()
                == 1;
        if removed {
            crate::db::query(
                "UPDATE chat_rooms SET owner_id = (
                     SELECT m.user_id FROM chat_members m WHERE m.room_id = $1
                     ORDER BY m.joined_at, m.user_id LIMIT 1)
                 WHERE id = $1 AND owner_id = $2",
            )
            .bind(room.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(removed)
    }

    async fn send_messages(
        &self,
        batch: &[(MessageRecord, Envelope)],
    ) -> Result<Vec<(MessageRecord, bool)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Few statements for the whole batch: a write's cost here is mostly
        // the round trips, not the rows.
        let mut tx = self.begin().await?;
        let sql = format!(
            "INSERT INTO chat_messages (id, room_id, sender_id, text, client_msg_id, created_at)
             VALUES {}
             ON CONFLICT (room_id, sender_id, client_msg_id) DO NOTHING
             RETURNING id",
            crate::value_rows(batch.len(), 6)
        );
        let mut q = crate::db::query_scalar::<i64>(sql);
        for (m, _) in batch {
            q = q
                .bind(m.id.get())
                .bind(m.room_id.get())
                .bind(m.sender_id.map(UserId::get))
                .bind(m.text.clone())
                .bind(m.client_msg_id.clone())
                .bind(m.created_at.millis());
        }
        let inserted: std::collections::HashSet<i64> = q
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| match db_err(e) {
                Error::NotFound { .. } => Error::not_found("chat room"),
                other => other,
            })?
            .into_iter()
            .collect();
        let events: Vec<&Envelope> = batch
            .iter()
            .filter(|(m, _)| inserted.contains(&m.id.get()))
            .map(|(_, e)| e)
            .collect();
        crate::outbox::write_events(&mut tx, &events).await?;
        let mut rooms: Vec<i64> = batch
            .iter()
            .filter(|(m, _)| inserted.contains(&m.id.get()))
            .map(|(m, _)| m.room_id.get())
            .collect();
        rooms.sort_unstable();
        rooms.dedup();
        if let Some(latest) = batch.iter().map(|(m, _)| m.created_at.millis()).max()
            && !rooms.is_empty()
        {
            let sql = format!(
                "UPDATE chat_rooms SET last_activity_at = $1 WHERE id IN ({})",
                placeholders(2, rooms.len())
            );
            let mut q = crate::db::query(sql).bind(latest);
            for r in &rooms {
                q = q.bind(*r);
            }
            q.execute(&mut *tx).await.map_err(db_err)?;
        }
        // Retries: the messages stored before, by their client ids.
        let mut out = Vec::with_capacity(batch.len());
        for (m, _) in batch {
            if inserted.contains(&m.id.get()) {
                out.push((m.clone(), true));
                continue;
            }
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM chat_messages m
                 WHERE m.room_id = $1 AND m.sender_id = $2 AND m.client_msg_id = $3"
            );
            let row = crate::db::query_as::<MessageRow>(sql)
                .bind(m.room_id.get())
                .bind(m.sender_id.map(UserId::get))
                .bind(&m.client_msg_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            out.push((row.into(), false));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn messages(
        &self,
        room: RoomId,
        viewer: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m
             WHERE m.room_id = $2 AND m.id < $3 AND {NOT_HIDDEN}
             ORDER BY m.id DESC LIMIT $4"
        );
        let rows = crate::db::query_as::<MessageRow>(sql)
            .bind(viewer.get())
            .bind(room.get())
            .bind(before.map_or(i64::MAX, MessageId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<MessageRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m WHERE m.id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = crate::db::query_as::<MessageRow>(sql);
        for id in ids {
            q = q.bind(id.get());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        upto: MessageId,
        at: Timestamp,
    ) -> Result<Option<ReadMark>> {
        let mut tx = self.begin().await?;
        let moved = crate::db::query(
            "UPDATE chat_members SET last_read_id = $3, read_at = $4
             WHERE room_id = $1 AND user_id = $2 AND last_read_id < $3",
        )
        .bind(room.get())
        .bind(user.get())
        .bind(upto.get())
        .bind(at.millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
        if !moved {
            return Ok(None);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Some(ReadMark {
            room_id: room,
            user_id: user,
            message_id: upto,
            read_at: at,
        }))
    }

    async fn mark_delivered(&self, room: RoomId, user: UserId, upto: MessageId) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query(
            "UPDATE chat_members SET delivered_id = $3
             WHERE room_id = $1 AND user_id = $2 AND delivered_id < $3",
        )
        .bind(room.get())
        .bind(user.get())
        .bind(upto.get())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn unread_counts(
        &self,
        user: UserId,
        room: Option<RoomId>,
    ) -> Result<Vec<(RoomId, i64)>> {
        let sql = format!(
            "SELECT me.room_id,
                 (SELECT count(*) FROM chat_messages m
                  WHERE m.room_id = me.room_id AND m.id > me.last_read_id AND (m.sender_id IS NULL OR m.sender_id <> $1)
                    AND m.retracted_at IS NULL AND {NOT_HIDDEN}) AS unread
             FROM chat_members me WHERE me.user_id = $1 AND ($2 = 0 OR me.room_id = $2)"
        );
        let rows: Vec<(i64, i64)> = crate::db::query_as(sql)
            .bind(user.get())
            .bind(room.map_or(0, RoomId::get))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(r, n)| (RoomId::from_i64(r), n))
            .collect())
    }

    async fn hide_messages(&self, user: UserId, ids: &[MessageId]) -> Result<()> {
        let mut tx = self.begin().await?;
        for id in ids {
            crate::db::query(
                "INSERT INTO chat_hidden (user_id, message_id) VALUES ($1, $2)
                 ON CONFLICT (user_id, message_id) DO NOTHING",
            )
            .bind(user.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn retract_messages(&self, ids: &[MessageId], at: Timestamp) -> Result<()> {
        let mut tx = self.begin().await?;
        for id in ids {
            crate::db::query(
                "UPDATE chat_messages SET text = '', retracted_at = $2
                 WHERE id = $1 AND retracted_at IS NULL",
            )
            .bind(id.get())
            .bind(at.millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn search_messages(
        &self,
        user: UserId,
        words: &[String],
        room: Option<RoomId>,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let (matching, query) = match self.dialect {
            Dialect::Sqlite => (
                "m.id IN (SELECT rowid FROM chat_messages_fts WHERE chat_messages_fts MATCH $2)",
                crate::search::fts5_query(words),
            ),
            Dialect::Postgres => ("m.search @@ plainto_tsquery('simple', $2)", words.join(" ")),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m
             JOIN chat_members me ON me.room_id = m.room_id AND me.user_id = $1
             WHERE {matching} AND m.retracted_at IS NULL AND {NOT_HIDDEN}
               AND m.id < $3 AND ($4 = 0 OR m.room_id = $4)
             ORDER BY m.id DESC LIMIT $5"
        );
        let rows = crate::db::query_as::<MessageRow>(sql)
            .bind(user.get())
            .bind(query)
            .bind(before.map_or(i64::MAX, MessageId::get))
            .bind(room.map_or(0, RoomId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn contacts(&self, user: UserId) -> Result<Vec<UserId>> {
        let ids: Vec<i64> = crate::db::query_scalar(
            "SELECT DISTINCT o.user_id FROM chat_members me
             JOIN chat_members o ON o.room_id = me.room_id
             WHERE me.user_id = $1 AND o.user_id <> $1",
        )
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_i64).collect())
    }
}
