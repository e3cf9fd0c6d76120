//! The server's background tasks, started in one place for `onboard serve` and
//! for every test server alike: housekeeping (pruning), the webhook dispatcher,
//! the key watcher, and once, the sealing of what an earlier release kept in
//! the clear. Each runs on [`Tasks`] and ends at shutdown.

use onboard_core::service::Onboarding;
use tokio_util::sync::CancellationToken;

use crate::state::{AppState, Housekeeping, Tasks};

/// Starts every background task of `state`, once changes committed by other
/// processes sharing the database are heard.
pub async fn start(state: &AppState) {
    let Tasks { shutdown, tracker } = &state.tasks;
    let onboarding = state.onboarding.clone();
    onboarding.hear_other_processes().await;
    tracker.spawn(housekeeping(
        onboarding.clone(),
        state.housekeeping,
        shutdown.clone(),
    ));
    let (webhooks, stop) = (onboarding.clone(), shutdown.clone());
    tracker.spawn(async move { webhooks.run_webhooks(stop.cancelled()).await });
    // Key revocations and expiries, from any process, reach this node's caches
    // and feed sessions within a poll (CONTRACT §8).
    let stop = shutdown.clone();
    tracker.spawn(
        onboarding
            .clone()
            .watch_keys(async move { stop.cancelled().await }),
    );
    tracker.spawn(async move {
        if let Err(e) = onboarding.seal_legacy_rows().await {
            tracing::error!(error = %e, "sealing the rows of an earlier release failed; it is tried again at the next start");
        }
    });
}

/// Prunes on `upkeep.every` until the server shuts down; a failed round is logged
/// and tried again at the next tick.
async fn housekeeping(onboarding: Onboarding, upkeep: Housekeeping, stop: CancellationToken) {
    let mut tick = tokio::time::interval(upkeep.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match onboarding.prune(upkeep.retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned events beyond retention"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}
