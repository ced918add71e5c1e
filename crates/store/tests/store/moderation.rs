//! Moderation: roles and the last admin, standing, the admin user list,
//! reports and their one-time resolution, the audit log, invites, and that
//! deleting a user takes their moderation rows with it.

use starling_core::events::DomainEvent;
use starling_core::model::{NotificationKind, NotificationRecord, Role, Subject};
use starling_core::moderation::{
    AuditRecord, InviteRecord, ModAction, ModerationStore, ReportReason, ReportRecord, Resolution,
    Standing, TargetType, UserStatus,
};
use starling_core::ports::{NotificationStore, OutboxStore, UserStore};
use starling_core::{
    AuditId, Error, EventId, IdGenerator, InviteId, NotificationId, ReportId, Timestamp, UserId,
};
use starling_store::SqlStore;

use crate::{ev, ids, pending, user};

store_tests!(
    the_last_admin_keeps_the_role,
    standing_is_set_once_and_lifted,
    admin_users_filter_and_page_newest_first,
    a_report_commits_with_its_event_and_resolves_once,
    open_reports_oldest_first_resolved_newest_first,
    invites_are_spent_until_used_up_or_expired,
    approving_clears_pending_with_its_event,
    deleting_a_user_takes_their_moderation_rows_but_not_the_audit_trail,
);

fn report(g: &IdGenerator, reporter: UserId, target: UserId) -> ReportRecord {
    ReportRecord {
        id: ReportId(g.next()),
        reporter_id: reporter,
        target_type: TargetType::User,
        target_id: target.get(),
        target_user_id: Some(target),
        reason: ReportReason::Harassment,
        comment: "mean".into(),
        created_at: Timestamp(1_700_000_000_000),
        resolution: None,
    }
}

fn audit(g: &IdGenerator, by: UserId, action: ModAction) -> AuditRecord {
    AuditRecord {
        id: AuditId(g.next()),
        moderator_id: Some(by),
        action,
        target_type: "report".into(),
        target_id: "1".into(),
        note: "n".into(),
        created_at: Timestamp::now(),
    }
}

fn invite(g: &IdGenerator, by: UserId, code: &str, max: i64, expires: i64) -> InviteRecord {
    InviteRecord {
        id: InviteId(g.next()),
        code: code.into(),
        created_by: by,
        max_uses: max,
        uses: 0,
        expires_at: Timestamp(expires),
        created_at: Timestamp::now(),
    }
}

async fn the_last_admin_keeps_the_role(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "adm").await;
    let b = user(s, &g, "bee").await;
    // With no admin at all, any change goes (the first one is made so).
    assert_eq!(
        s.set_role(b, Role::Moderator).await.unwrap().role,
        Role::Moderator
    );
    assert_eq!(s.set_role(a, Role::Admin).await.unwrap().role, Role::Admin);
    assert_err!(
        s.set_role(a, Role::User).await,
        Error::Conflict {
            code: "last_admin",
            ..
        }
    );
    assert_eq!(
        s.user_by_id(a).await.unwrap().role,
        Role::Admin,
        "rolled back"
    );
    s.set_role(b, Role::Admin).await.unwrap();
    s.set_role(a, Role::User).await.unwrap();
    assert_eq!(s.staff_ids().await.unwrap(), vec![b]);
    assert_err!(
        s.set_role(UserId::from_i64(42), Role::Admin).await,
        Error::NotFound { .. }
    );
}

async fn standing_is_set_once_and_lifted(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "amy").await;
    let r = s
        .set_standing(a, Standing::Suspended, Some(Timestamp(10)))
        .await
        .unwrap();
    assert_eq!(r.suspended_at, Some(Timestamp(10)));
    // Suspending again keeps the first time.
    let r = s
        .set_standing(a, Standing::Suspended, Some(Timestamp(20)))
        .await
        .unwrap();
    assert_eq!(r.suspended_at, Some(Timestamp(10)));
    let r = s
        .set_standing(a, Standing::Silenced, Some(Timestamp(30)))
        .await
        .unwrap();
    assert!(r.is_suspended() && r.is_silenced());
    let r = s.set_standing(a, Standing::Suspended, None).await.unwrap();
    assert!(!r.is_suspended() && r.is_silenced());
    assert_err!(
        s.set_standing(UserId::from_i64(42), Standing::Silenced, None)
            .await,
        Error::NotFound { .. }
    );
}

async fn admin_users_filter_and_page_newest_first(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "alpha").await;
    let b = user(s, &g, "beta_x").await;
    let c = user(s, &g, "gamma").await;
    s.set_standing(b, Standing::Pending, Some(Timestamp(1)))
        .await
        .unwrap();
    let all = s.admin_users("", UserStatus::All, None, 10).await.unwrap();
    let got: Vec<UserId> = all.iter().map(|u| u.id).collect();
    assert_eq!(got, vec![c, b, a]);
    let page = s
        .admin_users("", UserStatus::All, Some(c), 1)
        .await
        .unwrap();
    assert_eq!(page[0].id, b);
    let pending = s
        .admin_users("", UserStatus::Pending, None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, b);
    // Text matches usernames and emails, wildcards literally.
    let hit = s
        .admin_users("mma@example", UserStatus::All, None, 10)
        .await
        .unwrap();
    assert_eq!(hit.iter().map(|u| u.id).collect::<Vec<_>>(), vec![c]);
    let hit = s
        .admin_users("a_x", UserStatus::All, None, 10)
        .await
        .unwrap();
    assert_eq!(hit.iter().map(|u| u.id).collect::<Vec<_>>(), vec![b]);
    assert!(
        s.admin_users("%", UserStatus::All, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.admin_users("", UserStatus::Suspended, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_report_commits_with_its_event_and_resolves_once(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "amy").await;
    let b = user(s, &g, "bob").await;
    let m = user(s, &g, "mod").await;
    let before = pending(s).await;
    let r = report(&g, a, b);
    let event = DomainEvent::ReportCreated {
        reporter: a,
        report: r.id,
        staff: vec![m],
    }
    .envelope(EventId(g.next()))
    .unwrap();
    s.create_report(&r, &event).await.unwrap();
    assert_eq!(pending(s).await, before + 1);
    assert_eq!(s.report(r.id).await.unwrap(), r);

    let res = Resolution {
        action: ModAction::Dismiss,
        note: "fine".into(),
        moderator: Some(m),
        resolved_at: Timestamp(1_700_000_001_000),
    };
    let done = s
        .resolve_report(r.id, &res, &audit(&g, m, ModAction::Dismiss))
        .await
        .unwrap();
    assert_eq!(done.resolution, Some(res.clone()));
    assert_err!(
        s.resolve_report(r.id, &res, &audit(&g, m, ModAction::Suspend))
            .await,
        Error::Conflict {
            code: "already_resolved",
            ..
        }
    );
    // Only the first resolution was audited.
    let log = s.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, ModAction::Dismiss);
    assert_err!(
        s.report(ReportId::from_i64(42)).await,
        Error::NotFound { .. }
    );
    assert_err!(
        s.resolve_report(
            ReportId::from_i64(42),
            &res,
            &audit(&g, m, ModAction::Dismiss)
        )
        .await,
        Error::NotFound { .. }
    );
    assert_eq!(s.audit_log(None, 10).await.unwrap().len(), 1);
}

async fn open_reports_oldest_first_resolved_newest_first(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "amy").await;
    let b = user(s, &g, "bob").await;
    let rs: Vec<ReportRecord> = (0..4).map(|_| report(&g, a, b)).collect();
    for r in &rs {
        s.create_report(r, &ev()).await.unwrap();
    }
    let open: Vec<ReportId> = s
        .reports(false, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(open, rs.iter().map(|r| r.id).collect::<Vec<_>>());
    let next = s.reports(false, Some(rs[1].id), 10).await.unwrap();
    assert_eq!(next[0].id, rs[2].id);
    for r in &rs[..3] {
        let res = Resolution {
            action: ModAction::Dismiss,
            note: String::new(),
            moderator: Some(b),
            resolved_at: Timestamp::now(),
        };
        s.resolve_report(r.id, &res, &audit(&g, b, ModAction::Dismiss))
            .await
            .unwrap();
    }
    let resolved: Vec<ReportId> = s
        .reports(true, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(resolved, vec![rs[2].id, rs[1].id, rs[0].id]);
    assert_eq!(s.reports(false, None, 10).await.unwrap().len(), 1);
    let log: Vec<AuditId> = s
        .audit_log(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(log.len(), 3);
    assert!(log.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(s.audit_log(Some(log[0]), 10).await.unwrap().len(), 2);
}

async fn invites_are_spent_until_used_up_or_expired(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "amy").await;
    let now = Timestamp::now();
    s.create_invite(&invite(&g, a, "twice", 2, now.0 + 60_000))
        .await
        .unwrap();
    s.create_invite(&invite(&g, a, "stale", 5, now.0 - 1))
        .await
        .unwrap();
    assert!(s.use_invite("twice", now).await.unwrap());
    assert!(s.use_invite("twice", now).await.unwrap());
    assert!(!s.use_invite("twice", now).await.unwrap(), "used up");
    s.release_invite("twice").await.unwrap();
    assert!(s.use_invite("twice", now).await.unwrap(), "a released use");
    assert!(!s.use_invite("stale", now).await.unwrap(), "expired");
    assert!(!s.use_invite("nope", now).await.unwrap());
    let list = s.invites(None, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
        vec!["stale", "twice"]
    );
    assert_eq!(list[1].uses, 2);
    assert!(s.delete_invite("twice").await.unwrap());
    assert!(!s.delete_invite("twice").await.unwrap());
    assert!(!s.use_invite("twice", now).await.unwrap());
    assert_err!(
        s.create_invite(&invite(&g, a, "stale", 1, now.0)).await,
        Error::Conflict { .. }
    );
}

async fn approving_clears_pending_with_its_event(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "amy").await;
    assert_err!(s.approve_user(a, &ev()).await, Error::NotFound { .. });
    s.set_standing(a, Standing::Pending, Some(Timestamp(5)))
        .await
        .unwrap();
    let before = pending(s).await;
    let r = s.approve_user(a, &ev()).await.unwrap();
    assert!(!r.is_pending());
    assert_eq!(pending(s).await, before + 1);
}

async fn deleting_a_user_takes_their_moderation_rows_but_not_the_audit_trail(s: &SqlStore) {
    let g = ids();
    let a = user(s, &g, "amy").await;
    let b = user(s, &g, "bob").await;
    let m = user(s, &g, "mod").await;
    let r = report(&g, a, b);
    s.create_report(&r, &ev()).await.unwrap();
    // The staff's notification of it goes with the report.
    let n = NotificationRecord {
        id: NotificationId(g.next()),
        event_id: EventId(g.next()),
        recipient_id: m,
        kind: NotificationKind::Report,
        actor_id: a,
        post_id: None,
        comment_id: None,
        room_id: None,
        report_id: Some(r.id),
        created_at: Timestamp::now(),
        read_at: None,
    };
    assert_eq!(
        s.insert_notification(&n, Subject::Report(r.id))
            .await
            .unwrap(),
        Some(1)
    );
    s.insert_audit(&audit(&g, a, ModAction::Silence))
        .await
        .unwrap();
    s.create_invite(&invite(&g, a, "code", 1, i64::MAX))
        .await
        .unwrap();
    // The reported account goes: its reports, and the news of them, too.
    s.delete_user(b).await.unwrap();
    assert!(s.reports(false, None, 10).await.unwrap().is_empty());
    assert!(
        s.notifications(m, None, 10, false)
            .await
            .unwrap()
            .is_empty()
    );
    s.delete_user(a).await.unwrap();
    // A moderator's audit lines outlive their account, without a moderator.
    let audit = s.audit_log(None, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].moderator_id, None);
    assert!(s.invites(None, 10).await.unwrap().is_empty());
    assert_err!(s.delete_user(a).await, Error::NotFound { .. });
    let _ = s.outbox_pending().await.unwrap();
}
