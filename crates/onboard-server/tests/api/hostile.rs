//! Requests shaped to make the server and a proxy in front of it disagree, or to
//! slip past its rules: each is refused with the contract's status and a sentence.
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::console_support::{ConsoleClient, operators};
use crate::documents::{Part, pdf, upload_legacy};
use crate::fixtures;
use crate::helpers::{TestApp, assert_error, problem_fields, spawn_app};
use crate::ws::Ws;

/// Phrases of the framework's and parsers' own messages, which quote the input.
const FRAMEWORK_PHRASES: [&str; 8] = [
    "Failed to deserialize",
    "Invalid URL",
    "Cannot parse",
    "Failed to buffer",
    "invalid type",
    "duplicate field",
    "at line",
    "Expected request with",
];

async fn post_raw(app: &TestApp, path: &str, body: &str) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&app.key_a)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("Failed to execute request")
}

/// A registration body whose `user_id` is written twice: `first`, then `last`.
fn twice_named(first: &str, last: &str) -> String {
    let body = serde_json::to_string(&fixtures::individual(last)).unwrap();
    format!("{{\"user_id\":\"{first}\",{}", &body[1..])
}

#[tokio::test]
async fn a_body_naming_a_key_twice_is_a_400_and_registers_nobody() {
    let app = spawn_app().await;
    let response = post_raw(
        &app,
        "/v1/enterprise/register-account",
        &twice_named("first_id", "last_id"),
    )
    .await;
    let why = assert_error(response, StatusCode::BAD_REQUEST).await;
    let sentence = why["error"].as_str().unwrap();
    assert!(
        sentence.contains("\"user_id\" more than once"),
        "{sentence}"
    );
    for user_id in ["first_id", "last_id"] {
        let response = app.get_user(&app.key_a, user_id).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    // Nested objects are read the same way.
    let nested = r#"{"type":"email","type":"sms"}"#;
    let response = post_raw(&app, "/v1/enterprise/users/send-verification/x", nested).await;
    let why = assert_error(response, StatusCode::BAD_REQUEST).await;
    assert!(why["error"].as_str().unwrap().contains("\"type\""), "{why}");
}

#[tokio::test]
async fn a_feed_message_naming_a_key_twice_is_refused_and_authenticates_nobody() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    let text = format!(
        r#"{{"type":"authenticate","apiKey":"onb_wrong","apiKey":"{}","enterprise":true}}"#,
        app.key_a
    );
    ws.send_text(&text).await;
    let why = ws.expect_error("unknown").await;
    assert!(why.contains("\"apiKey\" more than once"), "{why}");
    // Still not authenticated: a subscription is refused.
    ws.send(&crate::ws::subscribe_message(None)).await;
    ws.expect_error("subscribe").await;
}

#[tokio::test]
async fn two_authorization_headers_are_a_400_whatever_their_order() {
    let app = spawn_app().await;
    let keys = [app.key_a.clone(), app.key_b.clone()];
    for (first, second) in [(&keys[0], &keys[1]), (&keys[1], &keys[0])] {
        let response = app
            .client
            .get(app.url("/v1/enterprise/users"))
            .header(AUTHORIZATION, format!("Bearer {first}"))
            .header(AUTHORIZATION, format!("Bearer {second}"))
            .send()
            .await
            .unwrap();
        let why = assert_error(response, StatusCode::BAD_REQUEST).await;
        let sentence = why["error"].as_str().unwrap();
        assert!(sentence.contains("authorization"), "{sentence}");
        assert!(!sentence.contains("onb_"), "no key is echoed: {sentence}");
    }
    // One header still works.
    let response = app.get_with(&app.key_a, "/v1/enterprise/users").await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Asserts a refusal in the API's JSON with a sentence of the server's own.
async fn assert_own_json_sentence(response: Response, status: StatusCode) {
    let url = response.url().to_string();
    let why = assert_error(response, status).await;
    let sentence = why["error"].as_str().unwrap();
    for phrase in FRAMEWORK_PHRASES {
        assert!(!sentence.contains(phrase), "{url}: {sentence}");
    }
}

/// Asserts a console refusal: its own HTML page, no framework sentence.
async fn assert_own_console_page(response: Response, status: StatusCode) {
    let url = response.url().to_string();
    assert_eq!(response.status(), status, "{url}");
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{url}: {content_type}"
    );
    let html = response.text().await.unwrap();
    for phrase in FRAMEWORK_PHRASES {
        assert!(!html.contains(phrase), "{url}: {html}");
    }
    assert!(!html.contains("acme"), "the input is not reflected: {html}");
}

#[tokio::test]
async fn unreadable_paths_queries_and_bodies_get_sentences_of_our_own_on_every_route() {
    let app = spawn_app().await;
    for path in [
        "/v1/enterprise/users?limit=1&limit=2",
        "/v1/enterprise/users/%FF%FE",
        "/v1/enterprise/events?after=1&after=2",
        "/v1/enterprise/eddq/requests?user_id=a&user_id=b",
        "/v1/enterprise/documents?limit=1&limit=1",
        "/v1/enterprise/webhooks/x/deliveries?acme=1",
        "/v1/enterprise/eddq/prompts?account_type=a&account_type=b",
        "/v1/sandbox/messages?user_id=a&user_id=b",
        "/ws",
    ] {
        let response = app.get_with(&app.key_a, path).await;
        assert_own_json_sentence(response, StatusCode::BAD_REQUEST).await;
    }
    for (path, body) in [
        ("/v1/enterprise/register-account", "{\"acme\": tru"),
        ("/v1/enterprise/user-tokens", "[1, 2"),
        ("/v1/enterprise/webhooks", "{\"url\": \"acme\"} trailing"),
    ] {
        assert_own_json_sentence(post_raw(&app, path, body).await, StatusCode::BAD_REQUEST).await;
    }
    let not_multipart = post_raw(&app, "/v1/enterprise/ddq/upload", "{}").await;
    assert_own_json_sentence(not_multipart, StatusCode::BAD_REQUEST).await;

    operators(&app).await;
    let console = ConsoleClient::signed_in(&app, crate::console_support::ADMIN).await;
    for path in [
        "/console/enterprises/acme/users/u1",
        "/console/enterprises/1/documents/acme",
        "/console/enterprises/99999999999999999999999/users/u1",
    ] {
        assert_own_console_page(console.get(path).await, StatusCode::NOT_FOUND).await;
    }
    for path in [
        "/console/users?status=acme&status=acme",
        "/console/live/events?cursor=a&cursor=b",
    ] {
        assert_own_console_page(console.get(path).await, StatusCode::BAD_REQUEST).await;
    }
    let posted = console
        .post(
            "/console/enterprises/acme/edd/1/review",
            &[("csrf", &console.csrf)],
        )
        .await;
    assert_own_console_page(posted, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn user_ids_made_only_of_dots_are_refused_naming_the_field() {
    let app = spawn_app().await;
    for user_id in [".", "..", "..."] {
        let response = app
            .register(&app.key_a, &fixtures::individual(user_id))
            .await;
        let why = assert_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem_fields(&why), ["user_id"], "{why}");
        let sentence = why["error"].as_str().unwrap();
        assert!(
            sentence.starts_with("user_id must not be only dots"),
            "{sentence}"
        );
    }
    // Dots among other characters are still an id.
    app.register_ok(&app.key_a, &fixtures::individual("a.b..c"))
        .await;
    // Percent-encoded, `..` reaches the server as a path segment and names nobody.
    let response = app
        .get_with(&app.key_a, "/v1/enterprise/users/%2E%2E")
        .await;
    assert_error(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn invisible_format_characters_in_names_are_refused_naming_the_field() {
    let app = spawn_app().await;
    for (field, value) in [
        ("first_name", "\u{202E}nomis"),
        ("last_name", "Smi\u{200B}th"),
        ("first_name", "\u{FEFF}Ann"),
        ("last_name", "Lee\u{2066}"),
    ] {
        let mut body = fixtures::individual("format_user");
        body[field] = json!(value);
        let why = assert_error(
            app.register(&app.key_a, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(problem_fields(&why), [field], "{why}");
        let sentence = why["error"].as_str().unwrap();
        assert!(
            sentence.starts_with(&format!("{field} must not contain invisible")),
            "{sentence}"
        );
        assert!(
            !sentence.contains(value),
            "the value is not echoed: {sentence}"
        );
    }
    // A zero-width non-joiner between two letters is part of a Persian name.
    let mut body = fixtures::individual("format_user");
    body["first_name"] = json!("مهر\u{200C}ناز");
    app.register_ok(&app.key_a, &body).await;
}

#[tokio::test]
async fn a_file_name_with_a_direction_override_is_refused_without_echoing_it() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let spoof = "\u{202E}gnp.exe.pdf";
    let files = [Part::file("files", spoof, pdf(100))];
    let types = json!({ spoof: "ID" }).to_string();
    let response = upload_legacy(&app, &app.key_a, "doc_user", &types, &files).await;
    let why = assert_error(response, StatusCode::BAD_REQUEST).await;
    assert!(problem_fields(&why).contains(&"files".to_owned()), "{why}");
    let sentence = why.to_string();
    assert!(
        sentence.contains("invisible formatting characters"),
        "{sentence}"
    );
    assert!(!sentence.contains("gnp.exe"), "{sentence}");
    assert!(app.documents(&app.key_a, "").await.is_empty());
}

/// Posts the sign-in form with `cookie` as the sign-in cookie and `field` as the
/// form's token, and the right password.
async fn sign_in_with(
    app: &TestApp,
    cookie: &str,
    field: &str,
    extra: Option<(&str, &str)>,
) -> Response {
    let body = serde_urlencoded::to_string([
        ("csrf", field),
        ("name", crate::console_support::ADMIN),
        ("password", crate::console_support::PASSWORD),
    ])
    .unwrap();
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/console/sign-in"))
        .header(reqwest::header::COOKIE, format!("onboard_sign_in={cookie}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

/// A token the server issued, read from its sign-in form.
async fn issued_token(app: &TestApp) -> String {
    let form = ConsoleClient::new(app).get("/console/sign-in").await;
    crate::console_support::csrf_of(&form.text().await.unwrap())
}

fn assert_no_session(response: &Response) {
    assert!(
        crate::console_support::set_cookie(response, "onboard_session").is_none(),
        "no session is opened"
    );
}

#[tokio::test]
async fn a_sign_in_with_a_token_the_server_did_not_issue_is_refused() {
    let clock = crate::helpers::manual_clock();
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions::with_clock(&clock)).await;
    operators(&app).await;
    let issued = issued_token(&app).await;
    let forged = "ab".repeat(issued.len() / 2);
    for token in ["a", forged.as_str()] {
        let response = sign_in_with(&app, token, token, None).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{token}");
        assert_no_session(&response);
    }
    // An issued token, posted from another site, is refused too.
    let response = sign_in_with(
        &app,
        &issued,
        &issued,
        Some(("sec-fetch-site", "cross-site")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_no_session(&response);
    // An issued token an hour and more old has expired.
    clock.advance(time::Duration::minutes(61));
    let response = sign_in_with(&app, &issued, &issued, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_no_session(&response);
    // A fresh one, from the console's own page, signs in.
    let fresh = issued_token(&app).await;
    let response = sign_in_with(
        &app,
        &fresh,
        &fresh,
        Some(("sec-fetch-site", "same-origin")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(crate::console_support::set_cookie(&response, "onboard_session").is_some());
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_get_our_sentence_and_no_echo_of_their_values() {
    let app = spawn_app().await;
    let body = r#"{"user_id": 12345, "form": "acme"}"#;
    let response = post_raw(&app, "/v1/sandbox/eddq/requests", body).await;
    let why = assert_error(response, StatusCode::BAD_REQUEST).await;
    let sentence = why["error"].as_str().unwrap();
    assert!(!sentence.contains("12345"), "{sentence}");
    assert!(!sentence.contains("invalid type"), "{sentence}");

    operators(&app).await;
    let console = ConsoleClient::signed_in(&app, crate::console_support::ADMIN).await;
    let posted = console
        .post(
            "/console/keys/create",
            &[("csrf", &console.csrf), ("enterprise", "acme")],
        )
        .await;
    let status = posted.status();
    let html = posted.text().await.unwrap();
    assert!(status.is_client_error(), "{status}");
    for phrase in FRAMEWORK_PHRASES.iter().chain(&["invalid digit", "acme"]) {
        assert!(!html.contains(phrase), "{html}");
    }
}
