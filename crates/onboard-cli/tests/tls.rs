//! TLS served directly (CONTRACT §13): the real binary with `--tls-cert` and
//! `--tls-key`, reached by an HTTPS client and a `wss://` client that trust only
//! the test's own certificate; the pair rotated on SIGHUP while an earlier
//! connection stays open; a bad pair refused at start-up with a sentence, and
//! kept out of a reload.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use onboard_testkit::{Onboard, Served};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use support::{BIN, ENTERPRISE, free_port, onboard, onboard_fails};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

/// A certificate for `localhost` and its key, as PEM files in `dir`.
struct Pair {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
    pem: String,
}

fn make_pair(dir: &Path, name: &str) -> Pair {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    Pair {
        cert: cert_path,
        key: key_path,
        der: cert.der().clone(),
        pem: cert.pem(),
    }
}

/// Puts `from`'s files in place of `to`'s, each by an atomic rename.
fn install(from: &Pair, to: &Pair) {
    std::fs::copy(&from.cert, to.cert.with_extension("new")).unwrap();
    std::fs::rename(to.cert.with_extension("new"), &to.cert).unwrap();
    std::fs::copy(&from.key, to.key.with_extension("new")).unwrap();
    std::fs::rename(to.key.with_extension("new"), &to.key).unwrap();
}

fn https_client(trusted: &Pair) -> reqwest::Client {
    onboard_delivery::install_tls_provider();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(trusted.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A TLS connection to the server trusting only `trusted`.
async fn tls_connect(
    port: u16,
    trusted: &CertificateDer<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

type Wss = tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>;

/// A `wss://` connection, authenticated with `key`.
async fn wss(port: u16, trusted: &CertificateDer<'static>, key: &str) -> Wss {
    let tls = tls_connect(port, trusted).await.unwrap();
    let url = format!("wss://localhost:{port}/ws");
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(response.status(), 101);
    let hello = json!({"type": "authenticate", "apiKey": key, "enterprise": true});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["type"], "success", "{reply}");
    ws
}

async fn next_json(ws: &mut Wss) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// `onboard serve --sandbox --tls-cert … --tls-key …` on `pair`'s files, once
/// `/readyz` answers 200 over HTTPS to a client trusting `trusted`.
async fn serve_tls(data_dir: &Path, pair: &Pair, trusted: &Pair, extra: &[&str]) -> Served {
    let port = free_port();
    let args = [
        "--sandbox",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--tls-cert",
        pair.cert.to_str().unwrap(),
        "--tls-key",
        pair.key.to_str().unwrap(),
    ];
    let served = Onboard::new(BIN).start_serve(port, &[&args, extra].concat());
    let client = https_client(trusted);
    let started = Instant::now();
    loop {
        let url = format!("https://localhost:{port}/readyz");
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return served;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no HTTPS /readyz within 30 s: {:?}",
            served.log_tail(5)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = onboard(&["enterprise", "create", "--name", ENTERPRISE], dir.path()).await;
    (dir, key.trim().to_owned())
}

#[tokio::test]
async fn https_and_wss_are_served_on_one_listener_and_console_cookies_are_secure() {
    let (dir, key) = setup().await;
    let pair = make_pair(dir.path(), "server");
    let served = serve_tls(dir.path(), &pair, &pair, &[]).await;
    let base = format!("https://localhost:{}", served.port);
    let client = https_client(&pair);

    let registered = client
        .post(format!("{base}/v1/enterprise/register-account"))
        .bearer_auth(&key)
        .json(&onboard_testkit::fixtures::individual("over-tls"))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let user: Value = client
        .get(format!("{base}/v1/enterprise/users/over-tls"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["data"]["user_id"], "over-tls");

    let mut ws = wss(served.port, &pair.der, &key).await;
    ws.send(Message::text(
        json!({"type": "subscribe", "feeds": ["private.enterprise.users"]}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "success");

    let sign_in = client
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    let cookie = sign_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/readyz", served.port))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    served
        .stop(Duration::from_secs(15))
        .await
        .expect("stops on SIGTERM");
}

#[tokio::test]
async fn a_rotated_certificate_is_served_after_sighup_while_an_earlier_connection_stays_open() {
    let (dir, key) = setup().await;
    let served_pair = make_pair(dir.path(), "server");
    let old = make_pair(dir.path(), "old");
    install(&served_pair, &old);
    let new = make_pair(dir.path(), "new");
    let served = serve_tls(dir.path(), &old, &served_pair, &[]).await;
    let port = served.port;
    let mut earlier = wss(port, &served_pair.der, &key).await;

    // A bad pair is not taken: the old one is still served, and the log says why.
    std::fs::write(&old.cert, "not a certificate").unwrap();
    signal_hup(served.pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        tls_connect(port, &served_pair.der).await.is_ok(),
        "the old pair stays"
    );
    let logged = served.log_tail(50).join("\n");
    assert!(logged.contains("were not reloaded"), "{logged}");

    install(&new, &old);
    signal_hup(served.pid);
    let started = Instant::now();
    loop {
        if let Ok(tls) = tls_connect(port, &new.der).await {
            let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
            assert_eq!(presented, new.der);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the new certificate within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        tls_connect(port, &served_pair.der).await.is_err(),
        "the old certificate is gone"
    );

    // The connection made before the rotation still works.
    earlier
        .send(Message::text(
            json!({"type": "subscribe", "feeds": ["private.enterprise.users"]}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next_json(&mut earlier).await["type"], "success");
    served
        .stop(Duration::from_secs(15))
        .await
        .expect("stops on SIGTERM");
}

#[tokio::test]
async fn a_changed_certificate_file_is_served_without_a_signal() {
    let (dir, _key) = setup().await;
    let first = make_pair(dir.path(), "first");
    let live = make_pair(dir.path(), "live");
    install(&first, &live);
    let second = make_pair(dir.path(), "second");
    let served = serve_tls(dir.path(), &live, &first, &[]).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await; // a new modification time
    install(&second, &live);
    let started = Instant::now();
    while tls_connect(served.port, &second.der).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reloaded within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    served
        .stop(Duration::from_secs(15))
        .await
        .expect("stops on SIGTERM");
}

#[tokio::test]
async fn the_first_run_suggests_an_https_call() {
    let dir = tempfile::tempdir().unwrap();
    let pair = make_pair(dir.path(), "server");
    let data = dir.path().join("data");
    let served = serve_tls(&data, &pair, &pair, &[]).await;
    let said = served.stdout();
    let expected = format!("https://127.0.0.1:{}/v1/enterprise/users", served.port);
    assert!(said.contains(&expected), "{said}");
    served
        .stop(Duration::from_secs(15))
        .await
        .expect("stops on SIGTERM");
}

#[tokio::test]
async fn a_handshake_that_stalls_is_dropped_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (dir, _key) = setup().await;
    let pair = make_pair(dir.path(), "server");
    let extra = ["--header-timeout-ms", "500"];
    let served = serve_tls(dir.path(), &pair, &pair, &extra).await;
    for first_bytes in [&b""[..], b"\x16\x03\x01\x02\x00\x01"] {
        let mut tcp = TcpStream::connect(("127.0.0.1", served.port))
            .await
            .unwrap();
        tcp.write_all(first_bytes).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "closed, not {read:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    served
        .stop(Duration::from_secs(15))
        .await
        .expect("stops on SIGTERM");
}

#[tokio::test]
async fn a_key_of_another_certificate_or_a_missing_file_stops_start_up_with_a_sentence() {
    let (dir, _key) = setup().await;
    let one = make_pair(dir.path(), "one");
    let other = make_pair(dir.path(), "other");
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let cases = [
        (
            one.cert.clone(),
            other.key.clone(),
            "does not match the certificate",
        ),
        (
            dir.path().join("absent.crt"),
            one.key.clone(),
            "cannot be read",
        ),
        (
            one.cert.clone(),
            one.cert.clone(),
            "holds no PEM private key",
        ),
        (one.key.clone(), one.key.clone(), "holds no PEM certificate"),
    ];
    for (cert, key, said) in cases {
        let args = [
            "serve",
            "--listen",
            &listen,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ];
        let stderr = onboard_fails(&args, dir.path()).await;
        assert!(
            stderr.contains("Failed to load the TLS certificate and key"),
            "{stderr}"
        );
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    let alone = [
        "serve",
        "--listen",
        &listen,
        "--tls-cert",
        one.cert.to_str().unwrap(),
    ];
    let stderr = onboard_fails(&alone, dir.path()).await;
    assert!(stderr.contains("--tls-cert needs --tls-key"), "{stderr}");
}

fn signal_hup(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
