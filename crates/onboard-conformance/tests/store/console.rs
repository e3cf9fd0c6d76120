//! The storage port's console rows (CONTRACT §10): sessions and the sign-in
//! lockout, written once against the trait and run on every backend, like
//! `store.rs`. Concurrent failures must count once each, whichever node writes.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use onboard_conformance::NOW;
use onboard_core::access::{Operator, OperatorName, Role};
use onboard_core::secret::KeyHash;
use onboard_core::service::LOCKOUT;
use onboard_core::store::{SessionRecord, Store};
use time::{Duration, OffsetDateTime};

onboard_conformance::conformance!(
    store: [
        a_session_is_stored_by_hash_touched_deleted_and_pruned_once_expired,
        five_failures_in_the_window_lock_a_name_and_the_lock_is_not_extended,
        failures_older_than_the_window_start_a_new_count,
        concurrent_failures_each_count_and_lock_once,
        the_live_wait_ends_empty_when_there_is_no_enterprise_yet,
    ],
);

fn session(token: &str, at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        token_hash: KeyHash::of(token),
        operator: "ana".into(),
        csrf: format!("csrf-of-{token}"),
        created_at: at,
        last_seen_at: at,
        expires_at: at + Duration::hours(12),
    }
}

async fn a_session_is_stored_by_hash_touched_deleted_and_pruned_once_expired(
    store: Arc<dyn Store>,
) {
    let ana = Operator {
        name: OperatorName::parse("ana").unwrap(),
        role: Role::Reviewer,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$of-ana".into(),
        created_at: NOW,
        password_set_at: NOW,
        disabled_at: None,
    };
    store.insert_operator(&ana).await.unwrap();
    let early = session("early", NOW);
    let late = session("late", NOW + Duration::hours(6));
    for s in [&early, &late] {
        store.insert_console_session(s).await.unwrap();
    }
    let found = store.console_session(&KeyHash::of("early")).await.unwrap();
    assert_eq!(found.as_ref(), Some(&early));
    assert_eq!(
        store.console_session(&KeyHash::of("nope")).await.unwrap(),
        None
    );

    let used = NOW + Duration::hours(1);
    store
        .touch_console_session(&early.token_hash, used, used + Duration::hours(12))
        .await
        .unwrap();
    let touched = store
        .console_session(&early.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_seen_at, used);
    assert_eq!(touched.expires_at, used + Duration::hours(12));

    // Housekeeping at 13 h: the late session's expiry (18 h) is ahead; the
    // early one's (13 h) has come.
    let retention = onboard_core::events::Retention::default();
    store
        .prune(retention, used + Duration::hours(12))
        .await
        .unwrap();
    assert_eq!(
        store.console_session(&early.token_hash).await.unwrap(),
        None
    );
    assert!(
        store
            .console_session(&late.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    store
        .delete_console_session(&late.token_hash)
        .await
        .unwrap();
    assert_eq!(store.console_session(&late.token_hash).await.unwrap(), None);
}

async fn five_failures_in_the_window_lock_a_name_and_the_lock_is_not_extended(
    store: Arc<dyn Store>,
) {
    for i in 0..4 {
        let at = NOW + Duration::minutes(i);
        assert_eq!(
            store
                .record_sign_in_failure("ana", LOCKOUT, at)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(store.sign_in_locked_until("ana", NOW).await.unwrap(), None);
    let fifth = NOW + Duration::minutes(10);
    let until = store
        .record_sign_in_failure("ana", LOCKOUT, fifth)
        .await
        .unwrap();
    assert_eq!(until, Some(fifth + Duration::minutes(15)));
    let during = fifth + Duration::minutes(5);
    assert_eq!(
        store.sign_in_locked_until("ana", during).await.unwrap(),
        until
    );
    assert_eq!(
        store.sign_in_locked_until("bo", during).await.unwrap(),
        None
    );
    // Failing again during the lock neither renews nor extends it.
    assert_eq!(
        store
            .record_sign_in_failure("ana", LOCKOUT, during)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.sign_in_locked_until("ana", during).await.unwrap(),
        until
    );
    let after = fifth + Duration::minutes(15);
    assert_eq!(
        store.sign_in_locked_until("ana", after).await.unwrap(),
        None
    );
    // After the lock a new count starts: one failure does not lock again.
    assert_eq!(
        store
            .record_sign_in_failure("ana", LOCKOUT, after)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.sign_in_locked_until("ana", after).await.unwrap(),
        None
    );
    // A success forgets the count.
    store.clear_sign_in_failures("ana").await.unwrap();
    for i in 0..4 {
        let at = after + Duration::seconds(i);
        assert_eq!(
            store
                .record_sign_in_failure("ana", LOCKOUT, at)
                .await
                .unwrap(),
            None
        );
    }
}

async fn failures_older_than_the_window_start_a_new_count(store: Arc<dyn Store>) {
    for i in 0..4 {
        let at = NOW + Duration::minutes(i);
        store
            .record_sign_in_failure("ana", LOCKOUT, at)
            .await
            .unwrap();
    }
    // Housekeeping past the window forgets the row; counting starts again.
    let later = NOW + Duration::minutes(16);
    let retention = onboard_core::events::Retention::default();
    store.prune(retention, later).await.unwrap();
    for i in 0..4 {
        let at = later + Duration::seconds(i);
        assert_eq!(
            store
                .record_sign_in_failure("ana", LOCKOUT, at)
                .await
                .unwrap(),
            None
        );
    }
    // Without pruning, the window alone restarts the count too.
    let much_later = later + Duration::minutes(20);
    for i in 0..4 {
        let at = much_later + Duration::seconds(i);
        assert_eq!(
            store
                .record_sign_in_failure("ana", LOCKOUT, at)
                .await
                .unwrap(),
            None
        );
    }
    let fifth = much_later + Duration::seconds(10);
    assert!(
        store
            .record_sign_in_failure("ana", LOCKOUT, fifth)
            .await
            .unwrap()
            .is_some()
    );
}

async fn concurrent_failures_each_count_and_lock_once(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_sign_in_failure("ana", LOCKOUT, NOW).await })
        })
        .collect();
    let mut locks = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            locks += 1;
        }
    }
    assert_eq!(locks, 1, "five concurrent failures lock the name once");
    assert!(
        store
            .sign_in_locked_until("ana", NOW)
            .await
            .unwrap()
            .is_some()
    );
}

/// The Live page's wait (a service use case over this store) with nothing to
/// wait on: it polls until its deadline and answers with no event.
async fn the_live_wait_ends_empty_when_there_is_no_enterprise_yet(store: Arc<dyn Store>) {
    let clock = Arc::new(onboard_core::clock::SystemClock);
    let onboarding = onboard_core::service::Onboarding::new(store, clock);
    let mut cursor = onboard_core::service::LiveCursor::new();
    let started = std::time::Instant::now();
    let found = onboarding
        .live_after(&mut cursor, 10, StdDuration::from_millis(700))
        .await
        .unwrap();
    assert!(found.is_empty());
    assert!(started.elapsed() >= StdDuration::from_millis(700));
    assert!(cursor.is_empty());
}
