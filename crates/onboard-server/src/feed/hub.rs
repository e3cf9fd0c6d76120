//! The live side of the feed: one tailer per enterprise with subscribers on this
//! node. The tailer reads new events from the log (the truth) through the core's
//! feed rules, with their user tokens, for every subscriber of this node to share,
//! and broadcasts them.
//!
//! A tailer wakes when a change commits (the service's `changes` signal, which the
//! store also fires for other processes' commits where it can hear them) and
//! otherwise every poll interval (`FeedLimits::poll_interval`). Subscribers treat
//! the broadcast as a hint: they check every `event_id` against their own cursor
//! and read the log to fill any gap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use onboard_core::service::{FeedItem, LogRead, Onboarding};
use onboard_core::store::EnterpriseId;
use tokio::sync::{Notify, broadcast};

/// Events read from the log per round trip.
pub const READ_BATCH: u32 = 500;

/// The live channel of one enterprise.
pub struct Channel {
    pub tx: broadcast::Sender<Arc<FeedItem>>,
    /// The last `event_id` broadcast (or already in the log when the tailer began).
    pub latest: AtomicI64,
    wake: Arc<Notify>,
}

/// A subscriber's hold on a channel: the tailer runs while any is alive.
pub struct Subscription {
    pub channel: Arc<Channel>,
    pub rx: broadcast::Receiver<Arc<FeedItem>>,
}

#[derive(Clone)]
pub struct Hub {
    onboarding: Onboarding,
    /// Broadcast slots per enterprise: a subscriber further behind reads the log.
    capacity: usize,
    /// How often a tailer reads the log without being woken.
    poll: Duration,
    channels: Arc<Mutex<HashMap<EnterpriseId, Weak<Channel>>>>,
}

impl Hub {
    pub fn new(onboarding: Onboarding, capacity: usize, poll: Duration) -> Self {
        Hub {
            onboarding,
            capacity: capacity.max(1),
            poll,
            channels: Arc::default(),
        }
    }

    pub fn onboarding(&self) -> &Onboarding {
        &self.onboarding
    }

    /// Joins the enterprise's live channel, starting its tailer if needed. The
    /// receiver exists before `latest` is read, so nothing after it is missed.
    pub async fn subscribe(&self, enterprise: EnterpriseId) -> Result<Subscription, String> {
        if let Some(channel) = self.existing(enterprise) {
            let rx = channel.tx.subscribe();
            return Ok(Subscription { channel, rx });
        }
        let latest = self
            .onboarding
            .latest_event(enterprise)
            .await
            .map_err(|e| e.to_string())?;
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(&enterprise).and_then(Weak::upgrade) {
            let rx = channel.tx.subscribe();
            return Ok(Subscription { channel, rx });
        }
        let (tx, rx) = broadcast::channel(self.capacity);
        let channel = Arc::new(Channel {
            tx,
            latest: AtomicI64::new(latest),
            wake: self.onboarding.changes(enterprise),
        });
        channels.insert(enterprise, Arc::downgrade(&channel));
        tokio::spawn(tail(self.clone(), enterprise, Arc::downgrade(&channel)));
        Ok(Subscription { channel, rx })
    }

    fn existing(&self, enterprise: EnterpriseId) -> Option<Arc<Channel>> {
        let channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        channels.get(&enterprise).and_then(Weak::upgrade)
    }

    fn forget(&self, enterprise: EnterpriseId) {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if channels
            .get(&enterprise)
            .is_some_and(|w| w.strong_count() == 0)
        {
            channels.remove(&enterprise);
        }
    }
}

/// The tailer: from `latest`, read, mint, broadcast; sleep until woken or polled.
/// Ends when the last subscription is dropped.
async fn tail(hub: Hub, enterprise: EnterpriseId, channel: Weak<Channel>) {
    loop {
        let Some(live) = channel.upgrade() else {
            break;
        };
        let after = live.latest.load(Ordering::Acquire);
        match hub
            .onboarding
            .feed_after(enterprise, after, READ_BATCH)
            .await
        {
            Ok(LogRead::Events(items)) if !items.is_empty() => {
                let full = items.len() as u32 == READ_BATCH;
                for item in items {
                    let id = item.event.event_id;
                    // No receiver is not an error: subscribers come and go.
                    let _ = live.tx.send(Arc::new(item));
                    live.latest.store(id, Ordering::Release);
                }
                if full {
                    continue;
                }
            }
            Ok(LogRead::Events(_)) => {}
            // Pruned under the tailer: carry on from what the log still holds.
            // Each session notices the gap against its own cursor and says so.
            Ok(LogRead::Pruned { oldest }) => {
                let resume = match oldest {
                    Some(oldest) => Ok(oldest - 1),
                    None => hub.onboarding.latest_event(enterprise).await,
                };
                if let Ok(resume) = resume {
                    live.latest.store(resume, Ordering::Release);
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "feed tailer could not read the log"),
        }
        // Wait without holding the channel, so that it can close meanwhile.
        let wake = live.wake.clone();
        drop(live);
        let _ = tokio::time::timeout(hub.poll, wake.notified()).await;
    }
    hub.forget(enterprise);
}
