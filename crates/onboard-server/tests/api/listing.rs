//! `GET /v1/enterprise/users` filters (CONTRACT §2): `accountRole` in any case,
//! `status`, and 400 for values that are neither.

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures;
use crate::helpers::{TestApp, assert_error, spawn_app};

/// Three individual clients, one corporate client, two advisors.
async fn populate(app: &TestApp) {
    for id in ["advisor_1", "advisor_2"] {
        app.register_ok(&app.key_a, &fixtures::advisor(id)).await;
    }
    for id in ["client_1", "client_2"] {
        app.register_ok(&app.key_a, &fixtures::individual(id)).await;
    }
    app.register_ok(&app.key_a, &fixtures::client_of("client_3", "advisor_1"))
        .await;
    app.register_ok(&app.key_a, &fixtures::corporation("corp_1"))
        .await;
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn account_role_filters_clients_and_advisors_in_any_case() {
    let app = spawn_app().await;
    populate(&app).await;
    let clients = ["client_1", "client_2", "client_3", "corp_1"];
    let advisors = ["advisor_1", "advisor_2"];

    for query in [
        "accountRole=client",
        "accountRole=CLIENT",
        "accountRole=Client",
    ] {
        let users = app.list_ok(&app.key_a, query).await;
        assert!(users.iter().all(|u| u["account_role"] == "Client"));
        assert_eq!(
            sorted(crate::helpers::user_ids(&users)),
            clients,
            "?{query}"
        );
    }
    for query in ["accountRole=advisor", "accountRole=ADVISOR"] {
        let users = app.list_ok(&app.key_a, query).await;
        assert!(users.iter().all(|u| u["account_role"] == "Advisor"));
        assert_eq!(
            sorted(crate::helpers::user_ids(&users)),
            advisors,
            "?{query}"
        );
    }
    assert_eq!(sorted(app.list_ids(&app.key_a, "").await).len(), 6);
}

#[tokio::test]
async fn status_filters_by_verification_status_in_any_case() {
    let app = spawn_app().await;
    populate(&app).await;

    for query in ["status=pending", "status=PENDING"] {
        assert_eq!(app.list_ids(&app.key_a, query).await.len(), 6, "?{query}");
    }
    for query in ["status=verified", "status=UNSUPPORTED"] {
        let response = app.list(&app.key_a, query).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<serde_json::Value>().await.unwrap(),
            json!({"data": []}),
            "?{query}"
        );
    }
    assert_eq!(
        sorted(
            app.list_ids(&app.key_a, "status=pending&accountRole=advisor")
                .await
        ),
        ["advisor_1", "advisor_2"]
    );
}

#[tokio::test]
async fn an_unknown_filter_value_is_400_with_an_error_sentence() {
    let app = spawn_app().await;
    populate(&app).await;
    for query in [
        "accountRole=manager",
        "accountRole=clients",
        "status=approved",
        "status=pending,verified",
        "accountRole=advisor&status=done",
    ] {
        let body = assert_error(app.list(&app.key_a, query).await, StatusCode::BAD_REQUEST).await;
        let error = body["error"].as_str().unwrap();
        let parameter = if query.contains("done") || query.starts_with("status") {
            "status"
        } else {
            "accountRole"
        };
        assert!(
            error.contains(parameter),
            "?{query}: {error:?} does not name {parameter}"
        );
    }
}

#[tokio::test]
async fn an_empty_list_is_an_empty_data_array() {
    let app = spawn_app().await;
    let response = app.list(&app.key_a, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), r#"{"data":[]}"#);

    let response = app.list(&app.key_a, "limit=5").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"data":[],"next_cursor":null}"#
    );
}
