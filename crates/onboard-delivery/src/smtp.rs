//! Email through SMTP (CONTRACT §4), with the `lettre` client.

use std::fmt;

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use onboard_core::delivery::{CodeMessage, Deliver, DeliveryError};
use serde::Deserialize;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text: only for a relay on the same host or a test server.
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Onboard <no-reply@example.com>`.
    pub from: String,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpChannel {
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let from: Mailbox = config.from.parse().map_err(|e| {
            format!(
                "the SMTP sender {:?} is not a valid address: {e}",
                config.from
            )
        })?;
        let builder = match config.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| format!("the SMTP host is unusable: {e}"))?,
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| format!("the SMTP host is unusable: {e}"))?,
        };
        let mut builder = builder.timeout(Some(std::time::Duration::from_secs(10)));
        if let Some(port) = config.port {
            builder = builder.port(port);
        }
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpChannel {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Deliver for SmtpChannel {
    async fn deliver(&self, m: &CodeMessage) -> Result<(), DeliveryError> {
        let to: Mailbox = m.to.parse().map_err(|_| {
            DeliveryError::Channel("the recipient address was refused by the mailer".into())
        })?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Your verification code")
            .header(ContentType::TEXT_PLAIN)
            .body(m.text())
            .map_err(|_| DeliveryError::Channel("the email could not be composed".into()))?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| {
            // lettre's errors can quote the server's reply, which may name the
            // recipient: report the class of failure only.
            let class = if e.is_permanent() {
                "the SMTP server refused the message"
            } else if e.is_transient() {
                "the SMTP server deferred the message"
            } else {
                "the SMTP server could not be reached"
            };
            DeliveryError::Channel(class.into())
        })
    }
}
