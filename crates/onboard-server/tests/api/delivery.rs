//! Codes through a real delivery channel that fails (CONTRACT §1, §4): the
//! server's sms and email channels are `onboard-delivery` webhooks pointed at a
//! relay in the test, which answers 503 until told otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use onboard_core::delivery::Deliver;
use onboard_delivery::webhook::{WebhookChannel, WebhookConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::fixtures;
use crate::helpers::{AppOptions, body_ok, manual_clock, refusal, spawn_app_with};

const PHONE: &str = "+12243987754";
const EMAIL: &str = "user_1_mail@address.com";

/// A relay that records every body it is sent and fails while `failing` is set.
#[derive(Clone, Default)]
struct Relay {
    failing: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Relay {
    /// Starts a relay that fails, and a webhook channel (two tries) that posts to it.
    async fn start() -> (Relay, Arc<dyn Deliver>) {
        let relay = Relay::default();
        relay.fail(true);
        let router = Router::new()
            .route("/relay", post(receive))
            .with_state(relay.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/relay", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        onboard_delivery::install_tls_provider();
        let channel = WebhookChannel::new(&WebhookConfig {
            url,
            secret: "a-shared-secret-for-the-relay".into(),
            max_attempts: Some(2),
            backoff_ms: Some(1),
            timeout_ms: Some(5_000),
        })
        .expect("a valid webhook configuration");
        (relay, Arc::new(channel))
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// The code in the latest body received.
    fn last_code(&self) -> String {
        let received = self.received();
        received.last().expect("the relay received something")["code"]
            .as_str()
            .expect("code is a string")
            .to_owned()
    }
}

async fn receive(State(relay): State<Relay>, Json(body): Json<Value>) -> StatusCode {
    relay.received.lock().unwrap().push(body);
    if relay.failing.load(Ordering::SeqCst) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

#[tokio::test]
async fn a_failing_sms_channel_is_502_without_the_number_or_the_code_and_not_throttled() {
    let (relay, sms) = Relay::start().await;
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        sms: Some(sms),
        ..AppOptions::default()
    })
    .await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let email_code = app.latest_code(key, "jane", "email").await;
    body_ok(
        app.verify(key, "jane", "email", &email_code).await,
        StatusCode::OK,
    )
    .await;

    let sentence = refusal(
        app.send_code(key, "jane", "sms").await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    let received = relay.received();
    assert_eq!(received.len(), 2, "two tries: {received:?}");
    assert_eq!(received[0]["channel"], "sms");
    assert_eq!(received[0]["to"], PHONE);
    assert_eq!(received[0]["user_id"], "jane");
    let undelivered = relay.last_code();
    assert!(sentence.contains("sms"), "{sentence}");
    for secret in [PHONE, &PHONE[2..], undelivered.as_str()] {
        assert!(
            !sentence.contains(secret),
            "{secret} leaked in {sentence:?}"
        );
    }
    assert!(
        app.messages(key, "jane")
            .await
            .iter()
            .all(|m| m["channel"] == "email"),
        "the sms channel is the webhook, not the outbox"
    );

    // The code that never reached the user does not verify it.
    let sentence = refusal(
        app.verify(key, "jane", "sms", &undelivered).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(sentence, "No sms code has been sent; request one first");

    // Asking again at once (the clock has not moved) is not throttled.
    let again = app.send_code(key, "jane", "sms").await;
    assert_eq!(again.status(), StatusCode::BAD_GATEWAY, "not 429");
    relay.fail(false);
    let sent = body_ok(app.send_code(key, "jane", "sms").await, StatusCode::OK).await;
    assert_eq!(
        sent,
        json!({"data": {"user_id": "jane", "type": "sms", "phone_number": PHONE}})
    );
    assert_eq!(relay.received().len(), 5);
    // A delivered code does hold the next one back.
    let response = app.send_code(key, "jane", "sms").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(relay.received().len(), 5);
    body_ok(
        app.verify(key, "jane", "sms", &relay.last_code()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.state_of(key, "jane").await.0, "VERIFIED");
}

#[tokio::test]
async fn a_failing_email_channel_still_registers_the_user_who_may_ask_again_at_once() {
    let (relay, email) = Relay::start().await;
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        email: Some(email),
        ..AppOptions::default()
    })
    .await;
    let key = &app.key_a;
    let created = app.register_ok(key, &fixtures::individual("jane")).await;
    assert_eq!(created["status"], "PENDING");
    let received = relay.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0]["channel"], "email");
    assert_eq!(received[0]["to"], EMAIL);
    assert!(app.messages(key, "jane").await.is_empty());

    let sentence = refusal(
        app.send_code(key, "jane", "email").await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    let undelivered = relay.last_code();
    for secret in [EMAIL, undelivered.as_str()] {
        assert!(
            !sentence.contains(secret),
            "{secret} leaked in {sentence:?}"
        );
    }

    relay.fail(false);
    body_ok(app.send_code(key, "jane", "email").await, StatusCode::OK).await;
    body_ok(
        app.verify(key, "jane", "email", &relay.last_code()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.state_of(key, "jane").await.1,
        json!({"email": false, "sms": true})
    );
}

#[tokio::test]
async fn a_failed_resend_leaves_the_previous_code_working() {
    let (relay, sms) = Relay::start().await;
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        sms: Some(sms),
        ..AppOptions::default()
    })
    .await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let email_code = app.latest_code(key, "jane", "email").await;
    body_ok(
        app.verify(key, "jane", "email", &email_code).await,
        StatusCode::OK,
    )
    .await;

    relay.fail(false);
    body_ok(app.send_code(key, "jane", "sms").await, StatusCode::OK).await;
    let delivered = relay.last_code();

    clock.advance(time::Duration::seconds(31));
    relay.fail(true);
    refusal(
        app.send_code(key, "jane", "sms").await,
        StatusCode::BAD_GATEWAY,
    )
    .await;

    // The resend never reached the user; the code they hold still verifies them.
    body_ok(
        app.verify(key, "jane", "sms", &delivered).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.state_of(key, "jane").await.0, "VERIFIED");
}
