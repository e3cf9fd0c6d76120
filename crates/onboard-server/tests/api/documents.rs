//! Documents (CONTRACT §7): both upload paths through a real socket, their size,
//! content and form rules, read-back byte for byte, tenant isolation, and the
//! feed staying in the vendor's user shape while EDD events interleave.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::edd::ordered_ok;
use crate::fixtures;
use crate::helpers::{TestApp, assert_error, body_ok, problem_fields, spawn_app};
use crate::ws::{USERS_FEED, WAIT, Ws};

/// One part of a multipart body.
pub struct Part {
    name: String,
    filename: Option<String>,
    bytes: Vec<u8>,
}

impl Part {
    pub fn text(name: &str, value: &str) -> Part {
        Part {
            name: name.into(),
            filename: None,
            bytes: value.as_bytes().to_vec(),
        }
    }

    pub fn file(name: &str, filename: &str, bytes: Vec<u8>) -> Part {
        Part {
            name: name.into(),
            filename: Some(filename.into()),
            bytes,
        }
    }
}

const BOUNDARY: &str = "onboard-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body of `parts`, and its content type.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match &part.filename {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{f}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n",
                part.name
            ),
            None => format!(
                "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                part.name
            ),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// `len` bytes starting with `magic`, then a pattern that is not all zeros.
fn content(magic: &[u8], len: usize) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend((0..len.saturating_sub(magic.len())).map(|i| (i * 31 % 251) as u8));
    bytes
}

pub fn png(len: usize) -> Vec<u8> {
    content(b"\x89PNG\r\n\x1a\n", len)
}

pub fn pdf(len: usize) -> Vec<u8> {
    content(b"%PDF-1.7\n", len)
}

pub fn jpeg(len: usize) -> Vec<u8> {
    content(&[0xFF, 0xD8, 0xFF, 0xE0], len)
}

pub async fn post_multipart(
    app: &TestApp,
    key: &str,
    path: &str,
    parts: &[Part],
) -> reqwest::Response {
    let (content_type, body) = multipart(parts);
    app.client
        .post(app.url(path))
        .bearer_auth(key)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("Failed to execute request")
}

/// `POST /v1/enterprise/ddq/upload` with `user_id`, `file_types` and `files`.
pub async fn upload_legacy(
    app: &TestApp,
    key: &str,
    user_id: &str,
    file_types: &str,
    files: &[Part],
) -> reqwest::Response {
    let mut parts = vec![
        Part::text("user_id", user_id),
        Part::text("file_types", file_types),
    ];
    parts.extend(files.iter().map(|f| Part {
        name: f.name.clone(),
        filename: f.filename.clone(),
        bytes: f.bytes.clone(),
    }));
    post_multipart(app, key, "/v1/enterprise/ddq/upload", &parts).await
}

impl TestApp {
    /// `GET /v1/enterprise/documents?<query>`, insisting on 200.
    pub async fn documents(&self, key: &str, query: &str) -> Vec<Value> {
        let path = format!("/v1/enterprise/documents?{query}");
        let body = body_ok(self.get_with(key, &path).await, StatusCode::OK).await;
        body["data"].as_array().expect("data is an array").clone()
    }

    /// A fresh user token of `user_id` (of enterprise A).
    pub async fn token_of(&self, user_id: &str) -> String {
        let minted = body_ok(
            self.mint_token(&self.key_a, user_id).await,
            StatusCode::CREATED,
        )
        .await;
        minted["data"]["token"].as_str().unwrap().to_owned()
    }
}

fn document_events(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == "document.uploaded")
        .count()
}

#[tokio::test]
async fn a_fake_png_is_a_422_naming_the_file_and_nothing_of_the_upload_is_stored() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let files = [
        Part::file("files", "statement.pdf", pdf(5_000)),
        Part::file("files", "selfie.png", b"GIF89a not a png at all".to_vec()),
    ];
    let types = r#"{"statement.pdf": "PoR", "selfie.png": "ID"}"#;
    let why = assert_error(
        upload_legacy(&app, &app.key_a, "doc_user", types, &files).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        why["error"].as_str().unwrap().contains("selfie.png"),
        "{why}"
    );
    // A JPEG named .png is refused too, naming what it really is.
    let files = [Part::file("files", "photo.png", jpeg(3_000))];
    let why = assert_error(
        upload_legacy(
            &app,
            &app.key_a,
            "doc_user",
            r#"{"photo.png": "ID"}"#,
            &files,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(why["error"].as_str().unwrap().contains("a JPEG"), "{why}");
    assert!(app.documents(&app.key_a, "").await.is_empty());
    assert_eq!(document_events(&app.all_events(&app.key_a).await), 0);
}

#[tokio::test]
async fn a_file_over_10_mib_is_a_413_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let files = [
        Part::file("files", "small.png", png(1_000)),
        Part::file("files", "huge.pdf", pdf(10 * 1024 * 1024 + 1)),
    ];
    let types = r#"{"small.png": "ID", "huge.pdf": "PoR"}"#;
    let why = assert_error(
        upload_legacy(&app, &app.key_a, "doc_user", types, &files).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(why["error"].as_str().unwrap().contains("huge.pdf"), "{why}");
    assert!(app.documents(&app.key_a, "").await.is_empty());
    // Exactly 10 MiB is accepted.
    let files = [Part::file("files", "edge.pdf", pdf(10 * 1024 * 1024))];
    let response = upload_legacy(
        &app,
        &app.key_a,
        "doc_user",
        r#"{"edge.pdf": "PoR"}"#,
        &files,
    )
    .await;
    body_ok(response, StatusCode::ACCEPTED).await;
    let documents = app.documents(&app.key_a, "").await;
    assert_eq!(documents[0]["size"], 10 * 1024 * 1024);
}

#[tokio::test]
async fn an_unknown_user_is_a_404_and_form_problems_are_all_listed_in_one_400() {
    let app = spawn_app().await;
    let files = [Part::file("files", "id.png", png(500))];
    assert_error(
        upload_legacy(&app, &app.key_a, "nobody", r#"{"id.png": "ID"}"#, &files).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let parts = [
        Part::text("user_id", "doc_user"),
        Part::text("ddq_id", "7"),
        Part::text("file_types", r#"{"id.png": "selfie", "other.pdf": "PoR"}"#),
        Part::file("files", "id.png", png(500)),
        Part::file("files", "bill.pdf", pdf(500)),
    ];
    let refused = assert_error(
        post_multipart(&app, &app.key_a, "/v1/enterprise/ddq/upload", &parts).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        problem_fields(&refused),
        [
            "ddq_id",
            "file_types.id.png",
            "file_types.other.pdf",
            "file_types"
        ]
    );
    // Not multipart at all, or an unknown part: 400 with a sentence.
    let response = app
        .post_json(
            &app.key_a,
            "/v1/enterprise/ddq/upload",
            &json!({"user_id": "doc_user"}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST).await;
    let parts = [Part::text("colour", "blue")];
    let why = assert_error(
        post_multipart(&app, &app.key_a, "/v1/enterprise/ddq/upload", &parts).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(why["error"].as_str().unwrap().contains("colour"), "{why}");
    assert!(app.documents(&app.key_a, "").await.is_empty());
}

#[tokio::test]
async fn the_user_token_path_takes_a_user_token_and_refuses_an_enterprise_key() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let parts = [
        Part::text(
            "data",
            r#"[{"filename": "passport.jpg", "document_type": "passport"}]"#,
        ),
        Part::file("files", "passport.jpg", jpeg(4_000)),
    ];
    let path = "/v1/files/verification";
    let refused = post_multipart(&app, &app.key_a, path, &parts).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.text().await.unwrap(),
        crate::helpers::UNAUTHORIZED_BODY
    );

    let token = app.token_of("doc_user").await;
    let accepted = body_ok(
        post_multipart(&app, &token, path, &parts).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(accepted, json!({"message": "Files uploaded successfully"}));
    let list = "/v1/enterprise/documents?user_id=doc_user";
    let (listed, order) = ordered_ok(app.get_with(&app.key_a, list).await, StatusCode::OK).await;
    let documents = listed["data"].as_array().unwrap();
    assert_eq!(documents.len(), 1);
    let document = &documents[0];
    assert_eq!(
        order.get("data").items()[0].keys(),
        [
            "id",
            "user_id",
            "filename",
            "document_type",
            "content_type",
            "size",
            "sha256",
            "uploaded_at",
            "ddq_id"
        ]
    );
    assert_eq!(document["document_type"], "passport");
    assert_eq!(document["content_type"], "image/jpeg");
    assert_eq!(document["ddq_id"], Value::Null);

    // A bad document type is a 400 naming the field.
    let parts = [
        Part::text(
            "data",
            r#"{"filename": "passport.jpg", "document_type": "selfie"}"#,
        ),
        Part::file("files", "passport.jpg", jpeg(400)),
    ];
    let refused = assert_error(
        post_multipart(&app, &token, path, &parts).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem_fields(&refused), ["data[0].document_type"]);
}

#[tokio::test]
async fn documents_read_back_byte_for_byte_with_their_content_type() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    // Over two stored pieces (256 KiB each), and a small one.
    let statement = pdf(600 * 1024 + 17);
    let photo = jpeg(1_234);
    let files = [
        Part::file("files", "statement.pdf", statement.clone()),
        Part::file("files", "photo.JPG", photo.clone()),
    ];
    let types = r#"{"statement.pdf": "PoR", "photo.JPG": "ID"}"#;
    let mut parts = vec![Part::text("ddq_id", "1")];
    parts.push(Part::text("user_id", "doc_user"));
    parts.push(Part::text("file_types", types));
    parts.extend(files);
    let response = post_multipart(&app, &app.key_a, "/v1/enterprise/ddq/upload", &parts).await;
    body_ok(response, StatusCode::ACCEPTED).await;

    let documents = app.documents(&app.key_a, "user_id=doc_user").await;
    assert_eq!(documents.len(), 2);
    for (document, bytes, kind) in [
        (&documents[0], &statement, "application/pdf"),
        (&documents[1], &photo, "image/jpeg"),
    ] {
        assert_eq!(document["content_type"], kind);
        assert_eq!(document["size"], bytes.len());
        assert_eq!(document["ddq_id"], 1);
        assert_eq!(document["sha256"], hex_sha256(bytes));
        let path = format!("/v1/enterprise/documents/{}", document["id"]);
        let response = app.get_with(&app.key_a, &path).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[reqwest::header::CONTENT_TYPE], kind);
        assert_eq!(
            headers[reqwest::header::CONTENT_LENGTH],
            bytes.len().to_string()
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let body = response.bytes().await.unwrap();
        assert!(
            body.as_ref() == bytes.as_slice(),
            "{} differs",
            document["filename"]
        );
    }
    assert_eq!(documents[1]["document_type"], "ID");
    assert_eq!(document_events(&app.all_events(&app.key_a).await), 2);

    // Paging by id.
    let first = documents[0]["id"].as_i64().unwrap();
    let rest = app
        .documents(&app.key_a, &format!("after={first}&limit=1"))
        .await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["id"], documents[1]["id"]);
    let missing = app
        .get_with(&app.key_a, "/v1/enterprise/documents/999999")
        .await;
    assert_error(missing, StatusCode::NOT_FOUND).await;
    let bad = app
        .get_with(&app.key_a, "/v1/enterprise/documents/abc")
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST).await;
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn another_enterprises_documents_are_404_and_absent_from_its_lists() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let files = [Part::file("files", "id.png", png(800))];
    let response = upload_legacy(&app, &app.key_a, "doc_user", r#"{"id.png": "ID"}"#, &files).await;
    body_ok(response, StatusCode::ACCEPTED).await;
    let id = app.documents(&app.key_a, "").await[0]["id"]
        .as_i64()
        .unwrap();

    let path = format!("/v1/enterprise/documents/{id}");
    assert_error(app.get_with(&app.key_b, &path).await, StatusCode::NOT_FOUND).await;
    assert!(app.documents(&app.key_b, "").await.is_empty());
    assert!(
        app.documents(&app.key_b, "user_id=doc_user")
            .await
            .is_empty()
    );
    // B cannot upload for A's user either.
    let response = upload_legacy(&app, &app.key_b, "doc_user", r#"{"id.png": "ID"}"#, &files).await;
    assert_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(app.documents(&app.key_a, "").await.len(), 1);
}

#[tokio::test]
async fn a_feed_subscriber_gets_user_events_in_order_while_edd_events_interleave() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("first"))
        .await;
    body_ok(app.open_edd(&app.key_a, "first").await, StatusCode::CREATED).await;
    let files = [Part::file("files", "id.png", png(300))];
    let response = upload_legacy(&app, &app.key_a, "first", r#"{"id.png": "ID"}"#, &files).await;
    body_ok(response, StatusCode::ACCEPTED).await;
    app.register_ok(&app.key_a, &fixtures::individual("second"))
        .await;

    // Replayed from the start: the two registrations only, with tokens.
    let mut ws = Ws::subscriber(&app.ws_url(), &app.key_a, Some(0)).await;
    let replayed = ws.feed_messages(2, WAIT).await;
    let ids: Vec<i64> = replayed
        .iter()
        .map(|m| m["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 4]);
    for message in &replayed {
        assert_eq!(message["recipient"], USERS_FEED);
        assert!(
            message["payload"]["user_token"]["token"].is_string(),
            "{message}"
        );
        assert!(message["payload"].get("edd_request").is_none());
    }

    // Live: an EDD event, then a user change, then a document, then another.
    body_ok(
        app.open_edd(&app.key_a, "second").await,
        StatusCode::CREATED,
    )
    .await;
    app.verify_email(&app.key_a, "second").await;
    let files = [Part::file("files", "bill.pdf", pdf(300))];
    let response =
        upload_legacy(&app, &app.key_a, "second", r#"{"bill.pdf": "PoR"}"#, &files).await;
    body_ok(response, StatusCode::ACCEPTED).await;
    app.verify_email(&app.key_a, "first").await;
    let live = ws.feed_messages(2, WAIT).await;
    let ids: Vec<i64> = live
        .iter()
        .map(|m| m["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [6, 8]);
    assert_eq!(live[0]["payload"]["user_id"], "second");
    assert_eq!(live[1]["payload"]["user_id"], "first");
    let sequences: Vec<i64> = replayed
        .iter()
        .chain(&live)
        .map(|m| m["sequence"].as_i64().unwrap())
        .collect();
    assert!(
        sequences.windows(2).all(|w| w[1] == w[0] + 1),
        "{sequences:?}"
    );
    ws.expect_silence(Duration::from_millis(700)).await;
    let kinds: Vec<String> = app
        .all_events(&app.key_a)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "user.registered",
            "edd.requested",
            "document.uploaded",
            "user.registered",
            "edd.requested",
            "user.updated",
            "document.uploaded",
            "user.updated"
        ]
    );
}

#[tokio::test]
async fn an_upload_retried_with_its_idempotency_key_is_stored_once() {
    let app = spawn_app().await;
    app.register_ok(&app.key_a, &fixtures::individual("doc_user"))
        .await;
    let parts = [
        Part::text("user_id", "doc_user"),
        Part::text("file_types", r#"{"bill.pdf": "PoR"}"#),
        Part::file("files", "bill.pdf", pdf(300 * 1024)),
    ];
    let (content_type, body) = multipart(&parts);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/v1/enterprise/ddq/upload"))
            .bearer_auth(&app.key_a)
            .header(reqwest::header::CONTENT_TYPE, &content_type)
            .header("Idempotency-Key", "upload-bill-1")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        answers.push((response.status(), replayed, response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert_eq!((answers[1].0, answers[1].1), (StatusCode::ACCEPTED, true));
    assert_eq!(answers[0].2, answers[1].2);
    assert_eq!(app.documents(&app.key_a, "").await.len(), 1);
}
