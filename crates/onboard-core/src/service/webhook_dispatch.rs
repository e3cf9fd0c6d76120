//! The webhook dispatcher (CONTRACT §9): follows the event log for every
//! endpoint, in `event_id` order, one node at a time per endpoint (a lease in
//! the database), and records each attempt.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use time::Duration;

use super::{Onboarding, ServiceError, WebhookRequest, WebhookSender, WebhookSettings};
use crate::events::Event;
use crate::time_format::rfc3339_millis;
use crate::webhooks::{
    AfterAttempt, Attempt, AttemptStatus, Backlog, DeliveryCounts, Endpoint, Progress, message_id,
};

/// The body of each webhook.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    event_id: i64,
    data: onboard_api::EventOut,
}

/// Messages one lease sends before the endpoint is given back (fairness).
const MESSAGES_PER_LEASE: usize = 200;
/// The dispatcher looks for due messages at least this often.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

impl Onboarding {
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
            .lease_endpoints(owner, now, now + settings.lease, settings.concurrency)
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
                    // Waiting for a retry, or disabled. A retry due before the
                    // next poll is waited for here, holding the lease, rather
                    // than found by that poll.
                    match self.due_soon(&progress) {
                        Some(wait) if progress.enabled => {
                            tokio::time::sleep(wait).await;
                            break;
                        }
                        _ => return Ok(true),
                    }
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

    /// How long until the retry `progress` waits for, when it is due within a
    /// poll.
    fn due_soon(&self, progress: &Progress) -> Option<std::time::Duration> {
        let wait = progress.next_attempt_at? - self.clock.now();
        let wait = std::time::Duration::try_from(wait.max(Duration::ZERO)).ok()?;
        (wait <= POLL).then_some(wait)
    }

    async fn save(
        &self,
        owner: &str,
        endpoint_id: &str,
        progress: &Progress,
        attempt: Option<&Attempt>,
    ) -> Result<bool, ServiceError> {
        let lease = self
            .webhooks
            .as_ref()
            .map_or(Duration::seconds(60), |(_, s)| s.lease);
        let until = self.clock.now() + lease;
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
