//! Bulk synthetic data for benchmarks at scale (`starling seed`): users,
//! follows and posts written with set-based SQL in large batches, far faster
//! than through the API. Nothing here runs in normal operation.

use starling_core::{Result, Timestamp};

use crate::{Dialect, SqlStore, db_err};

/// What to create. Users are `seed1..seedN`, all with `password_hash`.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub users: u64,
    pub posts: u64,
    /// `seed1` is followed by `seed2..=seed{star_followers+1}`.
    pub star_followers: u64,
    /// Every user also follows the next `follows_per_user` users (in a ring).
    pub follows_per_user: u64,
    pub password_hash: String,
    /// Below every id the server will generate from now on.
    pub id_ceiling: i64,
}

/// What was created, for the benchmark that uses it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedReport {
    pub users: u64,
    pub follows: u64,
    pub posts: u64,
    /// Id of `seed1`, the user with `star_followers` followers.
    pub star_id: i64,
    /// Id of `seed2`, a user with 10 (plus ring) followers.
    pub small_id: i64,
    pub first_user_id: i64,
}

const BATCH: u64 = 50_000;

impl SqlStore {
    /// The rows numbered `from..=to` as a CTE named `s(n)`.
    fn series(&self, from: u64, to: u64) -> String {
        match self.dialect {
            Dialect::Sqlite => format!(
                "WITH RECURSIVE s(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM s WHERE n < {to})"
            ),
            Dialect::Postgres => {
                format!("WITH s(n) AS (SELECT generate_series({from}::BIGINT, {to}::BIGINT))")
            }
        }
    }

    async fn batched(&self, total: u64, sql: impl Fn(u64, u64) -> String) -> Result<u64> {
        let mut done = 0;
        let mut from = 1;
        while from <= total {
            let to = (from + BATCH - 1).min(total);
            let mut tx = self.begin().await?;
            done += crate::db::query(sql(from, to))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            tx.commit().await.map_err(db_err)?;
            from = to + 1;
        }
        Ok(done)
    }

    /// Writes the synthetic data set into an empty database.
    pub async fn seed_bulk(&self, spec: &SeedSpec) -> Result<SeedReport> {
        let u = spec.users.max(12);
        let now = Timestamp::now().millis();
        // Users first, then posts, below the ceiling: ids stay unique and
        // older than anything the server creates afterwards.
        let post_base = spec.id_ceiling - i64::try_from(spec.posts).unwrap_or(0) - 1;
        let user_base = post_base - i64::try_from(u).unwrap_or(0) - 1;
        let hash = spec.password_hash.replace('\'', "''");
        self.batched(u, |from, to| {
            format!(
                "{} INSERT INTO users (id, username, email, password_hash, created_at, updated_at)
                 SELECT {user_base} + n, 'seed' || n, 'seed' || n || '@seed.invalid', '{hash}', {now}, {now} FROM s",
                self.series(from, to)
            )
        })
        .await?;
        let star_followers = spec.star_followers.min(u - 1);
        let mut follows = self
            .batched(star_followers, |from, to| {
                format!(
                    "{} INSERT INTO follows (follower_id, followee_id, created_at)
                     SELECT {user_base} + n + 1, {user_base} + 1, {now} FROM s",
                    self.series(from, to)
                )
            })
            .await?;
        follows += self
            .batched(10, |from, to| {
                format!(
                    "{} INSERT INTO follows (follower_id, followee_id, created_at)
                     SELECT {user_base} + n + 2, {user_base} + 2, {now} FROM s WHERE true
                     ON CONFLICT (follower_id, followee_id) DO NOTHING",
                    self.series(from, to)
                )
            })
            .await?;
        for k in 1..=spec.follows_per_user.min(u - 1) {
            follows += self
                .batched(u, |from, to| {
                    format!(
                        "{} INSERT INTO follows (follower_id, followee_id, created_at)
                         SELECT {user_base} + n, {user_base} + ((n + {k} - 1) % {u}) + 1, {now} FROM s WHERE true
                         ON CONFLICT (follower_id, followee_id) DO NOTHING",
                        self.series(from, to)
                    )
                })
                .await?;
        }
        let total = i64::try_from(spec.posts).unwrap_or(0);
        let posts = self
            .batched(spec.posts, |from, to| {
                format!(
                    "{} INSERT INTO posts (id, author_id, text, created_at)
                     SELECT {post_base} + n, {user_base} + ((n - 1) % {u}) + 1,
                            'seed post ' || n || ' about #seed', {now} - ({total} - n) FROM s",
                    self.series(from, to)
                )
            })
            .await?;
        let mut tx = self.begin().await?;
        crate::db::query(
            "UPDATE users SET
                 follower_count = (SELECT COUNT(*) FROM follows f WHERE f.followee_id = users.id),
                 following_count = (SELECT COUNT(*) FROM follows f WHERE f.follower_id = users.id)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        if self.dialect == Dialect::Postgres {
            crate::db::raw_sql("ANALYZE", &self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(SeedReport {
            users: u,
            follows,
            posts,
            star_id: user_base + 1,
            small_id: user_base + 2,
            first_user_id: user_base + 1,
        })
    }
}
