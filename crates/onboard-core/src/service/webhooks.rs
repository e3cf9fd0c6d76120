//! Outgoing webhooks (CONTRACT §9): the endpoint API's use cases, and the port
//! through which messages are sent ([`WebhookSender`]). The dispatcher that
//! delivers them is [`super::webhook_dispatch`].

use std::sync::Arc;

use async_trait::async_trait;
use time::Duration;

use super::{Cursor, Onboarding, ServiceError};
use crate::reader::{Obj, Problems};
use crate::store::Enterprise;
use crate::values::ValueError;
use crate::webhooks::{
    Attempt, AttemptResult, AttemptStatus, Endpoint, EndpointChange, RetrySchedule, WebhookSecret,
    check_url, is_event_type, new_endpoint_id,
};

/// How the server sends webhooks.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub schedule: RetrySchedule,
    /// Loopback, private and link-local targets are allowed (development, tests).
    pub allow_private_networks: bool,
    /// Endpoints one node works on at once.
    pub concurrency: u32,
    /// How long a node holds an endpoint without writing to it: after a crash,
    /// another node (or the restarted one) takes the endpoint over once it ends.
    /// Longer than an attempt may take, so that no attempt outlives its lease.
    pub lease: time::Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            schedule: RetrySchedule::default(),
            allow_private_networks: false,
            concurrency: 32,
            lease: time::Duration::seconds(60),
        }
    }
}

/// One signed POST.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub url: String,
    pub message_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
    pub timeout: std::time::Duration,
    pub allow_private_networks: bool,
}

/// What a POST got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub result: AttemptResult,
    pub duration_ms: i64,
    /// The first KiB of the answer, or why there was none.
    pub response: String,
}

/// Posts webhooks over HTTP (the delivery crate has the real one).
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Refuses a URL whose host resolves to an address that may not receive
    /// webhooks (unless private networks are allowed), with a sentence.
    async fn check(&self, url: &str, allow_private_networks: bool) -> Result<(), String>;

    async fn post(&self, request: WebhookRequest) -> SendResult;
}

/// What an enterprise sends to create or change an endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub description: Option<String>,
    /// `Some(None)`: every type.
    pub event_types: Option<Option<Vec<String>>>,
    pub enabled: Option<bool>,
}

impl EndpointInput {
    /// The body of a create (`url` required) or an update (every field optional);
    /// every problem is listed.
    pub fn read(body: serde_json::Value, creating: bool) -> Result<Self, ServiceError> {
        let problems = Problems::default();
        let input = Obj::new(body, "", &problems).map(|mut o| {
            let text = |max: usize| {
                move |t: &str| {
                    if t.chars().count() > max {
                        Err(ValueError::TooLong(max))
                    } else {
                        Ok(t.to_owned())
                    }
                }
            };
            let url = if creating {
                o.req("url", text(2048)).map(Some)
            } else {
                o.opt("url", text(2048))
            };
            let description = o.opt("description", text(500));
            let present = o.has("event_types");
            let event_types = match o.take("event_types") {
                None if present => Some(Some(None)),
                None => Some(None),
                Some(serde_json::Value::Array(items)) if items.len() <= 20 => {
                    let names: Option<Vec<String>> = items
                        .into_iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect();
                    match &names {
                        None => o.report("event_types", "must be an array of strings"),
                        Some(names) if names.is_empty() => o.report(
                            "event_types",
                            "must list at least one type (leave it out for every type)",
                        ),
                        Some(names) => {
                            for (i, name) in names.iter().enumerate() {
                                if !is_event_type(name) {
                                    o.report(
                                        &format!("event_types[{i}]"),
                                        format!("{name:?} is not an event type ({EVENT_TYPES})"),
                                    );
                                }
                            }
                        }
                    }
                    names.map(|n| Some(Some(n)))
                }
                Some(_) => {
                    o.report(
                        "event_types",
                        "must be an array of at most 20 event types, or null",
                    );
                    None
                }
            };
            let enabled = if creating {
                Some(None)
            } else {
                match o.take("enabled") {
                    None => Some(None),
                    Some(serde_json::Value::Bool(b)) => Some(Some(b)),
                    Some(_) => {
                        o.report("enabled", "must be true or false");
                        None
                    }
                }
            };
            o.finish();
            EndpointInput {
                url: url.flatten(),
                description: description.flatten(),
                event_types: event_types.flatten(),
                enabled: enabled.flatten(),
            }
        });
        match input {
            Some(input) if problems.is_empty() => Ok(input),
            _ => Err(ServiceError::Invalid(problems.into_vec())),
        }
    }
}

/// The event types, as a sentence lists them.
const EVENT_TYPES: &str = "user.registered, user.updated, user.deactivated, edd.requested, \
                           edd.updated, document.uploaded";

/// The most endpoints an enterprise may hold.
pub const MAX_ENDPOINTS: usize = 50;

fn endpoint_not_found(id: &str) -> ServiceError {
    ServiceError::NotFound(format!("No webhook endpoint with id {id} exists."))
}

impl Onboarding {
    pub fn with_webhooks(
        mut self,
        sender: Arc<dyn WebhookSender>,
        settings: WebhookSettings,
    ) -> Self {
        self.dependencies().webhooks = Some((sender, settings));
        self
    }

    fn webhook_parts(&self) -> Result<(&Arc<dyn WebhookSender>, &WebhookSettings), ServiceError> {
        self.webhooks
            .as_ref()
            .map(|(sender, settings)| (sender, settings))
            .ok_or_else(|| ServiceError::Unprocessable("this server does not send webhooks".into()))
    }

    async fn checked_url(&self, url: &str) -> Result<String, ServiceError> {
        let (sender, settings) = self.webhook_parts()?;
        let allow = settings.allow_private_networks;
        let invalid = |why: String| {
            ServiceError::Invalid(vec![onboard_api::FieldProblem {
                field: "url".into(),
                message: why.strip_prefix("url ").unwrap_or(&why).to_owned(),
            }])
        };
        check_url(url, allow).map_err(invalid)?;
        sender.check(url, allow).await.map_err(invalid)?;
        Ok(url.to_owned())
    }

    /// The types as kept: sorted, each once (they were checked when read).
    fn checked_types(types: Option<Vec<String>>) -> Result<Option<Vec<String>>, ServiceError> {
        Ok(types.map(|mut types| {
            types.sort();
            types.dedup();
            types
        }))
    }

    /// `POST /v1/enterprise/webhooks`: the endpoint, with its secret (shown once).
    pub async fn create_endpoint(
        &self,
        enterprise: &Enterprise,
        input: EndpointInput,
    ) -> Result<Endpoint, ServiceError> {
        let url = input.url.ok_or_else(|| {
            ServiceError::Invalid(vec![onboard_api::FieldProblem {
                field: "url".into(),
                message: "is required".into(),
            }])
        })?;
        let url = self.checked_url(&url).await?;
        let event_types = Self::checked_types(input.event_types.flatten())?;
        if self.store.endpoints(enterprise.id).await?.len() >= MAX_ENDPOINTS {
            return Err(ServiceError::Unprocessable(format!(
                "an enterprise may hold at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        let now = self.clock.now();
        let endpoint = Endpoint {
            id: new_endpoint_id(self.random.as_ref()),
            enterprise: enterprise.id,
            url,
            description: input.description.unwrap_or_default(),
            event_types,
            enabled: true,
            disabled_reason: None,
            secret: WebhookSecret::generate(self.random.as_ref()),
            old_secret: None,
            created_at: now,
            cursor: 0,
            attempts: 0,
            next_attempt_at: None,
            failing_since: None,
            replay: None,
        };
        Ok(self.store.create_endpoint(&endpoint).await?)
    }

    pub async fn endpoints(&self, enterprise: &Enterprise) -> Result<Vec<Endpoint>, ServiceError> {
        Ok(self.store.endpoints(enterprise.id).await?)
    }

    pub async fn endpoint(
        &self,
        enterprise: &Enterprise,
        id: &str,
    ) -> Result<Endpoint, ServiceError> {
        self.store
            .endpoint(enterprise.id, id)
            .await?
            .ok_or_else(|| endpoint_not_found(id))
    }

    /// `PATCH /v1/enterprise/webhooks/:id`: what is given changes, the rest stays.
    pub async fn update_endpoint(
        &self,
        enterprise: &Enterprise,
        id: &str,
        input: EndpointInput,
    ) -> Result<Endpoint, ServiceError> {
        let current = self.endpoint(enterprise, id).await?;
        let url = match input.url {
            Some(url) => self.checked_url(&url).await?,
            None => current.url,
        };
        let event_types = match input.event_types {
            Some(types) => Self::checked_types(types)?,
            None => current.event_types,
        };
        let change = EndpointChange::Settings {
            url,
            description: input.description.unwrap_or(current.description),
            event_types,
            enabled: input.enabled.unwrap_or(current.enabled),
        };
        self.change(enterprise, id, &change).await
    }

    async fn change(
        &self,
        enterprise: &Enterprise,
        id: &str,
        change: &EndpointChange,
    ) -> Result<Endpoint, ServiceError> {
        let changed = self
            .store
            .change_endpoint(enterprise.id, id, change)
            .await?
            .ok_or_else(|| endpoint_not_found(id))?;
        // A replay or a re-enabled endpoint has work at once.
        self.changes.wake_any();
        Ok(changed)
    }

    pub async fn delete_endpoint(
        &self,
        enterprise: &Enterprise,
        id: &str,
    ) -> Result<(), ServiceError> {
        if self.store.delete_endpoint(enterprise.id, id).await? {
            Ok(())
        } else {
            Err(endpoint_not_found(id))
        }
    }

    /// `POST /v1/enterprise/webhooks/:id/rotate-secret`: a new secret; the old one
    /// keeps signing beside it for `grace`.
    pub async fn rotate_endpoint_secret(
        &self,
        enterprise: &Enterprise,
        id: &str,
        grace: Duration,
    ) -> Result<Endpoint, ServiceError> {
        let current = self.endpoint(enterprise, id).await?;
        let change = EndpointChange::Rotate {
            secret: WebhookSecret::generate(self.random.as_ref()),
            old: current.secret,
            old_until: self.clock.now() + grace,
        };
        self.change(enterprise, id, &change).await
    }

    /// `POST /v1/enterprise/webhooks/:id/replay`: every wanted event after
    /// `after`, or the one event `event_id`, sent again with its `webhook-id`.
    pub async fn replay_endpoint(
        &self,
        enterprise: &Enterprise,
        id: &str,
        after: Option<i64>,
        event_id: Option<i64>,
    ) -> Result<Endpoint, ServiceError> {
        let endpoint = self.endpoint(enterprise, id).await?;
        let bounds = self.store.event_bounds(enterprise.id).await?;
        let change = match (after, event_id) {
            (Some(after), None) => {
                if after < 0 || after > bounds.latest {
                    return Err(ServiceError::BadRequest(format!(
                        "after must be between 0 and the latest event_id, {}",
                        bounds.latest
                    )));
                }
                EndpointChange::ReplayAfter(after)
            }
            (None, Some(event_id)) => {
                let found = self
                    .store
                    .read_events(enterprise.id, event_id - 1, 1)
                    .await?
                    .into_iter()
                    .find(|e| e.event_id == event_id)
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!(
                            "No event with event_id {event_id} is in the log."
                        ))
                    })?;
                if !endpoint.wants(found.kind.as_str()) {
                    return Err(ServiceError::Unprocessable(format!(
                        "event {event_id} is a {}, which this endpoint does not receive",
                        found.kind.as_str()
                    )));
                }
                EndpointChange::ReplayOne(event_id)
            }
            _ => {
                return Err(ServiceError::BadRequest(
                    "send exactly one of after and event_id".into(),
                ));
            }
        };
        self.change(enterprise, id, &change).await
    }

    /// `GET /v1/enterprise/webhooks/:id/deliveries`: newest first, a page, and
    /// the cursor of the next page if there may be one.
    pub async fn endpoint_attempts(
        &self,
        enterprise: &Enterprise,
        id: &str,
        status: Option<AttemptStatus>,
        before: Option<Cursor>,
        limit: u32,
    ) -> Result<(Vec<Attempt>, Option<Cursor>), ServiceError> {
        self.endpoint(enterprise, id).await?;
        let mut attempts = self
            .store
            .attempts(enterprise.id, id, status, before.map(|c| c.0), limit + 1)
            .await?;
        let more = attempts.len() > limit as usize;
        attempts.truncate(limit as usize);
        let next = if more {
            attempts.last().map(|a| Cursor(a.position))
        } else {
            None
        };
        Ok((attempts, next))
    }
}
