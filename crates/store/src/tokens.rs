use async_trait::async_trait;
use starling_core::id::TokenFamilyId;
use std::time::Duration;

use starling_core::model::{
    AccountTokenPurpose, AccountTokenRecord, RefreshTokenRecord, RotateOutcome, SessionRecord,
};
use starling_core::ports::TokenStore;
use starling_core::{Result, Timestamp, UserId};

use crate::{SqlStore, db_err};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn insert(exec: impl crate::db::Executor<'_>, t: &RefreshTokenRecord) -> Result<()> {
    crate::db::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hex(&t.token_hash))
    .bind(t.user_id.get())
    .bind(t.family_id.get())
    .bind(t.created_at.millis())
    .bind(t.expires_at.millis())
    .execute(exec)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert_refresh_token(&self, token: RefreshTokenRecord) -> Result<()> {
        insert(&self.pool, &token).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &[u8],
        next: RefreshTokenRecord,
        now: Timestamp,
    ) -> Result<RotateOutcome> {
        let hash = hex(presented);
        let mut tx = self.begin().await?;
        // Spend the token only if it is current. Of two concurrent refreshes with
        // the same token exactly one wins this update; the other sees a spent token.
        let spent: Option<(i64, i64)> = crate::db::query_as(
            "UPDATE refresh_tokens SET rotated_at = $2
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2
             RETURNING user_id, family_id",
        )
        .bind(&hash)
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some((user_id, family_id)) = spent {
            let next = RefreshTokenRecord {
                user_id: UserId::from_i64(user_id),
                family_id: TokenFamilyId::from_i64(family_id),
                ..next
            };
            insert(&mut *tx, &next).await?;
            tx.commit().await.map_err(db_err)?;
            return Ok(RotateOutcome::Rotated {
                user_id: next.user_id,
                family_id: next.family_id,
            });
        }
        let found: Option<(i64, Option<i64>, i64)> = crate::db::query_as(
            "SELECT family_id, rotated_at, user_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let outcome = match found {
            Some((family, Some(_), user)) => {
                // A spent token came back: it was stolen or replayed. Revoke
                // every token of the family so neither party keeps a session.
                crate::db::query(
                    "UPDATE refresh_tokens SET revoked_at = $2
                     WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(family)
                .bind(now.millis())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                RotateOutcome::Reused {
                    user_id: UserId::from_i64(user),
                    family_id: TokenFamilyId::from_i64(family),
                }
            }
            _ => RotateOutcome::Invalid,
        };
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn revoke_refresh_token(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(UserId, TokenFamilyId)>> {
        let found: Option<(i64, i64)> = crate::db::query_as(
            "SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(hex(token_hash))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some((user, family)) = found else {
            return Ok(None);
        };
        crate::db::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family)
        .bind(now.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(Some((
            UserId::from_i64(user),
            TokenFamilyId::from_i64(family),
        )))
    }

    async fn revoke_family(&self, family: TokenFamilyId, now: Timestamp) -> Result<()> {
        crate::db::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family.get())
        .bind(now.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_user_families(
        &self,
        user: UserId,
        except: Option<TokenFamilyId>,
        now: Timestamp,
    ) -> Result<Vec<TokenFamilyId>> {
        let families: Vec<i64> = crate::db::query_scalar(
            "UPDATE refresh_tokens SET revoked_at = $2
             WHERE user_id = $1 AND revoked_at IS NULL AND family_id <> $3
             RETURNING family_id",
        )
        .bind(user.get())
        .bind(now.millis())
        .bind(except.map_or(0, |f| f.get()))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut families: Vec<TokenFamilyId> =
            families.into_iter().map(TokenFamilyId::from_i64).collect();
        families.sort_unstable();
        families.dedup();
        Ok(families)
    }

    async fn purge_expired_tokens(&self, cutoff: Timestamp) -> Result<u64> {
        let n = crate::db::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(cutoff.millis())
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        crate::db::query(
            "DELETE FROM sessions WHERE created_at < $1 AND NOT EXISTS
                 (SELECT 1 FROM refresh_tokens t WHERE t.family_id = sessions.family_id)",
        )
        .bind(cutoff.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        crate::db::query("DELETE FROM account_tokens WHERE expires_at < $1")
            .bind(cutoff.millis())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n)
    }

    async fn insert_session(&self, s: SessionRecord) -> Result<()> {
        crate::db::query(
            "INSERT INTO sessions (family_id, user_id, device, address, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.family_id.get())
        .bind(s.user_id.get())
        .bind(&s.device)
        .bind(&s.address)
        .bind(s.created_at.millis())
        .bind(s.last_used_at.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn touch_session(
        &self,
        family: TokenFamilyId,
        address: &str,
        now: Timestamp,
        coalesce: Duration,
    ) -> Result<()> {
        let since = now.millis() - i64::try_from(coalesce.as_millis()).unwrap_or(i64::MAX);
        crate::db::query(
            "UPDATE sessions SET last_used_at = $2, address = $3
             WHERE family_id = $1 AND (last_used_at < $4 OR address <> $3)",
        )
        .bind(family.get())
        .bind(now.millis())
        .bind(address)
        .bind(since)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn live_sessions(&self, user: UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        // A live session has exactly one current token. Sessions started
        // before they were recorded have no row: their device and address
        // are unknown (empty), and their token says when they were last used.
        let rows: Vec<(i64, String, String, i64, i64)> = crate::db::query_as(
            "SELECT t.family_id, COALESCE(s.device, ''), COALESCE(s.address, ''),
                    COALESCE(s.created_at, t.created_at) AS started,
                    COALESCE(s.last_used_at, t.created_at) AS used
             FROM refresh_tokens t LEFT JOIN sessions s ON s.family_id = t.family_id
             WHERE t.user_id = $1 AND t.revoked_at IS NULL AND t.rotated_at IS NULL
               AND t.expires_at > $2
             ORDER BY used DESC, t.family_id DESC",
        )
        .bind(user.get())
        .bind(now.millis())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(family, device, address, created_at, last_used_at)| SessionRecord {
                    family_id: TokenFamilyId::from_i64(family),
                    user_id: user,
                    device,
                    address,
                    created_at: Timestamp(created_at),
                    last_used_at: Timestamp(last_used_at),
                },
            )
            .collect())
    }

    async fn insert_account_token(&self, t: AccountTokenRecord) -> Result<()> {
        crate::db::query(
            "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hex(&t.token_hash))
        .bind(t.user_id.get())
        .bind(t.purpose.as_str())
        .bind(t.created_at.millis())
        .bind(t.expires_at.millis())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn spend_account_token(
        &self,
        token_hash: &[u8],
        purpose: AccountTokenPurpose,
        now: Timestamp,
    ) -> Result<Option<UserId>> {
        let mut tx = self.begin().await?;
        // Of two concurrent confirmations exactly one wins this update.
        let user: Option<i64> = crate::db::query_scalar(
            "UPDATE account_tokens SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(hex(token_hash))
        .bind(purpose.as_str())
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(user) = user {
            // Any other link mailed for the same purpose is spent with it.
            crate::db::query(
                "UPDATE account_tokens SET used_at = $3
                 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            )
            .bind(user)
            .bind(purpose.as_str())
            .bind(now.millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(user.map(UserId::from_i64))
    }
}
