//! The storage port's API keys, key generation and operators (CONTRACT §8),
//! written once against the trait and run on every backend, like `store.rs`.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use onboard_core::access::{
    ApiKeyId, KeyEnd, KeyRefusal, NewApiKey, Operator, OperatorChange, OperatorName, Revocation,
    Role, Rotation,
};
use onboard_core::secret::KeyHash;
use onboard_core::store::{Enterprise, Store, StoreError};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::run(onboard_testkit::Backend::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::run(onboard_testkit::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}

conformance!(
    an_enterprise_starts_with_one_key_that_finds_it,
    keys_are_added_listed_and_found_by_hash_whatever_their_state,
    a_revocation_happens_once_and_only_within_the_enterprise,
    a_rotation_adds_a_successor_and_bounds_the_old_keys_life,
    every_key_change_moves_the_generation_and_is_read_back_once,
    a_use_is_recorded_at_most_once_a_minute,
    concurrent_key_changes_get_distinct_generations,
    operators_are_created_once_listed_disabled_and_given_new_passwords,
);

const TEST_TIMEOUT: StdDuration = StdDuration::from_secs(60);
const NOW: OffsetDateTime = datetime!(2026-06-15 12:00:00 UTC);

async fn run<F, Fut>(backend: onboard_testkit::Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if backend == onboard_testkit::Backend::Postgres && onboard_testkit::skip_postgres() {
        return;
    }
    let db = onboard_testkit::TestDatabase::new(backend).await;
    let store = db.open_store().await;
    tokio::time::timeout(TEST_TIMEOUT, test(store))
        .await
        .expect("the test finished within its time limit");
}

async fn enterprise(store: &dyn Store, name: &str) -> Enterprise {
    let hash = KeyHash::of(&format!("onb_first_key_of_{name}"));
    store.create_enterprise(name, &hash, NOW).await.unwrap()
}

fn new_key(enterprise: &Enterprise, secret: &str) -> NewApiKey {
    NewApiKey {
        id: ApiKeyId::generate(),
        enterprise: enterprise.id,
        label: format!("label of {secret}"),
        hash: KeyHash::of(secret),
        expires_at: None,
        created_by: Some("ana".into()),
    }
}

async fn an_enterprise_starts_with_one_key_that_finds_it(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await;
    let keys = store.list_api_keys(acme.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].label, "first key");
    assert_eq!(keys[0].created_at, NOW);
    assert_eq!(keys[0].ended(NOW), None);
    let (found, key) = store
        .api_key_by_hash(&KeyHash::of("onb_first_key_of_acme"))
        .await
        .unwrap()
        .expect("the first key is found");
    assert_eq!((found, key.id), (acme.clone(), keys[0].id.clone()));
    let first = KeyHash::of("onb_first_key_of_acme");
    assert_eq!(store.enterprise_by_key(&first).await.unwrap(), Some(acme));
}

async fn keys_are_added_listed_and_found_by_hash_whatever_their_state(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await;
    let globex = enterprise(store.as_ref(), "globex").await;
    let mut expiring = new_key(&acme, "onb_expiring");
    expiring.expires_at = Some(NOW + Duration::days(90));
    let a_second_later = NOW + Duration::seconds(1);
    let stored = store
        .insert_api_key(&expiring, a_second_later)
        .await
        .unwrap();
    assert_eq!(stored.expires_at, expiring.expires_at);
    assert_eq!(stored.created_by.as_deref(), Some("ana"));
    assert_eq!(stored.label, "label of onb_expiring");
    store
        .insert_api_key(&new_key(&globex, "onb_other"), NOW)
        .await
        .unwrap();

    let listed = store.list_api_keys(acme.id).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|k| k.enterprise == acme.id));
    assert_eq!(listed[1], stored, "oldest first");

    // The same secret twice is a conflict, not a second key.
    let twice = store
        .insert_api_key(&new_key(&acme, "onb_expiring"), NOW)
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");

    let (_, found) = store
        .api_key_by_hash(&KeyHash::of("onb_expiring"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.ended(NOW + Duration::days(90)), Some(KeyEnd::Expired));
    assert!(
        store
            .api_key_by_hash(&KeyHash::of("onb_never_made"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_revocation_happens_once_and_only_within_the_enterprise(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await;
    let globex = enterprise(store.as_ref(), "globex").await;
    let key = store
        .insert_api_key(&new_key(&acme, "onb_to_revoke"), NOW)
        .await
        .unwrap();

    let elsewhere = store.revoke_api_key(globex.id, &key.id, None, NOW).await;
    assert_eq!(elsewhere.unwrap(), Revocation::Refused(KeyRefusal::Unknown));
    let later = NOW + Duration::minutes(5);
    let Revocation::Revoked(revoked) = store
        .revoke_api_key(acme.id, &key.id, Some("bo"), later)
        .await
        .unwrap()
    else {
        panic!("the key was not revoked");
    };
    assert_eq!(revoked.revoked_at, Some(later));
    assert_eq!(revoked.revoked_by.as_deref(), Some("bo"));
    assert_eq!(revoked.ended(later), Some(KeyEnd::Revoked));
    let again = store.revoke_api_key(acme.id, &key.id, None, later).await;
    assert_eq!(
        again.unwrap(),
        Revocation::Refused(KeyRefusal::AlreadyRevoked(later))
    );
    // Found by hash, with its revocation, but no longer an enterprise's key.
    let (_, found) = store
        .api_key_by_hash(&KeyHash::of("onb_to_revoke"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.revoked_at, Some(later));
    let revoked_hash = KeyHash::of("onb_to_revoke");
    assert_eq!(store.enterprise_by_key(&revoked_hash).await.unwrap(), None);
    let unknown = store
        .revoke_api_key(acme.id, &ApiKeyId::generate(), None, later)
        .await;
    assert_eq!(unknown.unwrap(), Revocation::Refused(KeyRefusal::Unknown));
}

async fn a_rotation_adds_a_successor_and_bounds_the_old_keys_life(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await;
    let old = store
        .insert_api_key(&new_key(&acme, "onb_old"), NOW)
        .await
        .unwrap();
    let grace_end = NOW + Duration::hours(24);
    let successor = new_key(&acme, "onb_new");
    let Rotation::Rotated { old: was, new } = store
        .rotate_api_key(&old.id, &successor, grace_end, NOW)
        .await
        .unwrap()
    else {
        panic!("the key was not rotated");
    };
    assert_eq!(was.expires_at, Some(grace_end));
    assert_eq!(was.replaced_by.as_ref(), Some(&successor.id));
    assert_eq!(was.ended(grace_end - Duration::seconds(1)), None);
    assert_eq!(was.ended(grace_end), Some(KeyEnd::Expired));
    assert_eq!(was.revoked_at, None);
    assert_eq!(was.revoked_by, None, "a rotation is no revocation");
    assert_eq!(new.id, successor.id);
    assert_eq!(new.expires_at, None);
    assert_eq!(new.created_by.as_deref(), Some("ana"), "who rotated");

    let twice = store
        .rotate_api_key(&old.id, &new_key(&acme, "onb_third"), grace_end, NOW)
        .await;
    assert_eq!(
        twice.unwrap(),
        Rotation::Refused(KeyRefusal::AlreadyRotated(successor.id.clone()))
    );
    // The third key was not stored.
    assert_eq!(store.list_api_keys(acme.id).await.unwrap().len(), 3);

    // A key that expires before the grace ends keeps its earlier expiry.
    let mut short = new_key(&acme, "onb_short");
    short.expires_at = Some(NOW + Duration::hours(1));
    let short = store.insert_api_key(&short, NOW).await.unwrap();
    let Rotation::Rotated { old: kept, .. } = store
        .rotate_api_key(
            &short.id,
            &new_key(&acme, "onb_after_short"),
            grace_end,
            NOW,
        )
        .await
        .unwrap()
    else {
        panic!("the short-lived key was not rotated");
    };
    assert_eq!(kept.expires_at, Some(NOW + Duration::hours(1)));

    // An expired or revoked key is not rotated; another enterprise's is unknown.
    let mut gone = new_key(&acme, "onb_gone");
    gone.expires_at = Some(NOW - Duration::seconds(1));
    let gone = store.insert_api_key(&gone, NOW).await.unwrap();
    let expired = store
        .rotate_api_key(&gone.id, &new_key(&acme, "onb_x"), grace_end, NOW)
        .await;
    assert_eq!(
        expired.unwrap(),
        Rotation::Refused(KeyRefusal::Expired(NOW - Duration::seconds(1)))
    );
    let globex = enterprise(store.as_ref(), "globex").await;
    let foreign = store
        .rotate_api_key(&new.id, &new_key(&globex, "onb_y"), grace_end, NOW)
        .await;
    assert_eq!(foreign.unwrap(), Rotation::Refused(KeyRefusal::Unknown));
}

async fn every_key_change_moves_the_generation_and_is_read_back_once(store: Arc<dyn Store>) {
    let start = store.key_generation().await.unwrap();
    let acme = enterprise(store.as_ref(), "acme").await;
    let after_create = store.key_generation().await.unwrap();
    assert!(after_create > start);
    let key = store
        .insert_api_key(&new_key(&acme, "onb_watched"), NOW)
        .await
        .unwrap();
    let (changed, reached) = store.api_keys_changed_since(after_create).await.unwrap();
    assert_eq!(changed, std::slice::from_ref(&key));
    assert_eq!(reached, store.key_generation().await.unwrap());

    store
        .revoke_api_key(acme.id, &key.id, None, NOW)
        .await
        .unwrap();
    let (changed, later) = store.api_keys_changed_since(reached).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].revoked_at, Some(NOW));
    assert!(later > reached);
    let (none, same) = store.api_keys_changed_since(later).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(same, later);
    // A refused change moves nothing; recording a use moves nothing.
    store
        .revoke_api_key(acme.id, &key.id, None, NOW)
        .await
        .unwrap();
    store.touch_api_key(&key.id, NOW).await.unwrap();
    assert_eq!(store.key_generation().await.unwrap(), later);
}

async fn a_use_is_recorded_at_most_once_a_minute(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await;
    let key = store
        .insert_api_key(&new_key(&acme, "onb_used"), NOW)
        .await
        .unwrap();
    let last_used = async || {
        let keys = store.list_api_keys(acme.id).await.unwrap();
        keys.into_iter()
            .find(|k| k.id == key.id)
            .unwrap()
            .last_used_at
    };
    assert_eq!(last_used().await, None);
    store.touch_api_key(&key.id, NOW).await.unwrap();
    assert_eq!(last_used().await, Some(NOW));
    store
        .touch_api_key(&key.id, NOW + Duration::seconds(59))
        .await
        .unwrap();
    assert_eq!(last_used().await, Some(NOW));
    let a_minute_on = NOW + Duration::seconds(60);
    store.touch_api_key(&key.id, a_minute_on).await.unwrap();
    assert_eq!(last_used().await, Some(a_minute_on));
}

async fn concurrent_key_changes_get_distinct_generations(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await;
    let before = store.key_generation().await.unwrap();
    let writers = (0..8).map(|i| {
        let store = store.clone();
        let key = new_key(&acme, &format!("onb_concurrent_{i}"));
        tokio::spawn(async move { store.insert_api_key(&key, NOW).await.unwrap() })
    });
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(store.key_generation().await.unwrap(), before + 8);
    let (changed, _) = store.api_keys_changed_since(before).await.unwrap();
    assert_eq!(changed.len(), 8);
}

fn operator(name: &str, role: Role) -> Operator {
    Operator {
        name: OperatorName::parse(name).unwrap(),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$of-{name}"),
        created_at: NOW,
        password_set_at: NOW,
        disabled_at: None,
    }
}

async fn operators_are_created_once_listed_disabled_and_given_new_passwords(store: Arc<dyn Store>) {
    store
        .insert_operator(&operator("zoe", Role::Admin))
        .await
        .unwrap();
    store
        .insert_operator(&operator("ana", Role::Reviewer))
        .await
        .unwrap();
    let twice = store.insert_operator(&operator("ana", Role::Admin)).await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");

    let listed = store.list_operators().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["ana", "zoe"]);
    assert_eq!(listed[0], operator("ana", Role::Reviewer));

    let later = NOW + Duration::hours(1);
    assert_eq!(
        store.disable_operator("ana", later).await.unwrap(),
        OperatorChange::Changed
    );
    assert_eq!(
        store.disable_operator("ana", later).await.unwrap(),
        OperatorChange::AlreadyDisabled
    );
    assert_eq!(
        store.disable_operator("nobody", later).await.unwrap(),
        OperatorChange::Unknown
    );
    let ana = store.operator_by_name("ana").await.unwrap().unwrap();
    assert_eq!(ana.disabled_at, Some(later));

    assert_eq!(
        store
            .set_operator_password("zoe", "$argon2id$new", later)
            .await
            .unwrap(),
        OperatorChange::Changed
    );
    let zoe = store.operator_by_name("zoe").await.unwrap().unwrap();
    assert_eq!(
        (zoe.password_hash.as_str(), zoe.password_set_at),
        ("$argon2id$new", later)
    );
    assert_eq!(
        store
            .set_operator_password("nobody", "$argon2id$x", later)
            .await
            .unwrap(),
        OperatorChange::Unknown
    );
    assert!(store.operator_by_name("nobody").await.unwrap().is_none());
}
