//! One running server per test, and the requests the tests make against it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use onboard_core::clock::{Clock, SystemClock};
use onboard_core::secret::ApiKey;
use onboard_core::service::Onboarding;
use onboard_core::store::Store;
use onboard_server::feed::limits::FeedLimits;
use onboard_server::{AppState, Options};
use onboard_store_sqlite::SqliteStore;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
    /// The store under the server, for what no route does (pruning the log).
    pub store: Arc<dyn Store>,
    /// The database folder; removed when the test ends.
    _dir: tempfile::TempDir,
    /// Dropping it shuts the server down gracefully.
    _shutdown: oneshot::Sender<()>,
}

/// Starts a server on a fresh SQLite file with two enterprises, A and B.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(FeedLimits::default()).await
}

/// [`spawn_app`] with the feed's limits of the test's choosing.
pub async fn spawn_app_with(feed: FeedLimits) -> TestApp {
    let dir = tempfile::tempdir().expect("Failed to create a temporary folder");
    let store = SqliteStore::open_file(&dir.path().join("onboard.sqlite"))
        .await
        .expect("Failed to open the SQLite store");
    let store: Arc<dyn Store> = Arc::new(store);
    let key_a = ApiKey::generate().expect("Failed to generate a key");
    let key_b = ApiKey::generate().expect("Failed to generate a key");
    let now = SystemClock.now();
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
    let options = Options {
        sandbox: true,
        feed,
        ..Options::default()
    };
    let state = AppState::new(
        Onboarding::new(store.clone(), Arc::new(SystemClock)),
        options,
    );
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
        store,
        _dir: dir,
        _shutdown: shutdown,
    }
}

impl TestApp {
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
