//! One end user's life over REST: registration read-back and deactivation
//! (CONTRACT §2, §3).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn deactivating_a_user_answers_200_with_an_empty_body_and_hides_it() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("leaving"))
        .await;
    app.register_ok(&app.key_a, &fixtures::individual("staying"))
        .await;

    let response = app.deactivate(&app.key_a, "leaving").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");

    assert_error(
        app.get_user(&app.key_a, "leaving").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(app.list_ids(&app.key_a, "").await, ["staying"]);
    assert_eq!(app.list_ids(&app.key_a, "limit=10").await, ["staying"]);
    assert_eq!(
        app.list_ids(&app.key_a, "accountRole=client").await,
        ["staying"]
    );
}

#[tokio::test]
async fn deactivating_a_user_twice_is_404_the_second_time() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::corporation("leaving"))
        .await;
    let response = app.deactivate(&app.key_a, "leaving").await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.deactivate(&app.key_a, "leaving").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"The account does not exist to be disabled."}"#
    );
}

#[tokio::test]
async fn enumerations_sent_in_any_case_come_back_in_the_vendor_casing() {
    let app = spawn_app().await;
    let mut body = fixtures::individual("shouty");
    body["account_type"] = json!("INDIVIDUAL");
    body["account_role"] = json!("ADVISOR");
    body["phone_country_code"] = json!("us");
    body["account_purpose"] = json!("ONLINE PAYMENTS");
    body["source_of_funds"] = json!("Business_Income");
    body["source_of_funds_other"] = Value::Null;
    body["intermediary_status"] = json!("No");
    body["expected_transfer_volume"] = json!("10K_50K");
    body["expected_trade_volume"] = json!("1M_PLUS");
    let individual = &mut body["individual"];
    individual["residential_country_code"] = json!("us");
    individual["residential_state"] = json!("ca");
    individual["id_type"] = json!("SSN");
    individual["id_number"] = json!("521456789");
    individual["id_country_code"] = json!("Us");
    individual["employment_status"] = json!("Self_Employed");
    individual["industry"] = json!("TECHNOLOGY_SOFTWARE");
    individual["occupation"] = json!("Computer_Mathematical");
    individual["job_title"] = json!("  Engineer  ");

    let created = app.register_ok(&app.key_a, &body).await;
    let read: Value = app
        .get_user(&app.key_a, "shouty")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created, read["data"]);

    assert_eq!(created["account_type"], "individual");
    assert_eq!(created["account_role"], "Advisor");
    assert_eq!(created["phone_country_code"], "US");
    assert_eq!(created["account_purpose"], "online payments");
    assert_eq!(created["source_of_funds"], "business_income");
    assert_eq!(created["source_of_funds_other"], Value::Null);
    assert_eq!(created["intermediary_status"], "no");
    assert_eq!(created["expected_transfer_volume"], "10k_50k");
    assert_eq!(created["expected_trade_volume"], "1m_plus");
    let individual = &created["individual"];
    assert_eq!(individual["residential_country_code"], "US");
    assert_eq!(individual["residential_state"], "CA");
    assert_eq!(individual["id_type"], "ssn");
    assert_eq!(individual["id_number"], "*****6789");
    assert_eq!(individual["id_country_code"], "US");
    assert_eq!(individual["employment_status"], "self_employed");
    assert_eq!(individual["industry"], "technology_software");
    assert_eq!(individual["occupation"], "computer_mathematical");
    assert_eq!(individual["job_title"], "Engineer");
}

#[tokio::test]
async fn no_response_ever_carries_a_full_identity_number() {
    let app = spawn_app().await;
    let created = app
        .register(&app.key_a, &fixtures::corporation("corp_account_1"))
        .await
        .text()
        .await
        .unwrap();
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;
    let mut bodies = vec![created];
    for user in ["corp_account_1", "client_account_1"] {
        bodies.push(app.get_user(&app.key_a, user).await.text().await.unwrap());
    }
    bodies.push(app.list(&app.key_a, "").await.text().await.unwrap());
    for body in bodies {
        for secret in [
            "521-45-6789",
            "521456789",
            "P01556789",
            "WY-2012-556789",
            "2012-5567",
        ] {
            assert!(!body.contains(secret), "{secret} leaked in {body}");
        }
    }
}

#[tokio::test]
async fn a_user_id_with_every_allowed_punctuation_mark_round_trips() {
    let app = spawn_app().await;
    let user_id = "Jane.Doe_1-x:y@example.com";
    app.register_ok(&app.key_a, &fixtures::individual(user_id))
        .await;

    let read: Value = app
        .get_user(&app.key_a, user_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["user_id"], user_id);
    assert_eq!(app.list_ids(&app.key_a, "").await, [user_id]);

    let response = app.deactivate(&app.key_a, user_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        app.get_user(&app.key_a, user_id).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
