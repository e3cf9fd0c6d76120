//! Personal data sealed at rest (CONTRACT §12): after registering, verifying and
//! minting tokens through the API, the database as it lies on disk (SQLite's
//! database, WAL and shared-memory files read as raw bytes; a `pg_dump` of the
//! PostgreSQL database) holds none of the personal values it was given, and no
//! minted token.

use onboard_testkit::Backend;
use onboard_testkit::fixtures::{corporation, individual};
use serde_json::{Value, json};

use super::documents::{Part, post_multipart};
use super::helpers::*;

/// Values no other row of the database can hold by chance.
fn marked(marker: &str) -> (Value, Value, Vec<String>) {
    let mut person = individual("sealed-person");
    person["first_name"] = json!(format!("Zelda{marker}"));
    person["last_name"] = json!(format!("Quist{marker}"));
    person["email"] = json!(format!("zelda.{marker}@example.com"));
    person["individual"]["residential_address"] = json!(format!("12 {marker} Street"));
    person["individual"]["residential_city"] = json!(format!("{marker}ville"));
    person["individual"]["dob"] = json!("1979-07-23");
    let mut company = corporation("sealed-company");
    company["business"]["entity_name"] = json!(format!("{marker} Holdings"));
    company["business"]["principal_place_address"] = json!(format!("9 {marker} Plaza"));
    company["beneficial_owners"][0]["first_name"] = json!(format!("Owen{marker}"));
    company["beneficial_owners"][0]["email"] = json!(format!("owen.{marker}@example.com"));
    let values = [
        format!("Zelda{marker}"),
        format!("Quist{marker}"),
        format!("zelda.{marker}@example.com"),
        format!("12 {marker} Street"),
        format!("{marker}ville"),
        "1979-07-23".into(),
        format!("{marker} Holdings"),
        format!("9 {marker} Plaza"),
        format!("Owen{marker}"),
        format!("owen.{marker}@example.com"),
        // The fixtures' phone numbers, which no other row of this database holds.
        "+12243987754".into(),
        "2243987754".into(),
        "+12243927599".into(),
    ];
    (person, company, values.to_vec())
}

/// The database as it lies on disk, as bytes.
async fn raw_database(app: &TestApp) -> Vec<u8> {
    match app.database.backend {
        Backend::Sqlite => {
            let dir = app.database.dir().expect("a SQLite database has a folder");
            let mut bytes = Vec::new();
            for name in ["onboard.db", "onboard.db-wal", "onboard.db-shm"] {
                if let Ok(file) = std::fs::read(dir.join(name)) {
                    bytes.extend(file);
                }
            }
            assert!(!bytes.is_empty(), "the database files were read");
            bytes
        }
        Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--dbname")
                .arg(&app.database.url)
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty(), "the dump holds the schema at least");
            out.stdout
        }
    }
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn no_personal_value_or_minted_token_lies_in_the_database_files() {
    let app = spawn_app().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let marker = format!("Mk{:x}", nanos.as_nanos() % (1 << 40));
    let (person, company, values) = marked(&marker);
    app.register_ok(&app.key_a, &person).await;
    app.register_ok(&app.key_a, &company).await;
    app.verify_email(&app.key_a, "sealed-person").await;
    let minted: Value = app
        .client
        .post(app.url("/v1/enterprise/user-tokens"))
        .bearer_auth(&app.key_a)
        .header("Idempotency-Key", "sealed-token-1")
        .json(&json!({"data": ["sealed-person"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["data"][0]["token"]
        .as_str()
        .expect("a token was minted")
        .to_owned();
    // Due diligence: answers and a document, each carrying the marker.
    assert_eq!(
        app.open_edd(&app.key_a, "sealed-person").await.status(),
        201
    );
    let answers = json!({
        "user_id": "sealed-person",
        "prompts": {
            "1": {"response": "salary", "optional_free_form": format!("Works at {marker} Labs")},
            "2": {"response": "Engineer"},
            "3": {"response": "Under 10,000"},
            "4": {"response": "Saving"},
            "5": {"response": "No"},
            "6": {"response": format!("proof_{marker}")},
        }
    });
    let answered = app.answer_edd(&app.key_a, &answers).await;
    assert!(
        answered.status().is_success(),
        "{}",
        answered.text().await.unwrap()
    );
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend(format!("statement of {marker} Bank").as_bytes());
    let filename = format!("proof_{marker}.pdf");
    let parts = [
        Part::text("user_id", "sealed-person"),
        Part::text("file_types", &format!(r#"{{"{filename}": "PoR"}}"#)),
        Part::file("files", &filename, bytes.clone()),
    ];
    let uploaded = post_multipart(&app, &app.key_a, "/v1/enterprise/ddq/upload", &parts).await;
    assert_eq!(uploaded.status(), 202, "{}", uploaded.text().await.unwrap());
    let documents: Value = app
        .get_with(&app.key_a, "/v1/enterprise/documents?user_id=sealed-person")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        documents["data"][0]["filename"],
        filename.as_str(),
        "{documents}"
    );
    let path = format!("/v1/enterprise/documents/{}", documents["data"][0]["id"]);
    let read_back = app.get_with(&app.key_a, &path).await.bytes().await.unwrap();
    assert_eq!(read_back.as_ref(), bytes.as_slice());
    let requests: Value = app
        .get_with(
            &app.key_a,
            "/v1/enterprise/eddq/requests?user_id=sealed-person",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        requests["data"][0]["status"], "IN_REVIEW",
        "the named file was matched"
    );

    // Everything reads back whole through the API.
    let read: Value = app
        .get_user(&app.key_a, "sealed-person")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["first_name"], format!("Zelda{marker}"));
    assert_eq!(
        read["data"]["individual"]["residential_city"],
        format!("{marker}ville")
    );
    let listed = app.list_ok(&app.key_a, "").await;
    assert!(
        listed
            .iter()
            .any(|u| u["last_name"] == format!("Quist{marker}"))
    );
    let events = app.all_events(&app.key_a).await;
    assert!(
        events
            .iter()
            .any(|e| e.to_string().contains(&format!("Zelda{marker}")))
    );

    let raw = raw_database(&app).await;
    assert!(holds(&raw, "sealed-person"), "ids are kept in the clear");
    let edd_values = [
        format!("{marker} Labs"),
        format!("proof_{marker}"),
        format!("{marker} Bank"),
    ];
    for value in values.iter().chain(&edd_values).chain([&token]) {
        assert!(!holds(&raw, value), "{value:?} lies in the database files");
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_users_row_fails_closed() {
    let app = spawn_app().await;
    let mut alice = individual("alice");
    alice["first_name"] = json!("Alicemarker");
    app.register_ok(&app.key_a, &alice).await;
    app.register_ok(&app.key_a, &individual("bob")).await;
    // Bob's row is given Alice's sealed data, as a copy between rows would.
    app.database
        .execute(
            "UPDATE users SET sealed = (SELECT sealed FROM users WHERE user_id = 'alice'), \
             user_json = (SELECT user_json FROM users WHERE user_id = 'alice'), \
             list_json = (SELECT list_json FROM users WHERE user_id = 'alice') \
             WHERE user_id = 'bob'",
        )
        .await;
    for path in ["/v1/enterprise/users/bob", "/v1/enterprise/users"] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.key_a)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("Alicemarker"), "{path}: {body}");
    }
    let alice = app.get_user(&app.key_a, "alice").await;
    assert_eq!(alice.status(), 200, "the row that was copied still opens");
}

/// SQL text for `value`, quoted.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[tokio::test]
async fn rows_an_earlier_release_kept_in_the_clear_are_sealed_and_read_back_whole() {
    let app = spawn_app().await;
    let marker = "Legacymarker";
    let mut body = individual("legacy-person");
    body["first_name"] = json!(format!("Ada{marker}"));
    body["individual"]["residential_city"] = json!(format!("{marker}burg"));
    let today = time::OffsetDateTime::now_utc().date();
    let user = onboard_core::registration::Registration::parse(body, today)
        .expect("a valid registration")
        .into_user(uuid::Uuid::now_v7());
    let row = onboard_core::store::UserRow::encode(&user).unwrap();
    let snapshot = onboard_core::store::render(&user.summary.to_wire()).unwrap();
    let enterprise = app.enterprise("enterprise-a").await.id.0;
    // As a release before sealing wrote them: plain columns, no data key, and
    // a plain event snapshot. The user row comes last, so that the server's
    // own pass, which may run at any moment, finds the user whole.
    let q = |v: &str| quoted(v);
    app.database
        .execute(&format!(
            "UPDATE enterprises SET last_event_id = last_event_id + 1 WHERE id = {enterprise}"
        ))
        .await;
    app.database
        .execute(&format!(
            "INSERT INTO events (enterprise_id, event_id, user_id, kind, cause, snapshot, \
             created_at) VALUES ({enterprise}, (SELECT last_event_id FROM enterprises \
             WHERE id = {enterprise}), 'legacy-person', 'user.registered', 'registered', {}, 1)",
            q(&snapshot)
        ))
        .await;
    app.database
        .execute(&format!(
            "INSERT INTO users (enterprise_id, user_id, id, account_type, account_role, \
             email, first_name, last_name, phone_number, status, email_required, \
             sms_required, profile, created_at, updated_at) VALUES ({enterprise}, {}, {}, {}, \
             {}, {}, {}, {}, {}, {}, TRUE, TRUE, {}, 1, 1)",
            q(&row.user_id),
            q(&row.id),
            q(&row.account_type),
            q(&row.account_role),
            q(&row.email),
            q(&row.first_name),
            q(&row.last_name),
            q(&row.phone_number),
            q(&row.status),
            q(row.profile.as_deref().unwrap()),
        ))
        .await;
    assert!(
        holds(&raw_database(&app).await, marker),
        "the earlier release's rows hold the marker in the clear"
    );

    // The server's own pass, started with it, may get there first: between
    // the two, the user is sealed once.
    let sealed = app.store.seal_legacy_rows().await.expect("the pass runs");
    assert!(sealed <= 1, "{sealed}");
    let again = app.store.seal_legacy_rows().await.unwrap();
    assert_eq!(again, 0, "a later pass finds nothing");

    let read: Value = app
        .get_user(&app.key_a, "legacy-person")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["data"]["first_name"], format!("Ada{marker}"));
    assert_eq!(
        read["data"]["individual"]["residential_city"],
        format!("{marker}burg")
    );
    let events = app.all_events(&app.key_a).await;
    assert!(
        events
            .iter()
            .any(|e| e.to_string().contains(&format!("Ada{marker}")))
    );
    // The files are rewritten once a pass sealed anything (by whichever pass).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while holds(&raw_database(&app).await, marker) {
        assert!(
            std::time::Instant::now() < deadline,
            "the plaintext is still in the database's files"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
