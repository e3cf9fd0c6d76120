//! Error statuses and bodies outside validation (CONTRACT §1): 404, 405, 409, 413
//! and 400 for bodies that are not JSON objects. Every one is `{"error": "…"}`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn an_unknown_user_is_404_with_an_error_sentence() {
    let app = spawn_app().await;
    let body = assert_error(
        app.get_user(&app.key_a, "nobody").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["error"]
    );
}

#[tokio::test]
async fn deactivating_an_unknown_user_is_404_with_the_vendor_sentence() {
    let app = spawn_app().await;
    let response = app.deactivate(&app.key_a, "nobody").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"The account does not exist to be disabled."}"#
    );
}

#[tokio::test]
async fn a_path_user_id_that_cannot_be_an_id_gets_each_routes_own_404() {
    let app = spawn_app().await;
    let bad = "not%20an%20id%21";
    let expect = |method: Method, path: String, sentence: &'static str| {
        let request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&app.key_a);
        async move {
            let response = request
                .json(&json!({"type": "email", "otp": "123456"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], sentence, "{path}");
        }
    };
    expect(
        Method::GET,
        format!("/v1/enterprise/users/{bad}"),
        "No user with user_id not an id! exists.",
    )
    .await;
    expect(
        Method::DELETE,
        format!("/v1/enterprise/account/{bad}"),
        "The account does not exist to be disabled.",
    )
    .await;
    expect(
        Method::POST,
        format!("/v1/enterprise/user-tokens/{bad}"),
        "No user with user_id not an id! exists; no token was minted.",
    )
    .await;
    expect(
        Method::POST,
        format!("/v1/enterprise/users/verify/{bad}"),
        "No user with user_id not an id! exists.",
    )
    .await;
    let long = "a".repeat(129);
    let response = app.get_user(&app.key_a, &long).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_route_is_404_with_a_json_error() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/nope",
        "/v1/enterprise/nope",
        "/v1/enterprise/users/a/b",
        "/v2/enterprise/users",
    ] {
        for authorized in [false, true] {
            let mut request = app.client.get(app.url(path));
            if authorized {
                request = request.bearer_auth(&app.key_a);
            }
            let body = assert_error(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
            assert!(body["errors"].is_null(), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn a_method_a_route_does_not_serve_is_405_with_a_json_error_and_an_allow_header() {
    let app = spawn_app().await;
    for (method, path, allowed) in [
        (Method::PUT, "/v1/enterprise/register-account", "POST"),
        (Method::GET, "/v1/enterprise/register-account", "POST"),
        (Method::POST, "/v1/enterprise/users", "GET"),
        (Method::DELETE, "/v1/enterprise/users/someone", "GET"),
        (Method::GET, "/v1/enterprise/account/someone", "DELETE"),
        (Method::POST, "/healthz", "GET"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&app.key_a)
            .send()
            .await
            .unwrap();
        let allow = response
            .headers()
            .get(reqwest::header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert!(
            allow.split(',').any(|m| m.trim() == allowed),
            "{method} {path}: Allow is {allow:?}, expected it to list {allowed}"
        );
    }
}

#[tokio::test]
async fn a_duplicate_user_id_is_409() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;

    // The same id is taken whatever the rest of the body says.
    for body in [
        fixtures::individual("client_account_1"),
        fixtures::corporation("client_account_1"),
    ] {
        let refused =
            assert_error(app.register(&app.key_a, &body).await, StatusCode::CONFLICT).await;
        assert!(refused["errors"].is_null(), "{refused}");
    }
    // The first registration is untouched.
    let user: Value = app
        .get_user(&app.key_a, "client_account_1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["data"]["account_type"], "individual");
    assert_eq!(app.list_ids(&app.key_a, "").await, ["client_account_1"]);
}

#[tokio::test]
async fn the_user_id_of_a_deactivated_user_stays_taken_with_409() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;
    let response = app.deactivate(&app.key_a, "client_account_1").await;
    assert_eq!(response.status(), StatusCode::OK);

    assert_error(
        app.register(&app.key_a, &fixtures::individual("client_account_1"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    // Still deactivated: the refused registration did not bring it back.
    assert_error(
        app.get_user(&app.key_a, "client_account_1").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_user_id_create_it_once() {
    let app = spawn_app().await;
    let body = fixtures::individual("raced");
    let statuses = futures_util::future::join_all(
        (0..10).map(|_| async { app.register(&app.key_a, &body).await.status() }),
    )
    .await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 9), "{statuses:?}");
    assert_eq!(app.list_ids(&app.key_a, "").await, ["raced"]);
}

/// A JSON object of exactly `size` bytes.
fn padded_body(size: usize) -> String {
    let frame = r#"{"account_type":"individual","padding":""}"#;
    let mut body = String::with_capacity(size);
    body.push_str(&frame[..frame.len() - 2]);
    body.push_str(&"x".repeat(size - frame.len()));
    body.push_str(r#""}"#);
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn a_body_over_256_kib_is_413_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    for size in [256 * 1024 + 1, 1024 * 1024] {
        let response = app
            .client
            .post(app.url("/v1/enterprise/register-account"))
            .bearer_auth(&app.key_a)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(padded_body(size))
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer to a {size}-byte body: {e}"));
        assert_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;

        // The next request is served normally.
        let response = app.list(&app.key_a, "").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    app.register_ok(&app.key_a, &fixtures::individual("after_413"))
        .await;
    assert_eq!(app.list_ids(&app.key_a, "").await, ["after_413"]);
}

#[tokio::test]
async fn a_body_of_exactly_256_kib_is_read_and_validated_rather_than_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/enterprise/register-account"))
        .bearer_auth(&app.key_a)
        .body(padded_body(256 * 1024))
        .send()
        .await
        .unwrap();
    // Read in full, then refused for its content (an unknown field, missing ones).
    let body = assert_error(response, StatusCode::BAD_REQUEST).await;
    assert!(body["errors"].is_array(), "{body}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_with_an_error_sentence() {
    let app = spawn_app().await;
    for text in ["{not json", "{\"user_id\": ", "account_type=individual"] {
        let response = app
            .client
            .post(app.url("/v1/enterprise/register-account"))
            .bearer_auth(&app.key_a)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(text)
            .send()
            .await
            .unwrap();
        let body = assert_error(response, StatusCode::BAD_REQUEST).await;
        assert!(body["errors"].is_null(), "{text:?}: {body}");
    }
}

#[tokio::test]
async fn an_empty_body_is_400_with_an_error_sentence() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/enterprise/register-account"))
        .bearer_auth(&app.key_a)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn json_that_is_not_an_object_is_400_naming_the_body() {
    let app = spawn_app().await;
    for body in [json!([]), json!("individual"), json!(42), json!(null)] {
        let refused = assert_error(
            app.register(&app.key_a, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "body", "{body}: {refused}");
    }
}

#[tokio::test]
async fn a_chunked_body_over_256_kib_is_413_too() {
    let app = spawn_app().await;
    // No Content-Length: the limit must hold while the body streams in.
    let chunks: Vec<Result<String, std::io::Error>> = padded_body(300 * 1024)
        .into_bytes()
        .chunks(16 * 1024)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let response = app
        .client
        .post(app.url("/v1/enterprise/register-account"))
        .bearer_auth(&app.key_a)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("no answer to a chunked oversized body");
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.list(&app.key_a, "").await.status(), StatusCode::OK);
}

// Known bug: axum's own `Query` rejection answers `text/plain` (CONTRACT §1 wants
// `{"error": …}`); see src/routes/list.rs, `Query(params): Query<ListParams>`.
#[tokio::test]
async fn a_query_string_that_cannot_be_read_is_400_with_a_json_error() {
    let app = spawn_app().await;
    for query in [
        "limit=5&limit=6",
        "accountRole=client&accountRole=advisor",
        "accountRole=%FF",
    ] {
        assert_error(app.list(&app.key_a, query).await, StatusCode::BAD_REQUEST).await;
    }
}

// Known bug: axum's own `Path` rejection answers `text/plain` (CONTRACT §1 wants
// `{"error": …}`); see src/routes/users.rs, `Path(user_id): Path<String>`.
#[tokio::test]
async fn a_user_id_path_that_is_not_utf8_is_refused_with_a_json_error() {
    let app = spawn_app().await;
    let response = app.get_user(&app.key_a, "%FF").await;
    let status = response.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    assert_error(response, status).await;
    let response = app.deactivate(&app.key_a, "%FF").await;
    let status = response.status();
    assert_error(response, status).await;
}

#[tokio::test]
async fn a_plain_get_on_the_feed_endpoint_is_400_with_a_json_error() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/ws")).send().await.unwrap();
    let body = assert_error(response, StatusCode::BAD_REQUEST).await;
    assert!(
        body["error"].as_str().unwrap().contains("WebSocket"),
        "{body}"
    );
}
