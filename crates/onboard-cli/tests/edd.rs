//! Enhanced due diligence through the real binary (CONTRACT §7): `onboard edd
//! request` and `onboard edd review` beside a running server, and uploads that
//! never hold a whole file in the server's memory.

mod support;

use std::time::Duration;

use onboard_testkit::fixtures;
use onboard_testkit::process::memory_kib;
use serde_json::Value;
use support::{ENTERPRISE, Server, free_port, http_client, onboard, onboard_fails, setup};

async fn register(server: &Server, key: &str, user_id: &str) {
    let response = http_client(Duration::from_secs(60))
        .post(format!("{}/v1/enterprise/register-account", server.base))
        .bearer_auth(key)
        .json(&fixtures::individual(user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn get_json(server: &Server, key: &str, path: &str) -> Value {
    let response = http_client(Duration::from_secs(60))
        .get(format!("{}{path}", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_operator_opens_and_reviews_a_request_from_the_command_line() {
    let (dir, key) = setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    register(&server, &key, "cli_user").await;

    let printed = onboard(
        &["edd", "request", "--enterprise", ENTERPRISE, "cli_user"],
        dir.path(),
    )
    .await;
    let request: Value = serde_json::from_str(printed.trim()).expect("one JSON line");
    assert_eq!(request["status"], "REQUESTED");
    assert_eq!(request["required_form"], "EDDQ - Individual");
    let id = request["id"].as_i64().unwrap().to_string();

    let listed = get_json(
        &server,
        &key,
        "/v1/enterprise/eddq/requests?user_id=cli_user",
    )
    .await;
    assert_eq!(listed["data"][0], request);
    let why = onboard_fails(
        &[
            "edd",
            "request",
            "--enterprise",
            ENTERPRISE,
            "cli_user",
            "--form",
            "business",
        ],
        dir.path(),
    )
    .await;
    assert!(why.contains(&format!("request {id} open")), "{why}");
    let why = onboard_fails(
        &[
            "edd",
            "request",
            "--enterprise",
            ENTERPRISE,
            "cli_user",
            "--form",
            "robot",
        ],
        dir.path(),
    )
    .await;
    assert!(why.contains("individual or business"), "{why}");

    // Only an operator account may close it.
    let why = onboard_fails(
        &[
            "edd",
            "review",
            "--enterprise",
            ENTERPRISE,
            &id,
            "--operator",
            "olivia",
        ],
        dir.path(),
    )
    .await;
    assert!(why.contains("olivia"), "{why}");
    onboard(&["operators", "create", "--name", "olivia"], dir.path()).await;
    let printed = onboard(
        &[
            "edd",
            "review",
            "--enterprise",
            ENTERPRISE,
            &id,
            "--operator",
            "olivia",
            "--note",
            "documents match",
        ],
        dir.path(),
    )
    .await;
    let reviewed: Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(reviewed["status"], "REVIEWED");
    let events = get_json(&server, &key, "/v1/enterprise/events").await;
    let last = events["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "edd.updated");
    assert_eq!(last["operator"], "olivia");
    assert_eq!(last["note"], "documents match");
    let user = get_json(&server, &key, "/v1/enterprise/users/cli_user").await;
    assert_eq!(user["data"]["status"], "PENDING");

    // A business questionnaire may be asked of anyone, once the last is closed.
    let printed = onboard(
        &[
            "edd",
            "request",
            "--enterprise",
            ENTERPRISE,
            "cli_user",
            "--form",
            "business",
        ],
        dir.path(),
    )
    .await;
    let second: Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(second["ddq_id"], 2);
    let why = onboard_fails(
        &[
            "edd",
            "review",
            "--enterprise",
            ENTERPRISE,
            "999",
            "--operator",
            "olivia",
        ],
        dir.path(),
    )
    .await;
    assert!(why.contains("No EDD request with id 999"), "{why}");
    server.stop().await;
}

/// A multipart body of `user_id`, `file_types` and one file.
fn upload_body(user_id: &str, filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "edd-memory-boundary-0123456789";
    let mut body = Vec::with_capacity(bytes.len() + 1024);
    for (name, value) in [
        ("user_id", user_id.to_owned()),
        ("file_types", format!("{{\"{filename}\": \"PoR\"}}")),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
             filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn pdf(len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..len - bytes.len()).map(|i| (i * 7 % 256) as u8));
    bytes
}

async fn upload(server: &Server, key: &str, filename: &str, bytes: &[u8]) -> reqwest::StatusCode {
    let (content_type, body) = upload_body("mem_user", filename, bytes);
    http_client(Duration::from_secs(60))
        .post(format!("{}/v1/enterprise/ddq/upload", server.base))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn uploads_and_downloads_never_hold_a_whole_file_in_the_servers_memory() {
    let (dir, key) = setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    register(&server, &key, "mem_user").await;
    // Every code path once with small files, so that what is measured next is
    // what the size of a file costs, not first-use allocations.
    assert_eq!(
        upload(&server, &key, "warm.pdf", &pdf(600 * 1024)).await,
        202
    );
    let doc = get_json(&server, &key, "/v1/enterprise/documents").await;
    let id = doc["data"][0]["id"].as_i64().unwrap();
    let path = format!("{}/v1/enterprise/documents/{id}", server.base);
    let read = http_client(Duration::from_secs(60))
        .get(&path)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.bytes().await.unwrap().len(), 600 * 1024);
    assert_eq!(
        upload(&server, &key, "warm_big.pdf", &pdf(11 * 1024 * 1024)).await,
        413
    );

    let (_, peak_before) = memory_kib(server.pid).unwrap();
    // 24 MiB refused (413), then 10 MiB accepted and read back.
    let huge = pdf(24 * 1024 * 1024);
    assert_eq!(upload(&server, &key, "huge.pdf", &huge).await, 413);
    let (_, peak_refused) = memory_kib(server.pid).unwrap();
    let full = pdf(10 * 1024 * 1024);
    assert_eq!(upload(&server, &key, "full.pdf", &full).await, 202);
    let doc = get_json(&server, &key, "/v1/enterprise/documents?after=1").await;
    let id = doc["data"][0]["id"].as_i64().unwrap();
    let path = format!("{}/v1/enterprise/documents/{id}", server.base);
    let read = http_client(Duration::from_secs(60))
        .get(&path)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.bytes().await.unwrap().as_ref(), full.as_slice());
    let (_, peak_after) = memory_kib(server.pid).unwrap();
    eprintln!(
        "server peak RSS: {peak_before} KiB before, {peak_refused} KiB after a refused \
         24 MiB upload, {peak_after} KiB after a 10 MiB upload and download"
    );
    // A server that buffered a file would peak at least its size higher.
    let limit = 6 * 1024;
    assert!(
        peak_refused - peak_before < limit,
        "a refused 24 MiB upload raised the server's peak RSS by {} KiB",
        peak_refused - peak_before
    );
    assert!(
        peak_after - peak_before < limit,
        "a 10 MiB upload and download raised the server's peak RSS by {} KiB",
        peak_after - peak_before
    );
    server.stop().await;
}

#[tokio::test]
async fn uploads_past_the_nodes_slots_are_refused_at_once_until_one_frees() {
    use tokio::io::AsyncWriteExt;
    let (dir, key) = setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    register(&server, &key, "mem_user").await;
    // 32 uploads that have sent their head and the start of a file, then stall.
    let head = format!(
        "POST /v1/enterprise/ddq/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {key}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
         Content-Length: 100000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; \
         name=\"files\"; filename=\"a.pdf\"\r\n\r\n%PDF-"
    );
    let mut stalled = Vec::new();
    for _ in 0..32 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    // Each holds a slot once the server has read its head: the next is refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let status = upload(&server, &key, "late.pdf", &pdf(1000)).await;
        if status == 429 || tokio::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused, 429);
    drop(stalled);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let accepted = loop {
        let status = upload(&server, &key, "later.pdf", &pdf(1000)).await;
        if status == 202 || tokio::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(accepted, 202);
    server.stop().await;
}
