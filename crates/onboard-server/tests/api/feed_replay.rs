//! What a key can ask for in bulk is bounded (CONTRACT §11): replaying the log
//! again and again writes a token row per user and minute, not one per event and
//! replay, and replays and batch minting each have a budget per key.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use onboard_core::clock::SystemClock;
use onboard_core::service::Onboarding;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::fixtures;
use crate::helpers::{assert_error, spawn_app};
use crate::ws::{Ws, subscribe_message};

const EVENTS: usize = 2_000;
const REPLAYS: usize = 50;
const CONNECTIONS: usize = 5;

fn token_of(message: &Value) -> String {
    message["payload"]["user_token"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {message}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_two_thousand_events_fifty_times_mints_tokens_per_user_not_per_event() {
    let app = spawn_app().await;
    // The events are written through the service directly: quicker than HTTP.
    let direct = Onboarding::new(app.store.clone(), Arc::new(SystemClock));
    let enterprise = direct.authenticate(&app.key_a).await.unwrap();
    for i in 0..EVENTS {
        let body = fixtures::individual(&format!("replayed-{i:04}"));
        direct.register(&enterprise, body).await.unwrap();
    }

    let mut replays = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let url = app.ws_url();
        let key = app.key_a.clone();
        replays.spawn(async move {
            let mut tokens = Vec::new();
            for _ in 0..REPLAYS / CONNECTIONS {
                let mut ws = Ws::subscriber(&url, &key, Some(0)).await;
                let messages = ws.feed_messages(EVENTS, Duration::from_secs(120)).await;
                assert_eq!(messages.last().unwrap()["event_id"], EVENTS);
                tokens.extend(messages.iter().map(token_of));
            }
            tokens
        });
    }
    let mut all = Vec::new();
    while let Some(tokens) = replays.join_next().await {
        all.extend(tokens.unwrap());
    }
    assert_eq!(all.len(), EVENTS * REPLAYS);
    // Each distinct token is one stored row. One per event and replay would be
    // 100,000; shared per user and minute, a few thousand at most.
    let distinct: HashSet<&String> = all.iter().collect();
    assert!(
        distinct.len() >= EVENTS && distinct.len() <= 3 * EVENTS,
        "{} distinct tokens for {} messages",
        distinct.len(),
        all.len()
    );
    // A shared token is a real one: it opens its user.
    let response = app
        .client
        .get(app.url("/v1/user"))
        .bearer_auth(all.last().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn replays_beyond_the_budget_of_a_key_are_refused_until_it_refills() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("only"))
        .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(&app.key_a).await;
    // 60 at once, then one a second: replays are refused well before 60 plus
    // the seconds the loop took.
    let started = std::time::Instant::now();
    let mut served = 0;
    let why = loop {
        // Under the per-connection message rate (20 a second).
        tokio::time::sleep(Duration::from_millis(60)).await;
        ws.send(&subscribe_message(Some(0))).await;
        let reply = ws.next().await;
        if reply["type"] == "error" {
            let why = reply["payload"]["message"].as_str().unwrap().to_owned();
            assert!(why.contains("replays"), "refused for another reason: {why}");
            break why;
        }
        assert_eq!(reply["type"], "success", "{reply}");
        ws.feed_messages(1, Duration::from_secs(10)).await;
        served += 1;
        assert!(served <= 200, "never refused");
    };
    let seconds = started.elapsed().as_secs() + 1;
    assert!(
        (60..=60 + seconds).contains(&served),
        "{served} in {seconds} s"
    );
    assert!(why.contains("at most 60 replays"), "{why}");
    // A live subscribe is not a replay, and the other key has its own budget.
    ws.subscribe(None).await;
    let mut other = Ws::subscriber(&app.ws_url(), &app.key_b, Some(0)).await;
    other.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn batch_minting_beyond_the_budget_of_a_key_is_429_with_retry_after() {
    let app = spawn_app().await;
    let ids: Vec<String> = (0..1000).map(|i| format!("nobody-{i}")).collect();
    for _ in 0..10 {
        let response = app
            .client
            .post(app.url("/v1/enterprise/user-tokens"))
            .bearer_auth(&app.key_a)
            .json(&json!({ "data": ids }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let response = app
        .client
        .post(app.url("/v1/enterprise/user-tokens"))
        .bearer_auth(&app.key_a)
        .json(&json!({ "data": ids }))
        .send()
        .await
        .unwrap();
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body = assert_error(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("user tokens are minted per minute"),
        "{body}"
    );
    // The other key is not affected.
    let response = app
        .client
        .post(app.url("/v1/enterprise/user-tokens"))
        .bearer_auth(&app.key_b)
        .json(&json!({ "data": ["nobody"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
