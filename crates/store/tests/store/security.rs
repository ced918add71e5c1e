//! Sessions (one row per token family) and mailed single-use tokens.

use std::sync::Arc;
use std::time::Duration;

use starling_core::id::TokenFamilyId;
use starling_core::model::{
    AccountTokenPurpose, AccountTokenRecord, RefreshTokenRecord, SessionRecord,
};
use starling_core::ports::{TokenStore, UserStore};
use starling_core::{Timestamp, UserId};
use starling_store::SqlStore;

use crate::{T, ids, user};

store_tests!(
    only_sessions_with_a_live_token_are_listed_newest_used_first,
    a_session_is_touched_at_most_once_a_minute_unless_it_moves,
    a_mailed_token_is_spent_once_with_its_siblings,
    concurrent_spends_of_one_token_let_exactly_one_through,
    password_and_verification_are_stored,
    deleting_a_user_deletes_their_sessions_and_tokens,
);

async fn session(s: &SqlStore, user: UserId, family: i64, at: i64, expires: i64) {
    s.insert_refresh_token(RefreshTokenRecord {
        token_hash: family.to_be_bytes().to_vec(),
        user_id: user,
        family_id: TokenFamilyId::from_i64(family),
        created_at: Timestamp(at),
        expires_at: Timestamp(expires),
    })
    .await
    .unwrap();
    s.insert_session(SessionRecord {
        family_id: TokenFamilyId::from_i64(family),
        user_id: user,
        device: format!("device {family}"),
        address: "192.0.2.1".into(),
        created_at: Timestamp(at),
        last_used_at: Timestamp(at),
    })
    .await
    .unwrap();
}

fn families(list: &[SessionRecord]) -> Vec<i64> {
    list.iter().map(|s| s.family_id.get()).collect()
}

async fn only_sessions_with_a_live_token_are_listed_newest_used_first(s: &SqlStore) {
    let g = ids();
    let ann = user(s, &g, "ann").await;
    let bob = user(s, &g, "bob").await;
    let far = T + 1_000_000_000;
    session(s, ann, 1, T, far).await;
    session(s, ann, 2, T + 10, far).await;
    session(s, ann, 3, T + 20, far).await;
    session(s, ann, 4, T + 30, T + 40).await; // expires
    session(s, bob, 5, T + 50, far).await;
    s.revoke_family(TokenFamilyId::from_i64(2), Timestamp(T + 60))
        .await
        .unwrap();
    // A session from before sessions were recorded: a token, no row.
    s.insert_refresh_token(RefreshTokenRecord {
        token_hash: vec![6; 8],
        user_id: ann,
        family_id: TokenFamilyId::from_i64(6),
        created_at: Timestamp(T + 5),
        expires_at: Timestamp(far),
    })
    .await
    .unwrap();
    let now = Timestamp(T + 100);
    let list = s.live_sessions(ann, now).await.unwrap();
    assert_eq!(families(&list), [3, 6, 1]);
    assert_eq!(list[0].device, "device 3");
    assert_eq!(list[0].user_id, ann);
    assert_eq!(
        (list[1].device.as_str(), list[1].address.as_str()),
        ("", "")
    );
    assert_eq!(list[1].last_used_at, Timestamp(T + 5));
    assert_eq!(families(&s.live_sessions(bob, now).await.unwrap()), [5]);
    // Revoking all but one leaves that one.
    s.revoke_user_families(ann, Some(TokenFamilyId::from_i64(1)), now)
        .await
        .unwrap();
    assert_eq!(families(&s.live_sessions(ann, now).await.unwrap()), [1]);
}

async fn a_session_is_touched_at_most_once_a_minute_unless_it_moves(s: &SqlStore) {
    let g = ids();
    let ann = user(s, &g, "ann").await;
    let far = T + 1_000_000_000;
    session(s, ann, 1, T, far).await;
    session(s, ann, 2, T + 10, far).await;
    let f1 = TokenFamilyId::from_i64(1);
    let minute = Duration::from_secs(60);
    let last_used = |list: Vec<SessionRecord>| {
        list.into_iter()
            .find(|x| x.family_id == f1)
            .map(|x| (x.last_used_at.0, x.address))
            .unwrap()
    };
    // Within the minute, from the same address: not written.
    s.touch_session(f1, "192.0.2.1", Timestamp(T + 30_000), minute)
        .await
        .unwrap();
    let now = Timestamp(T + 200_000);
    assert_eq!(
        last_used(s.live_sessions(ann, now).await.unwrap()),
        (T, "192.0.2.1".into())
    );
    // After it: written, and the session moves to the top.
    s.touch_session(f1, "192.0.2.1", Timestamp(T + 61_000), minute)
        .await
        .unwrap();
    let list = s.live_sessions(ann, now).await.unwrap();
    assert_eq!(families(&list), [1, 2]);
    assert_eq!(last_used(list), (T + 61_000, "192.0.2.1".into()));
    // From another address: written at once.
    s.touch_session(f1, "198.51.100.9", Timestamp(T + 62_000), minute)
        .await
        .unwrap();
    assert_eq!(
        last_used(s.live_sessions(ann, now).await.unwrap()),
        (T + 62_000, "198.51.100.9".into())
    );
}

fn token(byte: u8, user: UserId, purpose: AccountTokenPurpose, expires: i64) -> AccountTokenRecord {
    AccountTokenRecord {
        token_hash: vec![byte; 32],
        user_id: user,
        purpose,
        created_at: Timestamp(T),
        expires_at: Timestamp(expires),
    }
}

async fn a_mailed_token_is_spent_once_with_its_siblings(s: &SqlStore) {
    use AccountTokenPurpose::{PasswordReset, VerifyEmail};
    let g = ids();
    let ann = user(s, &g, "ann").await;
    let bob = user(s, &g, "bob").await;
    let hour = T + 3_600_000;
    for t in [
        token(1, ann, PasswordReset, hour),
        token(2, ann, PasswordReset, hour),
        token(3, ann, VerifyEmail, hour),
        token(4, bob, PasswordReset, hour),
        token(5, bob, PasswordReset, T + 10),
    ] {
        s.insert_account_token(t).await.unwrap();
    }
    let now = Timestamp(T + 100);
    // The wrong purpose does not spend it.
    assert_eq!(
        s.spend_account_token(&[1; 32], VerifyEmail, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.spend_account_token(&[1; 32], PasswordReset, now)
            .await
            .unwrap(),
        Some(ann)
    );
    // Spent, and its sibling with it; another purpose and another user's are not.
    assert_eq!(
        s.spend_account_token(&[1; 32], PasswordReset, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.spend_account_token(&[2; 32], PasswordReset, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.spend_account_token(&[3; 32], VerifyEmail, now)
            .await
            .unwrap(),
        Some(ann)
    );
    assert_eq!(
        s.spend_account_token(&[4; 32], PasswordReset, now)
            .await
            .unwrap(),
        Some(bob)
    );
    // Expired and unknown.
    assert_eq!(
        s.spend_account_token(&[5; 32], PasswordReset, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.spend_account_token(&[9; 32], PasswordReset, now)
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_spends_of_one_token_let_exactly_one_through(s: &SqlStore) {
    let g = ids();
    let ann = user(s, &g, "ann").await;
    s.insert_account_token(token(
        7,
        ann,
        AccountTokenPurpose::PasswordReset,
        T + 3_600_000,
    ))
    .await
    .unwrap();
    let s = Arc::new(s.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.spend_account_token(
                    &[7; 32],
                    AccountTokenPurpose::PasswordReset,
                    Timestamp(T + 1),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

async fn password_and_verification_are_stored(s: &SqlStore) {
    let g = ids();
    let ann = user(s, &g, "ann").await;
    s.set_password(ann, "new-hash", Timestamp(T)).await.unwrap();
    let c = s.credentials("ann").await.unwrap().unwrap();
    assert_eq!(c.password_hash, "new-hash");
    assert!(s.user_by_id(ann).await.unwrap().email_verified_at.is_none());
    s.mark_email_verified(ann, Timestamp(T)).await.unwrap();
    s.mark_email_verified(ann, Timestamp(T + 5)).await.unwrap();
    assert_eq!(
        s.user_by_id(ann).await.unwrap().email_verified_at,
        Some(Timestamp(T)),
        "the first confirmation counts"
    );
    let ghost = UserId::from_i64(42);
    assert!(matches!(
        s.set_password(ghost, "x", Timestamp(T)).await,
        Err(starling_core::Error::NotFound { .. })
    ));
}

async fn deleting_a_user_deletes_their_sessions_and_tokens(s: &SqlStore) {
    let g = ids();
    let ann = user(s, &g, "ann").await;
    session(s, ann, 1, T, T + 1_000_000_000).await;
    s.insert_account_token(token(
        1,
        ann,
        AccountTokenPurpose::PasswordReset,
        T + 3_600_000,
    ))
    .await
    .unwrap();
    starling_store::db::query("DELETE FROM users WHERE id = $1")
        .bind(ann.get())
        .execute(s.db())
        .await
        .unwrap();
    assert!(s.live_sessions(ann, Timestamp(T)).await.unwrap().is_empty());
    assert_eq!(
        s.spend_account_token(&[1; 32], AccountTokenPurpose::PasswordReset, Timestamp(T))
            .await
            .unwrap(),
        None
    );
}
