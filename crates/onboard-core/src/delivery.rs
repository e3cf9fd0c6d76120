//! The delivery port (CONTRACT §4): how a code reaches the user. The server picks
//! one [`Deliver`] per channel from configuration; [`Outbox`] (the default) stores
//! messages where the operator's CLI and the sandbox API can read them.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::store::{EnterpriseId, OutboxEntry, Store, StoreError};
use crate::verification::{Channel, Code};

/// One code on its way to one address.
#[derive(Debug, Clone)]
pub struct CodeMessage {
    pub enterprise: EnterpriseId,
    pub user_id: String,
    pub channel: Channel,
    /// The email address or E.164 phone number.
    pub to: String,
    pub code: Code,
    pub sent_at: OffsetDateTime,
}

impl CodeMessage {
    /// The human text of the message.
    pub fn text(&self) -> String {
        format!(
            "Your verification code is {}. It expires in 10 minutes.",
            self.code.expose()
        )
    }
}

/// Why a message did not go out.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The channel refused the message or could not be reached (a 502). The
    /// sentence is shown to the API client, so it never carries the code or the
    /// address.
    #[error("{0}")]
    Channel(String),
    /// The outbox could not store the message: a storage failure like any other
    /// (503 while the database is away), never shown in detail.
    #[error("the outbox could not store the message")]
    Store(#[source] StoreError),
}

#[async_trait]
pub trait Deliver: Send + Sync + 'static {
    async fn deliver(&self, message: &CodeMessage) -> Result<(), DeliveryError>;
}

/// The default channel: messages are stored, to be read back by the operator
/// (`onboard outbox list`) or, in sandbox mode, over HTTP.
pub struct Outbox(pub Arc<dyn Store>);

#[async_trait]
impl Deliver for Outbox {
    async fn deliver(&self, m: &CodeMessage) -> Result<(), DeliveryError> {
        let entry = OutboxEntry {
            enterprise: m.enterprise,
            user_id: m.user_id.clone(),
            channel: m.channel,
            to: m.to.clone(),
            code: m.code.expose().to_owned(),
            sent_at: m.sent_at,
        };
        self.0
            .append_outbox(&entry)
            .await
            .map_err(DeliveryError::Store)
    }
}

/// The channel used for each kind of code.
#[derive(Clone)]
pub struct Delivery {
    pub email: Arc<dyn Deliver>,
    pub sms: Arc<dyn Deliver>,
}

impl Delivery {
    /// Both channels to the outbox of `store`.
    pub fn outbox(store: Arc<dyn Store>) -> Self {
        let outbox: Arc<dyn Deliver> = Arc::new(Outbox(store));
        Delivery {
            email: outbox.clone(),
            sms: outbox,
        }
    }

    pub fn for_channel(&self, channel: Channel) -> &Arc<dyn Deliver> {
        match channel {
            Channel::Email => &self.email,
            Channel::Sms => &self.sms,
        }
    }
}
