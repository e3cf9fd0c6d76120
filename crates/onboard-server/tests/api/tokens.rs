//! User auth tokens (CONTRACT §2, §4): minting one or many, what `GET /v1/user`
//! answers with them, and when they stop working. Time moves on a manual clock.

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::Duration;

use crate::fixtures;
use crate::helpers::{
    AppOptions, START, TestApp, UNAUTHORIZED_BODY, assert_error, body_ok, manual_clock,
    problem_fields, refusal, spawn_app, spawn_app_with,
};

const MINT_MANY: &str = "/v1/enterprise/user-tokens";

fn is_token(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Mints one token and insists on 201; returns the token.
async fn mint_ok(app: &TestApp, key: &str, user_id: &str) -> String {
    let body = body_ok(app.mint_token(key, user_id).await, StatusCode::CREATED).await;
    body["data"]["token"].as_str().unwrap().to_owned()
}

/// `GET /v1/user` with `token` answers 200 with `user_id`'s full shape.
async fn assert_token_works(app: &TestApp, token: &str, user_id: &str) {
    let me = body_ok(app.me(token).await, StatusCode::OK).await;
    let user = app.user_ok(&app.key_a, user_id).await;
    assert_eq!(me["data"], user, "the token of {user_id}");
}

/// `GET /v1/user` with `token` answers the vendor's 401.
async fn assert_token_refused(app: &TestApp, token: &str) {
    let response = app.me(token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), UNAUTHORIZED_BODY);
}

#[tokio::test]
async fn a_minted_token_has_the_contract_shape_and_expires_in_24_hours() {
    let clock = manual_clock();
    let app = spawn_app_with(AppOptions::with_clock(&clock)).await;
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;

    let body = body_ok(
        app.mint_token(&app.key_a, "client_account_1").await,
        StatusCode::CREATED,
    )
    .await;
    let data = body["data"].as_object().expect("data is an object");
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["expires", "partner_user_id", "token"]);
    assert_eq!(data["partner_user_id"], "client_account_1");
    let token = data["token"].as_str().unwrap();
    assert!(is_token(token), "{token}");
    // START + 24 h, RFC 3339 UTC with milliseconds.
    assert_eq!(data["expires"], "2025-06-03T09:30:00.125Z");

    assert_token_works(&app, token, "client_account_1").await;
    let me = body_ok(app.me(token).await, StatusCode::OK).await;
    for field in ["id", "individual", "account_purpose", "phone_country_code"] {
        assert!(
            me["data"].get(field).is_some(),
            "the full shape has {field}"
        );
    }

    clock.set(START + Duration::hours(24) - Duration::seconds(1));
    assert_token_works(&app, token, "client_account_1").await;
    clock.set(START + Duration::hours(24));
    assert_token_refused(&app, token).await;
    clock.set(START + Duration::hours(24) + Duration::seconds(1));
    assert_token_refused(&app, token).await;

    // A token minted later lives 24 hours from its own minting.
    let later = body_ok(
        app.mint_token(&app.key_a, "client_account_1").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(later["data"]["expires"], "2025-06-04T09:30:01.125Z");
    assert_token_works(
        &app,
        later["data"]["token"].as_str().unwrap(),
        "client_account_1",
    )
    .await;
}

#[tokio::test]
async fn a_user_may_hold_several_tokens_and_all_of_them_work() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("jane"))
        .await;
    app.register_ok(&app.key_a, &fixtures::corporation("corp"))
        .await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(mint_ok(&app, &app.key_a, "jane").await);
    }
    let corp = mint_ok(&app, &app.key_a, "corp").await;

    let mut distinct = tokens.clone();
    distinct.push(corp.clone());
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "every token is fresh");
    for token in &tokens {
        assert_token_works(&app, token, "jane").await;
    }
    assert_token_works(&app, &corp, "corp").await;
}

#[tokio::test]
async fn deactivating_a_user_revokes_its_tokens_and_stops_new_ones() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("leaving"))
        .await;
    app.register_ok(&app.key_a, &fixtures::individual("staying"))
        .await;
    let leaving = [
        mint_ok(&app, &app.key_a, "leaving").await,
        mint_ok(&app, &app.key_a, "leaving").await,
    ];
    let staying = mint_ok(&app, &app.key_a, "staying").await;

    assert_eq!(
        app.deactivate(&app.key_a, "leaving").await.status(),
        StatusCode::OK
    );
    for token in &leaving {
        assert_token_refused(&app, token).await;
    }
    assert_token_works(&app, &staying, "staying").await;

    let sentence = refusal(
        app.mint_token(&app.key_a, "leaving").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(sentence.contains("leaving"), "{sentence}");
    let many = assert_error(
        app.post_json(
            &app.key_a,
            MINT_MANY,
            &json!({"data": ["staying", "leaving"]}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        many["error"].as_str().unwrap().contains("leaving"),
        "{many}"
    );
}

#[tokio::test]
async fn minting_for_many_users_answers_201_in_the_order_asked() {
    let app = spawn_app().await;
    for user_id in ["a", "b", "c"] {
        app.register_ok(&app.key_a, &fixtures::individual(user_id))
            .await;
    }
    let body = body_ok(
        app.post_json(&app.key_a, MINT_MANY, &json!({"data": ["c", "a", "b"]}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let minted = body["data"].as_array().expect("data is an array");
    let owners: Vec<&str> = minted
        .iter()
        .map(|t| t["partner_user_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["c", "a", "b"]);
    let expires = &minted[0]["expires"];
    for token in minted {
        assert_eq!(token.as_object().unwrap().len(), 3, "{token}");
        assert_eq!(&token["expires"], expires, "one expiry for one call");
        let value = token["token"].as_str().unwrap();
        assert!(is_token(value), "{value}");
        assert_token_works(&app, value, token["partner_user_id"].as_str().unwrap()).await;
    }
}

#[tokio::test]
async fn one_unknown_user_makes_the_whole_batch_404_and_mints_nothing() {
    let app = spawn_app().await;
    for user_id in ["a", "b"] {
        app.register_ok(&app.key_a, &fixtures::individual(user_id))
            .await;
    }
    app.register_ok(&app.key_b, &fixtures::individual("of-b"))
        .await;

    for (case, ids, missing) in [
        ("an unknown id", json!(["a", "ghost", "b"]), "ghost"),
        ("another enterprise's user", json!(["a", "of-b"]), "of-b"),
    ] {
        let response = app
            .post_json(&app.key_a, MINT_MANY, &json!({ "data": ids }))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{case}");
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["error"],
            "{case}: {text}"
        );
        let sentence = body["error"].as_str().unwrap();
        assert!(sentence.contains(missing), "{case}: {sentence}");
        assert!(
            !text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(is_token),
            "{case}: a token leaked in {text}"
        );
    }
    // The known users were not spoiled: a later mint works.
    let token = mint_ok(&app, &app.key_a, "a").await;
    assert_token_works(&app, &token, "a").await;
}

#[tokio::test]
async fn malformed_token_requests_are_400() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("a"))
        .await;
    let cases: [(&str, Value, &[&str]); 6] = [
        ("data is a string", json!({"data": "a"}), &["data"]),
        ("data is empty", json!({"data": []}), &["data"]),
        ("no data", json!({}), &["data"]),
        ("an id is a number", json!({"data": ["a", 7]}), &["data[1]"]),
        (
            "an unknown field",
            json!({"data": ["a"], "ttl": 60}),
            &["ttl"],
        ),
        ("not an object", json!(["a"]), &["body"]),
    ];
    for (case, body, fields) in cases {
        let error = assert_error(
            app.post_json(&app.key_a, MINT_MANY, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(problem_fields(&error), fields, "{case}: {error}");
    }
}

#[tokio::test]
async fn a_token_for_an_unknown_or_foreign_user_is_404() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("of-a"))
        .await;
    for (case, key, user_id) in [
        ("unknown", &app.key_a, "nobody"),
        ("foreign", &app.key_b, "of-a"),
    ] {
        let sentence = refusal(app.mint_token(key, user_id).await, StatusCode::NOT_FOUND).await;
        assert!(sentence.contains(user_id), "{case}: {sentence}");
    }
}

#[tokio::test]
async fn get_v1_user_refuses_anything_but_a_live_user_token() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("a"))
        .await;
    let token = mint_ok(&app, &app.key_a, "a").await;

    let key_a = app.key_a.clone();
    let upper = token.to_uppercase();
    let mut tampered = token.clone();
    tampered.replace_range(..1, if token.starts_with('0') { "1" } else { "0" });
    for (case, bearer) in [
        ("garbage", "garbage"),
        ("an enterprise API key", key_a.as_str()),
        ("a token with one character changed", tampered.as_str()),
        ("the token in upper case", upper.as_str()),
    ] {
        let response = app.me(bearer).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(response.text().await.unwrap(), UNAUTHORIZED_BODY, "{case}");
    }
    let bare = app.client.get(app.url("/v1/user")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bare.text().await.unwrap(), UNAUTHORIZED_BODY);

    // A user token is not an enterprise key either.
    let response = app.list(&token, "").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_token_works(&app, &token, "a").await;
}
