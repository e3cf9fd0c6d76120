//! The `onboard` binary as a user runs it: a real process, a real SQLite file, a
//! real socket, and `kill -9`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_onboard");

fn onboard(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("onboard runs")
}

/// reqwest is built without a default TLS provider; the binary installs ring, and
/// so must the tests.
fn http_client() -> reqwest::Client {
    onboard_delivery::install_tls_provider();
    reqwest::Client::new()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `onboard serve`; killed with SIGKILL when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path, port: u16) -> Server {
        let child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let response = client.get(format!("{}/readyz", self.base)).send().await;
            if response.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server at {} never became ready", self.base);
    }

    /// `kill -9`: no shutdown hook runs, nothing is flushed on the way out.
    fn kill_hard(mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("server reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn individual(user_id: &str) -> Value {
    json!({
        "account_type": "individual",
        "account_role": "client",
        "user_id": user_id,
        "email": format!("{user_id}@example.com"),
        "first_name": "Jane",
        "last_name": "Smith",
        "phone_number": "+12243987754",
        "phone_country_code": "US",
        "account_purpose": "investing",
        "individual": {
            "dob": "1980-01-01",
            "residential_country_code": "US",
            "residential_address": "123 Main St",
            "residential_city": "San Francisco",
            "residential_state": "CA",
            "residential_postal_code": "94105",
            "id_type": "ssn",
            "id_number": "521-45-6789",
            "id_country_code": "US"
        }
    })
}

fn create_key(data_dir: &Path, name: &str) -> String {
    let out = onboard(&[
        "enterprise",
        "create",
        "--name",
        name,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "the key must be the only line on stdout: {stdout:?}"
    );
    lines[0].to_owned()
}

#[test]
fn enterprise_create_prints_only_a_fresh_key_and_list_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = create_key(dir.path(), "acme");
    let second = create_key(dir.path(), "globex");
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
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), free_port());
    let stdout = server.child.stdout.take().unwrap();
    let curl = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.trim_start().starts_with("curl "))
    })
    .await
    .unwrap()
    .expect("a curl line on stdout");
    let key = curl
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let url = curl.rsplit(' ').next().unwrap();

    let client = http_client();
    server.wait_ready(&client).await;
    let response = client.get(url).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"data": []}));
}

#[tokio::test]
async fn every_acknowledged_user_survives_kill_9_in_the_middle_of_writes() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "acme");
    let port = free_port();
    let client = http_client();
    let server = Server::start(dir.path(), port);
    server.wait_ready(&client).await;

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
    server.kill_hard();
    writers.join_all().await;
    while let Ok(user_id) = acked.try_recv() {
        acknowledged.push(user_id);
    }

    let server = Server::start(dir.path(), port);
    server.wait_ready(&client).await;
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
