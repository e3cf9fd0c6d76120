//! The `onboard` binary as a user runs it: a real process, a real SQLite file, a
//! real socket, and `kill -9`.

mod support;

use onboard_testkit::process::memory_kib;
use onboard_testkit::{Onboard, Served, fixtures};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, free_port, in_dir, onboard as onboard_ok, onboard_fails};

#[path = "../../onboard-delivery/tests/support/smtp_sink.rs"]
mod smtp_sink;

fn onboard(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("onboard runs")
}

/// reqwest is built without a default TLS provider; the binary installs ring, and
/// so must the tests.
fn http_client() -> reqwest::Client {
    onboard_delivery::install_tls_provider();
    reqwest::Client::new()
}

/// The vendor's individual, reachable at its own address `<user_id>@example.com`.
fn individual(user_id: &str) -> Value {
    let mut body = fixtures::individual(user_id);
    body["email"] = json!(format!("{user_id}@example.com"));
    body
}

/// How long a started server may take to print what a test waits for.
const STDOUT_WAIT: Duration = Duration::from_secs(10);

/// `onboard serve --data-dir <dir> <extra>` on `port`, once it is ready.
async fn serve(data_dir: &Path, port: u16, extra: &[&str]) -> Served {
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
    let args = [&["--data-dir", data_dir], extra].concat();
    Onboard::new(BIN).serve_on(port, &args).await
}

async fn create_key(data_dir: &Path, name: &str) -> String {
    Onboard::new(BIN)
        .create_enterprise(name, &in_dir(&[], data_dir))
        .await
}

#[tokio::test]
async fn enterprise_create_prints_only_a_fresh_key_and_list_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = create_key(dir.path(), "acme").await;
    let second = create_key(dir.path(), "globex").await;
    assert_ne!(first, second);
    assert!(first.len() >= 64, "at least 32 random bytes, hex: {first}");

    let duplicate = onboard(&[
        "enterprise",
        "create",
        "--name",
        "acme",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));

    let list = onboard(&[
        "enterprise",
        "list",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains("acme") && listed.contains("globex"));
    assert!(!listed.contains(&first) && !listed.contains(&second[4..20]));
}

#[tokio::test]
async fn the_first_start_prints_a_key_and_a_curl_line_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), free_port(), &[]).await;
    let curl = server
        .stdout_line(|l| l.trim_start().starts_with("curl "), STDOUT_WAIT)
        .await;
    let key = curl
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let url = curl.rsplit(' ').next().unwrap();

    let client = http_client();
    let response = client.get(url).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"data": []}));
}

#[tokio::test]
async fn every_acknowledged_user_survives_kill_9_in_the_middle_of_writes() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "acme").await;
    let port = free_port();
    let client = http_client();
    let server = serve(dir.path(), port, &[]).await;

    // Eight writers register users without pause; the server dies under them.
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..8 {
        let (client, key, base, acks) = (
            client.clone(),
            key.clone(),
            server.base.clone(),
            acks.clone(),
        );
        writers.spawn(async move {
            for i in 0.. {
                let user_id = format!("durable-{writer}-{i}");
                let sent = client
                    .post(format!("{base}/v1/enterprise/register-account"))
                    .bearer_auth(&key)
                    .json(&individual(&user_id))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 201 => {
                        let _ = acks.send(user_id);
                    }
                    _ => return,
                }
            }
        });
    }
    drop(acks);
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 80 {
        acknowledged.push(acked.recv().await.expect("writers keep acknowledging"));
    }
    server.kill().await;
    writers.join_all().await;
    while let Ok(user_id) = acked.try_recv() {
        acknowledged.push(user_id);
    }

    let server = serve(dir.path(), port, &[]).await;
    for user_id in &acknowledged {
        let response = client
            .get(format!("{}/v1/enterprise/users/{user_id}", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{user_id} was acknowledged, then lost"
        );
    }
}

/// One row of `onboard outbox list`: (enterprise, user, type, to, code).
fn outbox_rows(stdout: &str) -> Vec<[String; 5]> {
    let mut lines = stdout.lines();
    let header = lines.next().expect("a header line");
    assert!(
        header.starts_with("SENT") && header.ends_with("CODE"),
        "{header}"
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 6, "{line}");
            [1, 2, 3, 4, 5].map(|i| fields[i].to_owned())
        })
        .collect()
}

/// The requests an operator's tests make against a running server.
struct Api<'a> {
    client: reqwest::Client,
    server: &'a Served,
    key: String,
}

impl Api<'_> {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.server.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.server.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn register(&self, user_id: &str) {
        let response = self
            .post("/v1/enterprise/register-account", &individual(user_id))
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    async fn send(&self, user_id: &str, channel: &str) {
        let path = format!("/v1/enterprise/users/send-verification/{user_id}");
        let response = self.post(&path, &json!({ "type": channel })).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    async fn verify(&self, user_id: &str, channel: &str, otp: &str) {
        let path = format!("/v1/enterprise/users/verify/{user_id}");
        let response = self
            .post(&path, &json!({ "type": channel, "otp": otp }))
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// The newest code in the sandbox outbox of `user_id` on `channel`.
    async fn code(&self, user_id: &str, channel: &str) -> String {
        let messages = self
            .get(&format!("/v1/sandbox/messages?user_id={user_id}"))
            .await;
        messages["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["channel"] == channel)
            .unwrap_or_else(|| panic!("no {channel} code for {user_id}: {messages}"))["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `status` and `requirements` of a user.
    async fn state(&self, user_id: &str) -> (Value, Value) {
        let user = self.get(&format!("/v1/enterprise/users/{user_id}")).await;
        (
            user["data"]["status"].clone(),
            user["data"]["requirements"].clone(),
        )
    }
}

#[tokio::test]
async fn operators_approve_and_reject_users_that_manual_review_holds() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "acme").await;
    let server = serve(
        dir.path(),
        free_port(),
        &["--sandbox", "--review-policy", "manual"],
    )
    .await;
    let api = Api {
        client: http_client(),
        server: &server,
        key,
    };

    for user_id in ["alice", "bob", "carol", "dave"] {
        api.register(user_id).await;
    }
    for user_id in ["alice", "bob", "dave"] {
        api.verify(user_id, "email", &api.code(user_id, "email").await)
            .await;
        api.send(user_id, "sms").await;
        api.verify(user_id, "sms", &api.code(user_id, "sms").await)
            .await;
        assert_eq!(
            api.state(user_id).await,
            (json!("PENDING"), json!({"email": false, "sms": false})),
            "{user_id} waits for an operator"
        );
    }

    let data_dir = dir.path();
    let password = onboard_ok(&["operators", "create", "--name", "ana"], data_dir).await;
    assert_eq!(password.trim().len(), 24, "{password:?}");
    let by_ana = ["--operator", "ana", "--note", "documents checked"];
    let review = |verb: &'static str, enterprise: &'static str, user: &'static str| {
        let mut args = vec!["users", verb, "--enterprise", enterprise, user];
        args.extend(by_ana);
        args
    };
    let approved = onboard_ok(&review("approve", "acme", "alice"), data_dir).await;
    assert_eq!(approved.trim(), "alice is now VERIFIED");
    let rejected = onboard_ok(&review("reject", "acme", "bob"), data_dir).await;
    assert_eq!(rejected.trim(), "bob is now UNSUPPORTED");
    // The running server reads what the operator wrote, and the log names her.
    assert_eq!(api.state("alice").await.0, "VERIFIED");
    assert_eq!(api.state("bob").await.0, "UNSUPPORTED");
    let events = api.get("/v1/enterprise/events").await;
    let decisions: Vec<_> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("operator").is_some())
        .map(|e| {
            (
                e["user"]["user_id"].clone(),
                e["operator"].clone(),
                e["note"].clone(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (json!("alice"), json!("ana"), json!("documents checked")),
            (json!("bob"), json!("ana"), json!("documents checked")),
        ]
    );

    let cases = [
        (
            "requirements outstanding",
            review("approve", "acme", "carol"),
            "outstanding: email, sms",
        ),
        (
            "approved twice",
            review("approve", "acme", "alice"),
            "VERIFIED, not PENDING",
        ),
        (
            "an unknown user",
            review("reject", "acme", "nobody"),
            "nobody",
        ),
        (
            "an unknown enterprise",
            review("approve", "globex", "carol"),
            "globex",
        ),
        (
            "no operator named",
            vec!["users", "reject", "--enterprise", "acme", "carol"],
            "--operator",
        ),
        (
            "an unknown operator",
            vec![
                "users",
                "reject",
                "--enterprise",
                "acme",
                "carol",
                "--operator",
                "zed",
            ],
            "No operator is named \"zed\"",
        ),
    ];
    for (case, args, expected) in cases {
        let stderr = onboard_fails(&args, data_dir).await;
        assert!(stderr.contains(expected), "{case}: {stderr}");
    }
    // A disabled operator cannot act, and nothing changes.
    onboard_ok(&["operators", "disable", "ana"], data_dir).await;
    for user_id in ["dave", "carol"] {
        let stderr = onboard_fails(&review("approve", "acme", user_id), data_dir).await;
        assert!(
            stderr.contains("a disabled operator cannot act"),
            "{stderr}"
        );
        let stderr = onboard_fails(&review("reject", "acme", user_id), data_dir).await;
        assert!(
            stderr.contains("a disabled operator cannot act"),
            "{stderr}"
        );
    }
    assert_eq!(
        api.state("dave").await,
        (json!("PENDING"), json!({"email": false, "sms": false}))
    );
    assert_eq!(
        api.state("carol").await,
        (json!("PENDING"), json!({"email": true, "sms": true}))
    );
}

#[tokio::test]
async fn outbox_list_prints_the_codes_of_the_user_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "acme").await;
    let server = serve(dir.path(), free_port(), &["--sandbox"]).await;
    let api = Api {
        client: http_client(),
        server: &server,
        key,
    };
    api.register("alice").await;
    api.register("bob").await;
    let email_code = api.code("alice", "email").await;
    api.verify("alice", "email", &email_code).await;
    api.send("alice", "sms").await;
    let sms_code = api.code("alice", "sms").await;

    let listed = onboard_ok(&["outbox", "list", "--user", "alice"], dir.path()).await;
    assert_eq!(
        outbox_rows(&listed),
        [
            ["acme", "alice", "sms", "+12243987754", &sms_code].map(str::to_owned),
            ["acme", "alice", "email", "alice@example.com", &email_code].map(str::to_owned),
        ],
        "newest first, only alice's: {listed}"
    );

    let everyone = outbox_rows(&onboard_ok(&["outbox", "list"], dir.path()).await);
    assert_eq!(everyone.len(), 3);
    let limited = outbox_rows(
        &onboard_ok(
            &["outbox", "list", "--user", "alice", "--limit", "1"],
            dir.path(),
        )
        .await,
    );
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0][4], sms_code);
    let nobody =
        outbox_rows(&onboard_ok(&["outbox", "list", "--user", "nobody"], dir.path()).await);
    assert!(nobody.is_empty());
}

/// A relay for the sms webhook: records each body whose signature verifies.
#[derive(Clone, Default)]
struct SmsRelay(std::sync::Arc<std::sync::Mutex<Vec<Value>>>);

async fn relay_sms(
    axum::extract::State(relay): axum::extract::State<SmsRelay>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use onboard_delivery::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp: i64 = header(TIMESTAMP_HEADER)
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    if header(SIGNATURE_HEADER)
        != Some(signature(RELAY_SECRET.as_bytes(), timestamp, &body).as_str())
    {
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    relay
        .0
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    axum::http::StatusCode::OK
}

const RELAY_SECRET: &str = "a-relay-secret-from-the-toml";

#[tokio::test]
async fn codes_go_out_through_the_smtp_server_and_webhook_of_the_config_file() {
    let sink = smtp_sink::SmtpSink::start(smtp_sink::Rcpt::Accept).await;
    let relay = SmsRelay::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_url = format!("http://{}/sms", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/sms", axum::routing::post(relay_sms))
        .with_state(relay.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("onboard.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[email]
channel = "smtp"
[email.smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "Onboard <no-reply@onboard.test>"

[sms]
channel = "webhook"
[sms.webhook]
url = "{relay_url}"
secret = "{RELAY_SECRET}"
max_attempts = 2
backoff_ms = 5
"#,
            port = sink.port
        ),
    )
    .unwrap();
    let key = create_key(dir.path(), "acme").await;
    let server = serve(
        dir.path(),
        free_port(),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let api = Api {
        client: http_client(),
        server: &server,
        key,
    };

    api.register("jane").await;
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["jane@example.com"]);
    assert_eq!(mails[0].from, "no-reply@onboard.test");
    let email_code = mails[0].code().expect("the email carries a code");
    api.verify("jane", "email", &email_code).await;

    api.send("jane", "sms").await;
    let received = relay.0.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["channel"], "sms");
    assert_eq!(received[0]["to"], "+12243987754");
    assert_eq!(received[0]["user_id"], "jane");
    let sms_code = received[0]["code"].as_str().unwrap().to_owned();
    api.verify("jane", "sms", &sms_code).await;
    assert_eq!(
        api.state("jane").await,
        (json!("VERIFIED"), json!({"email": false, "sms": false}))
    );

    // Nothing went to the outbox, and without --sandbox its route does not exist.
    let listed = outbox_rows(&onboard_ok(&["outbox", "list"], dir.path()).await);
    assert!(listed.is_empty(), "{listed:?}");
    let sandbox = api
        .client
        .get(format!("{}/v1/sandbox/messages?user_id=jane", server.base))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.status(), 404);
}

#[tokio::test]
async fn sigterm_closes_websockets_with_1001_and_exits_by_the_deadline_despite_a_half_sent_request()
{
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "acme").await;
    let port = free_port();
    // The header timeout is far longer than the shutdown deadline: only the
    // deadline can end the half-sent request in time.
    let mut server = serve(
        dir.path(),
        port,
        &[
            "--header-timeout-ms",
            "60000",
            "--shutdown-timeout-ms",
            "1500",
        ],
    )
    .await;

    let mut half = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    half.write_all(b"POST /v1/enterprise/register-account HTTP/1.1\r\nHost: x\r\nX-Never: ")
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    let auth = json!({"type": "authenticate", "apiKey": key, "enterprise": true});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(reply.to_text().unwrap().contains("success"), "{reply:?}");

    server.terminate().await.expect("SIGTERM delivered");

    let close = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the WebSocket is closed on SIGTERM");
    assert_eq!(close, Some(1001), "going away");

    let started = Instant::now();
    let status = server
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("the server exits within its shutdown deadline");
    let took = started.elapsed();
    assert!(status.success(), "a clean exit: {status:?}");
    assert!(took < Duration::from_secs(8), "exited after {took:?}");
    // The half-sent request's connection went with the process.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), half.read(&mut buf))
        .await
        .expect("the half-open connection is closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[test]
fn out_of_range_limits_stop_the_server_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = onboard(&["serve", "--data-dir", data, "--header-timeout-ms", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the header timeout (ms) must be between 1 and 3600000, not 0"),
        "{stderr}"
    );

    let config = dir.path().join("onboard.toml");
    std::fs::write(&config, "[events]\nretention_days = 9223372036854775808\n").unwrap();
    let out = onboard(&[
        "serve",
        "--data-dir",
        data,
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("events.retention_days must be between 1 and 36500"),
        "{stderr}"
    );
}

#[tokio::test]
async fn three_thousand_invented_methods_leave_memory_and_metrics_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), free_port(), &[]).await;
    let client = http_client();
    // Warm the paths once, so that what follows measures growth, not start-up.
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("WARM{i}").as_bytes()).unwrap();
        let _ = client
            .request(method, format!("{}/healthz", server.base))
            .send()
            .await;
    }
    let before = memory_kib(server.pid).unwrap().0;
    for i in 0..3000 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let path = format!("{}/made-up/{i}", server.base);
        let response = client.request(method, path).send().await.unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let after = memory_kib(server.pid).unwrap().0;
    let metrics = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.len() < 256 * 1024,
        "/metrics is {} bytes",
        metrics.len()
    );
    assert!(
        !metrics.contains("INVENTED"),
        "an invented method became a label"
    );
    assert!(
        after.saturating_sub(before) < 4 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test]
async fn vendor_limits_refuse_a_rest_burst_and_a_websocket_flood_with_retry_after() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "acme").await;
    let port = free_port();
    let server = serve(dir.path(), port, &["--vendor-limits"]).await;
    let client = http_client();

    // REST: 250 requests per 10 s from one address; a burst of 270 meets 20 refusals.
    let mut refused = Vec::new();
    for _ in 0..270 {
        let response = client
            .get(format!("{}/v1/enterprise/users", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => {}
            429 => refused.push(response),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(refused.len(), 20);
    let first = refused.remove(0);
    assert_eq!(first.headers()["retry-after"], "60");
    let body: Value = first.json().await.unwrap();
    let sentence = body["error"].as_str().unwrap();
    assert!(
        sentence.contains("at most 250 REST requests per 10 s"),
        "{sentence}"
    );
    for later in refused {
        let wait: u64 = later.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    // Health and metrics are not API requests: an orchestrator keeps its probes.
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // WebSocket: 40 messages per minute from one address, then the address is
    // blocked for two minutes, new connections included.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    let auth = json!({"type": "authenticate", "apiKey": key, "enterprise": true});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    let mut replies = Vec::new();
    for _ in 0..40 {
        let ping = json!({"type": "subscribe", "feeds": ["private.enterprise.users"]});
        ws.send(Message::text(ping.to_string())).await.unwrap();
    }
    let close = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server answers")
            .expect("the socket stays open until the close frame")
            .unwrap();
        match next {
            Message::Close(frame) => break frame.expect("a close frame with a code"),
            Message::Text(text) => replies.push(serde_json::from_str::<Value>(&text).unwrap()),
            _ => {}
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    let errors: Vec<&Value> = replies.iter().filter(|r| r["type"] == "error").collect();
    let last = errors
        .last()
        .expect("the refusal is explained before the close");
    let why = last["payload"]["message"].as_str().unwrap_or_default();
    assert!(why.contains("at most 40 WebSocket messages"), "{last}");
    let again = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await;
    match again {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((100..=120).contains(&wait), "Retry-After {wait}");
        }
        other => panic!("a blocked address opened a WebSocket: {other:?}"),
    }
    server.kill().await;
}
