//! The console's EDD and admin pages over plain HTTP (CONTRACT §10): Mark
//! reviewed, keys shown once that work over REST, operators, webhooks, outbox.

use reqwest::StatusCode;
use serde_json::json;

use crate::console_support::{ADMIN, ConsoleClient, REVIEWER, app, reviewable};
use crate::helpers::body_ok;

/// The secret a page shows once.
fn shown_secret(html: &str) -> String {
    let marker = r#"id="shown-secret">"#;
    let start = html.find(marker).expect("a secret is shown") + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_reviewer_marks_an_edd_request_reviewed_with_a_note() {
    let app = app().await;
    reviewable(&app, "edd-user").await;
    let opened = app
        .post_json(
            &app.key_a,
            "/v1/sandbox/eddq/requests",
            &json!({"user_id": "edd-user"}),
        )
        .await;
    let request = body_ok(opened, StatusCode::CREATED).await;
    let id = request["data"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{request}"));
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let html = console.page("/console/edd").await;
    assert!(
        html.contains("edd-user") && html.contains("Mark reviewed"),
        "{html}"
    );
    let enterprise = app.enterprise("enterprise-a").await.id.0;
    let action = format!("/console/enterprises/{enterprise}/edd/{id}/review");
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("note", "source of funds checked"),
    ];
    let response = console.post(&action, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = console.page("/console/edd").await;
    assert!(
        !html.contains("Mark reviewed"),
        "no request is open any more"
    );
    let user = console
        .page(&console.user_path(&app, "edd-user").await)
        .await;
    assert!(user.contains("REVIEWED") && user.contains("source of funds checked"));
    let events = app.all_events(&app.key_a).await;
    let last = events.last().unwrap();
    assert_eq!(last["operator"], REVIEWER, "{last}");
    assert_eq!(last["note"], "source of funds checked", "{last}");
}

#[tokio::test]
async fn an_admin_creates_a_key_shown_once_that_works_and_revokes_it() {
    let app = app().await;
    let console = ConsoleClient::signed_in(&app, ADMIN).await;
    let enterprise = app.enterprise("enterprise-b").await;
    let id = enterprise.id.0.to_string();
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("enterprise", id.as_str()),
        ("label", "from the console"),
        ("expires_in", ""),
    ];
    let response = console.post("/console/keys/create", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let key = shown_secret(&response.text().await.unwrap());
    assert_eq!(
        app.list(&key, "").await.status(),
        StatusCode::OK,
        "the new key works"
    );
    let listing = console.page("/console/keys").await;
    assert!(!listing.contains(&key), "the key is shown only once");
    assert!(listing.contains("from the console"));

    let record = app.onboarding.keys_of(&enterprise).await.unwrap();
    let made = record
        .iter()
        .find(|k| k.label == "from the console")
        .unwrap();
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("enterprise", id.as_str()),
        ("key", made.id.as_str()),
    ];
    let response = console.post("/console/keys/revoke", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while app.list(&key, "").await.status() != StatusCode::UNAUTHORIZED {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_admin_creates_an_operator_whose_password_is_shown_once() {
    let app = app().await;
    let console = ConsoleClient::signed_in(&app, ADMIN).await;
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("name", "newcomer"),
        ("role", "reviewer"),
    ];
    let response = console.post("/console/operators/create", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let password = shown_secret(&response.text().await.unwrap());
    let newcomer = ConsoleClient::new(&app)
        .try_sign_in("newcomer", &password)
        .await;
    assert_eq!(newcomer.status(), StatusCode::SEE_OTHER);
    let fields = [("csrf", console.csrf.as_str()), ("name", "newcomer")];
    let response = console.post("/console/operators/disable", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refused = ConsoleClient::new(&app)
        .try_sign_in("newcomer", &password)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_webhooks_page_lists_endpoints_and_replays() {
    let app = app().await;
    app.register_ok(&app.key_a, &onboard_testkit::fixtures::individual("hooked"))
        .await;
    let created = app
        .post_json(
            &app.key_a,
            "/v1/enterprise/webhooks",
            &json!({"url": "https://hooks.example.com/onboard", "description": "crm"}),
        )
        .await;
    let endpoint = body_ok(created, StatusCode::CREATED).await;
    let id = endpoint["data"]["id"].as_str().unwrap().to_owned();
    let console = ConsoleClient::signed_in(&app, ADMIN).await;
    let html = console.page("/console/webhooks").await;
    assert!(html.contains(&id) && html.contains("https://hooks.example.com/onboard"));
    let enterprise = app.enterprise("enterprise-a").await.id.0;
    let page = format!("/console/enterprises/{enterprise}/webhooks/{id}");
    console.page(&page).await;
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("after", "0"),
        ("event_id", ""),
    ];
    let response = console.post(&format!("{page}/replay"), &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let enterprise = app.enterprise("enterprise-a").await;
    let endpoint = app.onboarding.endpoint(&enterprise, &id).await.unwrap();
    assert_eq!(endpoint.cursor, 0, "replay moved the cursor back");
}

#[tokio::test]
async fn the_outbox_page_shows_sandbox_codes() {
    let app = app().await;
    app.register_ok(&app.key_a, &onboard_testkit::fixtures::individual("boxed"))
        .await;
    let code = app.email_code(&app.key_a, "boxed").await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let html = console.page("/console/outbox").await;
    assert!(html.contains("boxed") && html.contains(&code), "{html}");
}

#[tokio::test]
async fn the_user_page_shows_uploaded_documents_inline() {
    use crate::documents::{Part, png, upload_legacy};
    let app = app().await;
    reviewable(&app, "with-doc").await;
    let bytes = png(2000);
    let files = [Part::file("files", "passport.png", bytes.clone())];
    let uploaded = upload_legacy(
        &app,
        &app.key_a,
        "with-doc",
        r#"{"passport.png": "ID"}"#,
        &files,
    )
    .await;
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let html = console
        .page(&console.user_path(&app, "with-doc").await)
        .await;
    let marker = r#"<img src=""#;
    let start = html.find(marker).expect("the document is shown inline") + marker.len();
    let src = html[start..].split('"').next().unwrap().to_owned();
    let response = console.get(&src).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Without a session, no document.
    let anonymous = ConsoleClient::new(&app).get(&src).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}
