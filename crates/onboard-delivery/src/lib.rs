//! Onboard's real delivery channels, behind `onboard_core::delivery::Deliver`:
//! [`smtp::SmtpChannel`] sends email through an SMTP server, and
//! [`webhook::WebhookChannel`] POSTs sms messages as signed JSON to an operator's
//! URL (which relays them to an SMS provider).
//!
//! Neither logs a code, an address or a secret; their errors are sentences safe to
//! show an API client.

pub mod outgoing;
pub mod smtp;
pub mod webhook;

/// Makes `ring` the process's TLS provider. Call once at startup, before any TLS
/// client exists; a second call is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
