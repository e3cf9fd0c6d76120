//! Uploads shaped to exhaust a node (CONTRACT §7): a part's header block is
//! capped whatever its size, so memory stays flat under several at once.

use std::time::Duration;

use axum::body::Bytes;
use reqwest::StatusCode;

use crate::documents::{Part, jpeg, png, post_multipart};
use crate::fixtures;
use crate::helpers::{AppOptions, TestApp, assert_error, spawn_app, spawn_app_with};

const BOUNDARY: &str = "hostile-boundary-0123456789";
const MIB: usize = 1024 * 1024;

/// A streamed upload whose file part carries one header line of `line` bytes:
/// the client holds one MiB of it, whatever `line` is.
fn long_header_upload(line: usize) -> reqwest::Body {
    let opening = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; \
         filename=\"a.png\"\r\nX-Padding: "
    );
    let mut closing = b"\r\n\r\n".to_vec();
    closing.extend(png(100));
    closing.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let filler = Bytes::from(vec![b'a'; MIB]);
    let pieces = std::iter::once(Bytes::from(opening))
        .chain(std::iter::repeat_n(filler, line / MIB))
        .chain(std::iter::once(Bytes::from(closing)))
        .map(Ok::<_, std::io::Error>);
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces))
}

async fn post_long_header(app: &TestApp, line: usize) -> reqwest::Response {
    app.client
        .post(app.url("/v1/enterprise/ddq/upload"))
        .bearer_auth(&app.key_a)
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(long_header_upload(line))
        .send()
        .await
        .expect("Failed to execute request")
}

/// This process's resident memory, in bytes (the server runs inside it).
fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Failed to read VmRSS");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("no VmRSS line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS is not a number");
    kib * 1024
}

#[tokio::test]
async fn eight_uploads_with_an_80_mib_part_header_are_400s_and_memory_stays_flat() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let before = resident_bytes();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        loop {
            peak = peak.max(resident_bytes());
            tokio::select! {
                _ = &mut stopped => return peak,
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    });
    let uploads = (0..8).map(|_| post_long_header(&app, 80 * MIB));
    let answers = futures_util::future::join_all(uploads).await;
    let _ = stop.send(());
    let peak = sampler.await.unwrap();
    for answer in answers {
        let why = assert_error(answer, StatusCode::BAD_REQUEST).await;
        let sentence = why["error"].as_str().unwrap();
        assert!(sentence.contains("headers"), "{sentence}");
        assert!(sentence.contains("8192 bytes"), "{sentence}");
    }
    // Held whole, the eight header lines alone would be 640 MiB.
    let growth = peak.saturating_sub(before);
    assert!(growth < 128 * MIB, "memory grew by {} MiB", growth / MIB);
    assert!(app.documents(&app.key_a, "").await.is_empty());
}

#[tokio::test]
async fn a_part_header_just_under_the_cap_is_still_accepted() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let padding = "p".repeat(7 * 1024);
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\ndoc_user\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file_types\"\r\n\r\n\
         {{\"a.png\": \"ID\"}}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n\
         X-Padding: {padding}\r\n\r\n"
    );
    let mut body = body.into_bytes();
    body.extend(png(100));
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let response = app
        .client
        .post(app.url("/v1/enterprise/ddq/upload"))
        .bearer_auth(&app.key_a)
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.documents(&app.key_a, "").await.len(), 1);
}

/// `POST /v1/files/verification` of one passport photo of `size` bytes.
async fn upload_with_token(app: &TestApp, token: &str, size: usize) -> reqwest::Response {
    let parts = [
        Part::text(
            "data",
            r#"{"filename": "passport.jpg", "document_type": "passport"}"#,
        ),
        Part::file("files", "passport.jpg", jpeg(size)),
    ];
    post_multipart(app, token, "/v1/files/verification", &parts).await
}

async fn metrics(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_upload_that_would_cross_a_user_or_enterprise_quota_is_a_413_and_stores_nothing() {
    let mut options = AppOptions::default();
    options.quotas.document_bytes_per_user = 300_000;
    options.quotas.document_bytes_per_enterprise = 500_000;
    let app = spawn_app_with(options).await;
    for user in ["u1", "u2", "u3"] {
        app.register_ok(&app.key_a, &fixtures::individual(user))
            .await;
    }
    let token = app.token_of("u1").await;
    assert_eq!(
        upload_with_token(&app, &token, 200_000).await.status(),
        StatusCode::ACCEPTED
    );
    let why = assert_error(
        upload_with_token(&app, &token, 150_000).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let sentence = why["error"].as_str().unwrap();
    assert!(sentence.contains("this user's documents"), "{sentence}");
    assert!(sentence.contains("300000 bytes"), "{sentence}");
    assert!(!sentence.contains("u1"), "{sentence}");
    // Up to the quota exactly is still taken.
    assert_eq!(
        upload_with_token(&app, &token, 100_000).await.status(),
        StatusCode::ACCEPTED
    );

    let token = app.token_of("u2").await;
    assert_eq!(
        upload_with_token(&app, &token, 150_000).await.status(),
        StatusCode::ACCEPTED
    );
    let token = app.token_of("u3").await;
    let why = assert_error(
        upload_with_token(&app, &token, 100_000).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    let sentence = why["error"].as_str().unwrap();
    assert!(
        sentence.contains("this enterprise's documents"),
        "{sentence}"
    );
    assert!(sentence.contains("500000 bytes"), "{sentence}");
    assert_eq!(app.documents(&app.key_a, "").await.len(), 3);
    // Another enterprise has its own room.
    app.register_ok(&app.key_b, &fixtures::individual("b1"))
        .await;
    let minted = app.mint_token(&app.key_b, "b1").await;
    let minted: serde_json::Value = minted.json().await.unwrap();
    let token = minted["data"]["token"].as_str().unwrap();
    assert_eq!(
        upload_with_token(&app, token, 100_000).await.status(),
        StatusCode::ACCEPTED
    );

    let metrics = metrics(&app).await;
    for line in [
        "onboard_documents_stored_bytes 550000\n",
        "onboard_documents_largest_enterprise_bytes 450000\n",
        "onboard_document_quota_bytes{per=\"user\"} 300000\n",
        "onboard_document_quota_bytes{per=\"enterprise\"} 500000\n",
    ] {
        assert!(metrics.contains(line), "{line} is not in {metrics}");
    }
}
