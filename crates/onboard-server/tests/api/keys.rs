//! API keys that end (CONTRACT §8): a new key works at once; a revoked key is
//! refused with the vendor's 401 within a second, and the feed sessions it
//! opened are told why and closed with 1008; a rotated key works through its
//! grace period and not after it.
//!
//! The changes are made through a second `Onboarding` on the same database, as
//! the `onboard keys` command does from its own process: nothing tells the
//! server's caches directly, so what these tests see is the key watcher at work.

use std::sync::Arc;
use std::time::Duration;

use onboard_core::access::ApiKeyId;
use onboard_core::clock::{Clock, SystemClock};
use onboard_core::service::Onboarding;
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::helpers::{
    AppOptions, TestApp, UNAUTHORIZED_BODY, manual_clock, spawn_app, spawn_app_with,
};
use crate::ws::Ws;

/// Within this a revocation must bite, on REST and on the feed.
const BITE: Duration = Duration::from_secs(1);

/// What the `onboard keys` command would be: another service on the database.
fn admin(app: &TestApp, clock: Arc<dyn Clock>) -> Onboarding {
    Onboarding::new(app.store.clone(), clock)
}

async fn status_with(app: &TestApp, key: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(app.url("/v1/enterprise/users?limit=1"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// How long until `key` is refused with the vendor's 401; panics after `limit`.
async fn refused_within(app: &TestApp, key: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = status_with(app, key).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(body, UNAUTHORIZED_BODY);
            return start.elapsed();
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            start.elapsed() < limit,
            "the key still worked {limit:?} after it ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The feed message naming why the session ends, and the close code.
async fn ended_session(ws: &mut Ws) -> (String, Option<u16>) {
    let (before, code) = ws.expect_closed(BITE + Duration::from_millis(500)).await;
    let error = before
        .iter()
        .find(|m| m["type"] == "error")
        .unwrap_or_else(|| panic!("no error before the close: {before:?}"));
    assert_eq!(error["action"], "authenticate", "{error}");
    let why = error["payload"]["message"].as_str().unwrap().to_owned();
    (why, code)
}

#[tokio::test]
async fn a_new_key_works_at_once_and_a_revoked_one_gets_401_within_a_second() {
    let app = spawn_app().await;
    let admin = admin(&app, Arc::new(SystemClock));
    let enterprise = admin.enterprise_named("enterprise-a").await.unwrap();
    let created = admin
        .create_key(&enterprise, "ci", None, None)
        .await
        .unwrap();
    let key = created.key.expose().to_owned();
    for _ in 0..3 {
        assert_eq!(status_with(&app, &key).await.0, StatusCode::OK);
    }

    let started = Instant::now();
    admin
        .revoke_key(&enterprise, &created.record.id, None)
        .await
        .unwrap();
    let took = refused_within(&app, &key, BITE).await;
    assert!(started.elapsed() < BITE, "refused after {took:?}");
    // It stays refused; the enterprise's other keys keep working.
    assert_eq!(status_with(&app, &key).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &app.key_a).await.0, StatusCode::OK);
    assert_eq!(status_with(&app, &app.key_b).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_feed_session_of_a_revoked_key_is_told_and_closed_with_1008_within_a_second() {
    let app = spawn_app().await;
    let admin = admin(&app, Arc::new(SystemClock));
    let enterprise = admin.enterprise_named("enterprise-a").await.unwrap();
    let created = admin
        .create_key(&enterprise, "feed", None, None)
        .await
        .unwrap();
    let mut doomed = Ws::subscriber(&app.ws_url(), created.key.expose(), None).await;
    let mut other = Ws::subscriber(&app.ws_url(), &app.key_a, None).await;

    let started = Instant::now();
    admin
        .revoke_key(&enterprise, &created.record.id, None)
        .await
        .unwrap();
    let (why, code) = ended_session(&mut doomed).await;
    assert!(
        started.elapsed() < BITE,
        "closed after {:?}",
        started.elapsed()
    );
    assert!(why.contains("revoked"), "{why}");
    assert_eq!(code, Some(1008));
    // A session of another key is untouched.
    other.expect_silence(Duration::from_millis(300)).await;

    // Authenticating again with the revoked key is refused, with the 401 sentence.
    let mut again = Ws::connect(&app.ws_url()).await;
    again
        .send(&serde_json::json!({"type": "authenticate", "apiKey": created.key.expose(), "enterprise": true}))
        .await;
    let refusal = again.expect_error("authenticate").await;
    assert_eq!(refusal, "invalid token. check authorization header.");
}

#[tokio::test]
async fn a_rotated_key_works_through_its_grace_period_and_not_after() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let admin = admin(&app, clock.clone());
    let enterprise = admin.enterprise_named("enterprise-a").await.unwrap();
    let old = admin
        .create_key(&enterprise, "production", None, None)
        .await
        .unwrap();
    let old_key = old.key.expose().to_owned();
    assert_eq!(status_with(&app, &old_key).await.0, StatusCode::OK);
    let mut session = Ws::subscriber(&app.ws_url(), &old_key, None).await;

    let grace = time::Duration::hours(24);
    let rotated = admin
        .rotate_key(&enterprise, &old.record.id, grace, None)
        .await
        .unwrap();
    assert_eq!(rotated.new.label, "production");
    assert_eq!(rotated.old.replaced_by.as_ref(), Some(&rotated.new.id));
    let new_key = rotated.key.expose().to_owned();

    // During the grace period both work, and the session stays open.
    clock.advance(grace - time::Duration::seconds(1));
    assert_eq!(status_with(&app, &old_key).await.0, StatusCode::OK);
    assert_eq!(status_with(&app, &new_key).await.0, StatusCode::OK);
    session.expect_silence(Duration::from_millis(600)).await;
    let twice = admin
        .rotate_key(&enterprise, &old.record.id, grace, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        twice.contains(&format!(
            "already rotated; its successor is {}",
            rotated.new.id
        )),
        "{twice}"
    );

    // After it, the old key is refused at once and its session closed.
    clock.advance(time::Duration::seconds(1));
    let started = Instant::now();
    assert_eq!(
        status_with(&app, &old_key).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (why, code) = ended_session(&mut session).await;
    assert!(
        started.elapsed() < BITE,
        "closed after {:?}",
        started.elapsed()
    );
    assert!(why.contains("expired"), "{why}");
    assert_eq!(code, Some(1008));
    assert_eq!(status_with(&app, &new_key).await.0, StatusCode::OK);

    // Rotating it again is refused, saying why.
    let again = admin
        .rotate_key(&enterprise, &old.record.id, grace, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("expired at"), "{again}");
}

#[tokio::test]
async fn a_key_created_to_expire_is_refused_from_its_expiry_and_its_use_is_recorded() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let admin = admin(&app, clock.clone());
    let enterprise = admin.enterprise_named("enterprise-b").await.unwrap();
    let created = admin
        .create_key(
            &enterprise,
            "  temporary  ",
            Some(time::Duration::days(90)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(created.record.label, "temporary");
    assert_eq!(
        created.record.expires_at,
        Some(clock.now() + time::Duration::days(90))
    );
    let key = created.key.expose().to_owned();
    assert_eq!(status_with(&app, &key).await.0, StatusCode::OK);
    let used = last_used(&admin, &enterprise, &created.record.id).await;
    assert_eq!(used, Some(clock.now()));

    clock.advance(time::Duration::days(90));
    assert_eq!(status_with(&app, &key).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&app, &app.key_b).await.0, StatusCode::OK);
}

/// The key's `last_used_at`, once the server's background write landed.
async fn last_used(
    admin: &Onboarding,
    enterprise: &onboard_core::store::Enterprise,
    id: &ApiKeyId,
) -> Option<time::OffsetDateTime> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = admin.keys_of(enterprise).await.unwrap();
        let key = keys.iter().find(|k| &k.id == id).unwrap();
        if key.last_used_at.is_some() || Instant::now() > deadline {
            return key.last_used_at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
