//! Group commit of registrations, for an engine without one of its own
//! (PostgreSQL; the SQLite engine groups every write transaction itself).
//!
//! Every registration appends an event, and event ids are the enterprise row's
//! `last_event_id`, bumped and held locked to commit: one enterprise's
//! registrations commit one at a time, a WAL flush each. Here the registrations
//! of one enterprise that arrive while a batch is being written wait for the next
//! batch, and a batch is one transaction:
//!
//! 1. each member's rows (the advisor check, the user, its first code), inside a
//!    savepoint of its own, in `user_id` order (so that batches on two nodes
//!    wait for each other's new `user_id`s in one order, never in a circle): a
//!    member that fails (its `user_id` taken, its advisor gone) is rolled back to
//!    it and leaves the others' rows in place;
//! 2. then the event of every member that got this far, in order, so every user
//!    row is locked before the enterprise row, the order every transaction keeps;
//! 3. one commit. Each member hears its outcome only after it: a registration is
//!    acknowledged when it is durable, as before. If the commit (or anything
//!    outside a member's savepoint) fails, every member hears that error.
//!
//! One task per enterprise writes the batches while there are any, so a caller
//! that stops waiting does not stop a batch half-way. A registration whose
//! caller stopped waiting before its batch began is left out; one whose caller
//! stops while its batch is being written is written with the rest (as a
//! transaction whose caller goes away during its commit is).
//!
//! The queue is bounded by the requests in flight (the edge caps connections),
//! and a member that waits on a lock (another node's transaction holding a row it
//! needs) holds up its batch, as it would have held up its own registration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use onboard_core::events::EventKind;
use onboard_core::store::{EnterpriseId, StoreError};
use onboard_core::user::User;
use onboard_core::verification::{Channel, CodeRecord};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::engine::{Engine, Tx};
use crate::events;
use crate::users;

/// At most this many registrations share one transaction.
const MAX_BATCH: usize = 64;

/// A registration to write: what `Store::insert_user` was given.
pub(crate) struct NewUser {
    pub user: User,
    pub cause: String,
    pub first_code: Option<(Channel, CodeRecord)>,
    pub now: OffsetDateTime,
}

type Outcome = Result<(), StoreError>;

struct Pending {
    new: NewUser,
    reply: oneshot::Sender<Outcome>,
}

impl Pending {
    fn user_id(&self) -> &str {
        self.new.user.summary.user_id.as_str()
    }
}

/// The registrations waiting for each enterprise's next batch.
#[derive(Default)]
pub(crate) struct Registrations {
    queues: Mutex<HashMap<i64, Vec<Pending>>>,
}

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrations")
            .field("enterprises_writing", &self.lock().len())
            .finish()
    }
}

impl Registrations {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Vec<Pending>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `new` in the enterprise's next batch and answers after its commit.
    pub(crate) async fn insert<E: Engine + Clone>(
        self: &Arc<Self>,
        engine: &E,
        enterprise: EnterpriseId,
        new: NewUser,
    ) -> Outcome {
        // Outside a runtime there is no task to write batches: write it alone.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let first_code = new.first_code.as_ref().map(|(c, r)| (*c, r));
            let (user, cause) = (&new.user, &new.cause);
            return users::insert(engine, enterprise, user, cause, first_code, new.now).await;
        };
        let (reply, outcome) = oneshot::channel();
        let lead = {
            let mut queues = self.lock();
            // An enterprise with a queue has a task writing it.
            let lead = !queues.contains_key(&enterprise.0);
            queues
                .entry(enterprise.0)
                .or_default()
                .push(Pending { new, reply });
            lead
        };
        if lead {
            let writer = Writer {
                registrations: Arc::clone(self),
                enterprise,
                done: false,
            };
            runtime.spawn(writer.run(engine.clone()));
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(StoreError::Internal("the registration was dropped".into())))
    }
}

/// The task writing one enterprise's batches. However it ends (a panic
/// included), it takes its queue with it, so the next registration starts a new
/// task, and whoever still waited hears that their registration was dropped.
struct Writer {
    registrations: Arc<Registrations>,
    enterprise: EnterpriseId,
    /// The queue was found empty and removed: it is no longer this task's.
    done: bool,
}

impl Writer {
    async fn run<E: Engine>(mut self, engine: E) {
        loop {
            let batch: Vec<Pending> = {
                let mut queues = self.registrations.lock();
                let Some(queue) = queues.get_mut(&self.enterprise.0) else {
                    self.done = true;
                    return;
                };
                if queue.is_empty() {
                    queues.remove(&self.enterprise.0);
                    self.done = true;
                    return;
                }
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            // A caller that stopped waiting (its client went away) before its
            // batch began is not written: nobody would hear of it, and what the
            // service does after the insert (sending the first code) would not
            // happen.
            let mut batch: Vec<Pending> =
                batch.into_iter().filter(|p| !p.reply.is_closed()).collect();
            // In `user_id` order: two nodes' batches then take the `user_id`
            // index entries they share in one order, and cannot deadlock on them.
            batch.sort_by(|a, b| a.user_id().cmp(b.user_id()));
            if !batch.is_empty() {
                write(&engine, self.enterprise, batch).await;
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.done {
            self.registrations.lock().remove(&self.enterprise.0);
        }
    }
}

/// Writes one batch in one transaction and answers each member.
async fn write<E: Engine>(engine: &E, enterprise: EnterpriseId, batch: Vec<Pending>) {
    let mut own: Vec<Outcome> = Vec::with_capacity(batch.len());
    let shared = write_batch(engine, enterprise, &batch, &mut own).await;
    for (i, member) in batch.into_iter().enumerate() {
        let outcome = match (&shared, own.get_mut(i)) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Some(outcome)) => std::mem::replace(outcome, Ok(())),
            (Ok(()), None) => Err(StoreError::Internal("a batch member was skipped".into())),
        };
        let _ = member.reply.send(outcome);
    }
}

/// The batch's transaction; `own` receives each member's own outcome, which
/// stands only if the transaction commits.
async fn write_batch<E: Engine>(
    engine: &E,
    enterprise: EnterpriseId,
    batch: &[Pending],
    own: &mut Vec<Outcome>,
) -> Outcome {
    let mut tx = engine.begin().await?;
    for member in batch {
        let new = &member.new;
        let first_code = new.first_code.as_ref().map(|(c, r)| (*c, r));
        tx.execute("SAVEPOINT member", Vec::new()).await?;
        let rows = users::insert_rows::<E>(&mut tx, enterprise, &new.user, first_code, new.now);
        let done = rows.await;
        if done.is_ok() {
            tx.execute("RELEASE SAVEPOINT member", Vec::new()).await?;
        } else {
            tx.execute("ROLLBACK TO SAVEPOINT member", Vec::new())
                .await?;
            tx.execute("RELEASE SAVEPOINT member", Vec::new()).await?;
        }
        own.push(done);
    }
    for (member, done) in batch.iter().zip(own.iter()) {
        if done.is_ok() {
            let new = &member.new;
            let kind = EventKind::Registered;
            let summary = &new.user.summary;
            events::append::<E>(
                &mut tx, enterprise, kind, &new.cause, None, summary, new.now,
            )
            .await?;
        }
    }
    tx.commit().await
}
