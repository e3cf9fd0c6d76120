//! An empty query value is a value (CONTRACT §1): `?limit=`, `?cursor=`, `?after=`
//! and every other parameter a route takes, given empty, is a 400 whose sentence
//! names the parameter, on every route of the API that reads a query string.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, refusal, spawn_app};

/// Every route that takes query parameters, with each parameter it takes.
const ROUTES: &[(&str, &[&str])] = &[
    (
        "/v1/enterprise/users",
        &["accountRole", "account_role", "status", "limit", "cursor"],
    ),
    ("/v1/enterprise/events", &["after", "limit"]),
    ("/v1/enterprise/eddq/prompts", &["account_type"]),
    (
        "/v1/enterprise/eddq/requests",
        &["user_id", "after", "limit"],
    ),
    ("/v1/enterprise/documents", &["user_id", "after", "limit"]),
    ("/v1/sandbox/messages", &["user_id"]),
    (
        "/v1/enterprise/webhooks/{id}/deliveries",
        &["status", "limit", "cursor"],
    ),
];

async fn endpoint_id(app: &TestApp) -> String {
    let body = json!({"url": "https://hooks.example.com/onboard"});
    let response = app
        .post_json(&app.key_a, "/v1/enterprise/webhooks", &body)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: serde_json::Value = response.json().await.unwrap();
    body["data"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_query_parameter_given_empty_is_a_400_naming_it_on_every_route() {
    let app = spawn_app().await;
    let id = endpoint_id(&app).await;
    for (route, names) in ROUTES {
        let route = route.replace("{id}", &id);
        for name in *names {
            // Alone, after a valid parameter, and before one.
            for query in [
                format!("{name}="),
                name.to_string(),
                format!("unknown=1&{name}="),
                format!("{name}=&unknown=1"),
            ] {
                let path = format!("{route}?{query}");
                let sentence = refusal(
                    app.get_with(&app.key_a, &path).await,
                    StatusCode::BAD_REQUEST,
                )
                .await;
                assert_eq!(
                    sentence,
                    format!(
                        "the query parameter \"{name}\" is empty; give it a value or leave it out"
                    ),
                    "{path}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_parameter_left_out_or_unknown_and_empty_is_still_fine() {
    let app = spawn_app().await;
    for path in [
        "/v1/enterprise/users",
        "/v1/enterprise/users?",
        "/v1/enterprise/users?unknown=",
        "/v1/enterprise/events",
        "/v1/enterprise/eddq/prompts",
        "/v1/enterprise/eddq/requests",
        "/v1/enterprise/documents",
    ] {
        let response = app.get_with(&app.key_a, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}
