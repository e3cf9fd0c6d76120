//! Uploads shaped to exhaust a node (CONTRACT §7): a part's header block is
//! capped whatever its size, so memory stays flat under several at once.

use std::time::Duration;

use axum::body::Bytes;
use reqwest::StatusCode;

use crate::documents::png;
use crate::fixtures;
use crate::helpers::{TestApp, assert_error, spawn_app};

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
