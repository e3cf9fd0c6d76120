//! The WebSocket feed (CONTRACT §5; the vendor's *Onboarding* page,
//! <https://docs.sfox.com/connect/websocket-api/end-users/users>): the vendor's own Python client
//! against the server, the protocol's refusals and limits, and keep-alive.
//! Delivery (load, resume, lag) is in `feed_delivery`, history and the REST log in
//! `feed_history`.

use std::process::Stdio;
use std::time::Duration;

use onboard_server::feed::limits::FeedLimits;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

use crate::fixtures;
use crate::helpers::{TestApp, spawn_app, spawn_app_with_feed};
use crate::ordered::Json;
use crate::ws::{Incoming, USERS_FEED, WAIT, Ws, assert_timestamp, subscribe_message};

/// The Python tab of the vendor's *Onboarding* page, verbatim.
const SEED_PYTHON_CLIENT: &str = r#"import asyncio
import json
import websockets
import os

async def main(uri):
    async with websockets.connect(uri) as ws:
        await ws.send(json.dumps({
            "type": "authenticate",
            "apiKey": f"{os.environ['ENTERPRISE_API_KEY']}",
            "enterprise": "true"
        }))

        # After successful authentication message, subscribe to the users feed
        await ws.send(json.dumps({
            "type": "subscribe",
            "feeds": ["private.enterprise.users"]
        }))
        async for msg in ws:
            print(msg)


asyncio.run(main("wss://ws.sfox.com/ws"))
"#;

/// The vendor's URL in [`SEED_PYTHON_CLIENT`], the one thing the test replaces.
const SEED_URL: &str = "wss://ws.sfox.com/ws";

/// The "Response: New" tab of the vendor's *Onboarding* page, verbatim.
const SEED_RESPONSE_NEW: &str = r#"{
  "sequence": 5,
  "recipient": "private.enterprise.users",
  "timestamp": 1717005327995988841,
  "payload": {
    "user_id": "client_09e487c9-9b75-4ef5-be06-b3e5661f68e5",
    "first_name": "Brando",
    "last_name": "Marks",
    "email": "bruno@mailinator.com",
    "phone_number": "+12223334444",
    "account_role": "Client",
    "account_type": "individual",
    "status": "PENDING",
    "user_token": {
      "token": "2000611ea497d8ae4832c52166e0a26162cbb74716ab2662c50f8b47cdad3979",
      "expires": "2024-05-30T17:55:27.981Z",
      "partner_user_id": "client_09e487c9-9b75-4ef5-be06-b3e5661f68e5"
    },
    "requirements": {
      "sms": true,
      "email": true
    }
  }
}"#;

/// Makes sure the vendor client's only dependency, `websockets`, can be imported, and
/// returns the `PYTHONPATH` to run it with. When the machine lacks it, it is
/// installed from PyPI into the test's own target folder (never system-wide). If
/// that fails too, the test fails: it never skips.
async fn python_websockets_path() -> String {
    let deps = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-deps");
    let deps = deps.to_string_lossy().into_owned();
    let importable = |path: String| async move {
        Command::new("python3")
            .args(["-c", "import websockets"])
            .env("PYTHONPATH", path)
            .output()
            .await
            .is_ok_and(|out| out.status.success())
    };
    if importable(deps.clone()).await {
        return deps;
    }
    let installed = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            &deps,
            "websockets",
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("python3 is needed to run the seed's Python client: {e}"));
    assert!(
        installed.status.success() && importable(deps.clone()).await,
        "the seed's Python client needs the `websockets` package, and installing it \
         failed: {}",
        String::from_utf8_lossy(&installed.stderr).trim()
    );
    deps
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn as_str(value: &Json) -> &str {
    match value {
        Json::String(s) => s,
        other => panic!("expected a string, got {other:?}"),
    }
}

/// `2024-05-30T17:55:27.981Z`: RFC 3339, UTC, milliseconds.
fn assert_rfc3339_millis(text: &str) -> time::OffsetDateTime {
    let b = text.as_bytes();
    let shape_ok = b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "expected YYYY-MM-DDTHH:MM:SS.mmmZ, got {text}");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
}

#[tokio::test]
async fn the_vendors_python_client_receives_a_new_user_in_the_seed_shape_with_a_working_token() {
    let python_path = python_websockets_path().await;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("client.py");
    assert!(SEED_PYTHON_CLIENT.contains(SEED_URL));
    std::fs::write(&script, SEED_PYTHON_CLIENT.replace(SEED_URL, &app.ws_url())).unwrap();

    let mut child = Command::new("python3")
        .arg(&script)
        .env("ENTERPRISE_API_KEY", &app.key_a)
        .env("PYTHONPATH", &python_path)
        // print() to a pipe is block-buffered; the script itself is untouched.
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut registered = false;
    let feed_line = loop {
        let line = match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            ended => {
                let _ = child.start_kill();
                let out = child.wait_with_output().await.unwrap();
                panic!(
                    "the Python client printed no feed message within 20 s ({ended:?}); \
                     printed {seen:?}; stderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        seen.push(line.clone());
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the client printed a non-JSON line ({e}): {line}"));
        assert_ne!(
            value["type"], "error",
            "the server refused the seed client: {line}"
        );
        if value.get("event_id").is_some() {
            break line;
        }
        if value["action"] == "subscribe" && !registered {
            // Subscribed live: now the registration is sure to be sent.
            app.register_ok(
                &app.key_a,
                &fixtures::individual("client_09e487c9-9b75-4ef5-be06-b3e5661f68e5"),
            )
            .await;
            registered = true;
        }
    };
    let _ = child.start_kill();
    let _ = tokio::time::timeout(WAIT, child.wait()).await;
    assert_eq!(
        seen.len(),
        3,
        "authenticate, subscribe, then the feed: {seen:?}"
    );

    let seed = Json::parse(SEED_RESPONSE_NEW);
    let got = Json::parse(&feed_line);
    // The same top-level keys, and `event_id` (CONTRACT §5).
    let mut expected_top = seed.keys();
    expected_top.insert(3, "event_id");
    assert_eq!(got.keys(), expected_top, "{feed_line}");
    assert_eq!(got.get("sequence"), &Json::Number(3.into()));
    assert_eq!(got.get("recipient"), seed.get("recipient"));
    assert_timestamp(&serde_json::from_str::<Value>(&feed_line).unwrap()["timestamp"]);
    assert_eq!(got.get("event_id"), &Json::Number(1.into()));

    let (seed_payload, payload) = (seed.get("payload"), got.get("payload"));
    assert_eq!(payload.keys(), seed_payload.keys(), "payload key order");
    for key in seed_payload.keys() {
        assert_eq!(
            json_kind(payload.get(key)),
            json_kind(seed_payload.get(key)),
            "payload.{key}"
        );
    }
    for (key, value) in [
        ("user_id", "client_09e487c9-9b75-4ef5-be06-b3e5661f68e5"),
        ("first_name", "Jane"),
        ("last_name", "Smith"),
        ("email", "user_1_mail@address.com"),
        ("phone_number", "+12243987754"),
        ("account_role", "Client"),
        ("account_type", "individual"),
        ("status", "PENDING"),
    ] {
        assert_eq!(as_str(payload.get(key)), value, "payload.{key}");
    }
    let (seed_token, token) = (seed_payload.get("user_token"), payload.get("user_token"));
    assert_eq!(token.keys(), seed_token.keys(), "user_token key order");
    let secret = as_str(token.get("token"));
    assert_eq!(secret.len(), 64, "{secret}");
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    let expires = assert_rfc3339_millis(as_str(token.get("expires")));
    let in_a_day = time::OffsetDateTime::now_utc() + time::Duration::hours(24);
    assert!(
        (expires - in_a_day).abs() < time::Duration::minutes(1),
        "the token is good for 24 h: {expires}"
    );
    assert_eq!(
        as_str(token.get("partner_user_id")),
        "client_09e487c9-9b75-4ef5-be06-b3e5661f68e5"
    );
    let (seed_req, req) = (
        seed_payload.get("requirements"),
        payload.get("requirements"),
    );
    assert_eq!(req.keys(), seed_req.keys(), "requirements: sms, then email");
    assert_eq!(req, seed_req, "a new individual must still verify both");

    // The token in the message is a working user auth token.
    let me = app
        .client
        .get(app.url("/v1/user"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        me["data"]["user_id"],
        "client_09e487c9-9b75-4ef5-be06-b3e5661f68e5"
    );
}

/// Registers one user and returns the feed message the subscriber gets for it.
async fn one_event(app: &TestApp, ws: &mut Ws, user_id: &str) -> Value {
    app.register_ok(&app.key_a, &fixtures::individual(user_id))
        .await;
    let message = ws.feed_messages(1, WAIT).await.remove(0);
    assert_eq!(message["payload"]["user_id"], user_id, "{message}");
    message
}

fn authenticate(key: &str, enterprise: Value) -> Value {
    json!({"type": "authenticate", "apiKey": key, "enterprise": enterprise})
}

#[tokio::test]
async fn subscribing_before_authenticating_is_an_error_and_the_same_socket_can_then_subscribe() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.send(&subscribe_message(None)).await;
    let why = ws.expect_error("subscribe").await;
    assert!(why.contains("authenticate"), "{why}");
    // Unsubscribing is no way around it either.
    ws.send(&json!({"type": "unsubscribe", "feeds": [USERS_FEED]}))
        .await;
    let why = ws.expect_error("unsubscribe").await;
    assert!(why.contains("authenticate"), "{why}");
    ws.authenticate(&app.key_a).await;
    ws.subscribe(None).await;
    let message = one_event(&app, &mut ws, "late-subscriber").await;
    assert_eq!(
        message["sequence"], 5,
        "error, error, auth, subscribe, then this"
    );
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_the_right_one_then_works_on_the_same_connection() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.send(&authenticate("not-a-key", json!(true))).await;
    ws.expect_error("authenticate").await;
    ws.send(&json!({"type": "authenticate", "enterprise": true}))
        .await;
    let why = ws.expect_error("authenticate").await;
    assert!(why.contains("apiKey"), "{why}");
    ws.send(&subscribe_message(None)).await;
    ws.expect_error("subscribe").await;

    ws.authenticate(&app.key_a).await;
    ws.send(&authenticate(&app.key_b, json!(true))).await;
    let why = ws.expect_error("authenticate").await;
    assert!(why.contains("already authenticated"), "{why}");
    ws.subscribe(None).await;
    one_event(&app, &mut ws, "after-a-wrong-key").await;
    assert_eq!(ws.sequence, 7);
}

#[tokio::test]
async fn enterprise_must_be_true_or_the_string_true() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    for refused in [
        json!({"type": "authenticate", "apiKey": app.key_a}),
        authenticate(&app.key_a, json!(false)),
        authenticate(&app.key_a, json!("false")),
        authenticate(&app.key_a, json!(1)),
    ] {
        ws.send(&refused).await;
        let why = ws.expect_error("authenticate").await;
        assert!(why.contains("enterprise"), "{refused}: {why}");
    }
    ws.send(&authenticate(&app.key_a, json!("true"))).await;
    ws.expect_success("authenticate").await;

    let mut other = Ws::connect(&app.ws_url()).await;
    other.send(&authenticate(&app.key_a, json!(true))).await;
    other.expect_success("authenticate").await;
}

#[tokio::test]
async fn an_unknown_feed_is_refused_by_name_and_the_rest_of_the_subscribe_takes_effect() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(&app.key_a).await;
    ws.send(&json!({"type": "subscribe", "feeds": ["private.enterprise.orders"]}))
        .await;
    let why = ws.expect_error("subscribe").await;
    assert!(why.contains("private.enterprise.orders"), "{why}");
    ws.send(&json!({"type": "subscribe", "feeds": []})).await;
    ws.expect_error("subscribe").await;
    ws.send(&json!({"type": "subscribe", "feeds": [USERS_FEED], "after": "0"}))
        .await;
    ws.expect_error("subscribe").await;
    // One bad name among good ones: an error naming it, then the rest subscribed.
    ws.send(&json!({"type": "subscribe", "feeds": ["public.x", USERS_FEED, "public.y"]}))
        .await;
    let why = ws.expect_error("subscribe").await;
    assert!(why.contains("public.x"), "{why}");
    let why = ws.expect_error("subscribe").await;
    assert!(why.contains("public.y"), "{why}");
    let reply = ws.expect_success("subscribe").await;
    assert_eq!(reply["payload"]["feeds"], json!([USERS_FEED]), "{reply}");
    one_event(&app, &mut ws, "after-unknown-feeds").await;
}

#[tokio::test]
async fn the_vendors_other_feeds_are_acknowledged_with_the_users_feed_and_stay_silent() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(&app.key_a).await;
    let others = [
        "private.enterprise.users.balances",
        "private.enterprise.users.open-orders",
        "private.enterprise.users.trades",
        "ticker.sfox.btcusd",
        "orderbook.sfox.ethusd",
    ];
    // The vendor's other feeds alone: acknowledged, and nothing arrives.
    ws.send(&json!({"type": "subscribe", "feeds": others}))
        .await;
    let reply = ws.expect_success("subscribe").await;
    assert_eq!(reply["payload"]["feeds"], json!(others), "{reply}");
    app.register_ok(&app.key_a, &fixtures::individual("unheard"))
        .await;
    ws.expect_silence(Duration::from_millis(500)).await;

    // With the users feed, as vendor clients send it: one success listing all.
    let mut feeds = vec![USERS_FEED];
    feeds.extend(others);
    ws.send(&json!({"type": "subscribe", "feeds": feeds})).await;
    let reply = ws.expect_success("subscribe").await;
    assert_eq!(reply["payload"]["feeds"], json!(feeds), "{reply}");
    one_event(&app, &mut ws, "heard").await;

    // Leaving another feed leaves the users feed running; leaving it stops it.
    ws.send(&json!({"type": "unsubscribe", "feeds": ["ticker.sfox.btcusd"]}))
        .await;
    let reply = ws.expect_success("unsubscribe").await;
    assert_eq!(reply["payload"]["feeds"], json!(["ticker.sfox.btcusd"]));
    one_event(&app, &mut ws, "still-heard").await;
    ws.send(&json!({"type": "unsubscribe", "feeds": [USERS_FEED, "nope"]}))
        .await;
    let why = ws.expect_error("unsubscribe").await;
    assert!(why.contains("nope"), "{why}");
    ws.expect_success("unsubscribe").await;
    app.register_ok(&app.key_a, &fixtures::individual("unheard-again"))
        .await;
    ws.expect_silence(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn malformed_and_oversized_messages_get_errors_and_the_connection_keeps_working() {
    let app = spawn_app_with_feed(FeedLimits {
        max_message_bytes: 1024,
        ..FeedLimits::default()
    })
    .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    for (text, action) in [
        ("{", "unknown"),
        ("not json at all", "unknown"),
        ("[1, 2]", "unknown"),
        (r#"{"feeds": []}"#, "unknown"),
        (r#"{"type": "dance"}"#, "dance"),
    ] {
        ws.send_text(text).await;
        ws.expect_error(action).await;
    }
    let mut big = authenticate(&app.key_a, json!(true));
    big["padding"] = json!("x".repeat(2000));
    ws.send(&big).await;
    let why = ws.expect_error("unknown").await;
    assert!(why.contains("1024"), "the error names the limit: {why}");

    ws.authenticate(&app.key_a).await;
    ws.subscribe(None).await;
    one_event(&app, &mut ws, "after-garbage").await;
    assert_eq!(ws.sequence, 9);
}

#[tokio::test]
async fn the_rate_limit_answers_with_errors_and_the_connection_works_again_after_a_pause() {
    let app = spawn_app_with_feed(FeedLimits {
        messages_per_second: 1,
        burst: 3,
        ..FeedLimits::default()
    })
    .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    ws.authenticate(&app.key_a).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unsubscribe = json!({"type": "unsubscribe", "feeds": [USERS_FEED]});
    for _ in 0..6 {
        ws.send(&unsubscribe).await;
    }
    for _ in 0..3 {
        ws.expect_success("unsubscribe").await;
    }
    for _ in 0..3 {
        let why = ws.expect_error("unknown").await;
        assert!(why.contains("rate limit"), "{why}");
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    ws.subscribe(None).await;
    one_event(&app, &mut ws, "after-the-pause").await;
    assert_eq!(ws.sequence, 9);
}

#[tokio::test]
async fn too_many_refusals_in_a_row_get_an_error_then_a_close() {
    let app = spawn_app_with_feed(FeedLimits {
        max_refusals: 3,
        ..FeedLimits::default()
    })
    .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    // A good message of an authenticated connection starts the count again.
    ws.authenticate(&app.key_a).await;
    for text in [
        "{",
        "{",
        r#"{"type":"unsubscribe","feeds":["private.enterprise.users"]}"#,
    ] {
        ws.send_text(text).await;
    }
    ws.expect_error("unknown").await;
    ws.expect_error("unknown").await;
    ws.expect_success("unsubscribe").await;
    for _ in 0..3 {
        ws.send_text("{").await;
    }
    let (before, code) = ws.expect_closed(WAIT).await;
    assert_eq!(before.len(), 3, "each refusal is answered: {before:?}");
    assert!(before.iter().all(|m| m["type"] == "error"), "{before:?}");
    assert_eq!(code, Some(1008), "policy violation");
    assert_eq!(ws.sequence, 7);
}

#[tokio::test]
async fn guessing_keys_counts_as_refusals_and_ends_in_a_close() {
    let app = spawn_app_with_feed(FeedLimits {
        max_refusals: 3,
        ..FeedLimits::default()
    })
    .await;
    let mut ws = Ws::connect(&app.ws_url()).await;
    for guess in ["onb_guess_1", "onb_guess_2", "onb_guess_3"] {
        let auth = serde_json::json!({"type": "authenticate", "apiKey": guess, "enterprise": true});
        ws.send(&auth).await;
    }
    let (before, code) = ws.expect_closed(WAIT).await;
    assert_eq!(before.len(), 3, "each guess is answered: {before:?}");
    assert!(
        before.iter().all(|m| m["action"] == "authenticate"),
        "{before:?}"
    );
    assert_eq!(code, Some(1008), "policy violation");
}

#[tokio::test]
async fn a_third_connection_of_a_key_limited_to_two_is_refused_then_closed() {
    let app = spawn_app_with_feed(FeedLimits {
        max_connections_per_key: 2,
        ..FeedLimits::default()
    })
    .await;
    let mut first = Ws::subscriber(&app.ws_url(), &app.key_a, None).await;
    let mut second = Ws::subscriber(&app.ws_url(), &app.key_a, None).await;
    // Connections that have not authenticated hold no place.
    let mut idle = Ws::connect(&app.ws_url()).await;
    let mut third = Ws::connect(&app.ws_url()).await;
    third.send(&authenticate(&app.key_a, json!(true))).await;
    let (before, code) = third.expect_closed(WAIT).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["type"], "error");
    assert_eq!(before[0]["action"], "authenticate");
    assert!(
        before[0]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains('2'),
        "{before:?}"
    );
    assert_eq!(code, Some(1008));
    // The limit is per key.
    idle.authenticate(&app.key_b).await;

    // The two keep working; closing one frees its place.
    app.register_ok(&app.key_a, &fixtures::individual("while-full"))
        .await;
    first.feed_messages(1, WAIT).await;
    second.feed_messages(1, WAIT).await;
    drop(first);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = Ws::connect(&app.ws_url()).await;
        again.send(&authenticate(&app.key_a, json!(true))).await;
        let reply = again.next().await;
        if reply["type"] == "success" {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_does_not_answer_pings_is_closed_and_one_that_reads_stays_open() {
    let app = spawn_app_with_feed(FeedLimits {
        ping_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(1),
        ..FeedLimits::default()
    })
    .await;
    let mut deaf = Ws::subscriber(&app.ws_url(), &app.key_a, None).await;
    let mut reader = Ws::subscriber(&app.ws_url(), &app.key_a, None).await;
    // The reader answers every ping while it reads; `deaf` is not read at all.
    reader.expect_silence(Duration::from_millis(2500)).await;

    let (before, code) = deaf.raw_until_closed(WAIT).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["type"], "error");
    assert_eq!(before[0]["action"], "keepalive");
    assert_eq!(code, Some(1001), "going away");

    one_event(&app, &mut reader, "still-listening").await;
    match reader.recv_within(Duration::from_millis(1200)).await {
        None => {}
        Some(Incoming::Message(m)) => panic!("unexpected {m}"),
        Some(Incoming::Closed(code)) => panic!("the reading client was closed ({code:?})"),
    }
}
