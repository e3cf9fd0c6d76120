//! TLS served directly (CONTRACT §13): HTTPS and `wss://` on the one listener,
//! through rustls with the ring provider.
//!
//! The certificate chain and key are PEM files. They are read once at start-up,
//! where any fault stops the server with a sentence, and again on SIGHUP and
//! whenever either file's modification time changes (checked every
//! [`POLL_EVERY`]). A reload builds a whole new configuration and swaps it in for
//! the connections accepted afterwards; open connections keep the one they
//! shook hands with. A reload that fails keeps the pair in use and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the files' modification times are compared.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Why a certificate and key cannot be served; each reads as a sentence.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the TLS file {0} cannot be read: {1}")]
    Unreadable(PathBuf, String),
    #[error("the TLS certificate file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("the TLS key file {0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("the TLS key {key} does not match the certificate {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the TLS certificate and key cannot be used: {0}")]
    Unusable(String),
}

/// The certificate and key being served, and where they come from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    /// The configuration new connections shake hands with.
    current: RwLock<Arc<ServerConfig>>,
    /// The files' modification times when last read, to notice a change.
    stamp: Mutex<Stamp>,
}

type Stamp = (Option<SystemTime>, Option<SystemTime>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the pair: the start-up check.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Tls>, TlsError> {
        let stamp = stamp(cert, key);
        let config = build(cert, key)?;
        Ok(Arc::new(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(stamp),
        }))
    }

    /// An acceptor with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        TlsAcceptor::from(Arc::clone(&current))
    }

    /// Reads the pair again; on failure the old pair stays and the reason is logged.
    pub fn reload(&self, why: &str) {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp(&self.cert, &self.key);
        match build(&self.cert, &self.key) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                tracing::info!(reason = why, "reloaded the TLS certificate and key");
            }
            Err(e) => tracing::error!(
                reason = why,
                error = %e,
                "the TLS certificate and key were not reloaded; the previous pair is still served"
            ),
        }
    }

    /// Whether either file changed since it was last read.
    fn changed(&self) -> bool {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) != stamp(&self.cert, &self.key)
    }

    /// Reloads on SIGHUP and on a changed file until `stop`.
    pub async fn keep_fresh(self: Arc<Self>, stop: CancellationToken) {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => Some(hangup),
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP cannot be watched; TLS files reload on change only");
                None
            }
        };
        let mut poll = tokio::time::interval(POLL_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                    self.reload("SIGHUP");
                }
                _ = poll.tick() => {
                    if self.changed() {
                        self.reload("a file changed");
                    }
                }
            }
        }
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

fn build(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let unreadable = |path: &Path, e: &dyn std::fmt::Display| {
        TlsError::Unreadable(path.to_owned(), e.to_string())
    };
    let cert_pem = std::fs::read(cert).map_err(|e| unreadable(cert, &e))?;
    let key_pem = std::fs::read(key).map_err(|e| unreadable(key, &e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate(cert.to_owned()))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let private =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(key.to_owned()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Unusable(e.to_string()))?
        .with_no_client_auth();
    let mut config = builder
        .with_single_cert(chain, private)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            other => TlsError::Unusable(other.to_string()),
        })?;
    // HTTP/1.1 only, as the edge serves it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
