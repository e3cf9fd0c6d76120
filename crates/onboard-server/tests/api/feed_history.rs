//! The durable side of the feed (CONTRACT §2 extensions, §5): `after` against what
//! the log still holds, tenant isolation, and `GET /v1/enterprise/events`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures;
use std::sync::Arc;

use onboard_core::clock::ManualClock;
use onboard_core::events::Retention;
use onboard_server::state::Housekeeping;
use time::macros::datetime;

use crate::helpers::{AppOptions, TestApp, assert_error, spawn_app, spawn_app_with};
use crate::ws::{WAIT, Ws, event_ids, subscribe_message};

async fn register_many(app: &TestApp, key: &str, prefix: &str, n: usize) {
    let bodies = (0..n)
        .map(|i| fixtures::individual(&format!("{prefix}-{i}")))
        .collect();
    app.register_all(key, bodies).await;
}

/// Subscribes with `after` and returns the error's message.
async fn refused_after(app: &TestApp, key: &str, after: i64) -> String {
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(key).await;
    ws.send(&subscribe_message(Some(after))).await;
    let why = ws.expect_error("subscribe").await;
    // Still usable: a live subscribe works.
    ws.subscribe(None).await;
    why
}

#[tokio::test]
async fn after_older_than_the_retained_log_is_refused_naming_the_oldest_event_held() {
    let app = spawn_app().await;
    register_many(&app, &app.key_a, "old", 10).await;
    // Keep events 7 to 10.
    assert_eq!(app.prune_events(4).await, 6);

    for after in [0, 1, 5] {
        let why = refused_after(&app, &app.key_a, after).await;
        assert!(
            why.contains("oldest event held is 7"),
            "after {after}: {why}"
        );
        let body = assert_error(
            app.events(&app.key_a, &format!("after={after}")).await,
            StatusCode::GONE,
        )
        .await;
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("oldest event held is 7"), "{error}");
    }

    // Right before the oldest held is still whole history.
    let mut ws = Ws::subscriber(&app.ws_url(), &app.key_a, Some(6)).await;
    assert_eq!(event_ids(&ws.feed_messages(4, WAIT).await), [7, 8, 9, 10]);
    let rest = app.events_ok(&app.key_a, "after=6").await;
    assert_eq!(event_ids(&rest), [7, 8, 9, 10]);
    // And it goes on live.
    app.register_ok(&app.key_a, &fixtures::individual("after-pruning"))
        .await;
    assert_eq!(event_ids(&ws.feed_messages(1, WAIT).await), [11]);
}

#[tokio::test]
async fn after_with_every_event_pruned_is_refused_unless_it_is_the_latest() {
    let app = spawn_app().await;
    register_many(&app, &app.key_a, "gone", 3).await;
    app.prune_events(0).await;

    let why = refused_after(&app, &app.key_a, 2).await;
    assert!(why.contains("no longer held"), "{why}");
    assert_error(app.events(&app.key_a, "after=2").await, StatusCode::GONE).await;

    let mut ws = Ws::subscriber(&app.ws_url(), &app.key_a, Some(3)).await;
    ws.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(
        app.events_ok(&app.key_a, "after=3").await,
        Vec::<Value>::new()
    );
    app.register_ok(&app.key_a, &fixtures::individual("gone-next"))
        .await;
    assert_eq!(event_ids(&ws.feed_messages(1, WAIT).await), [4]);
}

#[tokio::test]
async fn after_beyond_the_latest_event_is_refused() {
    let app = spawn_app().await;
    register_many(&app, &app.key_a, "ahead", 3).await;
    let why = refused_after(&app, &app.key_a, 4).await;
    assert!(why.contains("latest event_id, 3"), "{why}");
    let why = refused_after(&app, &app.key_a, i64::MAX).await;
    assert!(why.contains("beyond"), "{why}");
    // The latest itself is fine: nothing to replay.
    let mut ws = Ws::subscriber(&app.ws_url(), &app.key_a, Some(3)).await;
    ws.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn enterprise_b_never_sees_enterprise_a_events() {
    let app = spawn_app().await;
    let mut a = Ws::subscriber(&app.ws_url(), &app.key_a, None).await;
    let mut b = Ws::subscriber(&app.ws_url(), &app.key_b, Some(0)).await;
    register_many(&app, &app.key_a, "tenant-a", 5).await;
    app.verify_email(&app.key_a, "tenant-a-0").await;
    let seen_by_a = a.feed_messages(6, WAIT).await;
    assert!(seen_by_a.iter().all(|m| {
        m["payload"]["user_id"]
            .as_str()
            .unwrap()
            .starts_with("tenant-a-")
    }));
    b.expect_silence(Duration::from_millis(700)).await;
    assert_eq!(app.events_ok(&app.key_b, "").await, Vec::<Value>::new());
    // A's event_ids are not B's: B has none to resume after.
    let why = refused_after(&app, &app.key_b, 3).await;
    assert!(why.contains("latest event_id, 0"), "{why}");
    // A user of B is B's event 1, and A hears nothing of it.
    app.register_ok(&app.key_b, &fixtures::individual("tenant-b-0"))
        .await;
    let seen_by_b = b.feed_messages(1, WAIT).await;
    assert_eq!(seen_by_b[0]["event_id"], 1);
    assert_eq!(seen_by_b[0]["payload"]["user_id"], "tenant-b-0");
    a.expect_silence(Duration::from_millis(500)).await;
    // Even for a user_id that A also uses.
    app.register_ok(&app.key_b, &fixtures::individual("tenant-a-1"))
        .await;
    assert_eq!(b.feed_messages(1, WAIT).await[0]["event_id"], 2);
    a.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(event_ids(&app.all_events(&app.key_b).await), [1, 2]);
    assert_eq!(app.all_events(&app.key_a).await.len(), 6);
}

#[tokio::test]
async fn the_events_list_pages_with_after_and_limit_each_event_once_in_order() {
    let app = spawn_app().await;
    register_many(&app, &app.key_a, "page", 12).await;
    for i in [0, 3, 6, 9] {
        app.verify_email(&app.key_a, &format!("page-{i}")).await;
    }
    for i in [1, 2] {
        let response = app.deactivate(&app.key_a, &format!("page-{i}")).await;
        assert!(response.status().is_success());
    }

    let whole = app.events_ok(&app.key_a, "").await;
    assert_eq!(event_ids(&whole), (1..=18).collect::<Vec<i64>>());
    for event in &whole {
        let keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["cause", "created_at", "event_id", "type", "user"]);
        assert!(event["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let kinds = |kind: &str| whole.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(
        (
            kinds("user.registered"),
            kinds("user.updated"),
            kinds("user.deactivated")
        ),
        (12, 4, 2)
    );
    let verified = whole.iter().find(|e| e["type"] == "user.updated").unwrap();
    assert_eq!(
        verified["user"]["requirements"]["email"], false,
        "{verified}"
    );

    for limit in [1, 5, 7, 18, 1000] {
        let mut paged: Vec<Value> = Vec::new();
        for _ in 0..40 {
            let after = paged.last().map_or(0, |e| e["event_id"].as_i64().unwrap());
            let page = app
                .events_ok(&app.key_a, &format!("after={after}&limit={limit}"))
                .await;
            assert!(page.len() <= limit, "limit {limit}: {} events", page.len());
            if page.is_empty() {
                break;
            }
            paged.extend(page);
        }
        assert_eq!(paged, whole, "pages of {limit}");
    }
    assert_eq!(app.events_ok(&app.key_a, "after=18").await.len(), 0);
    assert_eq!(
        event_ids(&app.events_ok(&app.key_a, "after=16&limit=1000").await),
        [17, 18]
    );
}

#[tokio::test]
async fn events_after_the_largest_id_is_a_400_naming_the_latest() {
    let app = spawn_app().await;
    register_many(&app, &app.key_a, "largest", 2).await;
    // The largest `after` the parameter admits: nothing follows it, and the
    // server must say so rather than overflow.
    let query = format!("after={}", i64::MAX);
    let body = assert_error(
        app.events(&app.key_a, &query).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("latest event_id, 2"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_events_parameters_are_400_and_a_missing_key_is_401() {
    let app = spawn_app().await;
    register_many(&app, &app.key_a, "params", 2).await;
    for query in [
        "after=-1",
        "after=x",
        "after=1.5",
        "after=99999999999999999999",
        "limit=0",
        "limit=-3",
        "limit=1001",
        "limit=ten",
    ] {
        let body = assert_error(app.events(&app.key_a, query).await, StatusCode::BAD_REQUEST).await;
        let name = query.split('=').next().unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(name),
            "{query}: {body}"
        );
    }
    let response = app
        .client
        .get(app.url("/v1/enterprise/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.events("not-a-key", "").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.events_ok(&app.key_a, "limit=1000").await.len(), 2);
}

#[tokio::test]
async fn the_server_prunes_on_its_own_by_the_service_clock() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-01 12:00 UTC)));
    let app = spawn_app_with(AppOptions {
        housekeeping: Housekeeping {
            retention: Retention {
                max_age: Some(time::Duration::days(1)),
                max_events: None,
            },
            every: Duration::from_millis(50),
        },
        ..AppOptions::with_clock(&clock)
    })
    .await;
    register_many(&app, &app.key_a, "aging", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A day has not passed on the service's clock: nothing goes.
    let all = app.events(&app.key_a, "after=0").await;
    assert_eq!(all.status(), StatusCode::OK);
    clock.advance(time::Duration::days(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.events(&app.key_a, "after=0").await;
        if response.status() == StatusCode::GONE {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
