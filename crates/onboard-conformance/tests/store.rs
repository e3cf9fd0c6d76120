//! The conformance suite of the storage port: every rule of `Store` that the
//! domain relies on, written once against the trait and run on every backend.
//!
//! Each test is an `async fn name(store: Arc<dyn Store>)` at the bottom of this
//! file's root; [`conformance!`] turns the list of names into `sqlite::name` and
//! `postgres::name` tests, each on a fresh database of its own. Time is a fixed
//! instant ([`NOW`]) passed explicitly, as the trait asks: no test reads a clock.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use onboard_conformance::NOW;
use onboard_core::events::{Event, EventKind, Retention};
use onboard_core::lifecycle::{self, CodeWrite, Decision, Refusal, ReviewPolicy, Trigger};
use onboard_core::registration::Registration;
use onboard_core::secret::KeyHash;
use onboard_core::store::{
    Claim, Deactivation, Decided, Enterprise, EnterpriseId, EventBounds, Grant, IDEMPOTENCY_KEPT,
    KeptAnswer, ListedJson, Minting, OutboxEntry, RequestTarget, Store, StoreError, TokenGrant,
    UserFilter, render,
};
use onboard_core::user::{AccountRole, Status, User};
use onboard_core::verification::{CODE_TTL, Channel, Code, CodeRecord, MAX_ATTEMPTS};
use onboard_testkit::fixtures::{self, advisor, client_of};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

onboard_conformance::conformance!(
    store: [
        enterprises_are_created_found_by_key_and_name_and_listed,
        a_user_reads_back_exactly_as_inserted,
        a_user_id_is_taken_forever_within_its_enterprise_only,
        reads_and_writes_are_scoped_to_the_enterprise,
        a_client_needs_an_active_advisor_of_its_own_enterprise,
        users_are_listed_in_keyset_order_with_filters_limit_and_after,
        deactivation_happens_once_and_hides_the_user,
        a_sent_code_is_confirmed_once_and_moves_the_user,
        the_daily_code_quota_is_kept_with_the_code_and_undone_with_it,
        an_idempotency_key_is_claimed_once_answered_then_freed_by_time,
        concurrent_claims_of_one_idempotency_key_give_it_to_one,
        a_first_code_stored_with_the_user_confirms_like_a_sent_one,
        refusals_write_nothing_but_the_failure_count,
        wrong_codes_burn_the_code_after_max_attempts,
        an_operator_review_is_a_transition_without_a_code,
        restore_code_undoes_only_the_failed_send,
        the_outbox_lists_newest_first_by_enterprise_and_user,
        pruning_drops_outbox_messages_older_than_a_day,
        minting_tokens_is_all_or_nothing,
        user_tokens_honour_expiry_and_deactivation,
        active_among_names_only_active_users_of_the_enterprise,
        feed_tokens_are_granted_best_effort,
        every_change_appends_a_gap_free_event_per_enterprise,
        events_are_read_in_order_from_after_with_a_limit,
        pruning_by_count_keeps_the_newest_events_of_each_enterprise,
        pruning_by_age_drops_old_events_and_expired_tokens,
        concurrent_inserts_get_event_ids_one_to_n_without_a_gap,
        concurrent_inserts_of_one_user_id_let_exactly_one_in,
        concurrent_registrations_that_fail_leave_the_others_whole,
        concurrent_confirmations_of_one_code_succeed_exactly_once,
        a_client_racing_its_advisors_deactivation_never_outlives_it,
        an_edd_request_walks_its_status_path_with_an_event_per_step,
        documents_are_stored_whole_in_pieces_and_read_back_in_scope,
        a_user_token_names_its_enterprise_and_user,
        concurrent_requests_for_one_user_open_exactly_one,
        concurrent_reads_of_single_users_each_get_their_own,
    ],
    database: [
        changes_through_another_store_are_forwarded_where_the_backend_hears_them,
        rows_written_before_their_json_was_stored_read_the_same,
    ],
);

#[path = "store/access.rs"]
mod access;
#[path = "store/console.rs"]
mod console;
#[path = "store/edd.rs"]
mod edd;
use edd::{
    a_user_token_names_its_enterprise_and_user,
    an_edd_request_walks_its_status_path_with_an_event_per_step,
    concurrent_requests_for_one_user_open_exactly_one,
    documents_are_stored_whole_in_pieces_and_read_back_in_scope,
};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The vendor's individual at its own address `<user_id>@example.com`, without a
/// source of funds.
fn individual(user_id: &str) -> Value {
    let mut body = fixtures::individual(user_id);
    body["email"] = json!(format!("{user_id}@example.com"));
    body["account_purpose"] = json!("investing");
    body["individual"]["residential_postal_code"] = json!("94105");
    let top = body.as_object_mut().unwrap();
    top.remove("source_of_funds");
    top.remove("source_of_funds_other");
    body
}

/// An individual with every optional field of the full shape filled in.
fn detailed_individual(user_id: &str) -> Value {
    let mut body = individual(user_id);
    let extra = json!({
        "account_purpose": "Other",
        "account_purpose_other": "testing the store",
        "source_of_funds": "salary",
        "intermediary_status": "no",
        "expected_transfer_volume": "10k_50k",
        "expected_trade_volume": "1m_plus",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body["individual"]["employment_status"] = json!("full_time_employee");
    body["individual"]["industry"] = json!("financial_services");
    body["individual"]["occupation"] = json!("legal");
    body["individual"]["job_title"] = json!("Counsel");
    body
}

/// The vendor's corporation at its own address, with a website and two owners: one
/// identified by an SSN, one by a foreign passport.
fn corporation(user_id: &str) -> Value {
    let mut body = fixtures::corporation(user_id);
    body["email"] = json!(format!("{user_id}@example.com"));
    body["business"]["registration_number"] = json!("12-3456789");
    body["business"]["website"] = json!("https://alpha.example.com");
    body["beneficial_owners"] = json!([
        fixtures::owner_with_ssn(),
        {
            "email": "second@email.com",
            "first_name": "Ada",
            "last_name": "Second",
            "phone_number": "+12243927598",
            "dob": "1975-03-02",
            "ssn": "X1234567",
            "address_street1": "1 Harbour Road",
            "address_city": "London",
            "address_country_code": "GB",
            "address_postal_code": "E14",
            "id_type": "passport",
            "id_country_code": "GB"
        }
    ]);
    body
}

/// The user a valid registration body creates.
fn user(body: Value) -> User {
    Registration::parse(body, NOW.date())
        .unwrap_or_else(|problems| panic!("the fixture is invalid: {problems:?}"))
        .into_user(Uuid::now_v7())
}

async fn enterprise(store: &dyn Store, name: &str) -> Enterprise {
    store
        .create_enterprise(name, &KeyHash::of(&format!("key of {name}")), NOW)
        .await
        .expect("the enterprise is created")
}

/// Inserts the user of `body` at `NOW` and returns it.
async fn register(store: &dyn Store, e: EnterpriseId, body: Value) -> User {
    register_at(store, e, body, NOW).await
}

async fn register_at(store: &dyn Store, e: EnterpriseId, body: Value, at: OffsetDateTime) -> User {
    let user = user(body);
    store
        .insert_user(e, &user, "registered", None, at)
        .await
        .unwrap_or_else(|err| panic!("{} is inserted: {err}", user.summary.user_id));
    user
}

/// The user as `find_user` reads it; every call also checks that the JSON
/// stored with the row (`user_json`) is that user's wire shape.
async fn find(store: &dyn Store, e: EnterpriseId, user_id: &str) -> Option<User> {
    let user = store
        .find_user(e, user_id)
        .await
        .expect("find_user answers");
    let json = store
        .user_json(e, user_id)
        .await
        .expect("user_json answers");
    let rendered = user.as_ref().map(|u| render(&u.to_wire()).unwrap());
    assert_eq!(json, rendered, "the stored JSON of {user_id}");
    user
}

/// The list's user ids; every call also checks `list_users_json` against it.
async fn list(store: &dyn Store, e: EnterpriseId, filter: UserFilter) -> Vec<String> {
    let listed = store
        .list_users(e, filter, None, 1000)
        .await
        .expect("list_users answers");
    let json = store
        .list_users_json(e, filter, None, 1000)
        .await
        .expect("list_users_json answers");
    let rendered: Vec<ListedJson> = listed
        .iter()
        .map(|l| ListedJson {
            position: l.position,
            json: render(&l.user.to_wire()).unwrap(),
        })
        .collect();
    assert_eq!(json, rendered, "the stored JSON of the list");
    listed
        .into_iter()
        .map(|l| l.user.user_id.into_string())
        .collect()
}

async fn all_events(store: &dyn Store, e: EnterpriseId) -> Vec<Event> {
    store
        .read_events(e, 0, 1000)
        .await
        .expect("read_events answers")
}

async fn latest(store: &dyn Store, e: EnterpriseId) -> i64 {
    store
        .event_bounds(e)
        .await
        .expect("event_bounds answers")
        .latest
}

/// `Store::decide` on an active user, insisting that it exists.
async fn decide(
    store: &dyn Store,
    e: EnterpriseId,
    user_id: &str,
    channel: Option<Channel>,
    at: OffsetDateTime,
    rule: &(dyn Fn(&User, Option<&CodeRecord>) -> Decision + Send + Sync),
) -> Decided {
    store
        .decide(e, user_id, channel, at, rule)
        .await
        .expect("decide answers")
        .unwrap_or_else(|| panic!("{user_id} is an active user"))
}

/// Sends the code `digits` on `channel` at `at` (the send-verification rule).
async fn send(
    store: &dyn Store,
    e: EnterpriseId,
    user_id: &str,
    channel: Channel,
    digits: &str,
    at: OffsetDateTime,
) -> Decided {
    let rule = |u: &User, existing: Option<&CodeRecord>| {
        let fresh = CodeRecord::new(Code::hash(u.id, channel, digits), at);
        lifecycle::decide_send(&u.summary, existing, channel, fresh, QUOTA)
    };
    decide(store, e, user_id, Some(channel), at, &rule).await
}

/// The daily code quota the conformance rules run with.
const QUOTA: u32 = 3;

/// Presents `digits` on `channel` at `at` (the verify rule, auto review).
async fn confirm(
    store: &dyn Store,
    e: EnterpriseId,
    user_id: &str,
    channel: Channel,
    digits: &str,
    at: OffsetDateTime,
) -> Decided {
    let rule = |u: &User, existing: Option<&CodeRecord>| {
        let presented = Code::hash(u.id, channel, digits);
        lifecycle::decide_confirm(
            &u.summary,
            existing,
            channel,
            &presented,
            at,
            ReviewPolicy::Auto,
        )
    };
    decide(store, e, user_id, Some(channel), at, &rule).await
}

/// The stored code of a user on a channel, read by a decision that writes nothing.
async fn stored_code(
    store: &dyn Store,
    e: EnterpriseId,
    user_id: &str,
    channel: Channel,
) -> Option<CodeRecord> {
    let keep = |_: &User, _: Option<&CodeRecord>| Decision {
        code: CodeWrite::Keep,
        transition: None,
        outcome: Ok(()),
    };
    decide(store, e, user_id, Some(channel), NOW, &keep)
        .await
        .previous_code
}

fn grant(user_id: &str, secret: &str, expires_at: OffsetDateTime) -> TokenGrant {
    TokenGrant {
        user_id: user_id.to_owned(),
        hash: KeyHash::of(secret),
        expires_at,
    }
}

fn ids(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.event_id).collect()
}

// ---------------------------------------------------------------------------
// Enterprises
// ---------------------------------------------------------------------------

async fn enterprises_are_created_found_by_key_and_name_and_listed(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store.ping().await.expect("the database answers");
    assert!(store.list_enterprises().await.unwrap().is_empty());
    let acme = enterprise(store, "acme").await;
    assert_eq!((acme.name.as_str(), acme.created_at), ("acme", NOW));
    let globex = enterprise(store, "globex").await;
    assert_ne!(acme.id, globex.id);

    let again = store
        .create_enterprise("acme", &KeyHash::of("another key"), NOW)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "a duplicate name is a conflict: {again:?}"
    );
    let same_key = store
        .create_enterprise("initech", &KeyHash::of("key of acme"), NOW)
        .await;
    assert!(
        matches!(same_key, Err(StoreError::Conflict(_))),
        "a duplicate key hash is a conflict: {same_key:?}"
    );

    let by_key = store.enterprise_by_key(&KeyHash::of("key of globex")).await;
    assert_eq!(by_key.unwrap(), Some(globex.clone()));
    let unknown = store.enterprise_by_key(&KeyHash::of("no such key")).await;
    assert_eq!(unknown.unwrap(), None);
    assert_eq!(
        store.enterprise_by_name("acme").await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.enterprise_by_name("initech").await.unwrap(), None);
    assert_eq!(store.enterprise_by_name("ACME").await.unwrap(), None);

    assert_eq!(store.list_enterprises().await.unwrap(), [acme, globex]);
    for e in store.list_enterprises().await.unwrap() {
        assert_eq!(
            store.event_bounds(e.id).await.unwrap(),
            EventBounds {
                oldest: None,
                latest: 0
            },
            "a new enterprise has an empty log"
        );
    }
}

// ---------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------

async fn a_user_reads_back_exactly_as_inserted(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let e = enterprise(store, "acme").await.id;
    let adv = register(store, e, advisor("adv")).await;
    // Every character a user_id may hold.
    let mut odd = client_of("Client_2-x.y:z@w", "adv");
    odd["email"] = json!("client.2@example.com");
    let bodies = [detailed_individual("jane"), corporation("corp.1"), odd];
    let mut inserted = vec![adv];
    for body in bodies {
        inserted.push(register(store, e, body).await);
    }
    for user in &inserted {
        let found = find(store, e, &user.summary.user_id).await;
        assert_eq!(found.as_ref(), Some(user), "the full profile round-trips");
    }
    let jane = &inserted[1];
    let profile = &jane.profile;
    assert_eq!(profile.source_of_funds.as_deref(), Some("salary"));
    assert_eq!(
        profile.individual.as_ref().unwrap().job_title.as_deref(),
        Some("Counsel")
    );
    assert_eq!(
        inserted[2]
            .profile
            .beneficial_owners
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        inserted[3].summary.advisor_user_id.as_deref(),
        Some("adv"),
        "the advisor link is kept"
    );
    let listed = store
        .list_users(e, UserFilter::default(), None, 10)
        .await
        .unwrap();
    let summaries: Vec<_> = listed.into_iter().map(|l| l.user).collect();
    let expected: Vec<_> = inserted.iter().map(|u| u.summary.clone()).collect();
    assert_eq!(summaries, expected, "the list shape reads back too");
}

async fn a_user_id_is_taken_forever_within_its_enterprise_only(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    register(store, acme, individual("jane")).await;

    let twin = user(corporation("jane"));
    let again = store
        .insert_user(acme, &twin, "registered", None, NOW)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "a duplicate user_id is a conflict: {again:?}"
    );
    assert_eq!(
        latest(store, acme).await,
        1,
        "a refused insert logs nothing"
    );

    assert!((store.deactivate_user(acme, "jane", NOW).await.unwrap() == Deactivation::Deactivated));
    let after = store
        .insert_user(acme, &twin, "registered", None, NOW)
        .await;
    assert!(
        matches!(after, Err(StoreError::Conflict(_))),
        "a deactivated user_id stays taken: {after:?}"
    );
    assert_eq!(find(store, acme, "jane").await, None);
    assert_eq!(latest(store, acme).await, 2);

    // Another enterprise may use the same user_id.
    store
        .insert_user(globex, &twin, "registered", None, NOW)
        .await
        .expect("the same user_id in another enterprise is fine");
    assert_eq!(find(store, globex, "jane").await, Some(twin));
    assert_eq!(latest(store, globex).await, 1);
}

async fn reads_and_writes_are_scoped_to_the_enterprise(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    let jane = register(store, acme, individual("jane")).await;
    register(store, globex, individual("john")).await;

    assert_eq!(find(store, globex, "jane").await, None);
    assert_eq!(list(store, globex, UserFilter::default()).await, ["john"]);
    assert_eq!(list(store, acme, UserFilter::default()).await, ["jane"]);
    assert!(
        !(store.deactivate_user(globex, "jane", NOW).await.unwrap() == Deactivation::Deactivated),
        "another enterprise cannot deactivate jane"
    );
    assert_eq!(find(store, acme, "jane").await, Some(jane));
    let keep = |_: &User, _: Option<&CodeRecord>| Decision {
        code: CodeWrite::Keep,
        transition: None,
        outcome: Ok(()),
    };
    let foreign = store
        .decide(globex, "jane", Some(Channel::Email), NOW, &keep)
        .await
        .unwrap();
    assert!(
        foreign.is_none(),
        "another enterprise cannot decide on jane"
    );
    assert_eq!(ids(&all_events(store, acme).await), [1]);
    assert_eq!(ids(&all_events(store, globex).await), [1]);
    assert_eq!(all_events(store, globex).await[0].user.user_id, "john");
}

async fn a_client_needs_an_active_advisor_of_its_own_enterprise(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    register(store, acme, individual("plain-client")).await;
    register(store, acme, advisor("gone-advisor")).await;
    assert!(
        (store
            .deactivate_user(acme, "gone-advisor", NOW)
            .await
            .unwrap()
            == Deactivation::Deactivated)
    );
    register(store, globex, advisor("foreign-advisor")).await;
    let before = latest(store, acme).await;

    for missing in ["nobody", "plain-client", "gone-advisor", "foreign-advisor"] {
        let client = user(client_of("c1", missing));
        let inserted = store
            .insert_user(acme, &client, "registered", None, NOW)
            .await;
        assert!(
            matches!(inserted, Err(StoreError::AdvisorUnavailable)),
            "advisor {missing}: {inserted:?}"
        );
        assert_eq!(find(store, acme, "c1").await, None, "nothing was written");
    }
    assert_eq!(latest(store, acme).await, before, "no event either");

    register(store, acme, advisor("adv")).await;
    let client = register(store, acme, client_of("c1", "adv")).await;
    assert_eq!(find(store, acme, "c1").await, Some(client));
}

async fn users_are_listed_in_keyset_order_with_filters_limit_and_after(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    // Interleave roles, another enterprise and a deactivation.
    let plan: [(&str, Value); 8] = [
        ("a1", advisor("a1")),
        ("c1", individual("c1")),
        ("c2", client_of("c2", "a1")),
        ("gone", individual("gone")),
        ("a2", advisor("a2")),
        ("k1", corporation("k1")),
        ("c3", individual("c3")),
        ("c4", individual("c4")),
    ];
    for (i, (_, body)) in plan.into_iter().enumerate() {
        register(store, acme, body).await;
        if i == 2 {
            register(store, globex, individual("other")).await;
        }
    }
    assert!((store.deactivate_user(acme, "gone", NOW).await.unwrap() == Deactivation::Deactivated));
    // c3 becomes UNSUPPORTED; k1 (a corporation) VERIFIED by its email code.
    let reject = |u: &User, _: Option<&CodeRecord>| {
        lifecycle::decide_review(&u.summary, Trigger::Rejected, ReviewPolicy::Auto)
    };
    decide(store, acme, "c3", None, NOW, &reject).await;
    send(store, acme, "k1", Channel::Email, "123456", NOW).await;
    let verified = confirm(store, acme, "k1", Channel::Email, "123456", NOW).await;
    assert_eq!(verified.user.summary.status, Status::Verified);

    let everyone = store
        .list_users(acme, UserFilter::default(), None, 100)
        .await
        .unwrap();
    let order: Vec<&str> = everyone.iter().map(|l| l.user.user_id.as_str()).collect();
    assert_eq!(order, ["a1", "c1", "c2", "a2", "k1", "c3", "c4"]);
    assert!(
        everyone.windows(2).all(|w| w[0].position < w[1].position),
        "positions grow in list order"
    );

    // Pages of two, each after the last position of the one before.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_users(acme, UserFilter::default(), after, 2)
            .await
            .unwrap();
        assert!(page.len() <= 2, "the limit holds");
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        paged.extend(page.into_iter().map(|l| l.user.user_id));
    }
    assert_eq!(paged, order);
    let tail = store
        .list_users(acme, UserFilter::default(), Some(everyone[4].position), 100)
        .await
        .unwrap();
    let tail: Vec<_> = tail.into_iter().map(|l| l.user.user_id).collect();
    assert_eq!(tail, ["c3", "c4"]);
    let first = store
        .list_users(acme, UserFilter::default(), None, 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].user.user_id, "a1");

    let role = |role| UserFilter {
        role: Some(role),
        status: None,
    };
    let status = |status| UserFilter {
        role: None,
        status: Some(status),
    };
    assert_eq!(
        list(store, acme, role(AccountRole::Advisor)).await,
        ["a1", "a2"]
    );
    assert_eq!(
        list(store, acme, role(AccountRole::Client)).await,
        ["c1", "c2", "k1", "c3", "c4"]
    );
    assert_eq!(
        list(store, acme, status(Status::Pending)).await,
        ["a1", "c1", "c2", "a2", "c4"]
    );
    assert_eq!(list(store, acme, status(Status::Unsupported)).await, ["c3"]);
    assert_eq!(list(store, acme, status(Status::Verified)).await, ["k1"]);
    let both = UserFilter {
        role: Some(AccountRole::Advisor),
        status: Some(Status::Verified),
    };
    assert!(list(store, acme, both).await.is_empty());
    // Filters combine with paging.
    let clients = store
        .list_users(
            acme,
            role(AccountRole::Client),
            Some(everyone[2].position),
            2,
        )
        .await
        .unwrap();
    let clients: Vec<_> = clients.into_iter().map(|l| l.user.user_id).collect();
    assert_eq!(clients, ["k1", "c3"]);
    let rows = &everyone[5].user;
    assert_eq!(
        (rows.status, rows.requirements.email, rows.requirements.sms),
        (Status::Unsupported, true, true),
        "status and requirements are the stored ones"
    );
}

async fn deactivation_happens_once_and_hides_the_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let jane = register(store, acme, individual("jane")).await;
    register(store, acme, individual("john")).await;
    let later = NOW + Duration::minutes(5);

    assert!(
        (store.deactivate_user(acme, "jane", later).await.unwrap() == Deactivation::Deactivated)
    );
    assert!(
        !(store.deactivate_user(acme, "jane", later).await.unwrap() == Deactivation::Deactivated),
        "only once"
    );
    assert!(
        !(store.deactivate_user(acme, "nobody", later).await.unwrap() == Deactivation::Deactivated)
    );
    assert_eq!(find(store, acme, "jane").await, None);
    assert_eq!(list(store, acme, UserFilter::default()).await, ["john"]);
    let rule = |u: &User, existing: Option<&CodeRecord>| {
        let fresh = CodeRecord::new("h".into(), NOW);
        lifecycle::decide_send(&u.summary, existing, Channel::Email, fresh, QUOTA)
    };
    let decided = store
        .decide(acme, "jane", Some(Channel::Email), NOW, &rule)
        .await
        .unwrap();
    assert!(decided.is_none(), "a deactivated user takes no decision");

    let events = all_events(store, acme).await;
    assert_eq!(ids(&events), [1, 2, 3], "one deactivation event, not two");
    let gone = &events[2];
    assert_eq!(gone.kind, EventKind::Deactivated);
    assert_eq!(
        gone.user, jane.summary,
        "the snapshot is the user at the time"
    );
    assert_eq!(gone.at, later);
}

// ---------------------------------------------------------------------------
// Lifecycle decisions and codes
// ---------------------------------------------------------------------------

async fn a_first_code_stored_with_the_user_confirms_like_a_sent_one(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let jane = user(individual("jane"));
    let record = CodeRecord::new(Code::hash(jane.id, Channel::Email, "424242"), NOW);
    store
        .insert_user(
            acme,
            &jane,
            "registered",
            Some((Channel::Email, &record)),
            NOW,
        )
        .await
        .expect("the user and its code are stored");
    assert_eq!(
        stored_code(store, acme, "jane", Channel::Email).await,
        Some(record)
    );
    assert_eq!(stored_code(store, acme, "jane", Channel::Sms).await, None);
    assert_eq!(latest(store, acme).await, 1, "the code adds no event");

    let at = NOW + Duration::minutes(2);
    let confirmed = confirm(store, acme, "jane", Channel::Email, "424242", at).await;
    assert_eq!(confirmed.outcome, Ok(()));
    assert!(!confirmed.user.summary.requirements.email);
}

async fn a_sent_code_is_confirmed_once_and_moves_the_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let jane = register(store, acme, individual("jane")).await;

    let sent = send(store, acme, "jane", Channel::Email, "111111", NOW).await;
    assert_eq!(sent.outcome, Ok(()));
    assert_eq!(sent.previous_code, None, "there was no code before");
    assert_eq!(sent.user, jane, "sending changes no status");
    let stored = stored_code(store, acme, "jane", Channel::Email).await;
    assert_eq!(
        stored,
        Some(CodeRecord {
            hash: Some(Code::hash(jane.id, Channel::Email, "111111")),
            sent_at: NOW,
            expires_at: NOW + CODE_TTL,
            failed_attempts: 0,
            recent_sends: vec![NOW],
        })
    );
    assert_eq!(latest(store, acme).await, 1, "a send logs no event");

    let at = NOW + Duration::minutes(1);
    let confirmed = confirm(store, acme, "jane", Channel::Email, "111111", at).await;
    assert_eq!(confirmed.outcome, Ok(()));
    let s = &confirmed.user.summary;
    assert_eq!(
        (s.status, s.requirements.email, s.requirements.sms),
        (Status::Pending, false, true)
    );
    assert_eq!(
        find(store, acme, "jane").await.as_ref(),
        Some(&confirmed.user)
    );
    let consumed = stored_code(store, acme, "jane", Channel::Email)
        .await
        .unwrap();
    assert_eq!(consumed.hash, None, "a used code is forgotten");
    assert_eq!(
        consumed.sent_at, NOW,
        "its row stays for the resend interval"
    );

    let events = all_events(store, acme).await;
    assert_eq!(ids(&events), [1, 2]);
    assert_eq!(events[1].kind, EventKind::Updated);
    assert_eq!(events[1].cause, "email verified");
    assert_eq!(events[1].user, confirmed.user.summary);
    assert_eq!(events[1].at, at);

    // The same code again: refused, nothing written.
    let again = confirm(store, acme, "jane", Channel::Email, "111111", at).await;
    assert_eq!(again.outcome, Err(Refusal::EmailAlreadyVerified));
    assert_eq!(latest(store, acme).await, 2);

    // The sms step completes the user.
    send(store, acme, "jane", Channel::Sms, "222222", at).await;
    let done = confirm(store, acme, "jane", Channel::Sms, "222222", at).await;
    assert_eq!(done.outcome, Ok(()));
    assert_eq!(done.user.summary.status, Status::Verified);
    let events = all_events(store, acme).await;
    assert_eq!(ids(&events), [1, 2, 3]);
    assert_eq!(events[2].cause, "sms verified");
    assert_eq!(events[2].user.status, Status::Verified);
    assert_eq!(
        find(store, acme, "jane").await.unwrap().summary.status,
        Status::Verified
    );
    let unknown = store
        .decide(acme, "nobody", Some(Channel::Email), NOW, &|u, c| {
            lifecycle::decide_send(
                &u.summary,
                c,
                Channel::Email,
                CodeRecord::new("h".into(), NOW),
                QUOTA,
            )
        })
        .await
        .unwrap();
    assert!(unknown.is_none());
}

async fn the_daily_code_quota_is_kept_with_the_code_and_undone_with_it(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    register(store, acme, individual("jane")).await;
    let times: Vec<OffsetDateTime> = (0..QUOTA)
        .map(|i| NOW + Duration::minutes(i64::from(i)))
        .collect();
    for (i, at) in times.iter().enumerate() {
        let sent = send(store, acme, "jane", Channel::Email, &format!("{i:06}"), *at).await;
        assert_eq!(sent.outcome, Ok(()), "send {i}");
    }
    let stored = stored_code(store, acme, "jane", Channel::Email)
        .await
        .unwrap();
    assert_eq!(
        stored.recent_sends, times,
        "every send of the day is kept, in order"
    );

    // The next one within the day is refused until the first leaves the window.
    let at = NOW + Duration::hours(1);
    let refused = send(store, acme, "jane", Channel::Email, "999999", at).await;
    assert_eq!(
        refused.outcome,
        Err(Refusal::QuotaSpent(Channel::Email, QUOTA, 23 * 3600))
    );
    assert_eq!(
        stored_code(store, acme, "jane", Channel::Email)
            .await
            .unwrap(),
        stored
    );

    // A failed delivery is undone with its send: the quota does not count it.
    let next_day = NOW + Duration::hours(24);
    let sent = send(store, acme, "jane", Channel::Email, "424242", next_day).await;
    assert_eq!(sent.outcome, Ok(()));
    store
        .restore_code(
            acme,
            "jane",
            Channel::Email,
            next_day,
            sent.previous_code.as_ref(),
        )
        .await
        .unwrap();
    assert_eq!(
        stored_code(store, acme, "jane", Channel::Email)
            .await
            .unwrap(),
        stored
    );
}

async fn refusals_write_nothing_but_the_failure_count(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let jane = register(store, acme, individual("jane")).await;
    let corp = register(store, acme, corporation("corp")).await;

    // No code yet.
    let none = confirm(store, acme, "jane", Channel::Email, "000000", NOW).await;
    assert_eq!(none.outcome, Err(Refusal::NoCode(Channel::Email)));
    assert_eq!(stored_code(store, acme, "jane", Channel::Email).await, None);
    // Order rules.
    let early = send(store, acme, "jane", Channel::Sms, "000000", NOW).await;
    assert_eq!(early.outcome, Err(Refusal::EmailFirst));
    assert_eq!(stored_code(store, acme, "jane", Channel::Sms).await, None);
    let no_sms = send(store, acme, "corp", Channel::Sms, "000000", NOW).await;
    assert_eq!(no_sms.outcome, Err(Refusal::NoSmsStep));

    send(store, acme, "jane", Channel::Email, "123456", NOW).await;
    let first = stored_code(store, acme, "jane", Channel::Email).await;
    // Throttled: the first code stays.
    let soon = NOW + Duration::seconds(10);
    let throttled = send(store, acme, "jane", Channel::Email, "654321", soon).await;
    assert_eq!(
        throttled.outcome,
        Err(Refusal::Throttled(Channel::Email, 20))
    );
    assert_eq!(throttled.previous_code, first);
    assert_eq!(
        stored_code(store, acme, "jane", Channel::Email).await,
        first
    );

    // A wrong code counts a failure and nothing else.
    let wrong = confirm(store, acme, "jane", Channel::Email, "999999", soon).await;
    assert_eq!(
        wrong.outcome,
        Err(Refusal::WrongCode(Channel::Email, MAX_ATTEMPTS - 1))
    );
    assert_eq!(wrong.user, jane, "status and requirements unchanged");
    let counted = stored_code(store, acme, "jane", Channel::Email)
        .await
        .unwrap();
    assert_eq!(counted.failed_attempts, 1);
    assert_eq!(counted.hash, first.as_ref().unwrap().hash);

    // An expired code: refused, not counted.
    let late = NOW + CODE_TTL + Duration::seconds(1);
    let expired = confirm(store, acme, "jane", Channel::Email, "123456", late).await;
    assert_eq!(expired.outcome, Err(Refusal::Expired(Channel::Email)));
    assert_eq!(
        stored_code(store, acme, "jane", Channel::Email).await,
        Some(counted)
    );

    assert_eq!(find(store, acme, "jane").await, Some(jane));
    assert_eq!(find(store, acme, "corp").await, Some(corp));
    assert_eq!(latest(store, acme).await, 2, "refusals log no event");

    // A new send after the interval replaces the code and resets the count.
    let later = NOW + Duration::seconds(30);
    let resent = send(store, acme, "jane", Channel::Email, "777777", later).await;
    assert_eq!(resent.outcome, Ok(()));
    let fresh = stored_code(store, acme, "jane", Channel::Email)
        .await
        .unwrap();
    assert_eq!((fresh.sent_at, fresh.failed_attempts), (later, 0));
    let old = confirm(store, acme, "jane", Channel::Email, "123456", later).await;
    assert!(
        matches!(old.outcome, Err(Refusal::WrongCode(..))),
        "the replaced code no longer works"
    );
    let new = confirm(store, acme, "jane", Channel::Email, "777777", later).await;
    assert_eq!(new.outcome, Ok(()));
}

async fn wrong_codes_burn_the_code_after_max_attempts(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    register(store, acme, individual("jane")).await;
    send(store, acme, "jane", Channel::Email, "123456", NOW).await;
    for attempt in 1..=MAX_ATTEMPTS {
        let wrong = confirm(store, acme, "jane", Channel::Email, "000000", NOW).await;
        assert_eq!(
            wrong.outcome,
            Err(Refusal::WrongCode(Channel::Email, MAX_ATTEMPTS - attempt))
        );
    }
    let burned = confirm(store, acme, "jane", Channel::Email, "123456", NOW).await;
    assert_eq!(burned.outcome, Err(Refusal::Burned(Channel::Email)));
    let code = stored_code(store, acme, "jane", Channel::Email)
        .await
        .unwrap();
    assert_eq!(
        code.failed_attempts, MAX_ATTEMPTS,
        "burned, not counted further"
    );
    assert!(
        find(store, acme, "jane")
            .await
            .unwrap()
            .summary
            .requirements
            .email
    );
    assert_eq!(latest(store, acme).await, 1);
}

async fn an_operator_review_is_a_transition_without_a_code(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    register(store, acme, individual("jane")).await;
    let review = |trigger| {
        move |u: &User, code: Option<&CodeRecord>| {
            assert!(code.is_none(), "no channel, no code");
            lifecycle::decide_review(&u.summary, trigger, ReviewPolicy::Manual)
        }
    };
    let approve = review(Trigger::Approved);
    let early = decide(store, acme, "jane", None, NOW, &approve).await;
    assert_eq!(
        early.outcome,
        Err(Refusal::Outstanding("email, sms".into()))
    );
    let reject = review(Trigger::Rejected);
    let rejected = decide(store, acme, "jane", None, NOW, &reject).await;
    assert_eq!(rejected.outcome, Ok(()));
    assert_eq!(rejected.user.summary.status, Status::Unsupported);
    let events = all_events(store, acme).await;
    assert_eq!(ids(&events), [1, 2]);
    assert_eq!(events[1].cause, "rejected by an operator");
    assert_eq!(events[1].user.status, Status::Unsupported);
    let twice = decide(store, acme, "jane", None, NOW, &reject).await;
    assert_eq!(twice.outcome, Err(Refusal::NotPending("UNSUPPORTED")));
    assert_eq!(latest(store, acme).await, 2);
}

async fn restore_code_undoes_only_the_failed_send(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    for name in ["first", "second", "newer"] {
        register(store, acme, individual(name)).await;
    }
    register(store, globex, individual("first")).await;
    let t1 = NOW;
    let t2 = NOW + Duration::seconds(45);

    // The only code failed: it is removed, and a new one may be sent at once.
    let sent = send(store, acme, "first", Channel::Email, "111111", t1).await;
    send(store, globex, "first", Channel::Email, "111111", t1).await;
    store
        .restore_code(
            acme,
            "first",
            Channel::Email,
            t1,
            sent.previous_code.as_ref(),
        )
        .await
        .unwrap();
    assert_eq!(
        stored_code(store, acme, "first", Channel::Email).await,
        None
    );
    assert!(
        stored_code(store, globex, "first", Channel::Email)
            .await
            .is_some(),
        "another enterprise's code is untouched"
    );
    let retry = send(
        store,
        acme,
        "first",
        Channel::Email,
        "222222",
        t1 + Duration::seconds(1),
    )
    .await;
    assert_eq!(retry.outcome, Ok(()), "no resend wait after a failed send");

    // A replacing code failed: the one it replaced comes back, failures and all.
    send(store, acme, "second", Channel::Email, "111111", t1).await;
    confirm(store, acme, "second", Channel::Email, "000000", t1).await;
    let original = stored_code(store, acme, "second", Channel::Email).await;
    assert_eq!(original.as_ref().unwrap().failed_attempts, 1);
    let replacing = send(store, acme, "second", Channel::Email, "222222", t2).await;
    assert_eq!(replacing.outcome, Ok(()));
    assert_eq!(replacing.previous_code, original);
    store
        .restore_code(
            acme,
            "second",
            Channel::Email,
            t2,
            replacing.previous_code.as_ref(),
        )
        .await
        .unwrap();
    assert_eq!(
        stored_code(store, acme, "second", Channel::Email).await,
        original
    );
    let works = confirm(store, acme, "second", Channel::Email, "111111", t2).await;
    assert_eq!(works.outcome, Ok(()), "the restored code still works");

    // A failure reported late leaves a newer code alone.
    send(store, acme, "newer", Channel::Email, "111111", t1).await;
    send(store, acme, "newer", Channel::Email, "222222", t2).await;
    let newest = stored_code(store, acme, "newer", Channel::Email).await;
    store
        .restore_code(acme, "newer", Channel::Email, t1, None)
        .await
        .unwrap();
    assert_eq!(
        stored_code(store, acme, "newer", Channel::Email).await,
        newest
    );
    let sms = store
        .restore_code(acme, "newer", Channel::Sms, t2, None)
        .await;
    assert!(sms.is_ok(), "nothing to restore is not an error");
    assert_eq!(
        stored_code(store, acme, "newer", Channel::Email).await,
        newest
    );
}

// ---------------------------------------------------------------------------
// Outbox and tokens
// ---------------------------------------------------------------------------

async fn pruning_drops_outbox_messages_older_than_a_day(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let message = |code: &str, sent_at| OutboxEntry {
        enterprise: acme,
        user_id: "jane".to_owned(),
        channel: Channel::Email,
        to: "jane@example.com".to_owned(),
        code: code.to_owned(),
        sent_at,
    };
    let old = message("111111", NOW - Duration::hours(25));
    let recent = message("222222", NOW - Duration::hours(23));
    store.append_outbox(&old).await.unwrap();
    store.append_outbox(&recent).await.unwrap();
    store.prune(Retention::default(), NOW).await.unwrap();
    assert_eq!(
        store.list_outbox(None, None, 10).await.unwrap(),
        vec![recent]
    );
}

async fn the_outbox_lists_newest_first_by_enterprise_and_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    let entry = |e, user_id: &str, channel, code: &str, second| OutboxEntry {
        enterprise: e,
        user_id: user_id.to_owned(),
        channel,
        to: match channel {
            Channel::Email => format!("{user_id}@example.com"),
            Channel::Sms => "+12243987754".to_owned(),
        },
        code: code.to_owned(),
        sent_at: NOW + Duration::seconds(second),
    };
    let appended = [
        entry(acme, "jane", Channel::Email, "111111", 0),
        entry(globex, "jane", Channel::Email, "222222", 1),
        entry(acme, "john", Channel::Email, "333333", 2),
        entry(acme, "jane", Channel::Sms, "444444", 3),
    ];
    assert!(store.list_outbox(None, None, 10).await.unwrap().is_empty());
    for m in &appended {
        store.append_outbox(m).await.unwrap();
    }
    let pick = |indexes: &[usize]| -> Vec<OutboxEntry> {
        indexes.iter().map(|&i| appended[i].clone()).collect()
    };
    assert_eq!(
        store.list_outbox(None, None, 10).await.unwrap(),
        pick(&[3, 2, 1, 0])
    );
    assert_eq!(
        store.list_outbox(None, None, 2).await.unwrap(),
        pick(&[3, 2])
    );
    assert_eq!(
        store.list_outbox(Some(acme), None, 10).await.unwrap(),
        pick(&[3, 2, 0])
    );
    assert_eq!(
        store
            .list_outbox(Some(acme), Some("jane"), 10)
            .await
            .unwrap(),
        pick(&[3, 0])
    );
    assert_eq!(
        store
            .list_outbox(Some(acme), Some("jane"), 1)
            .await
            .unwrap(),
        pick(&[3])
    );
    assert_eq!(
        store.list_outbox(None, Some("jane"), 10).await.unwrap(),
        pick(&[3, 1, 0])
    );
    assert_eq!(
        store
            .list_outbox(Some(globex), Some("john"), 10)
            .await
            .unwrap(),
        []
    );
}

async fn minting_tokens_is_all_or_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    for name in ["jane", "john", "gone"] {
        register(store, acme, individual(name)).await;
    }
    register(store, globex, individual("foreign")).await;
    assert!((store.deactivate_user(acme, "gone", NOW).await.unwrap() == Deactivation::Deactivated));
    let expires = NOW + Duration::hours(24);

    for bad in ["nobody", "gone", "foreign"] {
        let grants = [
            grant("jane", &format!("t-jane-{bad}"), expires),
            grant(bad, &format!("t-{bad}"), expires),
            grant("john", &format!("t-john-{bad}"), expires),
        ];
        let minted = store.mint_tokens(acme, &grants, NOW).await.unwrap();
        assert_eq!(
            minted,
            Minting::UnknownUser(bad.to_owned()),
            "the first unknown id is named"
        );
        for g in &grants {
            assert_eq!(
                store.user_by_token(&g.hash, NOW).await.unwrap(),
                None,
                "no token of a refused batch was stored ({})",
                g.user_id
            );
        }
    }

    let grants = [
        grant("jane", "t-jane", expires),
        grant("john", "t-john", expires),
    ];
    assert_eq!(
        store.mint_tokens(acme, &grants, NOW).await.unwrap(),
        Minting::Minted
    );
    let jane = store
        .user_by_token(&KeyHash::of("t-jane"), NOW)
        .await
        .unwrap();
    assert_eq!(jane, find(store, acme, "jane").await);
    let john = store
        .user_by_token(&KeyHash::of("t-john"), NOW)
        .await
        .unwrap();
    assert_eq!(john.unwrap().summary.user_id, "john");
    assert_eq!(
        store.mint_tokens(acme, &[], NOW).await.unwrap(),
        Minting::Minted,
        "an empty batch is fine"
    );
}

async fn user_tokens_honour_expiry_and_deactivation(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    register(store, acme, individual("jane")).await;
    register(store, acme, individual("john")).await;
    let expires = NOW + Duration::hours(24);
    let grants = [
        grant("jane", "t-jane", expires),
        grant("jane", "t-jane-2", expires),
        grant("john", "t-john", expires),
    ];
    assert_eq!(
        store.mint_tokens(acme, &grants, NOW).await.unwrap(),
        Minting::Minted
    );

    let at = |t| async move {
        store
            .user_by_token(&KeyHash::of("t-jane"), t)
            .await
            .unwrap()
            .map(|u| u.summary.user_id)
    };
    assert_eq!(at(NOW).await.as_deref(), Some("jane"));
    assert_eq!(
        at(expires - Duration::seconds(1)).await.as_deref(),
        Some("jane")
    );
    assert_eq!(at(expires).await, None, "expired at its expiry instant");
    assert_eq!(at(expires + Duration::hours(1)).await, None);
    assert_eq!(
        store
            .user_by_token(&KeyHash::of("t-unknown"), NOW)
            .await
            .unwrap(),
        None
    );

    assert!((store.deactivate_user(acme, "jane", NOW).await.unwrap() == Deactivation::Deactivated));
    for token in ["t-jane", "t-jane-2"] {
        assert_eq!(
            store.user_by_token(&KeyHash::of(token), NOW).await.unwrap(),
            None,
            "a deactivated user's tokens stop working"
        );
    }
    let john = store
        .user_by_token(&KeyHash::of("t-john"), NOW)
        .await
        .unwrap();
    assert_eq!(john.unwrap().summary.user_id, "john");
}

async fn feed_tokens_are_granted_best_effort(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    register(store, acme, individual("jane")).await;
    register(store, acme, individual("gone")).await;
    register(store, globex, individual("foreign")).await;
    assert!((store.deactivate_user(acme, "gone", NOW).await.unwrap() == Deactivation::Deactivated));
    let expires = NOW + Duration::hours(24);
    let grants = [
        grant("jane", "f-jane", expires),
        grant("nobody", "f-nobody", expires),
        grant("gone", "f-gone", expires),
        grant("foreign", "f-foreign", expires),
        grant("jane", "f-jane-2", expires),
    ];
    let granted = store.grant_feed_tokens(acme, &grants, NOW).await.unwrap();
    use Grant::{Granted, UserInactive};
    assert_eq!(
        granted,
        [Granted, UserInactive, UserInactive, UserInactive, Granted]
    );
    for (g, grant) in grants.iter().zip(granted) {
        let user = store.user_by_token(&g.hash, NOW).await.unwrap();
        assert_eq!(user.is_some(), grant == Granted, "{}", g.user_id);
    }
    assert!(
        store
            .grant_feed_tokens(acme, &[], NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------
// The event log
// ---------------------------------------------------------------------------

async fn every_change_appends_a_gap_free_event_per_enterprise(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    let t = |minutes| NOW + Duration::minutes(minutes);
    let jane = user(individual("jane"));
    store
        .insert_user(acme, &jane, "registered through the API", None, t(0))
        .await
        .unwrap();
    register_at(store, globex, individual("jane"), t(1)).await;
    register_at(store, acme, corporation("corp"), t(2)).await;
    send(store, acme, "jane", Channel::Email, "123456", t(3)).await;
    let confirmed = confirm(store, acme, "jane", Channel::Email, "123456", t(4)).await;
    assert_eq!(
        store.deactivate_user(acme, "corp", t(5)).await.unwrap(),
        Deactivation::Deactivated
    );
    register_at(store, globex, individual("john"), t(6)).await;

    let events = all_events(store, acme).await;
    assert_eq!(ids(&events), [1, 2, 3, 4], "acme's ids: 1, 2, 3, 4");
    let shape: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.cause.as_str(), e.user.user_id.as_str(), e.at))
        .collect();
    assert_eq!(
        shape,
        [
            (
                EventKind::Registered,
                "registered through the API",
                "jane",
                t(0)
            ),
            (EventKind::Registered, "registered", "corp", t(2)),
            (EventKind::Updated, "email verified", "jane", t(4)),
            (EventKind::Deactivated, "deactivated", "corp", t(5)),
        ]
    );
    assert_eq!(events[0].user, jane.summary, "the snapshot at registration");
    assert_eq!(
        events[2].user, confirmed.user.summary,
        "the snapshot after the change"
    );
    assert!(!events[2].user.requirements.email);

    let theirs = all_events(store, globex).await;
    assert_eq!(ids(&theirs), [1, 2], "globex counts on its own");
    let users: Vec<_> = theirs.iter().map(|e| e.user.user_id.as_str()).collect();
    assert_eq!(users, ["jane", "john"]);
    assert_eq!(
        store.event_bounds(acme).await.unwrap(),
        EventBounds {
            oldest: Some(1),
            latest: 4
        }
    );
}

async fn events_are_read_in_order_from_after_with_a_limit(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    for i in 0..7 {
        register(store, acme, individual(&format!("u{i}"))).await;
    }
    let read =
        |after, limit| async move { ids(&store.read_events(acme, after, limit).await.unwrap()) };
    assert_eq!(read(0, 100).await, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(read(0, 3).await, [1, 2, 3]);
    assert_eq!(read(3, 3).await, [4, 5, 6]);
    assert_eq!(read(6, 3).await, [7]);
    assert!(read(7, 3).await.is_empty());
    assert!(read(100, 3).await.is_empty());
    let users: Vec<_> = store
        .read_events(acme, 2, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.user.user_id)
        .collect();
    assert_eq!(users, ["u2", "u3"]);
    assert_eq!(
        store.event_bounds(acme).await.unwrap(),
        EventBounds {
            oldest: Some(1),
            latest: 7
        }
    );
    assert_eq!(
        store.event_bounds(EnterpriseId(9_999)).await.unwrap(),
        EventBounds {
            oldest: None,
            latest: 0
        },
        "an unknown enterprise has an empty log"
    );
    assert!(
        store
            .read_events(EnterpriseId(9_999), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn pruning_by_count_keeps_the_newest_events_of_each_enterprise(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    for i in 0..5 {
        register(store, acme, individual(&format!("a{i}"))).await;
    }
    for i in 0..2 {
        register(store, globex, individual(&format!("g{i}"))).await;
    }
    let nothing = store.prune(Retention::default(), NOW).await.unwrap();
    assert_eq!(nothing, 0, "no retention, nothing pruned");

    let keep_two = Retention {
        max_age: None,
        max_events: Some(2),
    };
    assert_eq!(store.prune(keep_two, NOW).await.unwrap(), 3);
    assert_eq!(ids(&all_events(store, acme).await), [4, 5]);
    assert_eq!(ids(&all_events(store, globex).await), [1, 2]);
    assert_eq!(
        store.event_bounds(acme).await.unwrap(),
        EventBounds {
            oldest: Some(4),
            latest: 5
        }
    );
    assert_eq!(store.prune(keep_two, NOW).await.unwrap(), 0, "idempotent");

    // Ids keep growing after a prune: none is ever reused.
    register(store, acme, individual("a5")).await;
    assert_eq!(ids(&all_events(store, acme).await), [4, 5, 6]);
    let keep_none = Retention {
        max_age: None,
        max_events: Some(0),
    };
    assert_eq!(store.prune(keep_none, NOW).await.unwrap(), 5);
    assert_eq!(
        store.event_bounds(acme).await.unwrap(),
        EventBounds {
            oldest: None,
            latest: 6
        },
        "an emptied log still knows its latest id"
    );
    register(store, acme, individual("a6")).await;
    assert_eq!(ids(&all_events(store, acme).await), [7]);
    assert_eq!(
        list(store, acme, UserFilter::default()).await.len(),
        7,
        "users stay"
    );
}

async fn pruning_by_age_drops_old_events_and_expired_tokens(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let t = |hours| NOW + Duration::hours(hours);
    register_at(store, acme, individual("old"), t(0)).await;
    register_at(store, acme, individual("middle"), t(2)).await;
    register_at(store, acme, individual("new"), t(4)).await;
    let grants = [
        grant("old", "expires-soon", t(1)),
        grant("old", "expires-late", t(48)),
    ];
    assert_eq!(
        store.mint_tokens(acme, &grants, t(0)).await.unwrap(),
        Minting::Minted
    );

    let three_hours = Retention {
        max_age: Some(Duration::hours(3)),
        max_events: None,
    };
    // At t(5) everything before t(2) is older than three hours.
    assert_eq!(store.prune(three_hours, t(5)).await.unwrap(), 1);
    assert_eq!(ids(&all_events(store, acme).await), [2, 3]);
    assert_eq!(store.prune(three_hours, t(5)).await.unwrap(), 0);

    // The expired token is gone: asked about at a time it was still valid, it is
    // not found. The unexpired one was kept.
    let soon = store
        .user_by_token(&KeyHash::of("expires-soon"), t(0))
        .await;
    assert_eq!(soon.unwrap(), None, "expired tokens are pruned");
    let late = store
        .user_by_token(&KeyHash::of("expires-late"), t(0))
        .await;
    assert_eq!(late.unwrap().unwrap().summary.user_id, "old");

    let both = Retention {
        max_age: Some(Duration::hours(3)),
        max_events: Some(5),
    };
    assert_eq!(
        store.prune(both, t(6)).await.unwrap(),
        1,
        "the age limit still bites"
    );
    assert_eq!(ids(&all_events(store, acme).await), [3]);
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

async fn concurrent_inserts_get_event_ids_one_to_n_without_a_gap(store: Arc<dyn Store>) {
    const N: usize = 40;
    let acme = enterprise(store.as_ref(), "acme").await.id;
    let globex = enterprise(store.as_ref(), "globex").await.id;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        for e in [acme, globex] {
            let store = store.clone();
            tasks.spawn(async move {
                let user = user(individual(&format!("u{i}")));
                store.insert_user(e, &user, "registered", None, NOW).await
            });
        }
    }
    while let Some(inserted) = tasks.join_next().await {
        inserted.unwrap().expect("every concurrent insert succeeds");
    }
    for e in [acme, globex] {
        let events = all_events(store.as_ref(), e).await;
        assert_eq!(ids(&events), (1..=N as i64).collect::<Vec<_>>());
        let users: BTreeSet<_> = events.iter().map(|e| e.user.user_id.clone()).collect();
        assert_eq!(users.len(), N, "one event per user");
        assert_eq!(latest(store.as_ref(), e).await, N as i64);
        assert_eq!(
            list(store.as_ref(), e, UserFilter::default()).await.len(),
            N
        );
    }
}

/// Registrations that arrive together may share a commit (a batch): those that
/// fail leave the others and their events whole, and each hears its own outcome.
async fn concurrent_registrations_that_fail_leave_the_others_whole(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await.id;
    register(store.as_ref(), acme, individual("taken")).await;
    register(store.as_ref(), acme, advisor("adviser")).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        let body = match i % 4 {
            0 => individual("taken"),
            1 => client_of(&format!("client{i}"), "nobody"),
            2 => client_of(&format!("client{i}"), "adviser"),
            _ => individual(&format!("new{i}")),
        };
        tasks.spawn(async move {
            let user = user(body);
            let inserted = store
                .insert_user(acme, &user, "registered", None, NOW)
                .await;
            (i, inserted)
        });
    }
    let mut registered = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, inserted) = joined.unwrap();
        match (i % 4, inserted) {
            (0, Err(StoreError::Conflict(_))) | (1, Err(StoreError::AdvisorUnavailable)) => {}
            (2 | 3, Ok(())) => {
                registered.insert(i);
            }
            (_, outcome) => panic!("registration {i}: {outcome:?}"),
        }
    }
    assert_eq!(registered.len(), 30);
    let events = all_events(store.as_ref(), acme).await;
    assert_eq!(
        ids(&events),
        (1..=32).collect::<Vec<_>>(),
        "no gap, no event of a failure"
    );
    let users: BTreeSet<_> = events.iter().map(|e| e.user.user_id.clone()).collect();
    assert_eq!(users.len(), 32, "one event per registered user");
    assert_eq!(
        list(store.as_ref(), acme, UserFilter::default())
            .await
            .len(),
        32
    );
    assert!(find(store.as_ref(), acme, "new3").await.is_some());
    assert!(find(store.as_ref(), acme, "client2").await.is_some());
    assert!(find(store.as_ref(), acme, "client1").await.is_none());
}

/// Reads of single users that arrive together (which a backend may answer with
/// one statement) each get their own user, within their own enterprise, and
/// see every write acknowledged before they were asked.
async fn concurrent_reads_of_single_users_each_get_their_own(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await.id;
    let globex = enterprise(store.as_ref(), "globex").await.id;
    for i in 0..12 {
        register(store.as_ref(), acme, individual(&format!("u{i}"))).await;
    }
    for i in 0..3 {
        register(store.as_ref(), globex, individual(&format!("u{i}"))).await;
    }
    for i in 0..10 {
        register(store.as_ref(), acme, individual(&format!("w{i}"))).await;
    }
    store.deactivate_user(acme, "u11", NOW).await.unwrap();
    let mut expected = std::collections::HashMap::new();
    for (e, user_id) in [acme, globex]
        .into_iter()
        .flat_map(|e| (0..13).map(move |i| (e, format!("u{i}"))))
    {
        let user = store.find_user(e, &user_id).await.unwrap();
        let json = user.map(|u| render(&u.to_wire()).unwrap());
        expected.insert((e, user_id), json);
    }
    assert_eq!(expected.values().filter(|j| j.is_some()).count(), 11 + 3);
    assert_ne!(
        expected[&(acme, "u0".into())],
        expected[&(globex, "u0".into())]
    );

    let expected = Arc::new(expected);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..300usize {
        let (store, expected) = (store.clone(), expected.clone());
        tasks.spawn(async move {
            // Every id, several times, both enterprises, missing ones included.
            let e = if n % 3 == 0 { globex } else { acme };
            let user_id = format!("u{}", (n * 7) % 13);
            let json = store.user_json(e, &user_id).await.unwrap();
            assert_eq!(json, expected[&(e, user_id.clone())], "{e:?} {user_id}");
        });
    }
    // Writers racing the readers (of other users): each read after a write's
    // answer shows the write.
    for i in 0..10 {
        let store = store.clone();
        tasks.spawn(async move {
            let user_id = format!("w{i}");
            let digits = format!("{:06}", 100_000 + i);
            send(store.as_ref(), acme, &user_id, Channel::Email, &digits, NOW).await;
            confirm(store.as_ref(), acme, &user_id, Channel::Email, &digits, NOW).await;
            let json = store.user_json(acme, &user_id).await.unwrap().unwrap();
            let wire: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(wire["requirements"]["email"], json!(false), "{json}");
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
}

async fn concurrent_inserts_of_one_user_id_let_exactly_one_in(store: Arc<dyn Store>) {
    const RACERS: usize = 8;
    let acme = enterprise(store.as_ref(), "acme").await.id;
    for round in 0..5 {
        let user_id = format!("contested-{round}");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..RACERS {
            let (store, user_id) = (store.clone(), user_id.clone());
            tasks.spawn(async move {
                let user = user(individual(&user_id));
                store
                    .insert_user(acme, &user, "registered", None, NOW)
                    .await
            });
        }
        let (mut ok, mut conflicts) = (0, 0);
        while let Some(inserted) = tasks.join_next().await {
            match inserted.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("a racing insert must win or conflict, not {e:?}"),
            }
        }
        assert_eq!((ok, conflicts), (1, RACERS - 1), "{user_id}");
    }
    let events = all_events(store.as_ref(), acme).await;
    assert_eq!(ids(&events), [1, 2, 3, 4, 5], "losers logged nothing");
}

async fn concurrent_confirmations_of_one_code_succeed_exactly_once(store: Arc<dyn Store>) {
    const RACERS: usize = 8;
    let acme = enterprise(store.as_ref(), "acme").await.id;
    for round in 0..5 {
        let user_id = format!("racer-{round}");
        register(store.as_ref(), acme, individual(&user_id)).await;
        send(
            store.as_ref(),
            acme,
            &user_id,
            Channel::Email,
            "123456",
            NOW,
        )
        .await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..RACERS {
            let (store, user_id) = (store.clone(), user_id.clone());
            tasks.spawn(async move {
                confirm(
                    store.as_ref(),
                    acme,
                    &user_id,
                    Channel::Email,
                    "123456",
                    NOW,
                )
                .await
                .outcome
            });
        }
        let mut outcomes = Vec::new();
        while let Some(outcome) = tasks.join_next().await {
            outcomes.push(outcome.unwrap());
        }
        let won = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "{user_id}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(()) | Err(Refusal::EmailAlreadyVerified))),
            "{outcomes:?}"
        );
    }
    let events = all_events(store.as_ref(), acme).await;
    let updates = events
        .iter()
        .filter(|e| e.kind == EventKind::Updated)
        .count();
    assert_eq!(updates, 5, "one update event per confirmed code");
    assert_eq!(ids(&events), (1..=10).collect::<Vec<_>>());
}

async fn a_client_racing_its_advisors_deactivation_never_outlives_it(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await.id;
    let mut both_won = 0;
    for round in 0..10 {
        let advisor_id = format!("adv-{round}");
        let client_id = format!("client-{round}");
        register(store.as_ref(), acme, advisor(&advisor_id)).await;
        let insert = {
            let (store, client) = (store.clone(), user(client_of(&client_id, &advisor_id)));
            tokio::spawn(async move {
                store
                    .insert_user(acme, &client, "registered", None, NOW)
                    .await
            })
        };
        let deactivate = {
            let (store, advisor_id) = (store.clone(), advisor_id.clone());
            tokio::spawn(async move { store.deactivate_user(acme, &advisor_id, NOW).await })
        };
        let inserted = insert.await.unwrap();
        assert_eq!(
            deactivate.await.unwrap().unwrap(),
            Deactivation::Deactivated,
            "the advisor was active"
        );
        match inserted {
            Err(StoreError::AdvisorUnavailable) => {
                assert_eq!(find(store.as_ref(), acme, &client_id).await, None);
            }
            Ok(()) => {
                // Both won: the client must have committed first.
                both_won += 1;
                let events = all_events(store.as_ref(), acme).await;
                let id_of = |user_id: &str, kind| {
                    events
                        .iter()
                        .find(|e| e.user.user_id == user_id && e.kind == kind)
                        .map(|e| e.event_id)
                        .unwrap_or_else(|| panic!("no {kind:?} event of {user_id}"))
                };
                assert!(
                    id_of(&client_id, EventKind::Registered)
                        < id_of(&advisor_id, EventKind::Deactivated),
                    "{client_id} was inserted after its advisor was deactivated"
                );
            }
            Err(e) => panic!("the insert must succeed or find no advisor, not {e:?}"),
        }
    }
    let events = all_events(store.as_ref(), acme).await;
    assert_eq!(
        ids(&events),
        (1..=(20 + both_won)).collect::<Vec<_>>(),
        "gap-free whoever won"
    );
}

/// Counts the wake-ups a store forwards, by enterprise.
#[derive(Default)]
struct Wakeups(std::sync::Mutex<Vec<EnterpriseId>>);

impl onboard_core::events::ChangeNotifier for Wakeups {
    fn changed(&self, enterprise: EnterpriseId) {
        self.0.lock().unwrap().push(enterprise);
    }
}

async fn changes_through_another_store_are_forwarded_where_the_backend_hears_them(
    db: &onboard_testkit::TestDatabase,
) {
    // Two stores on one database stand for two processes (nodes, or the CLI).
    let writer = db.open_store().await;
    let listener = db.open_store().await;
    let acme = enterprise(writer.as_ref(), "acme").await.id;
    let wakeups = Arc::new(Wakeups::default());
    let notifier: Arc<dyn onboard_core::events::ChangeNotifier> = wakeups.clone();
    listener.forward_changes(Arc::downgrade(&notifier)).await;

    // The listening connection may take a moment to start: write until heard (or,
    // for a backend that hears nothing, for a second).
    let patience = match db.backend {
        onboard_testkit::Backend::Postgres => StdDuration::from_secs(10),
        onboard_testkit::Backend::Sqlite => StdDuration::from_secs(1),
    };
    let deadline = tokio::time::Instant::now() + patience;
    let mut written = 0;
    while wakeups.0.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        register(writer.as_ref(), acme, individual(&format!("u{written}"))).await;
        written += 1;
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let heard = wakeups.0.lock().unwrap().clone();
    match db.backend {
        // PostgreSQL hears other processes' commits (LISTEN/NOTIFY)...
        onboard_testkit::Backend::Postgres => {
            assert!(!heard.is_empty(), "no wake-up after {written} commits");
            assert!(heard.iter().all(|e| *e == acme), "{heard:?}");
        }
        // ...SQLite does not, and may do nothing: the feed polls.
        onboard_testkit::Backend::Sqlite => assert!(heard.is_empty(), "{heard:?}"),
    }
    // Either way the other store reads what was written at once.
    assert_eq!(latest(listener.as_ref(), acme).await, written);
    drop(notifier);
}

async fn active_among_names_only_active_users_of_the_enterprise(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    register(store, acme, individual("jane")).await;
    register(store, acme, individual("gone")).await;
    register(store, globex, individual("foreign")).await;
    assert_eq!(
        store.deactivate_user(acme, "gone", NOW).await.unwrap(),
        Deactivation::Deactivated
    );
    let asked: Vec<String> = ["jane", "gone", "foreign", "nobody"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(store.active_among(acme, &asked).await.unwrap(), ["jane"]);
    assert!(store.active_among(acme, &[]).await.unwrap().is_empty());
    // More ids than one statement carries.
    let many: Vec<String> = (0..1200)
        .map(|i| format!("x{i}"))
        .chain(["jane".into()])
        .collect();
    assert_eq!(store.active_among(acme, &many).await.unwrap(), ["jane"]);
}

fn register_target() -> RequestTarget {
    RequestTarget {
        method: "POST".into(),
        path: "/v1/enterprise/register-account".into(),
    }
}

async fn an_idempotency_key_is_claimed_once_answered_then_freed_by_time(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let globex = enterprise(store, "globex").await.id;
    let target = register_target();
    let lease = NOW + Duration::seconds(60);
    let claim = |e, at, until| store.claim_idempotency_key(e, "k1", &target, at, until);
    assert_eq!(claim(acme, NOW, lease).await.unwrap(), Claim::Claimed);
    assert_eq!(claim(acme, NOW, lease).await.unwrap(), Claim::InFlight);
    assert_eq!(
        claim(globex, NOW, lease).await.unwrap(),
        Claim::Claimed,
        "keys are per enterprise"
    );

    // A claim whose lease ran out (its node died) is free again.
    let later = NOW + Duration::seconds(61);
    assert_eq!(
        claim(globex, later, later + Duration::seconds(60))
            .await
            .unwrap(),
        Claim::Claimed
    );

    let answer = KeptAnswer {
        request: target.clone(),
        fingerprint: "f".repeat(64),
        status: 201,
        body: r#"{"data":{"user_id":"jane"}}"#.into(),
    };
    store
        .keep_idempotent_answer(acme, "k1", &answer, NOW)
        .await
        .unwrap();
    // Release leaves a kept answer alone.
    store.release_idempotency_key(acme, "k1").await.unwrap();
    let kept = Claim::Answered(answer.clone());
    assert_eq!(claim(acme, later, later).await.unwrap(), kept);
    let almost = NOW + IDEMPOTENCY_KEPT - Duration::seconds(1);
    assert_eq!(claim(acme, almost, almost).await.unwrap(), kept);

    // A released claim is free at once.
    store.release_idempotency_key(globex, "k1").await.unwrap();
    assert_eq!(claim(globex, later, lease).await.unwrap(), Claim::Claimed);

    // Pruning a day on removes the answer; the key is new again.
    let day = NOW + IDEMPOTENCY_KEPT + Duration::seconds(1);
    store.prune(Retention::default(), day).await.unwrap();
    assert_eq!(
        claim(acme, day, day + Duration::seconds(60)).await.unwrap(),
        Claim::Claimed
    );
}

async fn concurrent_claims_of_one_idempotency_key_give_it_to_one(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await.id;
    for round in 0..10 {
        let key = format!("race-{round}");
        let claims = (0..8).map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let lease = NOW + Duration::seconds(60);
                store
                    .claim_idempotency_key(acme, &key, &register_target(), NOW, lease)
                    .await
            })
        });
        let mut claimed = 0;
        for claim in futures_util::future::join_all(claims).await {
            match claim.unwrap() {
                Ok(Claim::Claimed) => claimed += 1,
                Ok(Claim::InFlight) | Err(StoreError::Unavailable(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(claimed, 1, "round {round}");
    }
}

/// Rows from before `list_json` and `user_json` existed hold NULL there, and rows
/// an earlier release changed hold stale JSON: both read exactly as if the JSON
/// had been stored, and the next write of the user stores it.
async fn rows_written_before_their_json_was_stored_read_the_same(
    db: &onboard_testkit::TestDatabase,
) {
    let store = db.open_store().await;
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    for user_id in ["ann", "bob", "cy"] {
        register(store, acme, individual(user_id)).await;
    }
    let page = |after| store.list_users_json(acme, UserFilter::default(), after, 2);
    let before = (page(None).await.unwrap(), page(Some(2)).await.unwrap());
    let ann = store.user_json(acme, "ann").await.unwrap().unwrap();

    db.execute("UPDATE users SET list_json = NULL, user_json = NULL WHERE user_id <> 'cy'")
        .await;
    // `find` and `list` check both JSON reads against the decoded rows.
    assert_eq!(
        list(store, acme, UserFilter::default()).await,
        ["ann", "bob", "cy"]
    );
    assert!(find(store, acme, "bob").await.is_some());
    assert_eq!(store.user_json(acme, "ann").await.unwrap(), Some(ann));
    let after = (page(None).await.unwrap(), page(Some(2)).await.unwrap());
    assert_eq!(after, before, "pages mixing old and new rows");

    // A write by an earlier release (a node not yet upgraded) changes the columns
    // and `updated_at` but not the JSON: reads render from the columns.
    db.execute(
        "UPDATE users SET status = 'VERIFIED', email_required = FALSE, sms_required = FALSE, \
         updated_at = updated_at + 1 WHERE user_id = 'cy'",
    )
    .await;
    let cy = find(store, acme, "cy").await.unwrap();
    assert_eq!(cy.summary.status, Status::Verified);
    assert_eq!(
        list(store, acme, UserFilter::default()).await,
        ["ann", "bob", "cy"]
    );
    let listed = store
        .list_users_json(acme, UserFilter::default(), None, 10)
        .await;
    assert!(listed.unwrap()[2].json.contains(r#""status":"VERIFIED""#));

    // A write of the user stores its JSON again: a later change to the columns
    // behind the store's back (without moving `updated_at`) no longer shows.
    send(store, acme, "bob", Channel::Email, "111111", NOW).await;
    confirm(store, acme, "bob", Channel::Email, "111111", NOW).await;
    let bob = find(store, acme, "bob").await.unwrap();
    assert!(!bob.summary.requirements.email);
    db.execute("UPDATE users SET first_name = 'Changed' WHERE user_id = 'bob'")
        .await;
    let stored = store.user_json(acme, "bob").await.unwrap().unwrap();
    assert_eq!(stored, render(&bob.to_wire()).unwrap());
    assert!(!stored.contains("Changed"), "{stored}");
}
