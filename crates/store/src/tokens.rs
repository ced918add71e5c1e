use async_trait::async_trait;
use starling_core::id::TokenFamilyId;
use starling_core::model::{RefreshTokenRecord, RotateOutcome};
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
        Ok(n)
    }
}
