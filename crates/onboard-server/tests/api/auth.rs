//! `Authorization: Bearer <enterprise API key>` on every `/v1/enterprise/*` route
//! (CONTRACT §1), with the vendor's 401 body verbatim.

use reqwest::{Method, StatusCode};

use crate::fixtures;
use crate::helpers::{TestApp, UNAUTHORIZED_BODY, assert_json_content_type, spawn_app};

/// Every enterprise route, as (method, path).
const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/v1/enterprise/register-account"),
    (Method::GET, "/v1/enterprise/users"),
    (Method::GET, "/v1/enterprise/users?limit=5"),
    (Method::GET, "/v1/enterprise/users/client_account_1"),
    (Method::DELETE, "/v1/enterprise/account/client_account_1"),
];

/// Sends every route with `authorization` (or none) and expects the vendor's 401.
async fn assert_every_route_refuses(app: &TestApp, authorization: Option<&str>) {
    for (method, path) in ROUTES {
        let mut request = app.client.request(method.clone(), app.url(path));
        if let Some(value) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        if *method == Method::POST {
            request = request.json(&fixtures::individual("client_account_1"));
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with {authorization:?}"
        );
        assert_json_content_type(&response);
        assert_eq!(
            response.text().await.unwrap(),
            UNAUTHORIZED_BODY,
            "{method} {path} with {authorization:?}"
        );
    }
}

#[tokio::test]
async fn a_request_without_an_authorization_header_is_401_with_the_vendor_sentence() {
    let app = spawn_app().await;
    assert_every_route_refuses(&app, None).await;
}

#[tokio::test]
async fn a_request_with_an_unknown_key_is_401_with_the_vendor_sentence() {
    let app = spawn_app().await;
    let wrong = format!("Bearer onb_{}", "0".repeat(64));
    assert_every_route_refuses(&app, Some(&wrong)).await;
    // A real key with one character changed is just as unknown.
    let mut almost = app.key_a.clone();
    let last = almost.pop().unwrap();
    almost.push(if last == 'a' { 'b' } else { 'a' });
    assert_every_route_refuses(&app, Some(&format!("Bearer {almost}"))).await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_401_with_the_vendor_sentence() {
    let app = spawn_app().await;
    let bare_key = app.key_a.clone();
    let basic_with_key = format!("Basic {}", app.key_a);
    let glued = format!("Bearer{}", app.key_a);
    for header in [
        "Basic x",
        basic_with_key.as_str(),
        "Bearer",
        "Bearer ",
        "Bearer    ",
        bare_key.as_str(),
        glued.as_str(),
        "",
    ] {
        assert_every_route_refuses(&app, Some(header)).await;
    }
}

#[tokio::test]
async fn authentication_is_checked_before_the_body_is_read() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/enterprise/register-account"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), UNAUTHORIZED_BODY);
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .client
            .get(app.url("/v1/enterprise/users"))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{scheme} {}", app.key_a),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "scheme {scheme}");
    }
}

#[tokio::test]
async fn each_enterprise_key_works_on_its_own() {
    let app = spawn_app().await;
    for key in [&app.key_a, &app.key_b] {
        app.register_ok(key, &fixtures::individual("client_account_1"))
            .await;
        let response = app.get_user(key, "client_account_1").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
