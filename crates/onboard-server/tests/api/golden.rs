//! Golden tests from the vendor's pages, key for key and in the vendor's key order:
//! the full shape of *Get End User*
//! (<https://docs.sfox.com/connect/rest-api/end-users/get-end-user>) and the list shape
//! of *Get Multiple End Users*
//! (<https://docs.sfox.com/connect/rest-api/end-users/get-multiple-end-users>).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{assert_json_content_type, spawn_app};
use crate::ordered::Json;

/// *Get End User*, individual example, top level.
const INDIVIDUAL_USER_KEYS: &[&str] = &[
    "account_type",
    "account_role",
    "user_id",
    "advisor_user_id",
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "account_purpose",
    "account_purpose_other",
    "source_of_funds",
    "source_of_funds_other",
    "id",
    "phone_country_code",
    "intermediary_status",
    "expected_transfer_volume",
    "expected_trade_volume",
    "individual",
    "status",
    "requirements",
];

/// *Get End User*, individual example, `individual {…}`.
const INDIVIDUAL_KEYS: &[&str] = &[
    "dob",
    "residential_country_code",
    "residential_address",
    "residential_city",
    "residential_state",
    "residential_postal_code",
    "id_type",
    "id_number",
    "id_country_code",
    "employment_status",
    "industry",
    "occupation",
    "job_title",
];

/// *Get End User*, corporate example, top level. The vendor's example has no `id`;
/// CONTRACT §2 puts `id` in the full shape, so Onboard sends it in the place the
/// individual example has it: after `source_of_funds_other`.
const CORPORATE_USER_KEYS: &[&str] = &[
    "account_type",
    "account_role",
    "user_id",
    "advisor_user_id",
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "account_purpose",
    "account_purpose_other",
    "source_of_funds",
    "source_of_funds_other",
    "id",
    "phone_country_code",
    "intermediary_status",
    "expected_transfer_volume",
    "expected_trade_volume",
    "business",
    "beneficial_owners",
    "status",
    "requirements",
];

/// *Get End User*, corporate example, `business {…}`.
const BUSINESS_KEYS: &[&str] = &[
    "entity_name",
    "incorporation_country",
    "incorporation_state",
    "organization_type",
    "business_type",
    "registration_number",
    "website",
    "description",
    "incorporation_date",
    "accredited_investor",
    "non_agent_intermediary",
    "principal_place_country",
    "principal_place_state",
    "principal_place_address",
    "principal_place_city",
    "principal_place_postal_code",
];

/// *Get End User*, corporate example, one of `beneficial_owners [...]`.
const BENEFICIAL_OWNER_KEYS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "middle_name",
    "last_name",
    "phone_number",
    "dob",
    "ssn",
    "address_street1",
    "address_city",
    "address_subdivision",
    "address_country_code",
    "address_postal_code",
    "id_type",
    "id_country_code",
    "job_title",
    "employment_status",
    "industry",
    "occupation",
];

/// *Get Multiple End Users*, one element of `data [...]`. (The vendor's first element repeats
/// `advisor_user_id` after `phone_number`, a slip of its page; the second element,
/// and this list, have each key once.)
const LIST_USER_KEYS: &[&str] = &[
    "account_type",
    "account_role",
    "user_id",
    "advisor_user_id",
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "status",
    "requirements",
];

const REQUIREMENTS_KEYS: &[&str] = &["email", "sms"];

/// Registers `body` with A, reads it back with GET, checks that both answers are
/// the same bytes, and returns that body's text.
async fn register_and_read_back(body: &Value) -> String {
    let app = spawn_app().await;
    let user_id = body["user_id"].as_str().unwrap();

    let created = app.register(&app.key_a, body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_json_content_type(&created);
    let created = created.text().await.unwrap();

    let read = app.get_user(&app.key_a, user_id).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_json_content_type(&read);
    let read = read.text().await.unwrap();

    assert_eq!(
        created, read,
        "the 201 body of register-account differs from what GET returns"
    );
    read
}

fn assert_uuid(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string"));
    assert_eq!(text.len(), 36, "{what} {text:?} is not a UUID");
    assert_eq!(
        text.char_indices()
            .filter(|(_, c)| *c == '-')
            .map(|(i, _)| i)
            .collect::<Vec<_>>(),
        [8, 13, 18, 23],
        "{what} {text:?} is not a UUID"
    );
}

#[tokio::test]
async fn the_seed_individual_reads_back_in_the_seed_full_shape_and_key_order() {
    let text = register_and_read_back(&fixtures::individual("client_account_1")).await;

    let doc = Json::parse(&text);
    assert_eq!(doc.keys(), ["data"]);
    let user = doc.get("data");
    assert_eq!(user.keys(), INDIVIDUAL_USER_KEYS);
    assert_eq!(user.get("individual").keys(), INDIVIDUAL_KEYS);
    assert_eq!(user.get("requirements").keys(), REQUIREMENTS_KEYS);

    let mut user: Value = serde_json::from_str::<Value>(&text).unwrap()["data"].take();
    assert_uuid(&user["id"], "id");
    user["id"] = Value::Null;
    // The vendor's values, except what a brand-new user must show: the server's own
    // `id`, status PENDING and every requirement still open (CONTRACT §4).
    let expected = json!({
        "account_type": "individual",
        "account_role": "Client",
        "user_id": "client_account_1",
        "advisor_user_id": null,
        "email": "user_1_mail@address.com",
        "first_name": "Jane",
        "last_name": "Smith",
        "phone_number": "+12243987754",
        "account_purpose": "investing",
        "account_purpose_other": null,
        "source_of_funds": "other",
        "source_of_funds_other": "Salary and investing",
        "id": null,
        "phone_country_code": "US",
        "intermediary_status": null,
        "expected_transfer_volume": null,
        "expected_trade_volume": null,
        "individual": {
            "dob": "1980-01-01",
            "residential_country_code": "US",
            "residential_address": "123 Main St",
            "residential_city": "San Francisco",
            "residential_state": "CA",
            "residential_postal_code": "60622",
            "id_type": "ssn",
            "id_number": "*****6789",
            "id_country_code": "US",
            "employment_status": null,
            "industry": null,
            "occupation": null,
            "job_title": null
        },
        "status": "PENDING",
        "requirements": {
            "email": true,
            "sms": true
        }
    });
    assert_eq!(user, expected);
}

#[tokio::test]
async fn the_seed_corporation_reads_back_in_the_seed_full_shape_with_id_after_source_of_funds_other()
 {
    let text = register_and_read_back(&fixtures::corporation("corp_account_1")).await;

    let doc = Json::parse(&text);
    assert_eq!(doc.keys(), ["data"]);
    let user = doc.get("data");
    assert_eq!(user.keys(), CORPORATE_USER_KEYS);
    assert_eq!(user.get("business").keys(), BUSINESS_KEYS);
    let owners = user.get("beneficial_owners").items();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].keys(), BENEFICIAL_OWNER_KEYS);
    assert_eq!(user.get("requirements").keys(), REQUIREMENTS_KEYS);

    let mut user: Value = serde_json::from_str::<Value>(&text).unwrap()["data"].take();
    assert_uuid(&user["id"], "id");
    assert_uuid(
        &user["beneficial_owners"][0]["id"],
        "beneficial_owners[0].id",
    );
    assert_ne!(user["id"], user["beneficial_owners"][0]["id"]);
    user["id"] = Value::Null;
    user["beneficial_owners"][0]["id"] = Value::Null;
    let expected = json!({
        "account_type": "corporation",
        "account_role": "Client",
        "user_id": "corp_account_1",
        "advisor_user_id": null,
        "email": "corp10@address.com",
        "first_name": "Jane",
        "last_name": "Smith",
        "phone_number": "+12243927599",
        "account_purpose": "arbitrage trading",
        "account_purpose_other": null,
        "source_of_funds": null,
        "source_of_funds_other": null,
        "id": null,
        "phone_country_code": "US",
        "intermediary_status": null,
        "expected_transfer_volume": null,
        "expected_trade_volume": null,
        "business": {
            "entity_name": "Hedge Fund Alpha",
            "incorporation_country": "US",
            "incorporation_state": "WY",
            "organization_type": "LLC",
            "business_type": "Fund Administrator",
            "registration_number": "*****6789",
            "website": null,
            "description": "crypto fund",
            "incorporation_date": "2012-11-15",
            "accredited_investor": true,
            "non_agent_intermediary": false,
            "principal_place_country": "US",
            "principal_place_state": "CA",
            "principal_place_address": "1234 Flower Street",
            "principal_place_city": "Los Angeles",
            "principal_place_postal_code": "90403"
        },
        "beneficial_owners": [{
            "id": null,
            "email": "owner@email.com",
            "first_name": "Benny",
            "middle_name": "S",
            "last_name": "Owner",
            "phone_number": "+13125559988",
            "dob": "1982-10-15",
            "ssn": "*****6789",
            "address_street1": "2322 Clover lane",
            "address_city": "Chicago",
            "address_subdivision": "IL",
            "address_country_code": "US",
            "address_postal_code": "60093",
            "id_type": "passport",
            "id_country_code": "US",
            "job_title": null,
            "employment_status": null,
            "industry": null,
            "occupation": null
        }],
        "status": "PENDING",
        "requirements": {
            "email": true,
            "sms": false
        }
    });
    assert_eq!(user, expected);
}

#[tokio::test]
async fn the_user_list_has_the_seed_list_shape_and_key_order() {
    let app = spawn_app().await;
    // The vendor's pair: a client of an advisor, and the advisor; plus a corporation.
    app.register_ok(&app.key_a, &fixtures::advisor("advisor_account_1"))
        .await;
    app.register_ok(
        &app.key_a,
        &fixtures::client_of("client_account_1", "advisor_account_1"),
    )
    .await;
    app.register_ok(&app.key_a, &fixtures::corporation("corp_account_1"))
        .await;

    let response = app.list(&app.key_a, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_json_content_type(&response);
    let text = response.text().await.unwrap();

    let doc = Json::parse(&text);
    assert_eq!(
        doc.keys(),
        ["data"],
        "the list has no paging keys without limit"
    );
    for user in doc.get("data").items() {
        assert_eq!(user.keys(), LIST_USER_KEYS);
        assert_eq!(user.get("requirements").keys(), REQUIREMENTS_KEYS);
    }

    let body: Value = serde_json::from_str(&text).unwrap();
    let mut users = body["data"].as_array().unwrap().clone();
    users.sort_by_key(|u| u["user_id"].as_str().unwrap().to_owned());
    let expected = json!([
        {
            "account_type": "individual",
            "account_role": "Advisor",
            "user_id": "advisor_account_1",
            "advisor_user_id": null,
            "email": "user_1_mail@address.com",
            "first_name": "Jane",
            "last_name": "Smith",
            "phone_number": "+12243987754",
            "status": "PENDING",
            "requirements": {"email": true, "sms": true}
        },
        {
            "account_type": "individual",
            "account_role": "Client",
            "user_id": "client_account_1",
            "advisor_user_id": "advisor_account_1",
            "email": "user_1_mail@address.com",
            "first_name": "Jane",
            "last_name": "Smith",
            "phone_number": "+12243987754",
            "status": "PENDING",
            "requirements": {"email": true, "sms": true}
        },
        {
            "account_type": "corporation",
            "account_role": "Client",
            "user_id": "corp_account_1",
            "advisor_user_id": null,
            "email": "corp10@address.com",
            "first_name": "Jane",
            "last_name": "Smith",
            "phone_number": "+12243927599",
            "status": "PENDING",
            "requirements": {"email": true, "sms": false}
        }
    ]);
    assert_eq!(Value::Array(users), expected);
}

#[tokio::test]
async fn a_page_of_the_list_has_the_seed_list_shape_then_next_cursor() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("client_account_1"))
        .await;

    let response = app.list(&app.key_a, "limit=10").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc = Json::parse(&response.text().await.unwrap());
    assert_eq!(doc.keys(), ["data", "next_cursor"]);
    assert_eq!(doc.get("next_cursor"), &Json::Null);
    let users = doc.get("data").items();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].keys(), LIST_USER_KEYS);
}
