//! What the console tests share: two operators, a user waiting for review, and
//! an HTTP client that signs in as a browser would (cookies kept by hand,
//! redirects not followed, so that each answer can be checked).

use onboard_core::access::{Password, Role};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};

use onboard_core::lifecycle::ReviewPolicy;

use crate::helpers::{AppOptions, TestApp, body_ok, spawn_app_with};

pub const ADMIN: &str = "ada";
pub const REVIEWER: &str = "rex";
pub const PASSWORD: &str = "correct horse battery staple";
/// The identity number of the user `reviewable` registers, and how it shows.
pub const FULL_SSN: &str = "521-45-6789";
pub const MASKED_SSN: &str = "*****6789";

/// A server whose users wait for an operator's review, with the console's
/// operators ([`operators`]).
pub async fn app() -> TestApp {
    let app = spawn_app_with(AppOptions {
        policy: ReviewPolicy::Manual,
        ..AppOptions::default()
    })
    .await;
    operators(&app).await;
    app
}

/// An admin and a reviewer, both with [`PASSWORD`].
pub async fn operators(app: &TestApp) {
    let password = Password::chosen(PASSWORD).unwrap();
    for (name, role) in [(ADMIN, Role::Admin), (REVIEWER, Role::Reviewer)] {
        app.onboarding
            .create_operator(name, role, &password)
            .await
            .expect("Failed to create an operator");
    }
}

/// Registers an individual in enterprise A and verifies its email and phone:
/// under manual review it then waits in the review queue.
pub async fn reviewable(app: &TestApp, user_id: &str) {
    let key = &app.key_a;
    app.register_ok(key, &onboard_testkit::fixtures::individual(user_id))
        .await;
    app.verify_email(key, user_id).await;
    body_ok(app.send_code(key, user_id, "sms").await, StatusCode::OK).await;
    let code = app.latest_code(key, user_id, "sms").await;
    body_ok(app.verify(key, user_id, "sms", &code).await, StatusCode::OK).await;
}

/// The `name=value` of a `Set-Cookie` header named `name`, and the whole header.
pub fn set_cookie(response: &Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
}

/// The first anti-forgery token of a page's forms.
pub fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("the page has a form") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub struct ConsoleClient {
    pub address: String,
    pub client: reqwest::Client,
    /// `onboard_session=…`, once signed in.
    pub cookie: String,
    pub csrf: String,
}

impl ConsoleClient {
    pub fn new(app: &TestApp) -> ConsoleClient {
        ConsoleClient {
            address: app.address.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: String::new(),
            csrf: String::new(),
        }
    }

    /// Fetches the sign-in form and posts `name` and `password` with its token.
    pub async fn try_sign_in(&self, name: &str, password: &str) -> Response {
        let form = self.get("/console/sign-in").await;
        let (cookie, _) = set_cookie(&form, "onboard_sign_in").expect("a sign-in cookie");
        let csrf = csrf_of(&form.text().await.unwrap());
        let body = serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("name", name),
            ("password", password),
        ])
        .unwrap();
        self.client
            .post(format!("{}/console/sign-in", self.address))
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("Failed to post the sign-in form")
    }

    /// Signs in (insisting on success) and reads the session's form token.
    pub async fn signed_in(app: &TestApp, name: &str) -> ConsoleClient {
        let mut console = ConsoleClient::new(app);
        let response = console.try_sign_in(name, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in failed");
        console.cookie = set_cookie(&response, "onboard_session")
            .expect("a session cookie")
            .0;
        console.csrf = csrf_of(&console.page("/console/review").await);
        console
    }

    pub async fn get(&self, path: &str) -> Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if !self.cookie.is_empty() {
            request = request.header(COOKIE, &self.cookie);
        }
        request.send().await.expect("Failed to execute request")
    }

    /// A page that must answer 200; its HTML.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        text
    }

    /// Posts url-encoded `fields` as they are (add `csrf` to send the token).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// The path of a user's page in enterprise A (id 1, the first created).
    pub async fn user_path(&self, app: &TestApp, user_id: &str) -> String {
        let enterprise = app.enterprise("enterprise-a").await;
        format!("/console/enterprises/{}/users/{user_id}", enterprise.id.0)
    }
}
