#![allow(clippy::unwrap_used)]
//! The SQLite writer's group commit: write transactions that queue share one
//! COMMIT, yet each is acknowledged only after its COMMIT, a failing one
//! takes nobody else with it, and one abandoned half-way leaves no batch open.

use std::sync::Arc;
use std::time::Duration;

use starling_store::db::{Db, query, query_scalar};
use starling_store::{SqlStore, StoreOptions};

async fn store() -> (SqlStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let store = SqlStore::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .execute(store.db())
        .await
        .unwrap();
    (store, dir)
}

async fn count(db: &Db) -> i64 {
    query_scalar::<i64>("SELECT COUNT(*) FROM t")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writers_share_commits_and_each_is_durable_when_acknowledged() {
    let (store, _dir) = store().await;
    let db = Arc::new(store.db().clone());
    query("INSERT INTO t (id, v) VALUES (0, 'taken')")
        .execute(db.as_ref())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..400_i64)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await.unwrap();
                // Every fourth one collides with row 0 and gives up.
                let id = if i % 4 == 3 { 0 } else { i + 1 };
                let inserted = query("INSERT INTO t (id, v) VALUES ($1, $2)")
                    .bind(id)
                    .bind(format!("row {i}"))
                    .execute(&mut tx)
                    .await;
                match inserted {
                    Ok(_) => {
                        tx.commit().await.unwrap();
                        // Acknowledged: a reader connection sees it already.
                        let v = query_scalar::<String>("SELECT v FROM t WHERE id = $1")
                            .bind(id)
                            .fetch_optional(db.as_ref())
                            .await
                            .unwrap();
                        assert_eq!(
                            v,
                            Some(format!("row {i}")),
                            "row {i} is visible once committed"
                        );
                        true
                    }
                    Err(_) => {
                        assert_eq!(i % 4, 3, "only the colliding ones fail: {i}");
                        drop(tx);
                        false
                    }
                }
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += i64::from(t.await.unwrap());
    }
    assert_eq!(ok, 300);
    assert_eq!(count(&db).await, 301, "the failures took nobody with them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_transaction_in_a_batch_rolls_back_alone() {
    let (store, _dir) = store().await;
    let db = store.db().clone();
    // The first writer holds the writer while a second one queues behind it.
    let mut first = db.begin().await.unwrap();
    query("INSERT INTO t (id, v) VALUES (1, 'kept')")
        .execute(&mut first)
        .await
        .unwrap();
    let db2 = db.clone();
    let second = tokio::spawn(async move {
        let mut tx = db2.begin().await.unwrap();
        query("INSERT INTO t (id, v) VALUES (2, 'abandoned')")
            .execute(&mut tx)
            .await
            .unwrap();
        // Never committed: it joined the first one's batch, then gives up.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(tx);
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The second is queued: the first waits for the batch to commit.
    tokio::time::timeout(Duration::from_secs(5), first.commit())
        .await
        .expect("the batch commits though its other member gave up")
        .unwrap();
    second.await.unwrap();
    let rows: Vec<String> = query_scalar("SELECT v FROM t ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows, ["kept"]);
    // And the writer is free for the next one.
    query("INSERT INTO t (id, v) VALUES (3, 'after')")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(count(&db).await, 2);
}
