//! Liveness and readiness (CONTRACT §2, extensions): no key needed.

use reqwest::StatusCode;

use crate::helpers::{assert_json_content_type, spawn_app};

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_json_content_type(&response);
}

#[tokio::test]
async fn readyz_answers_200_when_the_database_is_reachable() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_json_content_type(&response);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_never_by_raw_path() {
    let app = spawn_app().await;
    let missing = app.get_user(&app.key_a, "someone@example.com").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let line = r#"onboard_http_requests_total{method="GET",route="/v1/enterprise/users/{user_id}",status="404"} 1"#;
    assert!(text.contains(line), "{text}");
    assert!(text.contains("onboard_http_request_duration_seconds_bucket{"));
    assert!(text.contains("onboard_ws_sessions 0"));
    assert!(
        !text.contains("someone@example.com"),
        "a raw path leaked: {text}"
    );
}
