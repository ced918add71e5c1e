//! The transactional outbox. Actions write their event with
//! [`write_event`] inside their own transaction; the relay claims, publishes
//! and deletes rows through [`OutboxStore`].

use async_trait::async_trait;
use bytes::Bytes;
use starling_core::messaging::Envelope;
use starling_core::ports::OutboxStore;
use starling_core::{Error, EventId, Result, Timestamp};

use crate::{Dialect, SqlStore, db_err, placeholders};

/// Writes `event` in the caller's transaction: it commits or vanishes with it.
pub(crate) async fn write_event(tx: &mut crate::db::Tx, event: &Envelope) -> Result<()> {
    let payload = std::str::from_utf8(&event.payload)
        .map_err(|_| Error::Internal(anyhow::anyhow!("event {} is not UTF-8 JSON", event.id)))?;
    crate::db::query(
        "INSERT INTO outbox (id, event_key, payload, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(event.id.get())
    .bind(&event.key)
    .bind(payload)
    .bind(Timestamp::now().millis())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Writes several events in one statement.
pub(crate) async fn write_events(tx: &mut crate::db::Tx, events: &[&Envelope]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO outbox (id, event_key, payload, created_at) VALUES {}",
        crate::value_rows(events.len(), 4)
    );
    let now = Timestamp::now().millis();
    let mut q = crate::db::query(sql);
    for event in events {
        let payload = std::str::from_utf8(&event.payload).map_err(|_| {
            Error::Internal(anyhow::anyhow!("event {} is not UTF-8 JSON", event.id))
        })?;
        q = q
            .bind(event.id.get())
            .bind(event.key.clone())
            .bind(payload.to_owned())
            .bind(now);
    }
    q.execute(&mut *tx).await.map_err(db_err)?;
    Ok(())
}

struct OutboxRow {
    id: i64,
    event_key: String,
    payload: String,
    attempts: i32,
}

crate::db::from_row!(OutboxRow {
    id,
    event_key,
    payload,
    attempts
});

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_outbox(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Envelope>> {
        // The outer conditions repeat the inner ones: under PostgreSQL's read
        // committed, a relay that waited for another's row lock re-checks them
        // against the row's new version and skips what was just claimed.
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox
                          WHERE dead_at IS NULL AND claimed_until < $2
                          ORDER BY id LIMIT $3 {lock})
               AND dead_at IS NULL AND claimed_until < $2
             RETURNING id, event_key, payload, attempts"
        );
        let mut tx = self.begin().await?;
        let mut rows = crate::db::query_as::<OutboxRow>(sql)
            .bind(lease_until.millis())
            .bind(now.millis())
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.sort_by_key(|r| r.id);
        Ok(rows
            .into_iter()
            .map(|r| Envelope {
                id: EventId::from_i64(r.id),
                key: r.event_key,
                payload: Bytes::from(r.payload),
                attempt: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            })
            .collect())
    }

    async fn outbox_done(&self, ids: &[EventId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM outbox WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = crate::db::query(sql);
        for id in ids {
            q = q.bind(id.get());
        }
        let mut tx = self.begin().await?;
        q.execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn outbox_retry(&self, id: EventId, retry_at: Timestamp, dead: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::db::query("UPDATE outbox SET claimed_until = $2, dead_at = $3 WHERE id = $1")
            .bind(id.get())
            .bind(retry_at.millis())
            .bind(dead.then(|| Timestamp::now().millis()))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> Result<(u64, Option<Timestamp>)> {
        let (n, oldest): (i64, Option<i64>) = crate::db::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE dead_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok((u64::try_from(n).unwrap_or(0), oldest.map(Timestamp)))
    }

    async fn outbox_pending(&self) -> Result<u64> {
        let n: i64 = crate::db::query_scalar("SELECT COUNT(*) FROM outbox WHERE dead_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
