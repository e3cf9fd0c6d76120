//! TLS for both clients: rustls on `ring`, and an optional set of roots to trust
//! instead of the public ones (a private CA, a self-signed test certificate).

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Makes `ring` the process's TLS provider, as the rest of Onboard does. The
/// clients call it themselves; calling it again, or after another part of the
/// program installed `ring`, is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Certificate authorities to trust instead of the public webpki roots.
#[derive(Debug, Clone, Default)]
pub struct Certificates {
    ders: Vec<CertificateDer<'static>>,
}

impl Certificates {
    /// One certificate in DER form.
    pub fn from_der(der: impl Into<Vec<u8>>) -> Certificates {
        Certificates {
            ders: vec![CertificateDer::from(der.into())],
        }
    }

    /// Every `CERTIFICATE` block of a PEM file; at least one is required.
    pub fn from_pem(pem: &[u8]) -> Result<Certificates, String> {
        let ders = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate file: {e}"))?;
        if ders.is_empty() {
            return Err("the PEM text holds no CERTIFICATE block".into());
        }
        Ok(Certificates { ders })
    }

    pub fn len(&self) -> usize {
        self.ders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ders.is_empty()
    }

    pub(crate) fn reqwest(&self) -> Result<Vec<reqwest::Certificate>, reqwest::Error> {
        self.ders
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect()
    }

    /// A rustls client configuration that trusts these roots only.
    pub(crate) fn rustls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        install_tls_provider();
        let mut roots = RootCertStore::empty();
        for der in &self.ders {
            roots
                .add(der.clone())
                .map_err(|e| format!("cannot trust the certificate: {e}"))?;
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}
