//! `onboard watch` against `onboard serve`, both as real processes: one JSON line
//! per feed event, resuming after the last `event_id` it printed, whether it was
//! restarted or the server was.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onboard_testkit::fixtures::individual;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_onboard");
const ENTERPRISE: &str = "acme";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn onboard(args: &[&str], data_dir: &Path) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .output(),
    )
    .await
    .expect("onboard took more than 30 s")
    .expect("onboard runs");
    assert!(
        out.status.success(),
        "onboard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A running `onboard serve --sandbox`; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(data_dir: &Path, port: u16, client: &reqwest::Client) -> Server {
        let child = Command::new(BIN)
            .args([
                "serve",
                "--sandbox",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = client.get(format!("{}/readyz", server.base)).send().await;
            if response.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            assert!(Instant::now() < deadline, "the server never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM: a graceful stop, which closes the feed's connections properly.
    async fn stop(mut self) {
        let pid = self.child.id().expect("the server is running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the server did not stop within 15 s on SIGTERM")
            .unwrap();
        assert!(exit.success(), "{exit}");
    }

    /// SIGKILL: no goodbye to the feed's clients.
    async fn kill_hard(mut self) {
        self.child.start_kill().expect("SIGKILL delivered");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A running `onboard watch`; killed when dropped.
struct Watch {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Watch {
    fn start(port: u16, key: &str, after: Option<i64>) -> Watch {
        let mut command = Command::new(BIN);
        command
            .args(["watch", "--url", &format!("ws://127.0.0.1:{port}/ws")])
            .args(["--api-key", key]);
        if let Some(after) = after {
            command.args(["--after", &after.to_string()]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("watch starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watch {
            child,
            lines,
            stderr,
        }
    }

    /// The next `n` printed events, within `wait` altogether.
    async fn events(&mut self, n: usize, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut events = Vec::new();
        while events.len() < n {
            let line = match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                other => panic!(
                    "watch printed {} of {n} events within {wait:?} ({other:?}); got {events:?}; \
                     stderr: {}",
                    events.len(),
                    self.stderr.lock().unwrap()
                ),
            };
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("watch printed a non-JSON line ({e}): {line}"));
            assert_eq!(event["recipient"], "private.enterprise.users", "{line}");
            assert!(event["event_id"].is_i64(), "{line}");
            assert!(event["payload"]["user_id"].is_string(), "{line}");
            events.push(event);
        }
        events
    }

    /// Nothing more is printed for `wait`.
    async fn expect_quiet(&mut self, wait: Duration) {
        if let Ok(line) = tokio::time::timeout(wait, self.lines.next_line()).await {
            panic!("watch printed more than expected: {line:?}");
        }
    }

    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL delivered");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

fn ids(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect()
}

/// The HTTP side: a key and a server to talk to.
struct Api {
    client: reqwest::Client,
    key: String,
}

impl Api {
    fn new(key: String) -> Api {
        onboard_delivery::install_tls_provider();
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            key,
        }
    }

    async fn register(&self, server: &Server, user_id: &str) {
        let response = self
            .client
            .post(format!("{}/v1/enterprise/register-account", server.base))
            .bearer_auth(&self.key)
            .json(&individual(user_id))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    async fn get(&self, server: &Server, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn verify_email(&self, server: &Server, user_id: &str) {
        let outbox = self
            .get(server, &format!("/v1/sandbox/messages?user_id={user_id}"))
            .await;
        let otp = outbox["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["channel"] == "email")
            .and_then(|m| m["code"].as_str())
            .unwrap_or_else(|| panic!("no email code for {user_id}: {outbox}"))
            .to_owned();
        let response = self
            .client
            .post(format!(
                "{}/v1/enterprise/users/verify/{user_id}",
                server.base
            ))
            .bearer_auth(&self.key)
            .json(&json!({"type": "email", "otp": otp}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// The `event_id`s of the log that the feed sends (all but deactivations).
    async fn sent_ids(&self, server: &Server) -> Vec<i64> {
        let events = self
            .get(server, "/v1/enterprise/events?after=0&limit=1000")
            .await;
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] != "user.deactivated")
            .map(|e| e["event_id"].as_i64().unwrap())
            .collect()
    }
}

async fn setup() -> (tempfile::TempDir, Api) {
    let dir = tempfile::tempdir().unwrap();
    let key = onboard(&["enterprise", "create", "--name", ENTERPRISE], dir.path()).await;
    let key = key.trim().to_owned();
    assert!(!key.is_empty());
    (dir, Api::new(key))
}

#[tokio::test]
async fn watch_prints_each_event_as_a_json_line_and_resumes_after_the_last_printed_id() {
    let (dir, api) = setup().await;
    let port = free_port();
    let server = Server::start(dir.path(), port, &api.client).await;

    let mut watch = Watch::start(port, &api.key, Some(0));
    for user in ["w-1", "w-2", "w-3"] {
        api.register(&server, user).await;
    }
    api.verify_email(&server, "w-1").await;
    let printed = watch.events(4, Duration::from_secs(15)).await;
    assert_eq!(ids(&printed), [1, 2, 3, 4]);
    let users: Vec<&str> = printed
        .iter()
        .map(|e| e["payload"]["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["w-1", "w-2", "w-3", "w-1"]);
    assert_eq!(printed[3]["payload"]["requirements"]["email"], false);
    assert!(printed[0]["payload"]["user_token"]["token"].is_string());
    watch.expect_quiet(Duration::from_millis(300)).await;
    watch.kill().await;

    // Changes while no one watches.
    for user in ["w-4", "w-5"] {
        api.register(&server, user).await;
    }
    api.verify_email(&server, "w-4").await;
    assert_eq!(api.sent_ids(&server).await, (1..=7).collect::<Vec<_>>());

    let mut watch = Watch::start(port, &api.key, Some(4));
    let missed = watch.events(3, Duration::from_secs(15)).await;
    assert_eq!(ids(&missed), [5, 6, 7]);
    watch.expect_quiet(Duration::from_millis(500)).await;
    api.register(&server, "w-6").await;
    assert_eq!(ids(&watch.events(1, Duration::from_secs(10)).await), [8]);
    watch.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn watch_rides_out_a_server_restart_and_prints_every_event_once() {
    let (dir, api) = setup().await;
    let port = free_port();
    let server = Server::start(dir.path(), port, &api.client).await;
    let mut watch = Watch::start(port, &api.key, Some(0));
    for user in ["r-1", "r-2"] {
        api.register(&server, user).await;
    }
    let mut printed = watch.events(2, Duration::from_secs(15)).await;

    server.kill_hard().await;
    // A change while the server is down, straight into the database.
    let out = onboard(
        &["users", "reject", "--enterprise", ENTERPRISE, "r-1"],
        dir.path(),
    )
    .await;
    assert!(out.contains("UNSUPPORTED"), "{out}");
    let server = Server::start(dir.path(), port, &api.client).await;
    api.register(&server, "r-3").await;
    api.verify_email(&server, "r-3").await;
    printed.extend(watch.events(3, Duration::from_secs(20)).await);

    // And once more, live, on the new server.
    api.register(&server, "r-4").await;
    printed.extend(watch.events(1, Duration::from_secs(10)).await);

    // A graceful stop says goodbye; watch comes back all the same.
    server.stop().await;
    let server = Server::start(dir.path(), port, &api.client).await;
    api.register(&server, "r-5").await;
    printed.extend(watch.events(1, Duration::from_secs(20)).await);
    watch.expect_quiet(Duration::from_millis(300)).await;

    assert_eq!(ids(&printed), api.sent_ids(&server).await);
    assert_eq!(ids(&printed), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(printed[2]["payload"]["user_id"], "r-1");
    assert_eq!(printed[2]["payload"]["status"], "UNSUPPORTED");
    let stderr = watch.stderr.lock().unwrap().clone();
    assert!(stderr.contains("reconnecting"), "{stderr}");
}
