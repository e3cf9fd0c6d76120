//! Authenticating API keys, and making their end bite at once on every node
//! (CONTRACT §8).
//!
//! Most requests skip the database: [`KeyCache`] remembers keys that recently
//! authenticated, [`RefusedKeys`] those recently refused. What makes that safe
//! when keys are revoked, rotated or expire anywhere (another node, the
//! `onboard keys` command):
//! - every change of a key moves the database's *key generation*;
//!   [`Onboarding::watch_keys`] reads it a few times a second and, when it
//!   moved, empties both caches and reads the keys that changed;
//! - a cache entry remembers its key's expiry, checked against the service clock
//!   at every use;
//! - [`KeyEnds`] lists the keys that ended recently, revoked or expired; feed
//!   sessions watch it and close when theirs is listed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

use super::{Onboarding, ServiceError};
use crate::access::{ApiKeyId, ApiKeyRecord, KeyEnd};
use crate::secret::KeyHash;
use crate::store::Enterprise;

/// How often every node reads the key generation: well inside the second in
/// which a revocation must bite.
pub const KEY_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// A key that authenticated: its enterprise, and what a session must watch.
#[derive(Debug, Clone)]
pub struct KeyAuth {
    pub enterprise: Enterprise,
    pub key: ApiKeyId,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Clone)]
struct Cached {
    auth: KeyAuth,
    seen: OffsetDateTime,
    /// When this node last recorded a use of the key.
    touched: OffsetDateTime,
}

/// API key hashes that recently authenticated. Emptied whenever the key
/// generation moves; an entry read from the database before an emptying is not
/// stored after it (`epoch`), so a revocation cannot be undone by a slow read.
#[derive(Default)]
pub(super) struct KeyCache(Mutex<KeyCacheInner>);

#[derive(Default)]
struct KeyCacheInner {
    entries: HashMap<KeyHash, Cached>,
    epoch: u64,
}

impl KeyCache {
    /// Entries older than this are looked up again.
    const MAX_AGE: Duration = Duration::minutes(5);
    /// A bound on memory: past it the cache starts afresh.
    const MAX_ENTRIES: usize = 10_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyCacheInner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    fn get(&self, hash: &KeyHash, now: OffsetDateTime) -> Option<Cached> {
        let cache = self.lock();
        let cached = cache.entries.get(hash)?;
        (now - cached.seen < Self::MAX_AGE).then(|| cached.clone())
    }

    fn put(&self, hash: KeyHash, cached: Cached, epoch: u64) {
        let mut cache = self.lock();
        if cache.epoch != epoch {
            return;
        }
        if cache.entries.len() >= Self::MAX_ENTRIES {
            cache.entries.clear();
        }
        cache.entries.insert(hash, cached);
    }

    pub(super) fn clear(&self) {
        let mut cache = self.lock();
        cache.entries.clear();
        cache.epoch += 1;
    }
}

/// Hashes of keys that were recently refused, each for [`RefusedKeys::TTL`]: short,
/// so that a key created a moment later is refused for seconds at most (and not
/// at all once the key generation is seen to move). Bounded in memory: when full,
/// expired entries go, and if none had expired the cache starts afresh (costing
/// only database round trips).
#[derive(Default)]
pub(super) struct RefusedKeys(Mutex<HashMap<KeyHash, std::time::Instant>>);

impl RefusedKeys {
    const TTL: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX_ENTRIES: usize = 4096;

    fn contains(&self, hash: &KeyHash) -> bool {
        let refused = self.0.lock().unwrap_or_else(|e| e.into_inner());
        refused.get(hash).is_some_and(|at| at.elapsed() < Self::TTL)
    }

    fn insert(&self, hash: KeyHash) {
        let mut refused = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() >= Self::MAX_ENTRIES {
            refused.retain(|_, at| at.elapsed() < Self::TTL);
            if refused.len() >= Self::MAX_ENTRIES {
                refused.clear();
            }
        }
        refused.insert(hash, std::time::Instant::now());
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Keys that ended recently and why, as this node last saw them. Entries are
/// kept for [`KeyEnds::KEPT`] after the end, longer than any session can take
/// to notice, then dropped, so memory follows the rate of revocations.
#[derive(Debug, Default, Clone)]
pub struct KeyEnds(HashMap<ApiKeyId, (KeyEnd, OffsetDateTime)>);

impl KeyEnds {
    const KEPT: Duration = Duration::hours(1);

    /// Why `key` ended, if it did.
    pub fn why(&self, key: &ApiKeyId) -> Option<KeyEnd> {
        self.0.get(key).map(|(why, _)| *why)
    }
}

/// What the watcher publishes to sessions, and the cell it publishes through.
pub(super) struct KeyWatch {
    ends: watch::Sender<Arc<KeyEnds>>,
}

impl Default for KeyWatch {
    fn default() -> Self {
        KeyWatch {
            ends: watch::Sender::new(Arc::default()),
        }
    }
}

/// The watcher's own memory between polls.
#[derive(Default)]
struct WatchState {
    /// The generation last read; `None` before the first read.
    generation: Option<i64>,
    /// Live keys with an expiry, and when it comes.
    expiring: HashMap<ApiKeyId, OffsetDateTime>,
    ends: KeyEnds,
}

impl WatchState {
    /// Takes in a key's latest state; true when it ended.
    fn learn(&mut self, key: &ApiKeyRecord, now: OffsetDateTime) -> bool {
        if let Some(at) = key.revoked_at {
            self.expiring.remove(&key.id);
            return self.end(&key.id, KeyEnd::Revoked, at);
        }
        match key.expires_at {
            Some(at) if at <= now => {
                self.expiring.remove(&key.id);
                self.end(&key.id, KeyEnd::Expired, at)
            }
            Some(at) => {
                self.expiring.insert(key.id.clone(), at);
                false
            }
            None => {
                self.expiring.remove(&key.id);
                false
            }
        }
    }

    fn end(&mut self, id: &ApiKeyId, why: KeyEnd, at: OffsetDateTime) -> bool {
        let fresh = self.ends.why(id) != Some(why);
        self.ends.0.insert(id.clone(), (why, at));
        fresh
    }

    /// Moves keys whose expiry passed to the ended; true when one did.
    fn expire(&mut self, now: OffsetDateTime) -> bool {
        let due: Vec<(ApiKeyId, OffsetDateTime)> = self
            .expiring
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, at)| (id.clone(), *at))
            .collect();
        for (id, at) in &due {
            self.expiring.remove(id);
            self.end(id, KeyEnd::Expired, *at);
        }
        !due.is_empty()
    }

    fn forget_old(&mut self, now: OffsetDateTime) {
        self.ends.0.retain(|_, (_, at)| now - *at < KeyEnds::KEPT);
    }
}

impl Onboarding {
    /// The enterprise a bearer API key belongs to.
    pub async fn authenticate(&self, api_key: &str) -> Result<Enterprise, ServiceError> {
        Ok(self.authenticate_key(api_key).await?.enterprise)
    }

    /// The key a bearer API key is, if it works now: known, not revoked, not
    /// expired by the service clock.
    pub async fn authenticate_key(&self, api_key: &str) -> Result<KeyAuth, ServiceError> {
        let hash = KeyHash::of(api_key);
        let now = self.clock.now();
        if let Some(cached) = self.keys.get(&hash, now) {
            if cached.auth.expires_at.is_some_and(|at| at <= now) {
                return Err(ServiceError::Unauthorized);
            }
            if now - cached.touched >= Duration::minutes(1) {
                self.record_use(&cached.auth.key, now);
                let touched = Cached {
                    touched: now,
                    ..cached.clone()
                };
                self.keys.put(hash, touched, self.keys.epoch());
            }
            return Ok(cached.auth);
        }
        if self.refused.contains(&hash) {
            return Err(ServiceError::Unauthorized);
        }
        let epoch = self.keys.epoch();
        let found = self.store.api_key_by_hash(&hash).await?;
        let Some((enterprise, key)) = found.filter(|(_, key)| key.ended(now).is_none()) else {
            self.refused.insert(hash);
            return Err(ServiceError::Unauthorized);
        };
        self.record_use(&key.id, now);
        let auth = KeyAuth {
            enterprise,
            key: key.id,
            expires_at: key.expires_at,
        };
        let cached = Cached {
            auth: auth.clone(),
            seen: now,
            touched: now,
        };
        self.keys.put(hash, cached, epoch);
        Ok(auth)
    }

    /// Records a use of the key in the background: the request does not wait
    /// for the write, and a failed one only leaves `last_used_at` a little old.
    fn record_use(&self, key: &ApiKeyId, now: OffsetDateTime) {
        let store = self.store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&key, now).await {
                tracing::debug!(error = %e, "recording an API key's use failed");
            }
        });
    }

    /// The keys that ended recently; `changed()` wakes when the list moves.
    pub fn key_ends(&self) -> watch::Receiver<Arc<KeyEnds>> {
        self.key_watch.ends.subscribe()
    }

    /// Follows the key generation every [`KEY_POLL`] until `stop` resolves: when
    /// it moves, empties the key caches and publishes the keys that ended; on
    /// every round, publishes the keys whose expiry the service clock passed.
    /// A failed read is tried again at the next round.
    pub async fn watch_keys(self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut state = WatchState::default();
        let mut tick = tokio::time::interval(KEY_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.poll_keys(&mut state).await {
                tracing::warn!(error = %e, "reading the key generation failed");
            }
        }
    }

    async fn poll_keys(&self, state: &mut WatchState) -> Result<(), ServiceError> {
        let generation = self.store.key_generation().await?;
        let mut moved = false;
        if state.generation != Some(generation) {
            let since = state.generation.unwrap_or(0);
            let (changed, reached) = self.store.api_keys_changed_since(since).await?;
            self.keys.clear();
            self.refused.clear();
            let now = self.clock.now();
            for key in &changed {
                moved |= state.learn(key, now);
            }
            state.generation = Some(reached);
        }
        let now = self.clock.now();
        moved |= state.expire(now);
        if moved {
            state.forget_old(now);
            self.key_watch
                .ends
                .send_replace(Arc::new(state.ends.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys_are_remembered_briefly_and_the_cache_stays_bounded() {
        let refused = RefusedKeys::default();
        let key = KeyHash::of("onb_unknown");
        assert!(!refused.contains(&key));
        refused.insert(key.clone());
        assert!(refused.contains(&key));
        assert!(!refused.contains(&KeyHash::of("onb_other")));
        for i in 0..RefusedKeys::MAX_ENTRIES * 3 {
            refused.insert(KeyHash::of(&format!("onb_guess_{i}")));
        }
        let held = refused.0.lock().unwrap().len();
        assert!(held <= RefusedKeys::MAX_ENTRIES, "{held} entries");
        // An entry older than the TTL no longer refuses.
        let stale = KeyHash::of("onb_created_later");
        let long_ago = std::time::Instant::now()
            .checked_sub(RefusedKeys::TTL)
            .expect("the monotonic clock runs longer than the TTL");
        refused.0.lock().unwrap().insert(stale.clone(), long_ago);
        assert!(!refused.contains(&stale));
    }

    fn auth(name: &str) -> Cached {
        let now = OffsetDateTime::UNIX_EPOCH;
        Cached {
            auth: KeyAuth {
                enterprise: Enterprise {
                    id: crate::store::EnterpriseId(1),
                    name: name.to_owned(),
                    created_at: now,
                },
                key: ApiKeyId::generate(),
                expires_at: None,
            },
            seen: now,
            touched: now,
        }
    }

    #[test]
    fn a_lookup_that_started_before_the_cache_was_emptied_is_not_kept() {
        let cache = KeyCache::default();
        let hash = KeyHash::of("onb_revoked_meanwhile");
        let before = cache.epoch();
        cache.clear();
        cache.put(hash.clone(), auth("stale"), before);
        assert!(cache.get(&hash, OffsetDateTime::UNIX_EPOCH).is_none());
        cache.put(hash.clone(), auth("fresh"), cache.epoch());
        assert!(cache.get(&hash, OffsetDateTime::UNIX_EPOCH).is_some());
    }

    #[test]
    fn the_watcher_ends_revoked_and_expired_keys_and_forgets_them_after_an_hour() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let mut state = WatchState::default();
        let mut key = ApiKeyRecord {
            id: ApiKeyId::generate(),
            enterprise: crate::store::EnterpriseId(1),
            label: String::new(),
            created_at: now,
            created_by: None,
            last_used_at: None,
            expires_at: Some(now + Duration::seconds(10)),
            revoked_at: None,
            revoked_by: None,
            replaced_by: None,
        };
        assert!(!state.learn(&key, now));
        assert!(!state.expire(now + Duration::seconds(9)));
        assert!(state.expire(now + Duration::seconds(10)));
        assert_eq!(state.ends.why(&key.id), Some(KeyEnd::Expired));
        key.revoked_at = Some(now + Duration::seconds(11));
        assert!(state.learn(&key, now + Duration::seconds(11)));
        assert_eq!(state.ends.why(&key.id), Some(KeyEnd::Revoked));
        state.forget_old(now + Duration::minutes(61));
        assert_eq!(state.ends.why(&key.id), None);
    }
}
