//! Screenshots of the console's main pages for the docs (`docs/console/*.png`),
//! taken through the same headless Chromium as the browser tests. Ignored: run
//! `cargo test -p onboard-server --test api console_screenshots -- --ignored`.

use std::path::PathBuf;
use std::time::Duration;

use onboard_core::lifecycle::ReviewPolicy;
use onboard_testkit::browser::Browser;
use serde_json::json;

use crate::console_support::{ADMIN, PASSWORD, operators, reviewable};
use crate::helpers::{AppOptions, TestApp, spawn_app_with};

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console")
}

async fn shoot(browser: &Browser, app: &TestApp, path: &str, name: &str) {
    if !path.is_empty() {
        browser
            .client
            .goto(&format!("{}{path}", app.address))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = browser.client.screenshot().await.unwrap();
    std::fs::write(docs().join(format!("{name}.png")), png).unwrap();
}

async fn seed(app: &TestApp) {
    operators(app).await;
    for user_id in ["maria-lopez", "jon-park", "ines-costa"] {
        reviewable(app, user_id).await;
    }
    for user_id in ["new-arrival", "half-way"] {
        app.register_ok(&app.key_b, &onboard_testkit::fixtures::individual(user_id))
            .await;
    }
    app.verify_email(&app.key_b, "half-way").await;
    app.post_json(
        &app.key_a,
        "/v1/sandbox/eddq/requests",
        &json!({"user_id": "jon-park"}),
    )
    .await;
}

#[tokio::test]
#[ignore = "writes docs/console/*.png; run on purpose"]
async fn console_screenshots() {
    let app = spawn_app_with(AppOptions {
        policy: ReviewPolicy::Manual,
        ..AppOptions::default()
    })
    .await;
    seed(&app).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    std::fs::create_dir_all(docs()).unwrap();
    shoot(&browser, &app, "/console/sign-in", "sign-in").await;
    crate::console_browser::sign_in(&browser, &app, ADMIN, PASSWORD).await;
    shoot(&browser, &app, "/console/review", "review").await;
    let enterprise = app.enterprise("enterprise-a").await.id.0;
    let user = format!("/console/enterprises/{enterprise}/users/maria-lopez");
    shoot(&browser, &app, &user, "user").await;
    shoot(&browser, &app, "/console/users", "users").await;
    shoot(&browser, &app, "/console/edd", "edd").await;
    shoot(&browser, &app, "/console/keys", "keys").await;
    browser
        .client
        .goto(&format!("{}/console/live", app.address))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for user_id in ["live-one", "live-two"] {
        app.register_ok(&app.key_a, &onboard_testkit::fixtures::individual(user_id))
            .await;
    }
    app.verify_email(&app.key_a, "live-one").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shoot(&browser, &app, "", "live").await;
    browser.close().await;
}
