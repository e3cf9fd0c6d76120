//! Outgoing webhooks (CONTRACT §9): the endpoint API's use cases, and the
//! dispatcher that follows the event log for every endpoint, in `event_id` order,
//! one node at a time per endpoint (a lease in the database).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use time::Duration;

use super::{Cursor, Onboarding, ServiceError};
use crate::events::Event;
use crate::reader::{Obj, Problems};
use crate::store::Enterprise;
use crate::time_format::rfc3339_millis;
use crate::values::ValueError;
use crate::webhooks::{
    AfterAttempt, Attempt, AttemptResult, AttemptStatus, Backlog, DeliveryCounts, Endpoint,
    EndpointChange, Progress, RetrySchedule, WebhookSecret, check_url, is_event_type, message_id,
    new_endpoint_id,
};

/// How the server sends webhooks.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub schedule: RetrySchedule,
    /// Loopback, private and link-local targets are allowed (development, tests).
    pub allow_private_networks: bool,
    /// Endpoints one node works on at once.
    pub concurrency: u32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            schedule: RetrySchedule::default(),
            allow_private_networks: false,
            concurrency: 32,
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

/// The body of each webhook.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    event_id: i64,
    data: onboard_api::EventOut,
}

/// The event types, as a sentence lists them.
const EVENT_TYPES: &str = "user.registered, user.updated, user.deactivated, edd.requested, \
                           edd.updated, document.uploaded";

/// How long a node holds an endpoint without writing to it.
const LEASE: Duration = Duration::seconds(60);
/// Messages one lease sends before the endpoint is given back (fairness).
const MESSAGES_PER_LEASE: usize = 200;
/// The dispatcher looks for due messages at least this often.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);
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
        self.parts().webhooks = Some((sender, settings));
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

    /// Sends webhooks until `stop` resolves: every due endpoint, as its lease
    /// allows, woken by each commit and polling otherwise (for other nodes' work
    /// and retries that come due). Does nothing when webhooks are not configured.
    pub async fn run_webhooks(&self, stop: impl Future<Output = ()>) {
        let Some((sender, settings)) = self.webhooks.clone() else {
            return;
        };
        // This process's name on the leases it takes.
        let mut bytes = [0u8; 8];
        self.random.fill(&mut bytes);
        let owner = format!("node_{}", hex::encode(bytes));
        tokio::pin!(stop);
        loop {
            let worked = match self.webhook_round(&sender, &settings, &owner).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "a webhook round failed");
                    0
                }
            };
            if worked > 0 {
                continue;
            }
            tokio::select! {
                () = &mut stop => return,
                () = self.changes.any() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Leases the due endpoints and works on each, concurrently; returns how many
    /// moved (an attempt, or a cursor that went forward), so that the caller
    /// waits instead of spinning when none could.
    async fn webhook_round(
        &self,
        sender: &Arc<dyn WebhookSender>,
        settings: &WebhookSettings,
        owner: &str,
    ) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let leased = self
            .store
            .lease_endpoints(owner, now, now + LEASE, settings.concurrency)
            .await?;
        let mut running = tokio::task::JoinSet::new();
        for endpoint in leased {
            let (me, sender, settings, owner) = (
                self.clone(),
                sender.clone(),
                settings.clone(),
                owner.to_owned(),
            );
            running.spawn(async move {
                let id = endpoint.id.clone();
                let progressed = match me.work_on(endpoint, &sender, &settings, &owner).await {
                    Ok(progressed) => progressed,
                    Err(e) => {
                        tracing::warn!(endpoint = %id, error = %e, "webhook delivery stopped");
                        false
                    }
                };
                me.release(&owner, &id).await;
                progressed
            });
        }
        let mut progressed = 0;
        while let Some(done) = running.join_next().await {
            progressed += usize::from(done.unwrap_or(false));
        }
        Ok(progressed)
    }

    /// Gives a leased endpoint back. A release that fails (a busy pool, say) is
    /// tried again shortly, since an unreleased endpoint waits for its lease to
    /// run out before anyone sends to it again.
    async fn release(&self, owner: &str, endpoint_id: &str) {
        for pause in [50, 250, 1000] {
            match self.store.release_endpoint(owner, endpoint_id).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint_id, error = %e, "releasing a webhook lease failed");
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
            }
        }
    }

    /// Sends a leased endpoint's due messages in order, until one must wait, the
    /// log is exhausted, or the lease's share is used.
    async fn work_on(
        &self,
        mut endpoint: Endpoint,
        sender: &Arc<dyn WebhookSender>,
        settings: &WebhookSettings,
        owner: &str,
    ) -> Result<bool, ServiceError> {
        let start = Progress::of(&endpoint);
        let mut progress = start.clone();
        let mut sent = 0;
        let mut read_again = false;
        while sent < MESSAGES_PER_LEASE && progress.enabled {
            let events = self
                .store
                .read_events(endpoint.enterprise, progress.cursor, 100)
                .await?;
            if events.is_empty() {
                // Nothing left to read. A replayed event may have been pruned
                // meanwhile; so may everything after the cursor (retention):
                // what the log no longer holds cannot be sent.
                if let Some((to, _)) = progress.replay {
                    progress.done_with(to);
                    self.save(owner, &endpoint.id, &progress, None).await?;
                    continue;
                }
                // Only what was pruned is passed over: an event committed
                // since the read above is still there, and read next.
                let bounds = self.store.event_bounds(endpoint.enterprise).await?;
                let kept_from = bounds.oldest.unwrap_or(bounds.latest + 1);
                if progress.cursor + 1 < kept_from {
                    progress.done_with(kept_from - 1);
                    self.save(owner, &endpoint.id, &progress, None).await?;
                    continue;
                }
                if progress.cursor < bounds.latest && !read_again {
                    read_again = true;
                    continue;
                }
                break;
            }
            read_again = false;
            // The endpoint as it stands now: a secret rotated, or the URL or
            // event types changed, since the lease was taken applies to the
            // events read after the change was answered.
            let Some(current) = self
                .store
                .endpoint(endpoint.enterprise, &endpoint.id)
                .await?
            else {
                // Deleted meanwhile: nothing more to send it.
                return Ok(true);
            };
            endpoint.url = current.url;
            endpoint.event_types = current.event_types;
            endpoint.secret = current.secret;
            endpoint.old_secret = current.old_secret;
            let before = progress.cursor;
            for event in events {
                if !endpoint.wants(event.kind.as_str()) {
                    progress.done_with(event.event_id);
                    continue;
                }
                let next = self
                    .attempt(&endpoint, &event, &progress, sender, settings)
                    .await;
                let (attempt, after) = next;
                sent += 1;
                self.advance(&mut progress, &attempt, after);
                if !self
                    .save(owner, &endpoint.id, &progress, Some(&attempt))
                    .await?
                {
                    // The lease was lost: another node carries on.
                    return Ok(true);
                }
                if progress.cursor < event.event_id || !progress.enabled {
                    // Waiting for a retry, or disabled.
                    return Ok(true);
                }
                if progress.replay.is_none() && progress.cursor > event.event_id {
                    // A one-event replay ended: read on from where it resumed.
                    break;
                }
            }
            if progress.cursor != before {
                // Unwanted events were skipped since the last write.
                self.save(owner, &endpoint.id, &progress, None).await?;
            }
        }
        Ok(progress != start)
    }

    async fn save(
        &self,
        owner: &str,
        endpoint_id: &str,
        progress: &Progress,
        attempt: Option<&Attempt>,
    ) -> Result<bool, ServiceError> {
        let until = self.clock.now() + LEASE;
        Ok(self
            .store
            .record_progress(owner, endpoint_id, progress, attempt, until)
            .await?)
    }

    /// One signed POST of `event` to `endpoint`.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        event: &Event,
        progress: &Progress,
        sender: &Arc<dyn WebhookSender>,
        settings: &WebhookSettings,
    ) -> (Attempt, AfterAttempt) {
        let id = message_id(&endpoint.id, event.event_id);
        let envelope = Envelope {
            kind: event.kind.as_str(),
            timestamp: rfc3339_millis(event.at),
            event_id: event.event_id,
            data: event.to_wire(),
        };
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        let now = self.clock.now();
        let timestamp = now.unix_timestamp();
        let request = WebhookRequest {
            url: endpoint.url.clone(),
            message_id: id.clone(),
            timestamp,
            signature: endpoint.signature(&id, timestamp, &body, now),
            body,
            timeout: settings.schedule.timeout,
            allow_private_networks: settings.allow_private_networks,
        };
        let sent = sender.post(request).await;
        let number = progress.attempts + 1;
        let after = settings.schedule.after(
            &sent.result,
            number,
            progress.failing_since,
            self.clock.now(),
            self.random.as_ref(),
        );
        let status = match after {
            AfterAttempt::Delivered => AttemptStatus::Succeeded,
            AfterAttempt::RetryAt(_) => AttemptStatus::Pending,
            AfterAttempt::GiveUp | AfterAttempt::Disable(_) => AttemptStatus::Failed,
        };
        self.deliveries.count(status);
        let attempt = Attempt {
            position: 0,
            event_id: event.event_id,
            message_id: id,
            attempt: number,
            attempted_at: now,
            status,
            status_code: sent.result.status,
            duration_ms: sent.duration_ms,
            response: sent.response,
        };
        (attempt, after)
    }

    fn advance(&self, progress: &mut Progress, attempt: &Attempt, after: AfterAttempt) {
        let now = attempt.attempted_at;
        match after {
            AfterAttempt::Delivered => {
                progress.failing_since = None;
                progress.done_with(attempt.event_id);
            }
            AfterAttempt::RetryAt(at) => {
                progress.failing_since.get_or_insert(now);
                progress.attempts = attempt.attempt;
                progress.next_attempt_at = Some(at);
            }
            AfterAttempt::GiveUp => {
                progress.failing_since.get_or_insert(now);
                progress.done_with(attempt.event_id);
            }
            AfterAttempt::Disable(why) => {
                tracing::warn!(reason = %why, "a webhook endpoint was disabled");
                progress.failing_since.get_or_insert(now);
                progress.enabled = false;
                progress.disabled_reason = Some(why);
                progress.attempts = 0;
                progress.next_attempt_at = None;
            }
        }
    }

    /// Attempts this process made, by outcome, and every enabled endpoint's
    /// backlog (`None` when the database cannot say), for `/metrics`.
    pub async fn webhook_metrics(&self) -> (&DeliveryCounts, Option<Vec<Backlog>>) {
        (&self.deliveries, self.store.webhook_backlog().await.ok())
    }
}
