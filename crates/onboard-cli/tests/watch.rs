//! `onboard watch` against `onboard serve`, both as real processes: one JSON line
//! per feed event, resuming after the last `event_id` it printed, whether it was
//! restarted or the server was.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onboard_api::{FeedMessage, USERS_FEED};
use onboard_client::{Channel, Client};
use onboard_testkit::fixtures::individual;
use support::{Server, TlsProxy, free_port, reject};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::Instant;

const BIN: &str = support::BIN;

/// A running `onboard watch`; killed when dropped.
struct Watch {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Watch {
    fn start(port: u16, key: &str, after: Option<i64>) -> Watch {
        Watch::start_with(&format!("ws://127.0.0.1:{port}/ws"), key, after, &[])
    }

    fn start_with(url: &str, key: &str, after: Option<i64>, extra: &[&str]) -> Watch {
        let mut command = Command::new(BIN);
        command
            .args(["watch", "--url", url])
            .args(["--api-key", key])
            .args(extra);
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
    async fn events(&mut self, n: usize, wait: Duration) -> Vec<FeedMessage> {
        let deadline = Instant::now() + wait;
        let mut events = Vec::new();
        while events.len() < n {
            let line = match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                other => panic!(
                    "watch printed {} of {n} events within {wait:?} ({other:?}); got {:?}; \
                     stderr: {}",
                    events.len(),
                    ids(&events),
                    self.stderr.lock().unwrap()
                ),
            };
            let event: FeedMessage = serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("watch printed a line that is not an event ({e}): {line}")
            });
            assert_eq!(event.recipient, USERS_FEED, "{line}");
            // Printed as the server sent it: re-encoding gives the same line.
            assert_eq!(serde_json::to_string(&event).unwrap(), line);
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

fn ids(events: &[FeedMessage]) -> Vec<i64> {
    events.iter().map(|e| e.event_id).collect()
}

/// The HTTP side, through the REST client.
struct Api {
    client: Client,
}

impl Api {
    fn new(port: u16, key: &str) -> Api {
        Api {
            client: Client::new(&format!("http://127.0.0.1:{port}"), key).unwrap(),
        }
    }

    async fn register(&self, user_id: &str) {
        self.client.register(&individual(user_id)).await.unwrap();
    }

    async fn verify_email(&self, user_id: &str) {
        let outbox = self.client.sandbox_messages(user_id).await.unwrap();
        let otp = outbox
            .iter()
            .find(|m| m.channel == "email")
            .map(|m| m.code.clone())
            .unwrap_or_else(|| panic!("no email code for {user_id}: {outbox:?}"));
        let verified = self.client.verify(user_id, Channel::Email, &otp).await;
        assert!(verified.unwrap().success);
    }

    /// The `event_id`s of the log that the feed sends (all but deactivations).
    async fn sent_ids(&self) -> Vec<i64> {
        let events = self.client.events(0, Some(1000)).await.unwrap();
        events
            .iter()
            .filter(|e| e.r#type != "user.deactivated")
            .map(|e| e.event_id)
            .collect()
    }
}

#[tokio::test]
async fn watch_prints_each_event_as_a_json_line_and_resumes_after_the_last_printed_id() {
    let (dir, key) = support::setup().await;
    let port = free_port();
    let _server = Server::start(dir.path(), port).await;
    let api = Api::new(port, &key);

    let mut watch = Watch::start(port, &key, Some(0));
    for user in ["w-1", "w-2", "w-3"] {
        api.register(user).await;
    }
    api.verify_email("w-1").await;
    let printed = watch.events(4, Duration::from_secs(15)).await;
    assert_eq!(ids(&printed), [1, 2, 3, 4]);
    let users: Vec<&str> = printed.iter().map(|e| e.payload.user_id.as_str()).collect();
    assert_eq!(users, ["w-1", "w-2", "w-3", "w-1"]);
    assert!(!printed[3].payload.requirements.email);
    let token = printed[0]
        .payload
        .user_token
        .as_ref()
        .expect("a user token");
    assert_eq!(token.token.len(), 64);
    watch.expect_quiet(Duration::from_millis(300)).await;
    watch.kill().await;

    // Changes while no one watches.
    for user in ["w-4", "w-5"] {
        api.register(user).await;
    }
    api.verify_email("w-4").await;
    assert_eq!(api.sent_ids().await, (1..=7).collect::<Vec<_>>());

    let mut watch = Watch::start(port, &key, Some(4));
    let missed = watch.events(3, Duration::from_secs(15)).await;
    assert_eq!(ids(&missed), [5, 6, 7]);
    watch.expect_quiet(Duration::from_millis(500)).await;
    api.register("w-6").await;
    assert_eq!(ids(&watch.events(1, Duration::from_secs(10)).await), [8]);
    watch.expect_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn watch_rides_out_a_server_restart_and_prints_every_event_once() {
    let (dir, key) = support::setup().await;
    let port = free_port();
    let server = Server::start(dir.path(), port).await;
    let api = Api::new(port, &key);
    let mut watch = Watch::start(port, &key, Some(0));
    for user in ["r-1", "r-2"] {
        api.register(user).await;
    }
    let mut printed = watch.events(2, Duration::from_secs(15)).await;

    server.kill_hard().await;
    // A change while the server is down, straight into the database.
    let out = reject("r-1", dir.path()).await;
    assert!(out.contains("UNSUPPORTED"), "{out}");
    let server = Server::start(dir.path(), port).await;
    api.register("r-3").await;
    api.verify_email("r-3").await;
    printed.extend(watch.events(3, Duration::from_secs(20)).await);

    // And once more, live, on the new server.
    api.register("r-4").await;
    printed.extend(watch.events(1, Duration::from_secs(10)).await);

    // A graceful stop says goodbye; watch comes back all the same.
    server.stop().await;
    let _server = Server::start(dir.path(), port).await;
    api.register("r-5").await;
    printed.extend(watch.events(1, Duration::from_secs(20)).await);
    watch.expect_quiet(Duration::from_millis(300)).await;

    assert_eq!(ids(&printed), api.sent_ids().await);
    assert_eq!(ids(&printed), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(printed[2].payload.user_id, "r-1");
    assert_eq!(printed[2].payload.status, "UNSUPPORTED");
    let stderr = watch.stderr.lock().unwrap().clone();
    assert!(stderr.contains("reconnecting"), "{stderr}");
}

#[tokio::test]
async fn watch_stops_with_an_error_when_the_key_or_the_history_is_refused() {
    let (dir, key) = support::setup().await;
    let port = free_port();
    let _server = Server::start(dir.path(), port).await;
    let api = Api::new(port, &key);
    api.register("f-1").await;

    for (key, after, why) in [
        ("not-a-key", None, "authenticate refused"),
        (key.as_str(), Some(5), "subscribe refused"),
    ] {
        let mut watch = Watch::start(port, key, after);
        let exit = tokio::time::timeout(Duration::from_secs(15), watch.child.wait())
            .await
            .expect("watch gives up on a refusal")
            .unwrap();
        assert!(!exit.success());
        // The pipe drains on its own task; give it a moment after the exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !watch.stderr.lock().unwrap().contains(why) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stderr = watch.stderr.lock().unwrap().clone();
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("reconnecting"), "{stderr}");
        assert_eq!(watch.lines.next_line().await.unwrap(), None);
    }
}

#[tokio::test]
async fn watch_follows_a_wss_url_trusting_the_given_certificate() {
    let (dir, key) = support::setup().await;
    let port = free_port();
    let _server = Server::start(dir.path(), port).await;
    let proxy = TlsProxy::start(port).await;
    let api = Api::new(port, &key);
    api.register("s-1").await;
    let ca = dir.path().join("proxy.pem");
    std::fs::write(&ca, &proxy.cert_pem).unwrap();
    let url = format!("wss://localhost:{}/ws", proxy.port);

    let ca_arg = ca.to_str().unwrap();
    let mut watch = Watch::start_with(&url, &key, Some(0), &["--ca-cert", ca_arg]);
    assert_eq!(ids(&watch.events(1, Duration::from_secs(15)).await), [1]);
    api.register("s-2").await;
    let live = watch.events(1, Duration::from_secs(10)).await;
    assert_eq!(live[0].payload.user_id, "s-2");
    watch.kill().await;

    // Without it, the self-signed certificate is refused, and watch keeps trying.
    let mut untrusting = Watch::start_with(&url, &key, Some(0), &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !untrusting.stderr.lock().unwrap().contains("reconnecting") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    untrusting.expect_quiet(Duration::from_millis(300)).await;
    let stderr = untrusting.stderr.lock().unwrap().clone();
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("reconnecting"), "{stderr}");
}

#[tokio::test]
async fn watch_forwards_each_event_as_a_signed_webhook_to_a_local_url() {
    use axum::body::Bytes;
    use axum::http::HeaderMap;

    type Got = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;
    let got: Got = Arc::default();
    let sink = got.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let (dir, key) = support::setup().await;
    let port = free_port();
    let _server = Server::start(dir.path(), port).await;
    let api = Api::new(port, &key);
    let url = format!("ws://127.0.0.1:{port}/ws");
    let mut watch = Watch::start_with(&url, &key, Some(0), &["--forward-to", &hook]);
    for user in ["f-1", "f-2"] {
        api.register(user).await;
    }
    let printed = watch.events(2, Duration::from_secs(15)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "forwarded: {}",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stderr = watch.stderr.lock().unwrap().clone();
    let secret = stderr
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("the signing secret is printed: {stderr}"))
        .to_owned();
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let forwarded = got.lock().unwrap().clone();
    for ((headers, body), event) in forwarded.iter().zip(&printed) {
        verifier.verify(body, headers).expect("a valid signature");
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["event_id"], event.event_id);
        assert_eq!(
            json["data"]["payload"]["user_id"],
            event.payload.user_id.as_str()
        );
    }
}
