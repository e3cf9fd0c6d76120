//! Enhanced due diligence (CONTRACT §7): prompts, requests, answers and their
//! status path, end to end through the real server, with the events they write.

use onboard_core::access::{Password, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::documents::{Part, png, upload_legacy};
use crate::fixtures;
use crate::helpers::{TestApp, assert_error, body_ok, problem_fields, spawn_app};
use crate::ordered::Json;

const REQUEST_KEYS: &[&str] = &[
    "id",
    "user_id",
    "ddq_id",
    "required_form",
    "status",
    "date_added",
    "date_updated",
];

const PROMPT_KEYS: &[&str] = &[
    "id",
    "required_form",
    "prompt_id",
    "ddq_id",
    "account_type",
    "is_required",
    "prompt",
    "response_type",
    "response_options",
    "optional_free_form",
];

/// A success body, and the same body with its keys in wire order.
pub async fn ordered_ok(response: reqwest::Response, status: StatusCode) -> (Value, Json) {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    (serde_json::from_str(&text).unwrap(), Json::parse(&text))
}

fn assert_millis(text: &Value) {
    let text = text.as_str().expect("a timestamp is a string");
    assert!(
        text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
        "{text} is not RFC 3339 with milliseconds"
    );
}

impl TestApp {
    /// A reviewer account named `name`, ready to act.
    pub async fn operator(&self, name: &str) -> onboard_core::service::Actor {
        let password = Password::chosen("a long enough password").unwrap();
        self.onboarding
            .create_operator(name, Role::Reviewer, &password)
            .await
            .unwrap();
        self.onboarding.actor(name).await.unwrap()
    }

    /// `POST /v1/sandbox/eddq/requests {"user_id"}`.
    pub async fn open_edd(&self, key: &str, user_id: &str) -> reqwest::Response {
        self.post_json(
            key,
            "/v1/sandbox/eddq/requests",
            &json!({ "user_id": user_id }),
        )
        .await
    }

    /// `GET /v1/enterprise/eddq/requests?<query>`, insisting on 200.
    pub async fn edd_requests(&self, key: &str, query: &str) -> Vec<Value> {
        let path = format!("/v1/enterprise/eddq/requests?{query}");
        let body = body_ok(self.get_with(key, &path).await, StatusCode::OK).await;
        body["data"].as_array().expect("data is an array").clone()
    }

    pub async fn answer_edd(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post_json(key, "/v1/enterprise/eddq/responses", body)
            .await
    }
}

/// Answers to every prompt of the shipped individual questionnaire; prompt 6
/// (File-Upload, required) names `proof_of_address`.
fn individual_answers(user_id: &str) -> Value {
    json!({
        "user_id": user_id,
        "prompts": {
            "1": {"response": "salary", "optional_free_form": "Software engineer"},
            "2": {"response": "Engineer at Example Corp"},
            "3": {"response": "Under 10,000"},
            "4": {"response": "Saving in bitcoin"},
            "5": {"response": "No"},
            "6": {"response": "proof_of_address"},
        }
    })
}

#[tokio::test]
async fn the_edd_walk_goes_from_requested_to_reviewed_with_every_shape_of_the_contract() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("edd_user"))
        .await;

    // Opened: 201 with the request, and the user's status is left alone.
    let (opened, order) = ordered_ok(
        app.open_edd(&app.key_a, "edd_user").await,
        StatusCode::CREATED,
    )
    .await;
    let request = &opened["data"];
    assert_eq!(order.get("data").keys(), REQUEST_KEYS);
    assert!(request["id"].is_i64(), "{request}");
    assert_eq!(request["user_id"], "edd_user");
    assert_eq!(request["ddq_id"], 1);
    assert_eq!(request["required_form"], "EDDQ - Individual");
    assert_eq!(request["status"], "REQUESTED");
    assert_millis(&request["date_added"]);
    assert_millis(&request["date_updated"]);
    assert_eq!(app.state_of(&app.key_a, "edd_user").await.0, "PENDING");

    // The prompts of its form, every field as the contract lists them.
    let path = "/v1/enterprise/eddq/prompts?account_type=individual";
    let (prompts, order) = ordered_ok(app.get_with(&app.key_a, path).await, StatusCode::OK).await;
    let prompts = prompts["data"].as_array().unwrap().clone();
    assert!((6..=10).contains(&prompts.len()), "{prompts:?}");
    for (prompt, ordered) in prompts.iter().zip(order.get("data").items()) {
        assert_eq!(ordered.keys(), PROMPT_KEYS);
        assert_eq!(prompt["ddq_id"], 1);
        assert_eq!(prompt["account_type"], "individual");
        match prompt["response_type"].as_str().unwrap() {
            "Single-Select" => assert!(prompt["response_options"].is_array(), "{prompt}"),
            "Free-Form" | "File-Upload" => assert!(prompt["response_options"].is_null()),
            other => panic!("unknown response_type {other}"),
        }
    }

    // A required answer missing: 400 naming it, nothing recorded, no event.
    let events_before = app.all_events(&app.key_a).await.len();
    let mut missing = individual_answers("edd_user");
    missing["prompts"].as_object_mut().unwrap().remove("2");
    let refused = assert_error(
        app.answer_edd(&app.key_a, &missing).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["prompts.2"]);
    let requests = app.edd_requests(&app.key_a, "user_id=edd_user").await;
    assert_eq!(requests[0]["status"], "REQUESTED");
    assert_eq!(app.all_events(&app.key_a).await.len(), events_before);

    // Every answer, the named file not uploaded yet: PARTIAL_SUBMISSION.
    let (answered, order) = ordered_ok(
        app.answer_edd(&app.key_a, &individual_answers("edd_user"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(order.get("data").keys(), REQUEST_KEYS);
    assert_eq!(answered["data"]["status"], "PARTIAL_SUBMISSION");

    // The named file arrives: IN_REVIEW.
    let files = [Part::file("files", "proof_of_address.png", png(2_000))];
    let types = r#"{"proof_of_address.png": "PoR"}"#;
    let response = upload_legacy(&app, &app.key_a, "edd_user", types, &files).await;
    let accepted = body_ok(response, StatusCode::ACCEPTED).await;
    assert_eq!(accepted, json!({"message": "Files uploaded successfully"}));
    let requests = app.edd_requests(&app.key_a, "user_id=edd_user").await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["status"], "IN_REVIEW");

    // An operator closes it: REVIEWED, with the operator and note in its event.
    let enterprise = app.enterprise("enterprise-a").await;
    let id = requests[0]["id"].as_i64().unwrap();
    let olivia = app.operator("olivia").await;
    let note = "source of funds checked";
    let reviewed = app
        .onboarding
        .review_edd(&enterprise, id, &olivia, note)
        .await;
    assert_eq!(reviewed.unwrap().status.as_str(), "REVIEWED");
    let requests = app.edd_requests(&app.key_a, "").await;
    assert_eq!(requests[0]["status"], "REVIEWED");
    assert_eq!(app.state_of(&app.key_a, "edd_user").await.0, "PENDING");

    let events = app.all_events(&app.key_a).await;
    let edd: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] != "user.registered")
        .map(|e| {
            let status = e["edd_request"]["status"]
                .as_str()
                .or(e["document"]["filename"].as_str())
                .unwrap_or_default();
            (e["type"].as_str().unwrap(), status)
        })
        .collect();
    assert_eq!(
        edd,
        [
            ("edd.requested", "REQUESTED"),
            ("edd.updated", "PARTIAL_SUBMISSION"),
            ("document.uploaded", "proof_of_address.png"),
            ("edd.updated", "IN_REVIEW"),
            ("edd.updated", "REVIEWED"),
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(
        (&last["operator"], &last["note"]),
        (&json!("olivia"), &json!("source of funds checked"))
    );
    // The events before it were no operator's doing.
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e.get("operator").is_none())
    );
    assert_eq!(last["user"]["user_id"], "edd_user");
}

#[tokio::test]
async fn answers_are_refused_with_every_problem_at_once() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("edd_user"))
        .await;
    body_ok(
        app.open_edd(&app.key_a, "edd_user").await,
        StatusCode::CREATED,
    )
    .await;
    let body = json!({
        "user_id": "edd_user",
        "prompts": {
            "1": {"response": "Lottery"},
            "2": {"response": "Engineer", "optional_free_form": "not taken here"},
            "3": {"response": "Under 10,000", "colour": "blue"},
            "4": {"response": "   "},
            "5": {"response": "No"},
            "6": {"response": "proof.png"},
            "12": {"response": "Loans"},
            "999": {"response": "x"},
        },
        "extra": true
    });
    let refused = assert_error(
        app.answer_edd(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut fields = problem_fields(&refused);
    fields.sort();
    // The top-level problem comes first, alone: the prompts are read only once
    // the body itself is sound.
    assert_eq!(fields, ["extra"]);
    let mut body = body;
    body.as_object_mut().unwrap().remove("extra");
    let refused = assert_error(
        app.answer_edd(&app.key_a, &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let mut fields = problem_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        [
            "prompts.1.response",
            "prompts.12",
            "prompts.2.optional_free_form",
            "prompts.3.colour",
            "prompts.4.response",
            "prompts.6.response",
            "prompts.999",
        ]
    );
    let requests = app.edd_requests(&app.key_a, "user_id=edd_user").await;
    assert_eq!(requests[0]["status"], "REQUESTED");
}

#[tokio::test]
async fn answers_without_an_open_request_are_422_and_for_an_unknown_user_404() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("edd_user"))
        .await;
    let why = assert_error(
        app.answer_edd(&app.key_a, &individual_answers("edd_user"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        why["error"].as_str().unwrap().contains("no EDD request"),
        "{why}"
    );
    assert_error(
        app.answer_edd(&app.key_a, &individual_answers("nobody"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        app.open_edd(&app.key_a, "nobody").await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A required File-Upload prompt cannot be skipped.
    body_ok(
        app.open_edd(&app.key_a, "edd_user").await,
        StatusCode::CREATED,
    )
    .await;
    let mut answers = individual_answers("edd_user");
    answers["prompts"].as_object_mut().unwrap().remove("6");
    let refused = assert_error(
        app.answer_edd(&app.key_a, &answers).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["prompts.6"]);

    // The named file uploaded before the answers: IN_REVIEW at once, and the
    // request takes no more answers.
    let files = [Part::file("files", "proof_of_address.png", png(100))];
    let types = r#"{"proof_of_address.png": "PoR"}"#;
    let response = upload_legacy(&app, &app.key_a, "edd_user", types, &files).await;
    body_ok(response, StatusCode::ACCEPTED).await;
    let answered = body_ok(
        app.answer_edd(&app.key_a, &individual_answers("edd_user"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answered["data"]["status"], "IN_REVIEW");
    assert_error(
        app.answer_edd(&app.key_a, &individual_answers("edd_user"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn a_second_request_while_one_is_open_is_a_conflict_naming_it() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::corporation("corp_user"))
        .await;
    let first = body_ok(
        app.open_edd(&app.key_a, "corp_user").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["data"]["required_form"], "EDDQ - Business");
    assert_eq!(first["data"]["ddq_id"], 2);
    let id = first["data"]["id"].as_i64().unwrap();
    let why = assert_error(
        app.open_edd(&app.key_a, "corp_user").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        why["error"]
            .as_str()
            .unwrap()
            .contains(&format!("request {id}")),
        "{why}"
    );
    // Once reviewed, a new one may be opened.
    let enterprise = app.enterprise("enterprise-a").await;
    let olivia = app.operator("olivia").await;
    app.onboarding
        .review_edd(&enterprise, id, &olivia, "")
        .await
        .unwrap();
    let again = app
        .onboarding
        .review_edd(&enterprise, id, &olivia, "")
        .await;
    assert!(again.unwrap_err().to_string().contains("already REVIEWED"));
    let second = body_ok(
        app.open_edd(&app.key_a, "corp_user").await,
        StatusCode::CREATED,
    )
    .await;
    assert!(second["data"]["id"].as_i64().unwrap() > id);
    assert_eq!(app.edd_requests(&app.key_a, "").await.len(), 2);
    assert_eq!(app.edd_requests(&app.key_a, "user_id=other").await.len(), 0);
}

#[tokio::test]
async fn prompts_are_filtered_by_account_type_and_a_bad_one_is_400() {
    let app = spawn_app().await;
    let all = body_ok(
        app.get_with(&app.key_a, "/v1/enterprise/eddq/prompts")
            .await,
        StatusCode::OK,
    )
    .await;
    let all = all["data"].as_array().unwrap();
    let path = "/v1/enterprise/eddq/prompts?account_type=Corporation";
    let business = body_ok(app.get_with(&app.key_a, path).await, StatusCode::OK).await;
    let business = business["data"].as_array().unwrap();
    assert!(
        business
            .iter()
            .all(|p| p["required_form"] == "EDDQ - Business")
    );
    assert!(business.len() < all.len() && !business.is_empty());
    let path = "/v1/enterprise/eddq/prompts?account_type=robot";
    let why = assert_error(
        app.get_with(&app.key_a, path).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        why["error"].as_str().unwrap().contains("account_type"),
        "{why}"
    );
    for path in [
        "/v1/enterprise/eddq/prompts?account_type=",
        "/v1/enterprise/eddq/requests?user_id=",
        "/v1/enterprise/eddq/requests?user_id=not%20an%20id",
        "/v1/enterprise/eddq/requests?limit=0",
        "/v1/enterprise/documents?after=-1",
        "/v1/enterprise/documents?limit=1001",
    ] {
        let refused = app.get_with(&app.key_a, path).await;
        assert_error(refused, StatusCode::BAD_REQUEST).await;
    }
    let unauthorized = app
        .get_with("onb_nope", "/v1/enterprise/eddq/prompts")
        .await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_enterprises_requests_are_invisible_and_its_users_404() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("a_user"))
        .await;
    body_ok(
        app.open_edd(&app.key_a, "a_user").await,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        app.open_edd(&app.key_b, "a_user").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_error(
        app.answer_edd(&app.key_b, &individual_answers("a_user"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(app.edd_requests(&app.key_b, "").await.is_empty());
    assert!(
        app.edd_requests(&app.key_b, "user_id=a_user")
            .await
            .is_empty()
    );
    let id = app.edd_requests(&app.key_a, "").await[0]["id"]
        .as_i64()
        .unwrap();
    let enterprise_b = app.enterprise("enterprise-b").await;
    let olivia = app.operator("olivia").await;
    let refused = app
        .onboarding
        .review_edd(&enterprise_b, id, &olivia, "")
        .await;
    assert!(
        matches!(
            refused,
            Err(onboard_core::service::ServiceError::NotFound(_))
        ),
        "{refused:?}"
    );
}
