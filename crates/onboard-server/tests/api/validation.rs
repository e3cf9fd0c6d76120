//! Validation over HTTP (CONTRACT §1, §3): 400 with `errors` listing every problem
//! and `error` summarising the first; the `advisor_user_id` rule, which needs the
//! database, reported beside the others.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{assert_error, problem_fields, spawn_app};

#[tokio::test]
async fn a_request_with_many_problems_lists_every_one_and_summarises_the_first() {
    let app = spawn_app().await;
    let body = json!({
        "account_type": "individual",
        "account_role": "client",
        "user_id": "has spaces",
        "email": " jane@example.com",
        "first_name": "Jane",
        "phone_country_code": "US",
        "phone_number": "2243987754",
        "account_purpose": "Gambling",
        "nickname": "JJ",
        "individual": {
            "dob": "2090-01-01",
            "residential_country_code": "US",
            "residential_address": "123 Main St",
            "residential_city": "San Francisco",
            "residential_state": "ZZ",
            "residential_postal_code": "6062",
            "id_type": "ssn",
            "id_number": "123-45-6789",
            "id_country_code": "US",
            "favourite_colour": "blue"
        }
    });
    let refused = assert_error(
        app.register(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let mut fields = problem_fields(&refused);
    fields.sort();
    let mut expected = vec![
        "user_id",
        "email",
        "last_name",
        "phone_number",
        "account_purpose",
        "nickname",
        "individual.dob",
        "individual.residential_state",
        "individual.residential_postal_code",
        "individual.id_number",
        "individual.favourite_colour",
    ];
    expected.sort();
    assert_eq!(fields, expected, "{refused:#}");

    for problem in refused["errors"].as_array().unwrap() {
        assert_eq!(
            problem.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["field", "message"]
        );
        assert!(!problem["message"].as_str().unwrap().trim().is_empty());
    }
    let first = &refused["errors"][0];
    let summary = refused["error"].as_str().unwrap();
    assert!(
        summary.contains(first["field"].as_str().unwrap())
            && summary.contains(first["message"].as_str().unwrap()),
        "error {summary:?} does not summarise the first problem {first}"
    );

    // Nothing was stored.
    assert!(app.list_ids(&app.key_a, "").await.is_empty());
}

#[tokio::test]
async fn a_known_invalid_ssn_is_refused() {
    let app = spawn_app().await;
    let mut body = fixtures::individual("client_account_1");
    body["individual"]["id_number"] = json!("123-45-6789");
    let refused = assert_error(
        app.register(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["individual.id_number"]);
}

#[tokio::test]
async fn problems_inside_beneficial_owners_name_the_owner_by_index() {
    let app = spawn_app().await;
    let mut body = fixtures::corporation("corp_account_1");
    let mut second = body["beneficial_owners"][0].clone();
    second["phone_number"] = json!("5559998888");
    second["id"] = json!("made-up");
    body["beneficial_owners"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let refused = assert_error(
        app.register(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut fields = problem_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        [
            "beneficial_owners[1].id",
            "beneficial_owners[1].phone_number"
        ],
        "{refused:#}"
    );
}

#[tokio::test]
async fn an_advisor_user_id_that_names_nobody_is_400_on_advisor_user_id() {
    let app = spawn_app().await;
    let refused = assert_error(
        app.register(&app.key_a, &fixtures::client_of("client_1", "ghost"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["advisor_user_id"]);
    assert!(app.list_ids(&app.key_a, "").await.is_empty());
}

#[tokio::test]
async fn an_unknown_advisor_is_reported_together_with_the_other_problems() {
    let app = spawn_app().await;
    let mut body = fixtures::client_of("client_1", "ghost");
    body["email"] = json!("not an email");
    let refused = assert_error(
        app.register(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut fields = problem_fields(&refused);
    fields.sort();
    assert_eq!(fields, ["advisor_user_id", "email"], "{refused:#}");
}

#[tokio::test]
async fn an_advisor_user_id_that_names_a_client_is_400_on_advisor_user_id() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("plain_client"))
        .await;
    let refused = assert_error(
        app.register(&app.key_a, &fixtures::client_of("client_1", "plain_client"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["advisor_user_id"]);
}

#[tokio::test]
async fn an_advisor_user_id_that_names_an_active_advisor_is_201_and_reads_back() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::advisor("advisor_account_1"))
        .await;
    let created = app
        .register_ok(
            &app.key_a,
            &fixtures::client_of("client_account_1", "advisor_account_1"),
        )
        .await;
    assert_eq!(created["advisor_user_id"], "advisor_account_1");

    let read: Value = app
        .get_user(&app.key_a, "client_account_1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["advisor_user_id"], "advisor_account_1");
    assert_eq!(read["data"]["account_role"], "Client");

    // A corporation may have an advisor too.
    let mut corporation = fixtures::corporation("corp_account_1");
    corporation["advisor_user_id"] = json!("advisor_account_1");
    let created = app.register_ok(&app.key_a, &corporation).await;
    assert_eq!(created["advisor_user_id"], "advisor_account_1");
}

#[tokio::test]
async fn an_advisor_that_was_deactivated_cannot_be_named_any_more() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::advisor("advisor_account_1"))
        .await;
    let response = app.deactivate(&app.key_a, "advisor_account_1").await;
    assert_eq!(response.status(), StatusCode::OK);

    let refused = assert_error(
        app.register(
            &app.key_a,
            &fixtures::client_of("client_account_1", "advisor_account_1"),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["advisor_user_id"]);
}

#[tokio::test]
async fn an_advisor_cannot_have_an_advisor() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::advisor("advisor_account_1"))
        .await;
    let mut body = fixtures::advisor("advisor_account_2");
    body["advisor_user_id"] = json!("advisor_account_1");
    let refused = assert_error(
        app.register(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["advisor_user_id"]);
}

#[tokio::test]
async fn fields_the_server_sets_are_refused() {
    let app = spawn_app().await;
    let mut body = fixtures::individual("client_account_1");
    body["id"] = json!("e26bcdeb-6406-11f0-a8e5-12e9c04db554");
    body["status"] = json!("VERIFIED");
    body["requirements"] = json!({"email": false, "sms": false});
    let refused = assert_error(
        app.register(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut fields = problem_fields(&refused);
    fields.sort();
    assert_eq!(fields, ["id", "requirements", "status"]);
}
