//! Personal data as an operator meets it (CONTRACT §12): the master keyring,
//! created on the embedded database's first start and readable by its owner
//! only; a server that refuses to start, with one sentence, on a keyring that is
//! missing, wrong or readable by others; and a server whose output, at its most
//! verbose, holds none of the personal data it was given.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use onboard_testkit::fixtures::individual;
use support::{Server, free_port, http_client, onboard_fails, setup};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A data folder holding one registered (so sealed) user.
async fn sealed_data_folder() -> tempfile::TempDir {
    let (dir, key) = setup().await;
    let server = Server::start(dir.path(), free_port()).await;
    let response = http_client(Duration::from_secs(30))
        .post(server.url("/v1/enterprise/register-account"))
        .bearer_auth(&key)
        .json(&individual("kept-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    server.stop().await;
    dir
}

#[tokio::test]
async fn the_first_start_creates_a_private_keyring_and_private_database_files() {
    let dir = sealed_data_folder().await;
    assert_eq!(mode(dir.path()), 0o700, "the data folder");
    assert_eq!(mode(&dir.path().join("master.key")), 0o600, "the keyring");
    assert_eq!(mode(&dir.path().join("onboard.db")), 0o600, "the database");
    let keyring = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    assert!(keyring.contains("current = 1"), "{keyring}");
}

#[tokio::test]
async fn a_keyring_others_can_read_stops_every_command_with_a_sentence() {
    let dir = sealed_data_folder().await;
    let file = dir.path().join("master.key");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let said = onboard_fails(&["enterprise", "list"], dir.path()).await;
    assert!(
        said.contains("is readable by group or others (mode 644)"),
        "{said}"
    );
}

#[tokio::test]
async fn a_missing_keyring_on_sealed_data_stops_the_server_rather_than_make_a_new_one() {
    let dir = sealed_data_folder().await;
    std::fs::remove_file(dir.path().join("master.key")).unwrap();
    let said = onboard_fails(&["enterprise", "list"], dir.path()).await;
    assert!(
        said.contains("is missing, but the database holds sealed personal data"),
        "{said}"
    );
    assert!(
        !dir.path().join("master.key").exists(),
        "no new keyring was written"
    );
}

#[tokio::test]
async fn another_databases_keyring_stops_the_server_with_a_sentence() {
    let dir = sealed_data_folder().await;
    let (other, _) = setup().await;
    let foreign = other.path().join("master.key");
    // A database with no sealed data takes any keyring: the other folder's was
    // written when its enterprise was created.
    assert!(foreign.exists());
    let file = dir.path().join("master.key");
    std::fs::copy(&foreign, &file).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let said = onboard_fails(&["serve", "--listen", "127.0.0.1:0"], dir.path()).await;
    assert!(
        said.contains("does not open this database's data keys"),
        "{said}"
    );
    assert!(!said.contains("kept-secret"), "{said}");
}

#[tokio::test]
async fn a_named_keyring_that_does_not_exist_is_refused_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("elsewhere.key");
    let args = [
        "enterprise",
        "list",
        "--master-key-file",
        missing.to_str().unwrap(),
    ];
    let said = onboard_fails(&args, dir.path()).await;
    assert!(said.contains("Failed to read the master keyring"), "{said}");
    assert!(!missing.exists());
}

#[tokio::test]
async fn postgresql_needs_a_named_keyring() {
    let url = "postgres://postgres@127.0.0.1:1/none";
    let out = tokio::process::Command::new(support::BIN)
        .args(["enterprise", "list", "--database-url", url])
        .env_remove("ONBOARD_MASTER_KEY_FILE")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8(out.stderr).unwrap();
    assert!(said.contains("must name its master keyring"), "{said}");
}

#[tokio::test]
async fn master_key_new_writes_a_private_keyring_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.key");
    let path = file.to_str().unwrap();
    let onboard = onboard_testkit::Onboard::new(support::BIN);
    onboard.ok(&["master-key", "new", path]).await;
    assert_eq!(mode(&file), 0o600);
    let again = onboard.run(&["master-key", "new", path], None).await;
    assert!(!again.status.success());
    let said = String::from_utf8(again.stderr).unwrap();
    assert!(
        said.contains("Failed to create the master keyring"),
        "{said}"
    );
}

/// Everything a server process wrote, stdout and its log, at the most verbose
/// level.
#[tokio::test]
async fn no_personal_value_reaches_the_servers_output_even_at_trace_level() {
    let (dir, key) = setup().await;
    let port = free_port();
    let onboard = onboard_testkit::Onboard::new(support::BIN);
    let data_dir = dir.path().to_str().unwrap();
    let mut command = onboard.serve_command(port, &["--sandbox", "--data-dir", data_dir]);
    command.env("RUST_LOG", "trace");
    let server = onboard_testkit::Served::start(command, port, "onboard", None).unwrap();
    server
        .wait_ready("/readyz", Duration::from_secs(30))
        .await
        .unwrap();
    let client = http_client(Duration::from_secs(30));
    let marker = "Qlogmarker";
    let mut person = individual("logged-person");
    person["first_name"] = format!("Zed{marker}").into();
    person["email"] = format!("zed.{marker}@example.com").into();
    person["individual"]["residential_city"] = format!("{marker}ton").into();
    let post = |path: &str, body: &serde_json::Value| {
        client
            .post(server.url(path))
            .bearer_auth(&key)
            .json(body)
            .send()
    };
    let created = post("/v1/enterprise/register-account", &person)
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Refused input must not be echoed into the log either.
    let mut bad = individual("refused-person");
    bad["email"] = format!("not an email {marker}").into();
    bad["last_name"] = format!("{marker}\u{0007}").into();
    let refused = post("/v1/enterprise/register-account", &bad).await.unwrap();
    assert_eq!(refused.status(), 400);
    let read = client
        .get(server.url("/v1/enterprise/users/logged-person"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(
        read.text().await.unwrap().contains(marker),
        "the read works"
    );
    let outbox = client
        .get(server.url("/v1/sandbox/messages?user_id=logged-person"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(outbox.status(), 200);
    // The log is written out in batches, and whole at exit.
    server.terminate().await.unwrap();
    let mut server = server;
    server
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("the server stops");
    let output = format!(
        "{}\n{}",
        server.stdout(),
        server.log_tail(usize::MAX).join("\n")
    );
    assert!(
        output.contains("TRACE") || output.contains("DEBUG") || output.contains("INFO"),
        "the log was written: {output}"
    );
    for value in [marker, "zed.", "example.com"] {
        assert!(
            !output.contains(value),
            "{value:?} is in the server's output"
        );
    }
}

/// Users written as a release before sealing wrote them, straight into the
/// embedded database of `dir`, in one transaction.
async fn write_legacy_users(dir: &Path, count: usize, marker: &str) {
    use sqlx::Connection as _;
    let url = format!("sqlite:{}", dir.join("onboard.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    for n in 0..count {
        let mut body = individual(&format!("legacy-{n:04}"));
        body["last_name"] = format!("{marker}{n:04}").into();
        let user = onboard_core::registration::Registration::parse(body, today)
            .unwrap()
            .into_user(uuid::Uuid::now_v7());
        let row = onboard_core::store::UserRow::encode(&user).unwrap();
        sqlx::query(
            "INSERT INTO users (enterprise_id, user_id, id, account_type, account_role, email, \
             first_name, last_name, phone_number, status, email_required, sms_required, \
             profile, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, 1, 1)",
        )
        .bind(&row.user_id)
        .bind(&row.id)
        .bind(&row.account_type)
        .bind(&row.account_role)
        .bind(&row.email)
        .bind(&row.first_name)
        .bind(&row.last_name)
        .bind(&row.phone_number)
        .bind(&row.status)
        .bind(row.profile.as_deref().unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// How many users are still in the clear, read beside the server.
async fn legacy_left(dir: &Path) -> i64 {
    use sqlx::Connection as _;
    let url = format!("sqlite:{}", dir.join("onboard.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE data_key IS NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upgrade_killed_half_way_finishes_at_the_next_start_and_loses_nobody() {
    const USERS: usize = 3000;
    let (dir, key) = setup().await;
    let marker = "Upgrademarker";
    write_legacy_users(dir.path(), USERS, marker).await;
    // The first start begins sealing in the background; it is killed early.
    let first = Server::start(dir.path(), free_port()).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.kill_hard().await;
    let left = legacy_left(dir.path()).await;
    eprintln!("{left} of {USERS} users were still in the clear after kill -9");

    let server = Server::start(dir.path(), free_port()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while legacy_left(dir.path()).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pass did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let client = http_client(Duration::from_secs(30));
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = server.url("/v1/enterprise/users?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = client
            .get(url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for user in page["data"].as_array().unwrap() {
            let n = &user["user_id"].as_str().unwrap()["legacy-".len()..];
            assert_eq!(user["last_name"], format!("{marker}{n}"), "{user}");
            seen += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    assert_eq!(seen, USERS, "every user reads back");
    // Once the pass is done the files are rewritten, in the background too.
    let holds_marker = || {
        let mut raw = Vec::new();
        for name in ["onboard.db", "onboard.db-wal"] {
            raw.extend(std::fs::read(dir.path().join(name)).unwrap_or_default());
        }
        raw.windows(marker.len()).any(|w| w == marker.as_bytes())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while holds_marker() {
        assert!(
            std::time::Instant::now() < deadline,
            "the plaintext is still in the database's files"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.stop().await;
}
