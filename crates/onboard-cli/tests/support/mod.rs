//! What the suites that drive real `onboard` processes share, over the test kit's
//! spawner: the admin commands, a running `onboard serve --sandbox`, and a TLS
//! proxy in front of it.
#![allow(dead_code)]

use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use onboard_testkit::{Onboard, Served};

pub use onboard_testkit::free_port;

pub const BIN: &str = env!("CARGO_BIN_EXE_onboard");
pub const ENTERPRISE: &str = "acme";

/// An HTTP client whose every request gives up after `timeout`. reqwest is built
/// without a default TLS provider; the binary installs ring, and so must the tests.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    onboard_delivery::install_tls_provider();
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

/// `<args> --data-dir <dir>`.
pub fn in_dir<'a>(args: &[&'a str], data_dir: &'a Path) -> Vec<&'a str> {
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
    [args, &["--data-dir", data_dir]].concat()
}

/// `onboard <args> --data-dir <dir>`, insisting on success; returns stdout.
pub async fn onboard(args: &[&str], data_dir: &Path) -> String {
    Onboard::new(BIN).ok(&in_dir(args, data_dir)).await
}

/// `onboard <args> --data-dir <dir>`, insisting on failure; returns stderr.
pub async fn onboard_fails(args: &[&str], data_dir: &Path) -> String {
    let out = Onboard::new(BIN).run(&in_dir(args, data_dir), None).await;
    assert!(
        !out.status.success(),
        "onboard {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A fresh data folder holding the enterprise [`ENTERPRISE`], and its key.
pub async fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = onboard(&["enterprise", "create", "--name", ENTERPRISE], dir.path()).await;
    let key = key.trim().to_owned();
    assert!(!key.is_empty());
    (dir, key)
}

/// `onboard users reject <user_id>` by a new operator `ops` of [`ENTERPRISE`],
/// straight into the database (no server needed); returns stdout.
pub async fn reject(user_id: &str, data_dir: &Path) -> String {
    onboard(&["operators", "create", "--name", "ops"], data_dir).await;
    let args = [
        "users",
        "reject",
        "--enterprise",
        ENTERPRISE,
        user_id,
        "--operator",
        "ops",
    ];
    onboard(&args, data_dir).await
}

/// A running `onboard serve --sandbox`; killed when dropped.
pub struct Server(Served);

impl Server {
    pub async fn start(data_dir: &Path, port: u16) -> Server {
        let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
        Server::start_on(&["--data-dir", data_dir], port).await
    }

    /// A server on the database the arguments name (`--data-dir …` or
    /// `--database-url …`).
    pub async fn start_on(database: &[&str], port: u16) -> Server {
        let args = [&["--sandbox"], database].concat();
        Server(Onboard::new(BIN).serve_on(port, &args).await)
    }

    /// The server's process id (to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.0.pid
    }

    pub fn ws(&self) -> String {
        self.0.ws.clone()
    }

    /// SIGTERM: a graceful stop, which closes the feed's connections properly.
    pub async fn stop(self) {
        let exit = self
            .0
            .stop(Duration::from_secs(15))
            .await
            .expect("the server did not stop within 15 s on SIGTERM");
        assert!(exit.success(), "{exit}");
    }

    /// SIGKILL: no goodbye to the feed's clients.
    pub async fn kill_hard(self) {
        self.0.kill().await;
    }
}

impl Deref for Server {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.0
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
