//! The edge under attack (CONTRACT §11): slow headers, slow bodies, idle
//! keep-alive, the connection cap, invented methods against the metrics, and
//! WebSockets that never authenticate, guess keys or send too much. Every test runs
//! with shortened limits and a bounded number of connections on 127.0.0.1.

use std::time::Duration;

use futures_util::StreamExt;
use onboard_server::edge::EdgeLimits;
use onboard_server::feed::limits::FeedLimits;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::{AppOptions, TestApp, spawn_app_with, spawn_app_with_feed};
use crate::ws::{USERS_FEED, WAIT, Ws};

async fn spawn_with_edge(edge: EdgeLimits) -> TestApp {
    spawn_app_with(AppOptions {
        edge,
        ..AppOptions::default()
    })
    .await
}

/// `127.0.0.1:<port>` of the app.
fn socket_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

async fn connect(app: &TestApp) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(socket_address(app)))
        .await
        .expect("connecting timed out")
        .expect("Failed to connect")
}

/// Reads until the server closes the connection (end of stream or reset), within
/// `wait`; returns what it sent and when it closed.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (Vec<u8>, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection is still open after {wait:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, Instant::now()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz_ok(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wave_of_slow_headers_is_closed_at_the_header_timeout_and_the_server_keeps_answering() {
    let header_timeout = Duration::from_millis(800);
    let app = spawn_with_edge(EdgeLimits {
        header_timeout,
        ..EdgeLimits::default()
    })
    .await;
    let started = Instant::now();
    let mut wave = Vec::new();
    for _ in 0..200 {
        let mut stream = connect(&app).await;
        // A head that never ends.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        wave.push(stream);
    }
    // While the wave hangs on, others are served.
    for _ in 0..5 {
        healthz_ok(&app).await;
    }
    let closes = futures_util::stream::iter(wave)
        .map(|mut stream| async move { read_until_closed(&mut stream, WAIT).await })
        .buffer_unordered(200)
        .collect::<Vec<_>>()
        .await;
    for (received, closed_at) in &closes {
        assert!(
            !String::from_utf8_lossy(received).contains("200 OK"),
            "a request without the end of its head was answered"
        );
        let after = closed_at.duration_since(started);
        assert!(
            after >= header_timeout - Duration::from_millis(100),
            "closed after {after:?}, before the header timeout"
        );
    }
    let last = closes.iter().map(|(_, at)| *at).max().unwrap();
    assert!(
        last.duration_since(started) < header_timeout + Duration::from_secs(5),
        "the wave took {:?} to close",
        last.duration_since(started)
    );
    healthz_ok(&app).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_lives_past_the_header_timeout_and_closes_at_the_idle_timeout()
 {
    let app = spawn_with_edge(EdgeLimits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(1500),
        ..EdgeLimits::default()
    })
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    // Past the header timeout, the idle connection still serves a request.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let answered_again = Instant::now();
    let (_, closed_at) = read_until_closed(&mut stream, WAIT).await;
    let idle = closed_at.duration_since(answered_again);
    assert!(
        idle >= Duration::from_millis(1300) && idle < Duration::from_secs(5),
        "closed after {idle:?} idle (first answer {:?} before)",
        answered_again.duration_since(answered)
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let app = spawn_with_edge(EdgeLimits {
        body_timeout: Duration::from_millis(600),
        ..EdgeLimits::default()
    })
    .await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/enterprise/register-account HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"user_id\":",
        app.key_a
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (received, closed_at) = read_until_closed(&mut stream, WAIT).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("600 ms"), "the error names the limit: {text}");
    assert!(
        closed_at.duration_since(started) >= Duration::from_millis(500),
        "answered before the body timeout: {text}"
    );
    healthz_ok(&app).await;
}

#[tokio::test]
async fn an_upload_that_does_not_arrive_in_time_is_answered_408() {
    let app = spawn_with_edge(EdgeLimits {
        body_timeout: Duration::from_millis(600),
        ..EdgeLimits::default()
    })
    .await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/enterprise/ddq/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: 100000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; \
         name=\"files\"; filename=\"a.png\"\r\n\r\n%PDF-",
        app.key_a
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (received, _) = read_until_closed(&mut stream, WAIT).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("600 ms"), "the error names the limit: {text}");
    healthz_ok(&app).await;
}

#[tokio::test]
async fn a_connection_over_the_cap_is_refused_at_once_and_a_freed_place_is_reused() {
    let app = spawn_with_edge(EdgeLimits {
        max_connections: 4,
        ..EdgeLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&app).await;
        // A request answered proves the connection holds a place.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let mut over = connect(&app).await;
    let started = Instant::now();
    let (received, closed_at) = read_until_closed(&mut over, WAIT).await;
    assert!(
        closed_at.duration_since(started) < Duration::from_secs(2),
        "the refusal must not wait"
    );
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 503"),
        "{text}"
    );

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .map(|r| r.status());
    assert!(metrics.is_err(), "still full: {metrics:?}");

    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        // A fresh client each time: the place freed is taken by a new connection.
        let client = reqwest::Client::new();
        if let Ok(response) = client.get(app.url("/metrics")).send().await {
            assert_eq!(response.status(), StatusCode::OK);
            let text = response.text().await.unwrap();
            let refused = text
                .lines()
                .find_map(|l| l.strip_prefix("onboard_http_connections_refused_total "))
                .expect("the refusals are counted");
            assert!(refused.parse::<u64>().unwrap() >= 2, "{refused}");
            break;
        }
        assert!(Instant::now() < deadline, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_thousand_invented_methods_and_paths_leave_the_metrics_small() {
    let app = spawn_with_edge(EdgeLimits::default()).await;
    let answered = futures_util::stream::iter(0..3000)
        .map(|i| {
            let app = &app;
            async move {
                let method = reqwest::Method::from_bytes(format!("INVENT{i}").as_bytes()).unwrap();
                let response = app
                    .client
                    .request(method, app.url(&format!("/nowhere/{i}")))
                    .send()
                    .await
                    .expect("the server answers");
                response.status()
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    assert!(answered.iter().all(|s| s.is_client_error()), "{answered:?}");
    let text = app.metrics().await;
    assert!(text.len() < 256 * 1024, "{} bytes of metrics", text.len());
    assert!(!text.contains("INVENT"), "a raw method became a label");
    assert!(!text.contains("/nowhere"), "a raw path became a label");
    let other = text
        .lines()
        .find(|l| {
            l.starts_with("onboard_http_requests_total{")
                && l.contains("method=\"OTHER\"")
                && l.contains("route=\"unmatched\"")
        })
        .unwrap_or_else(|| panic!("no OTHER/unmatched series in {text}"));
    assert!(other.ends_with(" 3000"), "{other}");
}

#[tokio::test]
async fn a_silent_websocket_is_closed_at_the_auth_timeout_even_while_it_answers_pings() {
    let app = spawn_app_with_feed(FeedLimits {
        auth_timeout: Duration::from_millis(800),
        ping_interval: Duration::from_millis(100),
        ..FeedLimits::default()
    })
    .await;
    let started = Instant::now();
    // Reading answers every ping with a pong.
    let mut ws = Ws::connect(&app.ws_url()).await;
    let (before, code) = ws.expect_closed(WAIT).await;
    let after = started.elapsed();
    assert_eq!(code, Some(1008), "{before:?}");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["type"], "error");
    assert_eq!(before[0]["action"], "authenticate");
    assert!(
        after >= Duration::from_millis(700) && after < Duration::from_secs(5),
        "closed after {after:?}"
    );

    // One that authenticates in time stays open past the deadline.
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(&app.key_a).await;
    ws.expect_silence(Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn a_bad_authenticate_and_unsubscribe_loop_is_closed_with_1008() {
    let app = spawn_app_with_feed(FeedLimits {
        max_auth_failures: 4,
        ..FeedLimits::default()
    })
    .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    let mut failures = 0;
    let closed = 'outer: {
        for i in 0..20 {
            let guess = format!("onb_guess_{i}");
            ws.send(&json!({"type": "authenticate", "apiKey": guess, "enterprise": true}))
                .await;
            ws.send(&json!({"type": "unsubscribe", "feeds": [USERS_FEED]}))
                .await;
            // Read up to the answer to the unsubscribe, or the close.
            loop {
                match ws.recv_within(WAIT).await {
                    Some(crate::ws::Incoming::Message(m)) => {
                        assert_eq!(m["type"], "error", "nothing succeeds: {m}");
                        if m["action"] == "authenticate" {
                            failures += 1;
                        } else {
                            assert_eq!(m["action"], "unsubscribe", "{m}");
                            break;
                        }
                    }
                    Some(crate::ws::Incoming::Closed(code)) => break 'outer code,
                    None => panic!("no answer within {WAIT:?}"),
                }
            }
        }
        panic!("the loop was never closed");
    };
    assert_eq!(closed, Some(1008));
    // Four refused guesses, then the error that says why it closes.
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn the_same_unknown_key_is_refused_every_time_over_rest() {
    let app = spawn_with_edge(EdgeLimits::default()).await;
    for _ in 0..50 {
        let response = app.get_with("onb_not_a_key", "/v1/enterprise/users").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.get_with(&app.key_a, "/v1/enterprise/users").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_websocket_message_gets_an_error_and_a_1009_close() {
    let app = spawn_app_with_feed(FeedLimits {
        max_message_bytes: 1024,
        ..FeedLimits::default()
    })
    .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(&app.key_a).await;
    // Above the library's cap (64 KiB for a 1 KiB protocol limit).
    let mut big = json!({"type": "subscribe", "feeds": [USERS_FEED]});
    big["padding"] = json!("x".repeat(100 * 1024));
    ws.send(&big).await;
    let (before, code) = ws.expect_closed(WAIT).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["type"], "error");
    let why = before[0]["payload"]["message"].as_str().unwrap();
    assert!(why.contains("1024"), "the error names the limit: {why}");
    assert_eq!(code, Some(1009), "message too big");
}
