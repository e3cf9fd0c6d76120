//! The sms webhook against a real HTTP receiver on loopback, which checks the
//! signature the way an operator's relay would: HMAC-SHA256 over
//! `"<timestamp>.<raw body>"` with the shared secret.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use onboard_core::delivery::{CodeMessage, Deliver};
use onboard_core::random::OsRandom;
use onboard_core::store::EnterpriseId;
use onboard_core::verification::{Channel, Code};
use onboard_delivery::webhook::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel, WebhookConfig, signature,
};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::net::TcpListener;

const SECRET: &str = "the-relay-shares-this-secret";
const PHONE: &str = "+12243987754";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Try {
    timestamp: Option<String>,
    signature: Option<String>,
    body: Bytes,
    signed: bool,
}

/// A relay that verifies signatures and answers the scripted statuses in order,
/// then 200. A request with a bad signature is answered 401.
#[derive(Clone)]
struct Receiver {
    secret: &'static str,
    script: Arc<Mutex<VecDeque<u16>>>,
    tries: Arc<Mutex<Vec<Try>>>,
}

impl Receiver {
    async fn start(secret: &'static str, script: &[u16]) -> (Receiver, String) {
        let receiver = Receiver {
            secret,
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            tries: Arc::default(),
        };
        let router = Router::new()
            .route("/sms", post(receive))
            .with_state(receiver.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (receiver, url)
    }

    fn tries(&self) -> Vec<Try> {
        self.tries.lock().unwrap().clone()
    }
}

/// What a relay does: recompute the HMAC over the raw body, compare in constant
/// time, and refuse a timestamp more than five minutes away.
fn verify(secret: &str, timestamp: Option<&str>, signature: Option<&str>, body: &[u8]) -> bool {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    let Ok(seconds) = timestamp.parse::<i64>() else {
        return false;
    };
    if (OffsetDateTime::now_utc().unix_timestamp() - seconds).abs() > 300 {
        return false;
    }
    let Some(Ok(presented)) = signature.strip_prefix("v1=").map(hex::decode) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&presented).is_ok()
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (timestamp, signature) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER));
    let signed = verify(
        receiver.secret,
        timestamp.as_deref(),
        signature.as_deref(),
        &body,
    );
    receiver.tries.lock().unwrap().push(Try {
        timestamp,
        signature,
        body,
        signed,
    });
    if !signed {
        return StatusCode::UNAUTHORIZED;
    }
    let status = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

fn channel(url: &str, max_attempts: u32) -> WebhookChannel {
    onboard_delivery::install_tls_provider();
    WebhookChannel::new(&WebhookConfig {
        url: url.to_owned(),
        secret: SECRET.into(),
        max_attempts: Some(max_attempts),
        backoff_ms: Some(2),
        timeout_ms: Some(5_000),
    })
    .expect("a valid webhook configuration")
}

fn message() -> CodeMessage {
    CodeMessage {
        enterprise: EnterpriseId(1),
        user_id: "jane".into(),
        channel: Channel::Sms,
        to: PHONE.into(),
        code: Code::generate(&OsRandom),
        sent_at: datetime!(2025-06-02 09:30:00.125 UTC),
    }
}

/// The error sentence never carries the number or the code.
fn assert_no_secrets(sentence: &str, message: &CodeMessage) {
    for secret in [PHONE, &PHONE[2..], message.code.expose(), SECRET] {
        assert!(
            !sentence.contains(secret),
            "{secret} leaked in {sentence:?}"
        );
    }
}

#[tokio::test]
async fn a_delivery_arrives_signed_with_the_code_as_json() {
    let (receiver, url) = Receiver::start(SECRET, &[]).await;
    let message = message();

    channel(&url, 4).deliver(&message).await.expect("delivered");

    let tries = receiver.tries();
    assert_eq!(tries.len(), 1);
    let got = &tries[0];
    assert!(got.signed, "the signature verifies: {got:?}");
    let timestamp: i64 = got.timestamp.as_deref().unwrap().parse().unwrap();
    assert_eq!(
        got.signature.as_deref(),
        Some(signature(SECRET.as_bytes(), timestamp, &got.body).as_str()),
        "the public signature() is what the header carries"
    );
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["to"], PHONE);
    assert_eq!(body["code"], message.code.expose());
    assert_eq!(body["user_id"], "jane");
    assert_eq!(body["sent_at"], "2025-06-02T09:30:00.125Z");
    assert_eq!(body["text"], message.text());
}

#[tokio::test]
async fn a_relay_with_another_secret_refuses_the_signature_and_nothing_is_retried() {
    let (receiver, url) = Receiver::start("a-different-shared-secret", &[]).await;
    let message = message();

    let error = channel(&url, 4)
        .deliver(&message)
        .await
        .expect_err("the relay refused the signature");

    let tries = receiver.tries();
    assert_eq!(tries.len(), 1, "a 401 is final");
    assert!(!tries[0].signed);
    assert!(error.to_string().contains("401"), "{error}");
    assert_no_secrets(&error.to_string(), &message);
}

#[tokio::test]
async fn server_errors_are_retried_until_a_try_succeeds() {
    let (receiver, url) = Receiver::start(SECRET, &[500, 500]).await;
    let message = message();

    channel(&url, 4)
        .deliver(&message)
        .await
        .expect("delivered on the third try");

    let tries = receiver.tries();
    assert_eq!(tries.len(), 3);
    assert!(tries.iter().all(|t| t.signed));
    assert!(
        tries.windows(2).all(|w| w[0].body == w[1].body),
        "every try carries the same message"
    );
}

#[tokio::test]
async fn retryable_statuses_are_retried_and_client_errors_are_final() {
    let cases: [(&str, &[u16], u32, bool, usize); 5] = [
        ("503 then 200", &[503], 3, true, 2),
        ("429 then 200", &[429], 3, true, 2),
        ("408 then 200", &[408], 3, true, 2),
        ("400", &[400, 200], 3, false, 1),
        ("404", &[404, 200], 3, false, 1),
    ];
    for (case, script, attempts, delivered, expected_tries) in cases {
        let (receiver, url) = Receiver::start(SECRET, script).await;
        let message = message();
        let outcome = channel(&url, attempts).deliver(&message).await;
        assert_eq!(outcome.is_ok(), delivered, "{case}: {outcome:?}");
        assert_eq!(receiver.tries().len(), expected_tries, "{case}");
        if let Err(error) = outcome {
            let sentence = error.to_string();
            assert!(
                sentence.contains(&script[0].to_string()),
                "{case}: {sentence}"
            );
            assert_no_secrets(&sentence, &message);
        }
    }
}

#[tokio::test]
async fn a_relay_that_always_fails_gets_max_attempts_tries_then_an_error() {
    let (receiver, url) = Receiver::start(SECRET, &[500; 10]).await;
    let message = message();

    let error = channel(&url, 3)
        .deliver(&message)
        .await
        .expect_err("every try failed");

    assert_eq!(receiver.tries().len(), 3);
    let sentence = error.to_string();
    assert!(sentence.contains("3 tries"), "{sentence}");
    assert_no_secrets(&sentence, &message);
}

#[tokio::test]
async fn an_unreachable_relay_is_an_error_after_max_attempts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let message = message();
    let error = channel(&format!("http://127.0.0.1:{port}/sms"), 2)
        .deliver(&message)
        .await
        .expect_err("nothing listens");
    let sentence = error.to_string();
    assert!(
        sentence.contains("unreachable") && sentence.contains("2 tries"),
        "{sentence}"
    );
    assert_no_secrets(&sentence, &message);
}

#[test]
fn a_webhook_configuration_is_checked_at_startup() {
    let config = |url: &str, secret: &str| WebhookConfig {
        url: url.into(),
        secret: secret.into(),
        max_attempts: None,
        backoff_ms: None,
        timeout_ms: None,
    };
    onboard_delivery::install_tls_provider();
    let cases = [
        (
            "a good one",
            config("https://relay.example/sms", SECRET),
            None,
        ),
        (
            "not a URL",
            config("relay.example/sms", SECRET),
            Some("not a URL"),
        ),
        (
            "not http",
            config("ftp://relay.example/sms", SECRET),
            Some("http"),
        ),
        (
            "a short secret",
            config("https://relay.example/sms", "short"),
            Some("at least 16"),
        ),
    ];
    for (case, config, problem) in cases {
        match (WebhookChannel::new(&config), problem) {
            (Ok(_), None) => {}
            (Err(e), Some(expected)) => assert!(e.contains(expected), "{case}: {e}"),
            (Ok(_), Some(expected)) => panic!("{case}: accepted, expected {expected:?}"),
            (Err(e), None) => panic!("{case}: refused with {e}"),
        }
    }
    let printed = format!("{:?}", config("https://relay.example/sms", SECRET));
    assert!(!printed.contains(SECRET), "{printed}");
}
