//! One running server per test, and the requests the tests make against it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use onboard_core::clock::{Clock, ManualClock, SystemClock};
use onboard_core::delivery::{Deliver, Delivery};
use onboard_core::lifecycle::{Jurisdictions, ReviewPolicy};
use onboard_core::secret::ApiKey;
use onboard_core::service::{Onboarding, Review, WebhookSettings};
use onboard_core::store::{Enterprise, Store};
use onboard_delivery::outgoing::HttpWebhookSender;
use onboard_server::edge::EdgeLimits;
use onboard_server::feed::limits::FeedLimits;
use onboard_server::state::Housekeeping;
use onboard_server::{AppState, Options};
use onboard_testkit::TestDatabase;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Where manual clocks start: a fixed instant with milliseconds, so that derived
/// timestamps (token expiry) can be asserted exactly.
pub const START: OffsetDateTime = datetime!(2025-06-02 09:30:00.125 UTC);

/// A manual clock at [`START`].
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(START))
}

/// The vendor's 401 body, verbatim (CONTRACT §1).
pub const UNAUTHORIZED_BODY: &str = r#"{"error":"invalid token. check authorization header."}"#;

/// How many registrations the load helpers keep in flight at once.
pub const IN_FLIGHT: usize = 24;

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    /// The API key of enterprise A.
    pub key_a: String,
    /// The API key of enterprise B.
    pub key_b: String,
    pub client: reqwest::Client,
    /// The service the server runs, for what only an operator can do (reviews).
    pub onboarding: Onboarding,
    /// The store under the server, for what no route does (pruning the log).
    pub store: Arc<dyn Store>,
    /// The test's own database (a SQLite file or a PostgreSQL database); removed
    /// when the test ends.
    pub database: TestDatabase,
    /// Dropping it shuts the server down gracefully.
    _shutdown: oneshot::Sender<()>,
}

/// How [`spawn_app_with`] builds the server; the default is what [`spawn_app`] runs.
#[derive(Default)]
pub struct AppOptions {
    /// The clock the service reads (`None`: the system clock). A [`ManualClock`]
    /// lets a test move time instead of sleeping.
    pub clock: Option<Arc<ManualClock>>,
    pub policy: ReviewPolicy,
    /// ISO 3166-1 or 3166-2 codes whose users become UNSUPPORTED.
    pub unsupported: Vec<&'static str>,
    /// The email channel (`None`: the outbox, readable at `/v1/sandbox/messages`).
    pub email: Option<Arc<dyn Deliver>>,
    /// The sms channel (`None`: the outbox).
    pub sms: Option<Arc<dyn Deliver>>,
    /// The feed's limits (timeouts, rates, sizes) of the test's choosing.
    pub feed: FeedLimits,
    /// The connection timeouts and cap of the test's choosing.
    pub edge: EdgeLimits,
    /// Retention and how often the server prunes.
    pub housekeeping: Housekeeping,
    /// How event webhooks are sent (as `onboard serve` sends them, by default).
    pub webhooks: WebhookSettings,
    /// The operator console's settings.
    pub console: onboard_server::ConsoleSettings,
    /// The per-key budgets and the storage quotas.
    pub quotas: onboard_core::service::Quotas,
    /// How the webhook sender resolves names (`None`: the system's resolver).
    pub webhook_lookup: Option<Arc<dyn onboard_delivery::outgoing::Lookup>>,
}

impl AppOptions {
    /// The defaults with a manual clock.
    pub fn with_clock(clock: &Arc<ManualClock>) -> Self {
        AppOptions {
            clock: Some(clock.clone()),
            ..AppOptions::default()
        }
    }
}

/// Starts a server on a fresh database of the binary's backend ([`crate::BACKEND`])
/// with two enterprises, A and B.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// [`spawn_app`] with the feed's limits of the test's choosing.
pub async fn spawn_app_with_feed(feed: FeedLimits) -> TestApp {
    spawn_app_with(AppOptions {
        feed,
        ..AppOptions::default()
    })
    .await
}

/// [`spawn_app`] with another clock, review settings, delivery channels or limits.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    if crate::BACKEND == onboard_testkit::Backend::Postgres && onboard_testkit::skip_postgres() {
        // Every test of the PostgreSQL binary starts here, and none can run: the
        // test kit has said why (once, on stderr), and the binary ends as a pass
        // before running the rest.
        std::process::exit(0);
    }
    let database = TestDatabase::new(crate::BACKEND).await;
    let store = database.open_store().await;
    let key_a = ApiKey::generate().expect("Failed to generate a key");
    let key_b = ApiKey::generate().expect("Failed to generate a key");
    let clock: Arc<dyn Clock> = match options.clock {
        Some(manual) => manual,
        None => Arc::new(SystemClock),
    };
    let now = clock.now();
    for (name, key) in [("enterprise-a", &key_a), ("enterprise-b", &key_b)] {
        store
            .create_enterprise(name, &key.hash(), now)
            .await
            .expect("Failed to create an enterprise");
    }
    tokio::task::spawn_blocking(onboard_core::values::warm_up)
        .await
        .expect("Failed to load phone metadata");

    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("Failed to bind a random port");
    let port = listener.local_addr().unwrap().port();
    let mut delivery = Delivery::outbox(store.clone());
    if let Some(email) = options.email {
        delivery.email = email;
    }
    if let Some(sms) = options.sms {
        delivery.sms = sms;
    }
    let onboarding = Onboarding::new(store.clone(), clock)
        .with_review(Review {
            policy: options.policy,
            unsupported: Jurisdictions::new(options.unsupported),
        })
        .with_delivery(delivery)
        .with_quotas(options.quotas)
        .with_webhooks(
            Arc::new(
                match options.webhook_lookup {
                    Some(lookup) => HttpWebhookSender::with_lookup(lookup),
                    None => HttpWebhookSender::new(),
                }
                .expect("an HTTP client"),
            ),
            options.webhooks,
        );
    let server_options = Options {
        sandbox: true,
        feed: options.feed,
        edge: options.edge,
        housekeeping: options.housekeeping,
        console: options.console,
        ..Options::default()
    };
    let state = AppState::new(onboarding, server_options);
    // The state's copy tells the feed about changes, as the server's own does.
    let onboarding = state.onboarding.clone();
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        onboard_server::serve(listener, state, async move {
            let _ = stop.await;
        })
        .await
        .expect("The server failed");
    });

    // reqwest is built without a default TLS provider: install ring, as the binary does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        key_a: key_a.expose().to_owned(),
        key_b: key_b.expose().to_owned(),
        client,
        onboarding,
        store,
        database,
        _shutdown: shutdown,
    }
}

impl TestApp {
    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `ws://127.0.0.1:<port>/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http://", "ws://", 1))
    }

    /// `POST /v1/enterprise/register-account`
    pub async fn register(&self, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url("/v1/enterprise/register-account"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// Registers and insists on 201; returns the `data` object.
    pub async fn register_ok(&self, key: &str, body: &Value) -> Value {
        let response = self.register(key, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "registering {} failed: {text}",
            body["user_id"]
        );
        let mut body: Value = serde_json::from_str(&text).unwrap();
        body["data"].take()
    }

    /// Registers every body, [`IN_FLIGHT`] at a time, each one insisting on 201.
    pub async fn register_all(&self, key: &str, bodies: Vec<Value>) {
        futures_util::stream::iter(bodies)
            .map(|body| async move {
                self.register_ok(key, &body).await;
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
    }

    /// `GET /v1/enterprise/users/:user_id`
    pub async fn get_user(&self, key: &str, user_id: &str) -> Response {
        self.client
            .get(self.url(&format!("/v1/enterprise/users/{user_id}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// `GET /v1/enterprise/users?<query>` (`query` without the `?`, may be empty).
    pub async fn list(&self, key: &str, query: &str) -> Response {
        let url = if query.is_empty() {
            self.url("/v1/enterprise/users")
        } else {
            self.url(&format!("/v1/enterprise/users?{query}"))
        };
        self.client
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// The `data` array of a successful list, parsed.
    pub async fn list_ok(&self, key: &str, query: &str) -> Vec<Value> {
        let response = self.list(key, query).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "listing ?{query} failed: {text}");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the list is not valid JSON ({e})"));
        body["data"]
            .as_array()
            .expect("data is not an array")
            .clone()
    }

    /// The `user_id`s of a successful list, in list order.
    pub async fn list_ids(&self, key: &str, query: &str) -> Vec<String> {
        user_ids(&self.list_ok(key, query).await)
    }

    /// The newest email code the sandbox outbox holds for a user.
    pub async fn email_code(&self, key: &str, user_id: &str) -> String {
        let response = self
            .client
            .get(self.url(&format!("/v1/sandbox/messages?user_id={user_id}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "reading the outbox failed: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        body["data"]
            .as_array()
            .expect("data is an array")
            .iter()
            .find(|m| m["channel"] == "email")
            .and_then(|m| m["code"].as_str())
            .unwrap_or_else(|| panic!("no email code for {user_id} in {text}"))
            .to_owned()
    }

    /// Confirms the user's email with the code the outbox holds; insists on 200.
    pub async fn verify_email(&self, key: &str, user_id: &str) {
        let otp = self.email_code(key, user_id).await;
        let response = self
            .client
            .post(self.url(&format!("/v1/enterprise/users/verify/{user_id}")))
            .bearer_auth(key)
            .json(&serde_json::json!({"type": "email", "otp": otp}))
            .send()
            .await
            .expect("Failed to execute request");
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "verifying {user_id} failed: {text}");
    }

    /// `GET /v1/enterprise/events?<query>` (`query` without the `?`, may be empty).
    pub async fn events(&self, key: &str, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/v1/enterprise/events?{query}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// The `data` array of a successful events read.
    pub async fn events_ok(&self, key: &str, query: &str) -> Vec<Value> {
        let response = self.events(key, query).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "reading events ?{query} failed: {text}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the events are not valid JSON ({e})"));
        body["data"]
            .as_array()
            .expect("data is not an array")
            .clone()
    }

    /// Every event the log holds for the key, oldest first, read page by page.
    pub async fn all_events(&self, key: &str) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let after = all.last().map_or(0, |e| e["event_id"].as_i64().unwrap());
            let page = self
                .events_ok(key, &format!("after={after}&limit=1000"))
                .await;
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Prunes the event log of every enterprise to its latest `keep` events, as the
    /// server's retention task would; returns how many went.
    pub async fn prune_events(&self, keep: u64) -> u64 {
        let retention = onboard_core::events::Retention {
            max_age: None,
            max_events: Some(keep),
        };
        self.store
            .prune(retention, SystemClock.now())
            .await
            .expect("Failed to prune the event log")
    }

    /// `DELETE /v1/enterprise/account/:user_id`
    pub async fn deactivate(&self, key: &str, user_id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/v1/enterprise/account/{user_id}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// A POST with the bearer `key` and a JSON body.
    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// A GET with the bearer `key` (an API key or a user token).
    pub async fn get_with(&self, key: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// `POST /v1/enterprise/users/send-verification/:user_id` with `{"type": channel}`.
    pub async fn send_code(&self, key: &str, user_id: &str, channel: &str) -> Response {
        let path = format!("/v1/enterprise/users/send-verification/{user_id}");
        self.post_json(key, &path, &json!({ "type": channel }))
            .await
    }

    /// `POST /v1/enterprise/users/verify/:user_id` with `{"type", "otp"}`.
    pub async fn verify(&self, key: &str, user_id: &str, channel: &str, otp: &str) -> Response {
        let path = format!("/v1/enterprise/users/verify/{user_id}");
        self.post_json(key, &path, &json!({ "type": channel, "otp": otp }))
            .await
    }

    /// `GET /v1/sandbox/messages?user_id=`: the user's outbox, newest first.
    pub async fn messages(&self, key: &str, user_id: &str) -> Vec<Value> {
        let response = self
            .get_with(key, &format!("/v1/sandbox/messages?user_id={user_id}"))
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "reading messages failed: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        body["data"]
            .as_array()
            .expect("data is not an array")
            .clone()
    }

    /// The newest code the outbox holds for `user_id` on `channel`.
    pub async fn latest_code(&self, key: &str, user_id: &str, channel: &str) -> String {
        let messages = self.messages(key, user_id).await;
        messages
            .iter()
            .find(|m| m["channel"] == channel)
            .unwrap_or_else(|| panic!("no {channel} message for {user_id} in {messages:?}"))["code"]
            .as_str()
            .expect("code is a string")
            .to_owned()
    }

    /// The `data` of `GET /v1/enterprise/users/:user_id`, insisting on 200.
    pub async fn user_ok(&self, key: &str, user_id: &str) -> Value {
        let response = self.get_user(key, user_id).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "reading {user_id} failed: {text}");
        let mut body: Value = serde_json::from_str(&text).unwrap();
        body["data"].take()
    }

    /// A user's `status` and `requirements`, read back over REST.
    pub async fn state_of(&self, key: &str, user_id: &str) -> (String, Value) {
        let user = self.user_ok(key, user_id).await;
        (
            user["status"]
                .as_str()
                .expect("status is a string")
                .to_owned(),
            user["requirements"].clone(),
        )
    }

    /// `POST /v1/enterprise/user-tokens/:user_id`
    pub async fn mint_token(&self, key: &str, user_id: &str) -> Response {
        self.client
            .post(self.url(&format!("/v1/enterprise/user-tokens/{user_id}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("Failed to execute request")
    }

    /// `GET /v1/user` with a user auth token.
    pub async fn me(&self, token: &str) -> Response {
        self.get_with(token, "/v1/user").await
    }

    /// The enterprise named `name` (`enterprise-a` or `enterprise-b`), for the service.
    pub async fn enterprise(&self, name: &str) -> Enterprise {
        self.onboarding
            .enterprise_named(name)
            .await
            .expect("the enterprise exists")
    }
}

/// The `user_id` of each user in a `data` array.
pub fn user_ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| {
            u["user_id"]
                .as_str()
                .expect("user_id is a string")
                .to_owned()
        })
        .collect()
}

/// How many times each id occurs.
pub fn counts(ids: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Reads an error response: checks the status and the JSON `error` sentence, and
/// returns the whole body.
pub async fn assert_error(response: Response, status: StatusCode) -> Value {
    assert_eq!(
        response.status(),
        status,
        "unexpected status for {}",
        response.url()
    );
    assert_json_content_type(&response);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {text}"));
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error sentence in {text}"));
    assert!(!error.trim().is_empty(), "empty error sentence in {text}");
    body
}

/// Reads a success: checks the status and returns the whole JSON body.
pub async fn body_ok(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let url = response.url().clone();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status for {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Reads a refusal: checks the status and returns the `error` sentence.
pub async fn refusal(response: Response, status: StatusCode) -> String {
    let body = assert_error(response, status).await;
    body["error"].as_str().unwrap().to_owned()
}

/// The field names of a validation failure's `errors`, in order.
pub fn problem_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {body}"))
        .iter()
        .map(|p| p["field"].as_str().expect("field is a string").to_owned())
        .collect()
}

pub fn assert_json_content_type(response: &Response) {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type is {content_type:?}, not JSON"
    );
}
