//! Wake-ups across nodes: `LISTEN onboard_events`. A notification is only a hint
//! (the event table is the truth, and the feed reads it by id), so a notification
//! lost while reconnecting costs latency, never an event: the feed also polls.

use std::sync::Weak;
use std::time::Duration;

use onboard_core::events::ChangeNotifier;
use onboard_core::store::EnterpriseId;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

pub(crate) const CHANNEL: &str = "onboard_events";

/// Run by every event-appending transaction: delivered at commit, with the
/// enterprise id as the payload.
pub(crate) const NOTIFY: &str = "SELECT pg_notify('onboard_events', ?)";

/// The first wait before reconnecting; it doubles up to 5 s while failures last.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Forwards notifications to `notifier` until it is dropped, reconnecting with
/// backoff whenever the listening connection fails.
pub(crate) async fn forward(pool: PgPool, notifier: Weak<dyn ChangeNotifier>) {
    let mut backoff = FIRST_BACKOFF;
    while notifier.strong_count() > 0 {
        match listen(&pool, &notifier, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One listening connection; `Ok` when the notifier is gone. A connection that
/// gets as far as listening resets `backoff`.
async fn listen(
    pool: &PgPool,
    notifier: &Weak<dyn ChangeNotifier>,
    backoff: &mut Duration,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    *backoff = FIRST_BACKOFF;
    loop {
        // Wake up now and then to notice that the server has gone.
        let next = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
        let Some(target) = notifier.upgrade() else {
            return Ok(());
        };
        match next {
            Err(_) => {}
            Ok(Ok(Some(notification))) => {
                if let Ok(id) = notification.payload().parse::<i64>() {
                    target.changed(EnterpriseId(id));
                }
            }
            // The connection dropped: notifications may have been missed, which
            // the feed's polling covers; reconnect.
            Ok(Ok(None)) => return Err(sqlx::Error::PoolClosed),
            Ok(Err(e)) => return Err(e),
        }
    }
}
