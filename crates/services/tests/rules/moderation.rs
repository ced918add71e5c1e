//! Moderation rules without HTTP: who hears of a report, and what a
//! suspended or silenced author's posts leave.

use starling_core::model::NotificationKind::Report;
use starling_core::model::{Feed, Role};
use starling_core::moderation::ModAction;
use starling_services::moderation::NewReportInput;

use crate::{World, is_forbidden};

fn report_of(kind: &str, id: impl ToString) -> NewReportInput {
    NewReportInput {
        target_type: kind.into(),
        target_id: id.to_string(),
        reason: "spam".into(),
        comment: None,
    }
}

#[tokio::test]
async fn a_report_notifies_every_moderator_and_admin_but_its_author() {
    let w = World::new().await;
    let (ann, bob, m, a, carol) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("mod").await,
        w.user("adm").await,
        w.user("carol").await,
    );
    w.s.moderation
        .set_role_unchecked(m, Role::Moderator)
        .await
        .unwrap();
    w.s.moderation
        .set_role_unchecked(a, Role::Admin)
        .await
        .unwrap();
    let post = w.post(bob, "spam spam").await;
    w.s.moderation
        .report(ann, report_of("post", post))
        .await
        .unwrap();
    // A moderator's own report tells the other staff, not them.
    w.s.moderation
        .report(m, report_of("user", bob))
        .await
        .unwrap();
    w.settle().await;
    assert_eq!(w.notifs(a).await, [(Report, m), (Report, ann)]);
    assert_eq!(w.notifs(m).await, [(Report, ann)]);
    for nobody in [ann, bob, carol] {
        assert!(w.notifs(nobody).await.is_empty());
    }
}

#[tokio::test]
async fn suspended_authors_vanish_and_silenced_ones_leave_public_feeds() {
    let w = World::new().await;
    let (ann, bob, a) = (
        w.user("ann").await,
        w.user("bob").await,
        w.user("adm").await,
    );
    w.s.moderation
        .set_role_unchecked(a, Role::Admin)
        .await
        .unwrap();
    w.follow(ann, bob).await;
    let p = w.post(bob, "hello #tagged").await;
    w.settle().await;
    let feeds = async |w: &World| {
        (
            w.home(ann).await.contains(&p),
            w.feed(ann, Feed::Public).await.contains(&p),
            w.feed(ann, Feed::Tag("tagged".into())).await.contains(&p),
            w.feed(ann, Feed::Author(bob)).await.contains(&p),
        )
    };
    assert_eq!(feeds(&w).await, (true, true, true, true));

    w.s.moderation
        .act_on_user(a, bob, ModAction::Silence, None)
        .await
        .unwrap();
    assert_eq!(feeds(&w).await, (true, false, false, true));
    w.s.moderation
        .act_on_user(a, bob, ModAction::Suspend, None)
        .await
        .unwrap();
    assert_eq!(feeds(&w).await, (false, false, false, false));
    assert!(w.s.posts.get(Some(ann), p).await.is_err());
    assert!(w.s.users.get(Some(ann), bob).await.is_err());
    assert!(
        w.s.users.get(Some(bob), bob).await.is_ok(),
        "they see themselves"
    );
    w.s.moderation
        .act_on_user(a, bob, ModAction::Unsuspend, None)
        .await
        .unwrap();
    w.s.moderation
        .act_on_user(a, bob, ModAction::Unsilence, None)
        .await
        .unwrap();
    assert_eq!(feeds(&w).await, (true, true, true, true));
    // A plain user may do none of it.
    assert!(is_forbidden(
        w.s.moderation
            .act_on_user(ann, bob, ModAction::Suspend, None)
            .await
    ));
}
