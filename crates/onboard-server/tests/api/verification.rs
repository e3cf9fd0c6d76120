//! Email and sms verification over REST (CONTRACT §2, §4): the whole path of an
//! individual and a corporation, every refusal of the state machine, code expiry,
//! attempts and throttling on a manual clock, jurisdictions, manual review and the
//! events each step writes.

use onboard_core::access::{Password, Role};
use onboard_core::lifecycle::{Refusal, ReviewPolicy};
use onboard_core::service::ServiceError;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

use crate::fixtures;
use crate::helpers::{
    AppOptions, TestApp, assert_error, body_ok, manual_clock, problem_fields, refusal, spawn_app,
    spawn_app_with,
};

const PHONE: &str = "+12243987754";

fn requirements(email: bool, sms: bool) -> Value {
    json!({"email": email, "sms": sms})
}

/// A well-formed code that is not `code`.
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().expect("a code is six digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Asserts the user's status and requirements as `GET /v1/enterprise/users/:id` shows them.
async fn assert_state(app: &TestApp, user_id: &str, status: &str, expected: Value) {
    let (actual_status, actual) = app.state_of(&app.key_a, user_id).await;
    assert_eq!(
        (actual_status.as_str(), &actual),
        (status, &expected),
        "state of {user_id}"
    );
}

/// Verifies the email code the registration sent.
async fn verify_email(app: &TestApp, user_id: &str) {
    let code = app.latest_code(&app.key_a, user_id, "email").await;
    body_ok(
        app.verify(&app.key_a, user_id, "email", &code).await,
        StatusCode::OK,
    )
    .await;
}

/// Sends an sms code and verifies it.
async fn verify_sms(app: &TestApp, user_id: &str) {
    body_ok(
        app.send_code(&app.key_a, user_id, "sms").await,
        StatusCode::OK,
    )
    .await;
    let code = app.latest_code(&app.key_a, user_id, "sms").await;
    body_ok(
        app.verify(&app.key_a, user_id, "sms", &code).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn an_individual_verifies_email_then_sms_and_becomes_verified() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;

    let created = app
        .register_ok(key, &fixtures::individual("client_account_1"))
        .await;
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["requirements"], requirements(true, true));
    assert_state(
        &app,
        "client_account_1",
        "PENDING",
        requirements(true, true),
    )
    .await;

    // Registration sent the first email code itself.
    let messages = app.messages(key, "client_account_1").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["channel"], "email");
    assert_eq!(messages[0]["to"], "user_1_mail@address.com");
    assert_eq!(messages[0]["sent_at"], "2025-06-02T09:30:00.125Z");
    let first = messages[0]["code"].as_str().unwrap();
    assert!(
        first.len() == 6 && first.bytes().all(|b| b.is_ascii_digit()),
        "{first}"
    );

    // Asking for a new email code, once the resend interval has passed.
    clock.advance(Duration::seconds(30));
    let sent = body_ok(
        app.send_code(key, "client_account_1", "email").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        sent,
        json!({"data": {
            "user_id": "client_account_1",
            "type": "email",
            "email": "user_1_mail@address.com"
        }})
    );
    assert_state(
        &app,
        "client_account_1",
        "PENDING",
        requirements(true, true),
    )
    .await;
    let email_code = app.latest_code(key, "client_account_1", "email").await;

    let verified = body_ok(
        app.verify(key, "client_account_1", "email", &email_code)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        verified,
        json!({"data": {"success": true, "user_id": "client_account_1", "type": "email"}})
    );
    assert_state(
        &app,
        "client_account_1",
        "PENDING",
        requirements(false, true),
    )
    .await;

    let sent = body_ok(
        app.send_code(key, "client_account_1", "sms").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        sent,
        json!({"data": {"user_id": "client_account_1", "type": "sms", "phone_number": PHONE}})
    );
    assert_state(
        &app,
        "client_account_1",
        "PENDING",
        requirements(false, true),
    )
    .await;
    let messages = app.messages(key, "client_account_1").await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0]["channel"], "sms", "newest first");
    assert_eq!(messages[0]["to"], PHONE);
    let sms_code = messages[0]["code"].as_str().unwrap().to_owned();

    let verified = body_ok(
        app.verify(key, "client_account_1", "sms", &sms_code).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        verified,
        json!({"data": {"success": true, "user_id": "client_account_1", "type": "sms"}})
    );
    assert_state(
        &app,
        "client_account_1",
        "VERIFIED",
        requirements(false, false),
    )
    .await;
    let listed = app.list_ok(key, "").await;
    assert_eq!(listed[0]["status"], "VERIFIED");
    assert_eq!(listed[0]["requirements"], requirements(false, false));
}

#[tokio::test]
async fn a_corporation_is_verified_by_email_alone_and_has_no_sms_step() {
    let app = spawn_app().await;
    let key = &app.key_a;
    let created = app
        .register_ok(key, &fixtures::corporation("corp_account_1"))
        .await;
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["requirements"], requirements(true, false));

    let sentence = refusal(
        app.send_code(key, "corp_account_1", "sms").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(sentence.contains("Corporations"), "{sentence}");

    verify_email(&app, "corp_account_1").await;
    assert_state(
        &app,
        "corp_account_1",
        "VERIFIED",
        requirements(false, false),
    )
    .await;

    for response in [
        app.send_code(key, "corp_account_1", "sms").await,
        app.verify(key, "corp_account_1", "sms", "123456").await,
    ] {
        let sentence = refusal(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(sentence, "Corporations have no sms verification step");
    }
}

#[tokio::test]
async fn the_order_rules_refuse_with_422_and_the_contract_sentences() {
    let app = spawn_app().await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let email_code = app.latest_code(key, "jane", "email").await;

    // Sms before email, sending or confirming.
    for response in [
        app.send_code(key, "jane", "sms").await,
        app.verify(key, "jane", "sms", "123456").await,
    ] {
        let sentence = refusal(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            sentence,
            "Email must be verified before an sms code can be requested"
        );
    }
    assert!(
        app.messages(key, "jane")
            .await
            .iter()
            .all(|m| m["channel"] == "email"),
        "a refused send delivers nothing"
    );

    body_ok(
        app.verify(key, "jane", "email", &email_code).await,
        StatusCode::OK,
    )
    .await;
    for response in [
        app.send_code(key, "jane", "email").await,
        app.verify(key, "jane", "email", &email_code).await,
    ] {
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error, json!({"error": "Email already verified"}));
    }

    verify_sms(&app, "jane").await;
    let sms_code = app.latest_code(key, "jane", "sms").await;
    for response in [
        app.send_code(key, "jane", "sms").await,
        app.verify(key, "jane", "sms", &sms_code).await,
    ] {
        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error, json!({"error": "Phone already verified"}));
    }
    assert_state(&app, "jane", "VERIFIED", requirements(false, false)).await;
}

#[tokio::test]
async fn a_wrong_code_is_422_and_says_how_many_attempts_are_left() {
    let app = spawn_app().await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let code = app.latest_code(key, "jane", "email").await;

    let sentence = refusal(
        app.verify(key, "jane", "email", &other_than(&code)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(sentence, "The email code is wrong; 4 attempts left");
    assert_state(&app, "jane", "PENDING", requirements(true, true)).await;

    // A wrong try below the limit does not spoil the right code.
    body_ok(
        app.verify(key, "jane", "email", &code).await,
        StatusCode::OK,
    )
    .await;
    assert_state(&app, "jane", "PENDING", requirements(false, true)).await;
}

#[tokio::test]
async fn after_five_wrong_tries_even_the_right_code_no_longer_works() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let code = app.latest_code(key, "jane", "email").await;
    let wrong = other_than(&code);

    for left in (0..5).rev() {
        let sentence = refusal(
            app.verify(key, "jane", "email", &wrong).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(
            sentence,
            format!("The email code is wrong; {left} attempts left")
        );
    }
    let sentence = refusal(
        app.verify(key, "jane", "email", &code).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(sentence.contains("no longer works"), "{sentence}");
    assert_state(&app, "jane", "PENDING", requirements(true, true)).await;

    // A new code starts a new count.
    clock.advance(Duration::seconds(30));
    body_ok(app.send_code(key, "jane", "email").await, StatusCode::OK).await;
    let fresh = app.latest_code(key, "jane", "email").await;
    body_ok(
        app.verify(key, "jane", "email", &fresh).await,
        StatusCode::OK,
    )
    .await;
    assert_state(&app, "jane", "PENDING", requirements(false, true)).await;
}

#[tokio::test]
async fn a_code_works_for_exactly_ten_minutes() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;
    let cases = [
        ("at-ten-minutes", Duration::minutes(10), None),
        (
            "one-second-later",
            Duration::minutes(10) + Duration::seconds(1),
            Some("The email code has expired; request a new one"),
        ),
    ];
    for (user_id, age, refused) in cases {
        app.register_ok(key, &fixtures::individual(user_id)).await;
        let code = app.latest_code(key, user_id, "email").await;
        clock.advance(age);
        let response = app.verify(key, user_id, "email", &code).await;
        match refused {
            None => {
                body_ok(response, StatusCode::OK).await;
                assert_state(&app, user_id, "PENDING", requirements(false, true)).await;
            }
            Some(expected) => {
                let sentence = refusal(response, StatusCode::UNPROCESSABLE_ENTITY).await;
                assert_eq!(sentence, expected, "{user_id}");
                assert!(sentence.contains("expired"));
                assert_state(&app, user_id, "PENDING", requirements(true, true)).await;

                // A new code brings the user back on track.
                body_ok(app.send_code(key, user_id, "email").await, StatusCode::OK).await;
                let fresh = app.latest_code(key, user_id, "email").await;
                body_ok(
                    app.verify(key, user_id, "email", &fresh).await,
                    StatusCode::OK,
                )
                .await;
            }
        }
    }
}

#[tokio::test]
async fn a_new_code_replaces_the_old_one() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let old = app.latest_code(key, "jane", "email").await;

    clock.advance(Duration::seconds(31));
    body_ok(app.send_code(key, "jane", "email").await, StatusCode::OK).await;
    let new = app.latest_code(key, "jane", "email").await;
    assert_eq!(app.messages(key, "jane").await.len(), 2);

    if old != new {
        let sentence = refusal(
            app.verify(key, "jane", "email", &old).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(sentence.contains("wrong"), "{sentence}");
    }
    body_ok(app.verify(key, "jane", "email", &new).await, StatusCode::OK).await;
    assert_state(&app, "jane", "PENDING", requirements(false, true)).await;
}

#[tokio::test]
async fn the_eleventh_code_of_a_day_is_429_until_the_first_is_a_day_old() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;
    // The registration sends the first email code; nine more fill the day's ten.
    app.register_ok(key, &fixtures::individual("jane")).await;
    for i in 1..10 {
        clock.set(crate::helpers::START + Duration::minutes(i));
        body_ok(app.send_code(key, "jane", "email").await, StatusCode::OK).await;
    }
    clock.set(crate::helpers::START + Duration::hours(2));
    let response = app.send_code(key, "jane", "email").await;
    let header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header.as_deref(), Some("79200"), "22 hours to wait");
    let sentence = refusal(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(sentence.contains("At most 10 email codes"), "{sentence}");
    assert_eq!(
        app.messages(key, "jane").await.len(),
        10,
        "nothing more sent"
    );

    // A day after the first code, one more may go.
    clock.set(crate::helpers::START + Duration::hours(24));
    body_ok(app.send_code(key, "jane", "email").await, StatusCode::OK).await;
    // The window slides: past the resend interval, the second code of yesterday
    // is still inside it.
    clock.set(crate::helpers::START + Duration::hours(24) + Duration::seconds(40));
    let response = app.send_code(key, "jane", "email").await;
    let sentence = refusal(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(sentence.contains("retry in 20 seconds"), "{sentence}");
}

#[tokio::test]
async fn a_second_send_within_30_seconds_is_429_with_retry_after() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;

    for (elapsed, retry_after) in [(0, "30"), (1, "29"), (29, "1")] {
        clock.set(crate::helpers::START + Duration::seconds(elapsed));
        let response = app.send_code(key, "jane", "email").await;
        let header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header.as_deref(), Some(retry_after), "after {elapsed} s");
        let sentence = refusal(response, StatusCode::TOO_MANY_REQUESTS).await;
        assert!(sentence.contains("30 seconds"), "{sentence}");
    }
    assert_eq!(
        app.messages(key, "jane").await.len(),
        1,
        "throttled sends deliver nothing"
    );

    clock.set(crate::helpers::START + Duration::seconds(30));
    body_ok(app.send_code(key, "jane", "email").await, StatusCode::OK).await;
    let code = app.latest_code(key, "jane", "email").await;
    body_ok(
        app.verify(key, "jane", "email", &code).await,
        StatusCode::OK,
    )
    .await;

    // The interval is per channel: the email code just sent does not hold sms back.
    body_ok(app.send_code(key, "jane", "sms").await, StatusCode::OK).await;
    let response = app.send_code(key, "jane", "sms").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response
            .headers()
            .contains_key(reqwest::header::RETRY_AFTER)
    );
}

#[tokio::test]
async fn malformed_verification_bodies_are_400_listing_every_problem() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("jane"))
        .await;
    let send = "/v1/enterprise/users/send-verification/jane";
    let verify = "/v1/enterprise/users/verify/jane";
    let cases: [(&str, &str, Value, &[&str]); 9] = [
        ("send without type", send, json!({}), &["type"]),
        ("send by fax", send, json!({"type": "fax"}), &["type"]),
        (
            "send with an unknown field",
            send,
            json!({"type": "email", "user_id": "jane"}),
            &["user_id"],
        ),
        ("send with an array", send, json!(["email"]), &["body"]),
        (
            "verify without type",
            verify,
            json!({"otp": "123456"}),
            &["type"],
        ),
        (
            "verify a five-digit otp",
            verify,
            json!({"type": "email", "otp": "12345"}),
            &["otp"],
        ),
        (
            "verify a numeric otp",
            verify,
            json!({"type": "email", "otp": 123456}),
            &["otp"],
        ),
        (
            "verify by fax without otp",
            verify,
            json!({"type": "fax"}),
            &["type", "otp"],
        ),
        (
            "verify with an unknown field",
            verify,
            json!({"type": "email", "otp": "123456", "code": "123456"}),
            &["code"],
        ),
    ];
    for (case, path, body, fields) in cases {
        let error = assert_error(
            app.post_json(&app.key_a, path, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(problem_fields(&error), fields, "{case}: {error}");
    }
    // None of them counted as a wrong try.
    let code = app.latest_code(&app.key_a, "jane", "email").await;
    body_ok(
        app.verify(&app.key_a, "jane", "email", &code).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn verification_of_an_unknown_or_foreign_user_is_404() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("jane"))
        .await;
    let code = app.latest_code(&app.key_a, "jane", "email").await;

    app.register_ok(&app.key_a, &fixtures::individual("gone"))
        .await;
    assert_eq!(
        app.deactivate(&app.key_a, "gone").await.status(),
        StatusCode::OK
    );
    let cases = [
        ("an unknown user", &app.key_a, "nobody"),
        ("another enterprise's user", &app.key_b, "jane"),
        ("a deactivated user", &app.key_a, "gone"),
    ];
    for (case, key, user_id) in cases {
        for response in [
            app.send_code(key, user_id, "email").await,
            app.verify(key, user_id, "email", &code).await,
        ] {
            let sentence = refusal(response, StatusCode::NOT_FOUND).await;
            assert!(sentence.contains(user_id), "{case}: {sentence}");
        }
    }
    // B's try with the right code did not verify A's user.
    assert_state(&app, "jane", "PENDING", requirements(true, true)).await;
}

#[tokio::test]
async fn two_concurrent_confirmations_of_one_code_succeed_exactly_once() {
    let app = spawn_app().await;
    let key = &app.key_a;
    for round in 0..4 {
        let user_id = format!("racer-{round}");
        app.register_ok(key, &fixtures::individual(&user_id)).await;
        let code = app.latest_code(key, &user_id, "email").await;
        let (first, second) = tokio::join!(
            app.verify(key, &user_id, "email", &code),
            app.verify(key, &user_id, "email", &code),
        );
        let mut statuses = [first.status(), second.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY],
            "round {round}"
        );
        assert_state(&app, &user_id, "PENDING", requirements(false, true)).await;
    }
    // One `email verified` event per user, not two.
    let events = body_ok(
        app.get_with(key, "/v1/enterprise/events").await,
        StatusCode::OK,
    )
    .await;
    let verified = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["cause"] == "email verified")
        .count();
    assert_eq!(verified, 4);
}

/// An individual resident in New York.
fn new_yorker(user_id: &str) -> Value {
    let mut body = fixtures::individual(user_id);
    let individual = &mut body["individual"];
    individual["residential_state"] = json!("NY");
    individual["residential_city"] = json!("New York");
    individual["residential_postal_code"] = json!("10001");
    body
}

/// A corporation incorporated in Great Britain.
fn british_corporation(user_id: &str) -> Value {
    let mut body = fixtures::corporation(user_id);
    body["business"]["incorporation_country"] = json!("GB");
    body["business"]["incorporation_state"] = Value::Null;
    body
}

#[tokio::test]
async fn a_user_in_an_unsupported_jurisdiction_is_unsupported_and_gets_no_code() {
    let cases: [(&str, &'static str, Value, Value, Value); 2] = [
        (
            "a subdivision",
            "US-NY",
            new_yorker("new-yorker"),
            fixtures::individual("californian"),
            requirements(true, true),
        ),
        (
            "a country",
            "GB",
            british_corporation("british-corp"),
            fixtures::corporation("wyoming-corp"),
            requirements(true, false),
        ),
    ];
    for (case, code, refused, served, initial) in cases {
        let app = spawn_app_with(AppOptions {
            unsupported: vec![code, "CU"],
            ..AppOptions::default()
        })
        .await;
        let key = &app.key_a;
        let refused_id = refused["user_id"].as_str().unwrap();
        let created = app.register_ok(key, &refused).await;
        assert_eq!(created["status"], "UNSUPPORTED", "{case}");
        assert_eq!(created["requirements"], initial, "{case}");
        assert_state(&app, refused_id, "UNSUPPORTED", initial.clone()).await;
        assert!(
            app.messages(key, refused_id).await.is_empty(),
            "{case}: no code for an unsupported user"
        );
        for response in [
            app.send_code(key, refused_id, "email").await,
            app.verify(key, refused_id, "email", "123456").await,
        ] {
            let sentence = refusal(response, StatusCode::UNPROCESSABLE_ENTITY).await;
            assert!(sentence.contains("UNSUPPORTED"), "{case}: {sentence}");
        }

        // Everyone else is served as usual.
        let served_id = served["user_id"].as_str().unwrap();
        let created = app.register_ok(key, &served).await;
        assert_eq!(created["status"], "PENDING", "{case}");
        assert_eq!(app.messages(key, served_id).await.len(), 1, "{case}");

        let events = body_ok(
            app.get_with(key, "/v1/enterprise/events").await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            events["data"][0]["cause"],
            format!("registered in unsupported jurisdiction {code}"),
            "{case}"
        );
    }
}

#[tokio::test]
async fn under_manual_review_a_verified_user_waits_for_an_operator() {
    let app = spawn_app_with(AppOptions {
        policy: ReviewPolicy::Manual,
        ..AppOptions::default()
    })
    .await;
    let key = &app.key_a;
    let enterprise = app.enterprise("enterprise-a").await;
    let password = Password::chosen("a long enough password").unwrap();
    app.onboarding
        .create_operator("ana", Role::Reviewer, &password)
        .await
        .unwrap();
    let ana = app.onboarding.actor("ana").await.unwrap();
    for user_id in ["approved", "rejected", "half-done"] {
        app.register_ok(key, &fixtures::individual(user_id)).await;
        verify_email(&app, user_id).await;
    }
    app.register_ok(key, &fixtures::corporation("corp")).await;
    verify_email(&app, "corp").await;
    assert_state(&app, "corp", "PENDING", requirements(false, false)).await;
    for user_id in ["approved", "rejected"] {
        verify_sms(&app, user_id).await;
        assert_state(&app, user_id, "PENDING", requirements(false, false)).await;
    }

    app.onboarding
        .review(
            &enterprise,
            &uid("approved"),
            true,
            &ana,
            "checked the documents",
        )
        .await
        .unwrap();
    assert_state(&app, "approved", "VERIFIED", requirements(false, false)).await;
    app.onboarding
        .review(
            &enterprise,
            &uid("rejected"),
            false,
            &ana,
            "checked the documents",
        )
        .await
        .unwrap();
    assert_state(&app, "rejected", "UNSUPPORTED", requirements(false, false)).await;

    let outstanding = app
        .onboarding
        .review(
            &enterprise,
            &uid("half-done"),
            true,
            &ana,
            "checked the documents",
        )
        .await;
    assert!(
        matches!(
            &outstanding,
            Err(ServiceError::Refused(Refusal::Outstanding(open))) if open == "sms"
        ),
        "{outstanding:?}"
    );
    assert_state(&app, "half-done", "PENDING", requirements(false, true)).await;

    let twice = app
        .onboarding
        .review(
            &enterprise,
            &uid("approved"),
            true,
            &ana,
            "checked the documents",
        )
        .await;
    assert!(
        matches!(
            twice,
            Err(ServiceError::Refused(Refusal::NotPending("VERIFIED")))
        ),
        "{twice:?}"
    );
    let unknown = app
        .onboarding
        .review(
            &enterprise,
            &uid("nobody"),
            true,
            &ana,
            "checked the documents",
        )
        .await;
    assert!(
        matches!(unknown, Err(ServiceError::NotFound(_))),
        "{unknown:?}"
    );
    let foreign = app.enterprise("enterprise-b").await;
    let elsewhere = app
        .onboarding
        .review(&foreign, &uid("corp"), true, &ana, "checked the documents")
        .await;
    assert!(
        matches!(elsewhere, Err(ServiceError::NotFound(_))),
        "{elsewhere:?}"
    );
    assert_state(&app, "corp", "PENDING", requirements(false, false)).await;

    // A rejected user can verify nothing more.
    let sentence = refusal(
        app.send_code(key, "rejected", "email").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(sentence.contains("UNSUPPORTED"), "{sentence}");

    let events = body_ok(
        app.get_with(key, "/v1/enterprise/events").await,
        StatusCode::OK,
    )
    .await;
    let causes: Vec<(&str, &str)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user"]["user_id"] == "approved" || e["user"]["user_id"] == "rejected")
        .map(|e| {
            (
                e["user"]["user_id"].as_str().unwrap(),
                e["cause"].as_str().unwrap(),
            )
        })
        .filter(|(_, cause)| cause.contains("operator"))
        .collect();
    assert_eq!(
        causes,
        [
            ("approved", "approved by an operator"),
            ("rejected", "rejected by an operator")
        ]
    );
    let decided: Vec<&Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["cause"].as_str().unwrap().contains("operator"))
        .collect();
    for event in &decided {
        assert_eq!(event["operator"], "ana", "{event}");
        assert_eq!(event["note"], "checked the documents", "{event}");
    }
    // The user's own steps name no operator.
    let own = &events["data"][0];
    assert!(
        own.get("operator").is_none() && own.get("note").is_none(),
        "{own}"
    );
}

#[tokio::test]
async fn a_disabled_operator_cannot_approve_and_nothing_changes() {
    let app = spawn_app_with(AppOptions {
        policy: ReviewPolicy::Manual,
        ..AppOptions::default()
    })
    .await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::corporation("corp")).await;
    verify_email(&app, "corp").await;
    let password = Password::chosen("a long enough password").unwrap();
    app.onboarding
        .create_operator("bo", Role::Admin, &password)
        .await
        .unwrap();
    let bo = app.onboarding.actor("bo").await.unwrap();
    app.onboarding.disable_operator("bo").await.unwrap();

    let refused = app.onboarding.actor("bo").await;
    assert!(
        matches!(&refused, Err(ServiceError::Forbidden(why)) if why.contains("disabled")),
        "{refused:?}"
    );
    let unknown = app.onboarding.actor("nobody").await;
    assert!(
        matches!(unknown, Err(ServiceError::NotFound(_))),
        "{unknown:?}"
    );
    // An `Actor` checked before the operator was disabled does not outlive it
    // through `verify_operator` either: the sign-in is refused.
    let signed_in = app
        .onboarding
        .verify_operator("bo", &password)
        .await
        .unwrap();
    assert!(signed_in.is_none());
    assert_eq!(bo.name.as_str(), "bo");
    assert_state(&app, "corp", "PENDING", requirements(false, false)).await;
    let events = body_ok(
        app.get_with(key, "/v1/enterprise/events").await,
        StatusCode::OK,
    )
    .await;
    let by_operator = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("operator").is_some())
        .count();
    assert_eq!(by_operator, 0);
}

#[tokio::test]
async fn each_verification_step_is_an_event_with_the_state_it_left() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    clock.advance(Duration::seconds(5));
    verify_email(&app, "jane").await;
    clock.advance(Duration::seconds(5));
    verify_sms(&app, "jane").await;

    let body = body_ok(
        app.get_with(key, "/v1/enterprise/events").await,
        StatusCode::OK,
    )
    .await;
    let events = body["data"].as_array().unwrap();
    let expected = [
        (
            1,
            "user.registered",
            "registered",
            "PENDING",
            requirements(true, true),
            "09:30:00.125",
        ),
        (
            2,
            "user.updated",
            "email verified",
            "PENDING",
            requirements(false, true),
            "09:30:05.125",
        ),
        (
            3,
            "user.updated",
            "sms verified",
            "VERIFIED",
            requirements(false, false),
            "09:30:10.125",
        ),
    ];
    assert_eq!(events.len(), expected.len(), "{body}");
    for (event, (id, kind, cause, status, reqs, at)) in events.iter().zip(expected) {
        assert_eq!(event["event_id"], id, "{event}");
        assert_eq!(event["type"], kind, "{event}");
        assert_eq!(event["cause"], cause, "{event}");
        assert_eq!(event["created_at"], format!("2025-06-02T{at}Z"), "{event}");
        assert_eq!(event["user"]["user_id"], "jane", "{event}");
        assert_eq!(event["user"]["status"], status, "{event}");
        assert_eq!(event["user"]["requirements"], reqs, "{event}");
    }
    // Refusals write nothing; enterprise B sees none of it.
    assert_error(
        app.send_code(key, "jane", "email").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let after = body_ok(
        app.get_with(key, "/v1/enterprise/events?after=3").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after, json!({"data": []}));
    let other = body_ok(
        app.get_with(&app.key_b, "/v1/enterprise/events").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(other, json!({"data": []}));
}

#[tokio::test]
async fn the_type_is_matched_in_any_case_and_answered_in_lower_case() {
    let app = spawn_app().await;
    let key = &app.key_a;
    app.register_ok(key, &fixtures::individual("jane")).await;
    let code = app.latest_code(key, "jane", "email").await;
    let verified = body_ok(
        app.verify(key, "jane", "EMAIL", &code).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(verified["data"]["type"], "email");
    let sent = body_ok(app.send_code(key, "jane", "Sms").await, StatusCode::OK).await;
    assert_eq!(sent["data"]["type"], "sms");
}

/// A user id as the service takes it.
fn uid(text: &str) -> onboard_core::values::UserId {
    onboard_core::values::UserId::parse(text).unwrap()
}
