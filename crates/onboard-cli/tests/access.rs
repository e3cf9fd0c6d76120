//! `onboard keys` and `onboard operators` (CONTRACT §8) with the real binary:
//! keys made and ended by the command while servers run (one SQLite node, and two
//! PostgreSQL nodes), and the operator commands end to end.

mod support;

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use onboard_core::access::Password;
use onboard_core::clock::SystemClock;
use onboard_core::service::Onboarding;
use onboard_testkit::Onboard;
use serde_json::{Value, json};
use support::{BIN, ENTERPRISE, Server, free_port, http_client};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Within this a revocation must bite, on every node.
const BITE: Duration = Duration::from_secs(1);

/// `onboard <args> <database>`, with `stdin` written to it if given (bounded).
async fn run(args: &[&str], database: &[&str], stdin: Option<&str>) -> Output {
    Onboard::new(BIN)
        .run(&[args, database].concat(), stdin)
        .await
}

/// Insists on success; returns stdout.
async fn ok(args: &[&str], database: &[&str]) -> String {
    let out = run(args, database, None).await;
    assert!(
        out.status.success(),
        "onboard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Insists on failure with nothing on stdout; returns stderr.
async fn fails(args: &[&str], database: &[&str]) -> String {
    let out = run(args, database, None).await;
    assert!(!out.status.success(), "onboard {args:?} succeeded");
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The one line a command printed on stdout (a key or a password).
fn only_line(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected on stdout: {stdout:?}");
    lines[0].to_owned()
}

async fn status(client: &reqwest::Client, base: &str, key: &str) -> u16 {
    client
        .get(format!("{base}/v1/enterprise/users?limit=1"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until every server refuses `key` with 401; panics after [`BITE`]
/// counted from `since`.
async fn refused_everywhere(client: &reqwest::Client, bases: &[&str], key: &str, since: Instant) {
    for base in bases {
        loop {
            match status(client, base, key).await {
                401 => break,
                200 => assert!(
                    since.elapsed() < BITE,
                    "{base} still took the key {:?} after the command returned",
                    since.elapsed()
                ),
                other => panic!("{base} answered {other}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A feed session authenticated with `key` and subscribed.
async fn subscriber(ws: &str, key: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await.unwrap();
    let messages = [
        json!({"type": "authenticate", "apiKey": key, "enterprise": true}),
        json!({"type": "subscribe", "feeds": ["private.enterprise.users"]}),
    ];
    for message in messages {
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        let reply = next_text(&mut socket).await;
        assert_eq!(reply["type"], "success", "{reply}");
    }
    socket
}

async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Reads until the server closes the session; returns the error it sent first
/// and the close code. Panics unless both come within [`BITE`] of `since`.
async fn closed(socket: &mut Socket, since: Instant) -> (String, u16) {
    let mut why = None;
    loop {
        let left = (since + BITE).saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the session was still open {BITE:?} after"));
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "error" {
                    why = value["payload"]["message"].as_str().map(str::to_owned);
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => {
                return (why.expect("an error before the close"), frame.code.into());
            }
            Some(Ok(_)) => {}
            other => panic!("the session ended without a close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn keys_made_by_the_command_work_at_once_and_end_within_a_second_while_a_server_runs() {
    let (dir, first_key) = support::setup().await;
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db = ["--data-dir", data_dir.as_str()];
    let server = Server::start(dir.path(), free_port()).await;
    let client = http_client(Duration::from_secs(10));
    let base = server.base.as_str();
    let on_acme = ["--enterprise", ENTERPRISE];

    let create = [
        &["keys", "create", "--label", "ci", "--expires-in", "90d"][..],
        &on_acme,
    ]
    .concat();
    let ci_key = only_line(&ok(&create, &db).await);
    assert!(ci_key.starts_with("onb_"), "{ci_key}");
    assert_eq!(status(&client, base, &ci_key).await, 200);
    assert_eq!(status(&client, base, &first_key).await, 200);

    let list = [&["keys", "list", "--output", "json"][..], &on_acme].concat();
    let listed = ok(&list, &db).await;
    assert!(!listed.contains(&ci_key[4..]) && !listed.contains(&first_key[4..]));
    let keys: Vec<Value> = serde_json::from_str(&listed).unwrap();
    let labels: Vec<&Value> = keys.iter().map(|k| &k["label"]).collect();
    assert_eq!(labels, [&json!("first key"), &json!("ci")]);
    assert!(keys[1]["expires_at"].is_string() && keys[1]["revoked_at"].is_null());
    assert_eq!(keys[1]["state"], "active");
    let ci_id = keys[1]["id"].as_str().unwrap().to_owned();
    let first_id = keys[0]["id"].as_str().unwrap().to_owned();
    let table = ok(&[&["keys", "list"][..], &on_acme].concat(), &db).await;
    assert!(
        table.starts_with("ID ") && table.contains(&ci_id),
        "{table}"
    );

    let mut session = subscriber(&server.ws(), &ci_key).await;
    let revoke = [&["keys", "revoke", ci_id.as_str()][..], &on_acme].concat();
    let said = ok(&revoke, &db).await;
    let since = Instant::now();
    assert!(said.starts_with(&format!("{ci_id} revoked at ")), "{said}");
    refused_everywhere(&client, &[base], &ci_key, since).await;
    let (why, code) = closed(&mut session, since).await;
    assert!(why.contains("revoked"), "{why}");
    assert_eq!(code, 1008);

    // Rotating without grace: the new key works, the old one ends at once.
    let rotate = [
        &["keys", "rotate", first_id.as_str(), "--grace", "0s"][..],
        &on_acme,
    ]
    .concat();
    let out = run(&rotate, &db, None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let since = Instant::now();
    let new_key = only_line(&String::from_utf8(out.stdout).unwrap());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&first_id));
    assert_eq!(status(&client, base, &new_key).await, 200);
    refused_everywhere(&client, &[base], &first_key, since).await;

    let unknown_id = "key_00000000000000000000000000000000";
    let cases: [(&str, Vec<&str>, String); 7] = [
        (
            "a key that would be born expired",
            [&["keys", "create", "--expires-in", "0d"][..], &on_acme].concat(),
            "a key must live longer than 0 seconds".into(),
        ),
        (
            "revoked twice",
            revoke.clone(),
            format!("Key {ci_id} was already revoked at"),
        ),
        (
            "an unknown key id",
            [&["keys", "revoke", unknown_id][..], &on_acme].concat(),
            format!("No key {unknown_id} belongs to enterprise \"acme\""),
        ),
        (
            "not a key id",
            [&["keys", "revoke", "onb_secret"][..], &on_acme].concat(),
            "is not a key id".into(),
        ),
        (
            "an unknown enterprise",
            vec!["keys", "list", "--enterprise", "globex"],
            "No enterprise is named \"globex\"".into(),
        ),
        (
            "a duration without a unit",
            [&["keys", "create", "--expires-in", "90"][..], &on_acme].concat(),
            "is not a duration".into(),
        ),
        (
            "a rotation of an ended key",
            rotate.clone(),
            format!("Key {first_id} expired at"),
        ),
    ];
    for (case, args, expected) in cases {
        let stderr = fails(&args, &db).await;
        assert!(stderr.contains(&expected), "{case}: {stderr}");
    }
}

#[tokio::test]
async fn operators_are_created_listed_disabled_and_given_new_passwords() {
    let (dir, _) = support::setup().await;
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let db = ["--data-dir", data_dir.as_str()];
    let store = onboard_cli::open_store(&onboard_cli::DatabaseArgs {
        data_dir: Some(dir.path().to_owned()),
        database_url: None,
        db_max_connections: None,
        db_acquire_timeout_ms: None,
        master_key_file: None,
    })
    .await
    .unwrap();
    let service = Onboarding::new(store, Arc::new(SystemClock));
    let signs_in = async |name: &str, password: &str| {
        let password = Password::presented(password);
        service
            .verify_operator(name, &password)
            .await
            .unwrap()
            .is_some()
    };

    let ana_password = only_line(&ok(&["operators", "create", "--name", "ana"], &db).await);
    assert_eq!(ana_password.len(), 24);
    assert!(signs_in("ana", &ana_password).await);
    assert!(!signs_in("ana", "not her password").await);
    assert!(!signs_in("nobody", &ana_password).await);

    let zoe = [
        "operators",
        "create",
        "--name",
        "zoe",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let short = run(&zoe, &db, Some("too short\n")).await;
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("at least 12"), "{stderr}");
    let chosen = run(&zoe, &db, Some("zoe's long passphrase\n")).await;
    assert!(
        chosen.status.success(),
        "{}",
        String::from_utf8_lossy(&chosen.stderr)
    );
    assert!(chosen.stdout.is_empty(), "a chosen password is not printed");
    assert!(signs_in("zoe", "zoe's long passphrase").await);

    let cases = [
        (
            vec!["operators", "create", "--name", "ana"],
            "An operator named \"ana\" already exists",
        ),
        (
            vec!["operators", "create", "--name", "a b"],
            "is not an operator name",
        ),
        (
            vec!["operators", "create", "--name", "max", "--role", "root"],
            "is not a role",
        ),
        (
            vec!["operators", "disable", "nobody"],
            "No operator is named \"nobody\"",
        ),
        (
            vec!["operators", "reset-password", "nobody"],
            "No operator is named \"nobody\"",
        ),
    ];
    for (args, expected) in cases {
        let stderr = fails(&args, &db).await;
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }

    let listed = ok(&["operators", "list", "--output", "json"], &db).await;
    assert!(!listed.contains("argon2"), "{listed}");
    let operators: Vec<Value> = serde_json::from_str(&listed).unwrap();
    let roles: Vec<(&str, &str)> = operators
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("ana", "reviewer"), ("zoe", "admin")]);

    let reset = only_line(&ok(&["operators", "reset-password", "ana"], &db).await);
    assert_ne!(reset, ana_password);
    assert!(signs_in("ana", &reset).await);
    assert!(!signs_in("ana", &ana_password).await);

    // Keys are an admin's to manage, and record who did it.
    let by = |name: &'static str| ["--enterprise", ENTERPRISE, "--operator", name];
    let stderr = fails(&[&["keys", "create"][..], &by("ana")].concat(), &db).await;
    assert!(stderr.contains("only admins manage API keys"), "{stderr}");
    ok(
        &[&["keys", "create", "--label", "by zoe"][..], &by("zoe")].concat(),
        &db,
    )
    .await;
    let list = [
        "keys",
        "list",
        "--enterprise",
        ENTERPRISE,
        "--output",
        "json",
    ];
    let keys: Vec<Value> = serde_json::from_str(&ok(&list, &db).await).unwrap();
    assert_eq!(keys[1]["created_by"], "zoe", "{keys:?}");

    assert_eq!(
        ok(&["operators", "disable", "ana"], &db).await.trim(),
        "ana is disabled"
    );
    assert!(
        !signs_in("ana", &reset).await,
        "a disabled operator cannot sign in"
    );
    let stderr = fails(&["operators", "disable", "ana"], &db).await;
    assert!(stderr.contains("already disabled"), "{stderr}");
    let operators: Vec<Value> =
        serde_json::from_str(&ok(&["operators", "list", "--output", "json"], &db).await).unwrap();
    assert!(operators[0]["disabled_at"].is_string() && operators[1]["disabled_at"].is_null());
    let table = ok(&["operators", "list"], &db).await;
    assert!(
        table.lines().count() == 3 && table.contains("reviewer"),
        "{table}"
    );
}

#[tokio::test]
async fn two_postgres_nodes_take_a_key_the_command_made_and_refuse_it_within_a_second_of_its_revocation()
 {
    if onboard_testkit::skip_postgres() {
        return;
    }
    let database = onboard_testkit::TestDatabase::postgres().await;
    let db = ["--database-url", database.url.as_str()];
    only_line(&ok(&["enterprise", "create", "--name", ENTERPRISE], &db).await);
    let a = Server::start_on(&db, free_port()).await;
    let b = Server::start_on(&db, free_port()).await;
    let client = http_client(Duration::from_secs(10));
    let bases = [a.base.as_str(), b.base.as_str()];

    let on_acme = ["--enterprise", ENTERPRISE];
    let key = only_line(
        &ok(
            &[&["keys", "create", "--label", "both"][..], &on_acme].concat(),
            &db,
        )
        .await,
    );
    for base in bases {
        assert_eq!(status(&client, base, &key).await, 200, "{base}");
    }
    // A session on node B, and one on node A, both with the key.
    let mut on_b = subscriber(&b.ws(), &key).await;
    let mut on_a = subscriber(&a.ws(), &key).await;

    let list = [&["keys", "list", "--output", "json"][..], &on_acme].concat();
    let keys: Vec<Value> = serde_json::from_str(&ok(&list, &db).await).unwrap();
    let id = keys
        .iter()
        .find(|k| k["label"] == "both")
        .and_then(|k| k["id"].as_str())
        .unwrap()
        .to_owned();
    ok(
        &[&["keys", "revoke", id.as_str()][..], &on_acme].concat(),
        &db,
    )
    .await;
    let since = Instant::now();
    refused_everywhere(&client, &bases, &key, since).await;
    for session in [&mut on_b, &mut on_a] {
        let (why, code) = closed(session, since).await;
        assert!(why.contains("revoked"), "{why}");
        assert_eq!(code, 1008);
    }

    // A rotation: during its grace the old key and the new one work on both
    // nodes; after it, the old key is refused on both within a second.
    let old = only_line(
        &ok(
            &[&["keys", "create", "--label", "rotated"][..], &on_acme].concat(),
            &db,
        )
        .await,
    );
    let keys: Vec<Value> = serde_json::from_str(&ok(&list, &db).await).unwrap();
    let old_id = keys
        .iter()
        .find(|k| k["label"] == "rotated")
        .and_then(|k| k["id"].as_str())
        .unwrap()
        .to_owned();
    let rotate = [
        &["keys", "rotate", old_id.as_str(), "--grace", "3s"][..],
        &on_acme,
    ]
    .concat();
    let new = only_line(&ok(&rotate, &db).await);
    let grace_ends = Instant::now() + Duration::from_secs(3);
    for base in bases {
        assert_eq!(
            status(&client, base, &old).await,
            200,
            "old key in its grace on {base}"
        );
        assert_eq!(status(&client, base, &new).await, 200, "new key on {base}");
    }
    tokio::time::sleep_until(grace_ends).await;
    refused_everywhere(&client, &bases, &old, grace_ends).await;
    for base in bases {
        assert_eq!(
            status(&client, base, &new).await,
            200,
            "new key after the grace on {base}"
        );
    }
}

/// A database as the release before keys were a table left it: every migration
/// up to `before` applied, and one enterprise holding `key` the old way.
async fn database_before_keys<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    migrations: &str,
    before: i64,
    key: &str,
) where
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Connection: sqlx::migrate::Migrate,
{
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(migrations);
    let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    migrator.run_to(before, pool).await.unwrap();
    let hash = onboard_core::secret::KeyHash::of(key);
    let insert = format!(
        "INSERT INTO enterprises (name, api_key_hash, created_at) VALUES ('{ENTERPRISE}', '{}', 0)",
        hash.as_str()
    );
    let mut connection = pool.acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(insert))
        .execute(&mut *connection)
        .await
        .unwrap();
}

/// After the upgrade, the old key works and is listed as the first key.
async fn the_old_key_still_works(db: &[&str], key: &str) {
    let server = Server::start_on(db, free_port()).await;
    assert_eq!(
        status(&http_client(Duration::from_secs(10)), &server.base, key).await,
        200
    );
    let list = [
        "keys",
        "list",
        "--enterprise",
        ENTERPRISE,
        "--output",
        "json",
    ];
    let keys: Vec<Value> = serde_json::from_str(&ok(&list, db).await).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["label"], "first key");
    let id = keys[0]["id"].as_str().unwrap();
    assert!(onboard_core::access::ApiKeyId::parse(id).is_ok(), "{id}");
}

#[tokio::test]
async fn an_existing_sqlite_database_keeps_its_enterprise_key_through_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("onboard.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let key = "onb_from_before_keys_were_a_table";
    database_before_keys(&pool, "../onboard-store-sqlite/migrations", 3, key).await;
    pool.close().await;
    let data_dir = dir.path().to_str().unwrap();
    the_old_key_still_works(&["--data-dir", data_dir], key).await;
}

#[tokio::test]
async fn an_existing_postgres_database_keeps_its_enterprise_key_through_the_upgrade() {
    if onboard_testkit::skip_postgres() {
        return;
    }
    let database = onboard_testkit::TestDatabase::postgres().await;
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let key = "onb_from_before_keys_were_a_table";
    database_before_keys(&pool, "../onboard-store-postgres/migrations", 2, key).await;
    pool.close().await;
    the_old_key_still_works(&["--database-url", database.url.as_str()], key).await;
}
