//! `Idempotency-Key` on the enterprise POST routes (CONTRACT §8): a retry gets the
//! first answer, another request under the same key is refused, and two at once
//! run once.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use time::Duration;

use crate::fixtures;
use crate::helpers::{AppOptions, TestApp, manual_clock, spawn_app, spawn_app_with};

async fn post_keyed(app: &TestApp, key: &str, idem: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(key)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .expect("Failed to execute request")
}

async fn register_keyed(app: &TestApp, key: &str, idem: &str, body: &Value) -> Response {
    post_keyed(app, key, idem, "/v1/enterprise/register-account", body).await
}

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn answer(response: Response) -> (StatusCode, bool, String) {
    let status = response.status();
    let again = replayed(&response);
    (status, again, response.text().await.unwrap())
}

#[tokio::test]
async fn a_retried_registration_gets_the_first_201_and_the_user_exists_once() {
    let app = spawn_app().await;
    let jane = fixtures::individual("jane");
    let (status, again, first) =
        answer(register_keyed(&app, &app.key_a, "reg-jane-1", &jane).await).await;
    assert_eq!((status, again), (StatusCode::CREATED, false), "{first}");

    for _ in 0..3 {
        let response = register_keyed(&app, &app.key_a, "reg-jane-1", &jane).await;
        let (status, again, body) = answer(response).await;
        assert_eq!((status, again), (StatusCode::CREATED, true));
        assert_eq!(body, first, "the same bytes as the first answer");
    }
    assert_eq!(app.list_ids(&app.key_a, "").await, ["jane"]);
    let registered = app
        .events_ok(&app.key_a, "")
        .await
        .into_iter()
        .filter(|e| e["type"] == "user.registered")
        .count();
    assert_eq!(registered, 1, "one registration in the log");

    // Without the key, the same body is a new request: a 409.
    let response = app.register(&app.key_a, &jane).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_same_key_with_another_body_or_path_is_a_422_naming_the_conflict() {
    let app = spawn_app().await;
    let jane = fixtures::individual("jane");
    register_keyed(&app, &app.key_a, "k-1", &jane).await;

    let john = fixtures::individual("john");
    let response = register_keyed(&app, &app.key_a, "k-1", &john).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("\"k-1\"") && why.contains("another body"),
        "{why}"
    );

    let path = "/v1/enterprise/users/send-verification/jane";
    let response = post_keyed(&app, &app.key_a, "k-1", path, &json!({"type": "email"})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("/v1/enterprise/register-account") && why.contains(path),
        "{why}"
    );
    assert_eq!(
        app.list_ids(&app.key_a, "").await,
        ["jane"],
        "john was not created"
    );
}

#[tokio::test]
async fn client_errors_are_kept_but_throttling_is_not() {
    let app = spawn_app().await;
    let mut broken = fixtures::individual("jane");
    broken["email"] = json!("not an email");
    let (status, _, first) = answer(register_keyed(&app, &app.key_a, "bad-1", &broken).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, again, body) =
        answer(register_keyed(&app, &app.key_a, "bad-1", &broken).await).await;
    assert_eq!(
        (status, again, body),
        (StatusCode::BAD_REQUEST, true, first)
    );

    // A 429 (the resend interval) is not kept: once the wait is over, the same
    // request under the same key runs.
    app.register_ok(&app.key_a, &fixtures::individual("john"))
        .await;
    let path = "/v1/enterprise/users/send-verification/john";
    let email = json!({"type": "email"});
    let response = post_keyed(&app, &app.key_a, "send-1", path, &email).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = post_keyed(&app, &app.key_a, "send-1", path, &email).await;
    assert!(!replayed(&response), "a throttled answer is never replayed");
}

#[tokio::test]
async fn malformed_keys_are_refused_with_a_sentence() {
    let app = spawn_app().await;
    let jane = fixtures::individual("jane");
    for bad in ["", &"k".repeat(256), "tab\there"] {
        let response = register_keyed(&app, &app.key_a, bad, &jane).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("Idempotency-Key"),
            "{body}"
        );
    }
    assert!(app.list_ids(&app.key_a, "").await.is_empty(), "nothing ran");
    let response = register_keyed(&app, &app.key_a, &"k".repeat(255), &jane).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn keys_are_per_enterprise_and_an_unknown_api_key_keeps_nothing() {
    let app = spawn_app().await;
    let jane = fixtures::individual("jane");
    let response = register_keyed(&app, "onb_not_a_key", "shared", &jane).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = register_keyed(&app, &app.key_a, "shared", &jane).await;
    assert_eq!(
        (response.status(), replayed(&response)),
        (StatusCode::CREATED, false)
    );
    let response = register_keyed(&app, &app.key_b, "shared", &jane).await;
    assert_eq!(
        (response.status(), replayed(&response)),
        (StatusCode::CREATED, false)
    );
    assert_eq!(app.list_ids(&app.key_b, "").await, ["jane"]);
}

#[tokio::test]
async fn two_requests_at_once_with_one_key_run_once() {
    let app = spawn_app().await;
    for round in 0..5 {
        let user_id = format!("racer_{round}");
        let body = fixtures::individual(&user_id);
        let idem = format!("race-{round}");
        let (a, b) = tokio::join!(
            register_keyed(&app, &app.key_a, &idem, &body),
            register_keyed(&app, &app.key_a, &idem, &body)
        );
        let (a, b) = (answer(a).await, answer(b).await);
        assert_eq!(
            (a.0, b.0),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{a:?} {b:?}"
        );
        assert_eq!(a.2, b.2, "one answer, given twice");
        assert!(a.1 != b.1, "exactly one of them ran: {a:?} {b:?}");
    }
    assert_eq!(app.list_ids(&app.key_a, "").await.len(), 5);
}

#[tokio::test]
async fn an_answer_is_kept_24_hours_then_the_key_is_free() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let jane = fixtures::individual("jane");
    register_keyed(&app, &app.key_a, "day-1", &jane).await;
    clock.advance(Duration::hours(23));
    let response = register_keyed(&app, &app.key_a, "day-1", &jane).await;
    assert!(replayed(&response));
    clock.advance(Duration::hours(1) + Duration::seconds(1));
    // Past its time the key is new again: the request runs (a 409, jane exists).
    let response = register_keyed(&app, &app.key_a, "day-1", &jane).await;
    assert_eq!(
        (response.status(), replayed(&response)),
        (StatusCode::CONFLICT, false)
    );
}
