//! Outgoing webhooks (CONTRACT §9) against a real HTTP receiver on loopback: each
//! message verified with an independent Standard Webhooks implementation.

use std::time::Duration;

use onboard_core::service::WebhookSettings;
use onboard_testkit::receiver::{Mode, Received, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{AppOptions, TestApp, spawn_app, spawn_app_with};

/// How long the receiver waits for what a test expects.
const ARRIVAL: Duration = Duration::from_secs(20);

/// A server that may send to loopback, retrying at once (0 s waits).
async fn app_for_tests() -> TestApp {
    let mut webhooks = WebhookSettings {
        allow_private_networks: true,
        ..WebhookSettings::default()
    };
    webhooks.schedule.waits = vec![time::Duration::ZERO; 3];
    spawn_app_with(AppOptions {
        webhooks,
        ..AppOptions::default()
    })
    .await
}

async fn create(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    let response = app.post_json(key, "/v1/enterprise/webhooks", &body).await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn endpoint_for(app: &TestApp, url: &str) -> (String, String) {
    let (status, body) = create(app, &app.key_a, json!({"url": url})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    (
        data["id"].as_str().unwrap().to_owned(),
        data["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_loopback_url_is_refused_unless_private_networks_are_allowed() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
    ] {
        let (status, body) = create(&app, &app.key_a, json!({"url": url})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{body}");
    }
    let (status, body) = create(&app, &app.key_a, json!({"url": "ftp://example.com"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn endpoints_are_created_with_a_secret_shown_once_and_kept_per_enterprise() {
    let app = app_for_tests().await;
    let (status, body) = create(
        &app,
        &app.key_a,
        json!({"url": "http://127.0.0.1:9/hook", "description": "crm",
               "event_types": ["user.registered"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data = &body["data"];
    let id = data["id"].as_str().unwrap();
    assert!(data["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(data["event_types"], json!(["user.registered"]));
    assert_eq!(data["enabled"], true);

    let list = app.get_with(&app.key_a, "/v1/enterprise/webhooks").await;
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["data"][0]["id"], id);
    assert!(list["data"][0].get("secret").is_none(), "{list}");

    let path = format!("/v1/enterprise/webhooks/{id}");
    let foreign = app.get_with(&app.key_b, &path).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let patched = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.key_a)
        .json(&json!({"description": "billing", "event_types": null, "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["data"]["description"], "billing");
    assert_eq!(patched["data"]["event_types"], Value::Null);
    assert_eq!(patched["data"]["enabled"], false);

    let bad = create(
        &app,
        &app.key_a,
        json!({"url": "http://127.0.0.1:9/", "event_types": ["user.nope"], "colour": 1}),
    )
    .await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST);
    assert_eq!(bad.1["errors"].as_array().unwrap().len(), 2, "{}", bad.1);

    let deleted = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&app.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        app.get_with(&app.key_a, &path).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_event_arrives_signed_in_order_and_a_failing_receiver_gets_each_under_one_id() {
    let app = app_for_tests().await;
    let (receiver, url) = Receiver::start(0, Mode::Accept).await;
    let (id, secret) = endpoint_for(&app, &url).await;
    // The first message fails twice before it succeeds; the others wait for it.
    receiver.fail_next(&[500, 503]);
    for user in ["ann", "bob", "cy"] {
        app.register_ok(&app.key_a, &fixtures::individual(user))
            .await;
    }
    let got = receiver.wait_for(5, ARRIVAL).await;
    let ids: Vec<String> = got.iter().map(Received::id).collect();
    assert_eq!(ids[0], ids[1], "a retry keeps its webhook-id");
    assert_eq!(ids[1], ids[2]);
    assert_eq!(ids.len(), 5, "{ids:?}");
    let event_ids: Vec<i64> = got
        .iter()
        .map(|r| r.json()["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(event_ids, [1, 1, 1, 2, 3], "in event_id order");
    for message in &got {
        assert!(message.verifies_with(&secret), "{message:?}");
        let body = message.json();
        assert_eq!(body["type"], "user.registered");
        assert_eq!(body["data"]["event_id"], body["event_id"]);
    }
    assert_eq!(got[3].json()["data"]["user"]["user_id"], "bob");
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.all().len(), 5);
    let metrics = app.metrics().await;
    for line in [
        "onboard_webhook_attempts_total{outcome=\"succeeded\"} 3",
        "onboard_webhook_attempts_total{outcome=\"pending\"} 2",
        "onboard_webhook_queue_depth 0",
    ] {
        assert!(metrics.contains(line), "{line} is not in {metrics}");
    }
    assert!(!metrics.contains(&id), "no endpoint is named: {metrics}");
}

#[tokio::test]
async fn deliveries_are_listed_and_a_replay_resends_the_same_ids() {
    let app = app_for_tests().await;
    let (receiver, url) = Receiver::start(0, Mode::Accept).await;
    let (id, secret) = endpoint_for(&app, &url).await;
    receiver.fail_next(&[502]);
    for user in ["ann", "bob"] {
        app.register_ok(&app.key_a, &fixtures::individual(user))
            .await;
    }
    let first = receiver.wait_for(3, ARRIVAL).await;
    let path = format!("/v1/enterprise/webhooks/{id}/deliveries");
    // An attempt is recorded once its answer is in, just after the receiver
    // saw the request: wait (bounded) for the third.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let list = loop {
        let list: Value = app.get_with(&app.key_a, &path).await.json().await.unwrap();
        let recorded = list["data"].as_array().map_or(0, Vec::len);
        if recorded >= 3 || tokio::time::Instant::now() >= deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let statuses: Vec<(&str, i64)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap(),
                a["event_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("succeeded", 2), ("succeeded", 1), ("pending", 1)],
        "newest first"
    );
    assert_eq!(list["data"][2]["status_code"], 502);
    let failed: Value = app
        .get_with(&app.key_a, &format!("{path}?status=pending"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);

    let replay = format!("/v1/enterprise/webhooks/{id}/replay");
    let response = app
        .post_json(&app.key_a, &replay, &json!({"after": 0}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let again = receiver.wait_for(5, ARRIVAL).await;
    assert_eq!(again[3].id(), first[1].id(), "event 1 again, same id");
    assert_eq!(again[4].id(), first[2].id(), "event 2 again, same id");
    assert!(again[4].verifies_with(&secret));

    let response = app
        .post_json(&app.key_a, &replay, &json!({"event_id": 1}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let once_more = receiver.wait_for(6, ARRIVAL).await;
    assert_eq!(once_more[5].id(), first[1].id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.all().len(),
        6,
        "a one-event replay sends one message"
    );
    let unknown = app
        .post_json(&app.key_a, &replay, &json!({"event_id": 99}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let both = app
        .post_json(&app.key_a, &replay, &json!({"after": 0, "event_id": 1}))
        .await;
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_rotated_secret_verifies_beside_the_new_one_during_its_grace() {
    let app = app_for_tests().await;
    let (receiver, url) = Receiver::start(0, Mode::Accept).await;
    let (id, old) = endpoint_for(&app, &url).await;
    let path = format!("/v1/enterprise/webhooks/{id}/rotate-secret");
    let rotated = app
        .post_json(&app.key_a, &path, &json!({"grace_seconds": 3600}))
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let new = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    app.register_ok(&app.key_a, &fixtures::individual("ann"))
        .await;
    let got = receiver.wait_for(1, ARRIVAL).await;
    assert!(got[0].verifies_with(&old), "the old secret, in its grace");
    assert!(got[0].verifies_with(&new), "the new secret");

    // Without a grace the old secret stops at once.
    let rotated = app
        .post_json(&app.key_a, &path, &json!({"grace_seconds": 0}))
        .await;
    let newest: Value = rotated.json().await.unwrap();
    let newest = newest["data"]["secret"].as_str().unwrap().to_owned();
    app.register_ok(&app.key_a, &fixtures::individual("bob"))
        .await;
    let got = receiver.wait_for(2, ARRIVAL).await;
    assert!(got[1].verifies_with(&newest));
    assert!(
        !got[1].verifies_with(&new),
        "the previous secret no longer signs"
    );
}

#[tokio::test]
async fn a_410_gone_disables_the_endpoint() {
    let app = app_for_tests().await;
    let (receiver, url) = Receiver::start(0, Mode::Accept).await;
    let (id, _) = endpoint_for(&app, &url).await;
    receiver.fail_next(&[410]);
    app.register_ok(&app.key_a, &fixtures::individual("ann"))
        .await;
    receiver.wait_for(1, ARRIVAL).await;
    let path = format!("/v1/enterprise/webhooks/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let endpoint: Value = app.get_with(&app.key_a, &path).await.json().await.unwrap();
        if endpoint["data"]["enabled"] == false {
            let reason = endpoint["data"]["disabled_reason"].as_str().unwrap();
            assert!(reason.contains("410"), "{reason}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{endpoint}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.register_ok(&app.key_a, &fixtures::individual("bob"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.all().len(),
        1,
        "a disabled endpoint receives nothing"
    );
}

#[tokio::test]
async fn edd_and_document_events_are_sent_to_endpoints_that_ask_for_them() {
    use crate::documents::{Part, png, upload_legacy};
    let app = app_for_tests().await;
    let (receiver, url) = Receiver::start(0, Mode::Accept).await;
    let types = json!(["edd.requested", "document.uploaded"]);
    let (status, body) = create(&app, &app.key_a, json!({"url": url, "event_types": types})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["data"]["secret"].as_str().unwrap().to_owned();
    app.register_ok(&app.key_a, &fixtures::individual("edd_hook"))
        .await;
    let opened = app.open_edd(&app.key_a, "edd_hook").await;
    assert_eq!(opened.status(), StatusCode::CREATED);
    let files = [Part::file("files", "id.png", png(500))];
    let response = upload_legacy(&app, &app.key_a, "edd_hook", r#"{"id.png": "ID"}"#, &files).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let got = receiver.wait_for(2, ARRIVAL).await;
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    assert!(got.iter().all(|m| m.verifies_with(&secret)));
    assert_eq!(bodies[0]["type"], "edd.requested");
    assert_eq!(bodies[0]["data"]["edd_request"]["status"], "REQUESTED");
    assert_eq!(bodies[1]["type"], "document.uploaded");
    assert_eq!(bodies[1]["data"]["document"]["filename"], "id.png");
    assert_eq!(bodies[1]["data"]["user"]["user_id"], "edd_hook");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.all().len(), 2, "the registration is not asked for");
}

#[tokio::test]
async fn events_pruned_before_an_endpoint_reached_them_are_passed_over() {
    let app = app_for_tests().await;
    let (receiver, url) = Receiver::start(0, Mode::Accept).await;
    let (id, _) = endpoint_for(&app, &url).await;
    let path = format!("/v1/enterprise/webhooks/{id}");
    let set_enabled = |enabled: bool| {
        app.client
            .patch(app.url(&path))
            .bearer_auth(&app.key_a)
            .json(&json!({"enabled": enabled}))
            .send()
    };
    assert_eq!(set_enabled(false).await.unwrap().status(), StatusCode::OK);
    app.register_ok(&app.key_a, &fixtures::individual("ann"))
        .await;
    app.register_ok(&app.key_a, &fixtures::individual("bob"))
        .await;
    app.prune_events(0).await;
    assert_eq!(set_enabled(true).await.unwrap().status(), StatusCode::OK);
    // The endpoint moves past what the log no longer holds (its backlog empties)
    // instead of waiting for it.
    let depth = "onboard_webhook_queue_depth 0\n";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
        if metrics.text().await.unwrap().contains(depth) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backlog never emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.register_ok(&app.key_a, &fixtures::individual("cy"))
        .await;
    let got = receiver.wait_for(1, ARRIVAL).await;
    assert_eq!(got[0].json()["event_id"], 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.all().len(), 1, "nothing pruned was sent");
}

#[tokio::test]
async fn the_webhook_routes_refuse_a_missing_or_wrong_key_and_an_oversized_body() {
    let app = app_for_tests().await;
    let (_, url) = Receiver::start(0, Mode::Accept).await;
    let (id, _) = endpoint_for(&app, &url).await;
    let routes = [
        (reqwest::Method::GET, "/v1/enterprise/webhooks".to_owned()),
        (reqwest::Method::POST, "/v1/enterprise/webhooks".to_owned()),
        (
            reqwest::Method::GET,
            format!("/v1/enterprise/webhooks/{id}"),
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/enterprise/webhooks/{id}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/enterprise/webhooks/{id}"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/enterprise/webhooks/{id}/rotate-secret"),
        ),
        (
            reqwest::Method::GET,
            format!("/v1/enterprise/webhooks/{id}/deliveries"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/enterprise/webhooks/{id}/replay"),
        ),
    ];
    for (method, path) in &routes {
        for key in [None, Some("onb_not_a_key")] {
            let mut request = app.client.request(method.clone(), app.url(path));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.json(&json!({"after": 0})).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {key:?}"
            );
            assert_eq!(
                response.text().await.unwrap(),
                crate::helpers::UNAUTHORIZED_BODY,
                "{method} {path}"
            );
        }
    }
    // The endpoint survived the refused DELETEs, and a body over the limit is a 413.
    let endpoint = app
        .get_with(&app.key_a, &format!("/v1/enterprise/webhooks/{id}"))
        .await;
    assert_eq!(endpoint.status(), StatusCode::OK);
    let huge = json!({"url": url, "description": "x".repeat(300 * 1024)});
    let response = app
        .post_json(&app.key_a, "/v1/enterprise/webhooks", &huge)
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let rotate = format!("/v1/enterprise/webhooks/{id}/rotate-secret");
    let response = app
        .client
        .post(app.url(&rotate))
        .bearer_auth(&app.key_a)
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.expect("a JSON error body");
    assert!(
        body["error"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    // An empty body rotates with the default grace.
    let response = app
        .client
        .post(app.url(&rotate))
        .bearer_auth(&app.key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
