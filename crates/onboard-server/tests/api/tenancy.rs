//! Each enterprise sees only its own users (CONTRACT §1).

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures;
use crate::helpers::{assert_error, problem_fields, spawn_app};

#[tokio::test]
async fn a_user_of_enterprise_a_is_404_for_enterprise_b_on_get_and_delete() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;

    assert_error(
        app.get_user(&app.key_b, "client_account_1").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let refused = assert_error(
        app.deactivate(&app.key_b, "client_account_1").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        refused,
        json!({"error": "The account does not exist to be disabled."})
    );

    // B's DELETE did not touch A's user.
    let response = app.get_user(&app.key_a, "client_account_1").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.list_ids(&app.key_a, "").await, ["client_account_1"]);
}

#[tokio::test]
async fn a_user_of_enterprise_a_is_absent_from_every_list_of_enterprise_b() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;
    app.register_ok(&app.key_a, &fixtures::advisor("advisor_account_1"))
        .await;
    app.register_ok(&app.key_b, &fixtures::corporation("corp_of_b"))
        .await;

    for query in [
        "",
        "limit=1000",
        "accountRole=client",
        "accountRole=advisor",
        "status=pending",
    ] {
        let ids = app.list_ids(&app.key_b, query).await;
        assert!(
            !ids.iter().any(|id| id.ends_with("account_1")),
            "B's list ?{query} shows A's users: {ids:?}"
        );
    }
    assert_eq!(app.list_ids(&app.key_b, "").await, ["corp_of_b"]);
}

#[tokio::test]
async fn enterprise_b_may_register_a_user_id_that_enterprise_a_already_uses() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("shared_id"))
        .await;

    let mut theirs = fixtures::individual("shared_id");
    theirs["first_name"] = json!("Bob");
    let response = app.register(&app.key_b, &theirs).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Two users now, one per enterprise, each reading back its own.
    let read = |key: String| {
        let app = &app;
        async move {
            let response = app.get_user(&key, "shared_id").await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<serde_json::Value>().await.unwrap()["data"].clone()
        }
    };
    let a = read(app.key_a.clone()).await;
    let b = read(app.key_b.clone()).await;
    assert_eq!(a["first_name"], "Jane");
    assert_eq!(b["first_name"], "Bob");
    assert_ne!(a["id"], b["id"]);

    // Deactivating B's user leaves A's alone.
    let response = app.deactivate(&app.key_b, "shared_id").await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get_user(&app.key_a, "shared_id").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_cannot_name_an_advisor_of_another_enterprise() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::advisor("advisor_of_a"))
        .await;

    let body = assert_error(
        app.register(
            &app.key_b,
            &fixtures::client_of("client_of_b", "advisor_of_a"),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&body), ["advisor_user_id"]);
}
