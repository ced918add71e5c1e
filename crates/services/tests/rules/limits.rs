//! Write limits: per user, per client address (a multiple of the user's
//! rate), and the one-second burst cap beside each.

use std::sync::Arc;
use std::time::Duration;

use starling_adapters::MemoryCache;
use starling_core::Error;
use starling_services::{Action, LimitSettings, Rate, RateLimits};

fn limits(settings: LimitSettings) -> RateLimits {
    RateLimits::new(Arc::new(MemoryCache::default()), settings)
}

async fn passes(l: &RateLimits, action: Action, key: &str, address: bool) -> bool {
    let r = if address {
        l.check_address(action, key).await
    } else {
        l.check(action, key).await
    };
    match r {
        Ok(()) => true,
        Err(Error::RateLimited { retry_after }) => {
            assert!(retry_after > Duration::ZERO);
            false
        }
        Err(e) => panic!("unexpected {e}"),
    }
}

async fn count_passing(
    l: &RateLimits,
    action: Action,
    key: &str,
    address: bool,
    n: usize,
) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if passes(l, action, key, address).await {
            ok += 1;
        }
    }
    ok
}

#[tokio::test]
async fn an_address_may_do_a_multiple_of_what_a_user_may() {
    let l = limits(LimitSettings {
        search: Some(Rate::per(3, Duration::from_secs(60))),
        address_factor: 4,
        ..LimitSettings::off()
    });
    assert_eq!(count_passing(&l, Action::Search, "1", false, 10).await, 3);
    // The address count is its own (the user's refusals did not spend it).
    assert_eq!(
        count_passing(&l, Action::Search, "192.0.2.1", true, 20).await,
        12
    );
    assert!(passes(&l, Action::Search, "192.0.2.2", true).await);
}

#[tokio::test]
async fn per_address_actions_are_not_multiplied_and_factor_zero_is_off() {
    let l = limits(LimitSettings {
        password_reset: Some(Rate::per(2, Duration::from_secs(3600))),
        post: Some(Rate::per(1, Duration::from_secs(60))),
        address_factor: 0,
        ..LimitSettings::off()
    });
    assert_eq!(
        count_passing(&l, Action::PasswordReset, "192.0.2.1", true, 5).await,
        2
    );
    assert_eq!(
        count_passing(&l, Action::Post, "192.0.2.1", true, 5).await,
        5
    );
}

#[tokio::test]
async fn a_burst_is_capped_within_the_second() {
    let l = limits(LimitSettings {
        love: Some(Rate::per(300, Duration::from_secs(60))),
        socket_event: Some(Rate::per(20, Duration::from_secs(1))),
        burst: Some(Rate::per(5, Duration::from_secs(1))),
        address_factor: 2,
        ..LimitSettings::off()
    });
    assert_eq!(count_passing(&l, Action::Love, "1", false, 20).await, 5);
    assert_eq!(
        count_passing(&l, Action::Love, "192.0.2.1", true, 30).await,
        10
    );
    // An action whose own window is a second keeps its own rate.
    assert_eq!(
        count_passing(&l, Action::SocketEvent, "1", false, 30).await,
        20
    );
    // The burst window passes; the minute's allowance was not spent by refusals.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(count_passing(&l, Action::Love, "1", false, 20).await, 5);
}
