//! What the suites that drive real `onboard` processes share: a free port, the
//! admin commands, and a running `onboard serve --sandbox`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

pub const BIN: &str = env!("CARGO_BIN_EXE_onboard");
pub const ENTERPRISE: &str = "acme";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `onboard <args> --data-dir <dir>`, insisting on success; returns stdout.
pub async fn onboard(args: &[&str], data_dir: &Path) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .output(),
    )
    .await
    .expect("onboard took more than 30 s")
    .expect("onboard runs");
    assert!(
        out.status.success(),
        "onboard {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh data folder holding the enterprise [`ENTERPRISE`], and its key.
pub async fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = onboard(&["enterprise", "create", "--name", ENTERPRISE], dir.path()).await;
    let key = key.trim().to_owned();
    assert!(!key.is_empty());
    (dir, key)
}

/// A running `onboard serve --sandbox`; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub base: String,
}

impl Server {
    pub async fn start(data_dir: &Path, port: u16) -> Server {
        let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
        Server::start_on(&["--data-dir", data_dir], port).await
    }

    /// A server on the database the arguments name (`--data-dir …` or
    /// `--database-url …`).
    pub async fn start_on(database: &[&str], port: u16) -> Server {
        let child = Command::new(BIN)
            .args([
                "serve",
                "--sandbox",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(database)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let server = Server {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
        };
        // Ready once the port answers `/readyz` with 200 over plain HTTP/1.1.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if server.ready().await {
                return server;
            }
            assert!(Instant::now() < deadline, "the server never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ready(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let request = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).await.is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
        matches!(read.await, Ok(Ok(_))) && answer.starts_with(b"HTTP/1.1 200")
    }

    /// The server's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// SIGTERM: a graceful stop, which closes the feed's connections properly.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("the server is running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the server did not stop within 15 s on SIGTERM")
            .unwrap();
        assert!(exit.success(), "{exit}");
    }

    /// SIGKILL: no goodbye to the feed's clients.
    pub async fn kill_hard(mut self) {
        self.child.start_kill().expect("SIGKILL delivered");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A TLS-terminating proxy on loopback, as a load balancer would stand in front
/// of Onboard: it accepts TLS for `localhost` with a fresh self-signed
/// certificate and pipes the plain bytes to `127.0.0.1:<backend>`. It stops when
/// dropped.
pub struct TlsProxy {
    pub port: u16,
    /// The certificate it presents, to be trusted by the client.
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    pub async fn start(backend: u16) -> TlsProxy {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(Ok(mut tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let Ok(mut plain) =
                        tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsProxy {
            port,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            task,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
