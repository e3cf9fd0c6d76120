//! The console in a real headless Chromium (CONTRACT §10): what an operator
//! does, end to end, checked over the REST API. Each test has its own server and
//! its own browser ([`onboard_testkit::browser`]); where no browser is installed
//! they are skipped, saying so (CI requires one).

use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::key::Key;
use onboard_testkit::browser::Browser;

use crate::console_support::{ADMIN, FULL_SSN, MASKED_SSN, PASSWORD, REVIEWER, app, reviewable};
use crate::helpers::TestApp;

/// Types into the labelled field `id`.
async fn fill(browser: &Browser, id: &str, text: &str) {
    let field = browser
        .client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no field #{id}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn source(browser: &Browser) -> String {
    browser.client.source().await.unwrap()
}

/// Signs in through the form, as a person would, and waits for the next page.
pub(crate) async fn sign_in(browser: &Browser, app: &TestApp, name: &str, password: &str) {
    browser
        .client
        .goto(&format!("{}/console/sign-in", app.address))
        .await
        .unwrap();
    fill(browser, "name", name).await;
    fill(browser, "password", password).await;
    let button = browser
        .client
        .find(Locator::XPath("//button[text()='Sign in']"))
        .await
        .unwrap();
    // The sign-in page has a heading too: mark it, so that the wait below is for
    // the heading of the page the form leads to, not the one still shown.
    browser
        .client
        .execute("document.body.setAttribute('data-left', '')", Vec::new())
        .await
        .unwrap();
    button.click().await.unwrap();
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("body:not([data-left]) main h1"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_operator_signs_in_reviews_a_user_by_keyboard_and_the_log_names_them() {
    let app = app().await;
    reviewable(&app, "queued-user").await;
    let Some(browser) = Browser::start().await else {
        return;
    };

    // A wrong password keeps the form, and the name typed, and says so.
    sign_in(&browser, &app, REVIEWER, "not the password").await;
    let html = source(&browser).await;
    assert!(
        html.contains("The name or the password is wrong."),
        "{html}"
    );
    let kept = browser.client.find(Locator::Id("name")).await.unwrap();
    assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some(REVIEWER));
    assert!(browser.client.find(Locator::Id("password")).await.is_ok());

    // Signed in, the review queue lists the user; open it.
    sign_in(&browser, &app, REVIEWER, PASSWORD).await;
    let heading = browser.client.find(Locator::Css("main h1")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "Review queue");
    browser
        .client
        .find(Locator::LinkText("queued-user"))
        .await
        .expect("the queue lists the user")
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("note"))
        .await
        .unwrap();
    let html = source(&browser).await;
    assert!(html.contains(MASKED_SSN), "the masked number is shown");
    let digits: String = FULL_SSN.chars().filter(char::is_ascii_digit).collect();
    assert!(!html.contains(FULL_SSN) && !html.contains(&digits));

    // Keyboard only: type the note, Tab to Approve, press Enter.
    let note = browser.client.find(Locator::Id("note")).await.unwrap();
    note.click().await.unwrap();
    note.send_keys("identity documents match").await.unwrap();
    note.send_keys(&char::from(Key::Tab).to_string())
        .await
        .unwrap();
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Approve");
    focused
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = app.state_of(&app.key_a, "queued-user").await;
        if status == "VERIFIED" {
            break;
        }
        assert!(Instant::now() < deadline, "the user is still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = app.all_events(&app.key_a).await;
    let approval = events.last().unwrap();
    assert_eq!(approval["user"]["status"], "VERIFIED", "{approval}");
    assert_eq!(approval["operator"], REVIEWER, "{approval}");
    assert_eq!(approval["note"], "identity documents match", "{approval}");
    browser.close().await;
}

#[tokio::test]
async fn a_reviewer_cannot_reach_the_keys_page_in_the_browser() {
    let app = app().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    sign_in(&browser, &app, REVIEWER, PASSWORD).await;
    assert!(
        browser
            .client
            .find(Locator::LinkText("Keys"))
            .await
            .is_err(),
        "a reviewer's nav has no Keys"
    );
    browser
        .client
        .goto(&format!("{}/console/keys", app.address))
        .await
        .unwrap();
    let html = source(&browser).await;
    assert!(html.contains("This page is for admins"), "{html}");
    assert!(!html.contains("Create a key"));
    browser.close().await;

    let Some(browser) = Browser::start().await else {
        return;
    };
    sign_in(&browser, &app, ADMIN, PASSWORD).await;
    browser
        .client
        .find(Locator::LinkText("Keys"))
        .await
        .expect("an admin's nav has Keys")
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("create-heading"))
        .await
        .unwrap();
    browser.close().await;
}

#[tokio::test]
async fn the_live_page_shows_a_registration_made_over_rest_within_two_seconds() {
    let app = app().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    sign_in(&browser, &app, REVIEWER, PASSWORD).await;
    browser
        .client
        .goto(&format!("{}/console/live", app.address))
        .await
        .unwrap();
    // htmx has started polling once the waiting row has gone to the server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.register_ok(
        &app.key_a,
        &onboard_testkit::fixtures::individual("live-one"),
    )
    .await;
    let registered = Instant::now();
    let row = browser
        .client
        .wait()
        .at_most(Duration::from_secs(2))
        .for_element(Locator::XPath(
            "//tr[contains(@class,'live-event')][td[text()='live-one']]",
        ))
        .await
        .expect("the registration appears on the Live page within 2 s");
    assert!(registered.elapsed() <= Duration::from_secs(2));
    assert!(row.text().await.unwrap().contains("user.registered"));
    browser.close().await;
}

#[tokio::test]
async fn a_form_posted_without_its_token_is_refused_in_the_browser() {
    let app = app().await;
    reviewable(&app, "forged").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    sign_in(&browser, &app, REVIEWER, PASSWORD).await;
    let enterprise = app.enterprise("enterprise-a").await.id.0;
    browser
        .client
        .goto(&format!(
            "{}/console/enterprises/{enterprise}/users/forged",
            app.address
        ))
        .await
        .unwrap();
    // Remove the form's token, as a forged form would lack it, then submit.
    browser
        .client
        .execute(
            "document.querySelector('form[action$=\"/review\"] input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    fill(&browser, "note", "forged").await;
    browser
        .client
        .find(Locator::XPath("//button[text()='Approve']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("p.problem"))
        .await
        .unwrap();
    let html = source(&browser).await;
    assert!(
        html.contains("anti-forgery token is missing or wrong"),
        "{html}"
    );
    let (status, _) = app.state_of(&app.key_a, "forged").await;
    assert_eq!(status, "PENDING");
    browser.close().await;
}
