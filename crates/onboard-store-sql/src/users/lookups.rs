//! Reads of single users that arrive together share one statement, for an engine
//! whose every statement is a round trip to a database server (PostgreSQL; the
//! SQLite engine reads on the caller's thread and does not use this).
//!
//! A `GET` of one user is one indexed lookup, and on a server most of its cost is
//! the round trip and the statement around the lookup, paid again for each user.
//! Here a lookup joins its enterprise's queue, and a task takes that queue in
//! batches of up to [`MAX_BATCH`], one statement each (`user_id IN (…)`), and
//! answers every caller from its rows. While a batch is in flight the next one
//! gathers. Each enterprise's queue has a task of its own, so enterprises do not
//! wait for each other; a further task for one enterprise (up to [`RUNNERS`])
//! starts when a whole batch per task is waiting, or when no batch has been taken
//! for [`STALL`] (a slow statement must not hold up the reads behind it), and a
//! statement that takes longer than [`LOOKUP_TIMEOUT`] answers its batch 503.
//!
//! A read after a write still sees the write: a lookup is queued before the batch
//! that serves it is taken, and that batch's statement starts after it is taken,
//! so after every write acknowledged before the lookup arrived, on any node. A
//! lookup that arrives while a batch is in flight waits for a later one; an idle
//! store serves a lone lookup at once, in a batch of one.
//!
//! A queue holds the requests in flight (the edge caps connections), and a lookup
//! whose caller went away stays queued at most until its batch is taken, which
//! [`LOOKUP_TIMEOUT`] bounds. The tasks are their own, so a caller going away
//! never stops a batch half-way.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use onboard_core::store::{EnterpriseId, StoreError};
use tokio::sync::oneshot;

use crate::engine::{Engine, Value};

/// At most this many lookups share one batch.
const MAX_BATCH: usize = 64;

/// At most this many batches of one enterprise are in flight at once.
const RUNNERS: usize = 4;

/// A queue whose tasks have not taken a batch for this long gets another task.
const STALL: Duration = Duration::from_millis(25);

/// A batch's statement that has not answered after this long answers 503.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// The active user's stored JSON, current for its row.
    Json(String),
    /// The active user exists, but its stored JSON is missing or out of date
    /// (see `users::find_json`): the caller renders it from the row.
    Stale,
    /// No active user with this `user_id` in this enterprise.
    Missing,
}

type Outcome = Result<Found, StoreError>;

struct Wanted {
    user_id: String,
    reply: oneshot::Sender<Outcome>,
}

/// One enterprise's lookups: it exists while a task serves it.
struct Queue {
    waiting: VecDeque<Wanted>,
    running: usize,
    last_taken: Instant,
}

/// The queues of lookups waiting for a batch, by enterprise.
#[derive(Default)]
pub(crate) struct UserLookups {
    queues: Mutex<HashMap<i64, Queue>>,
}

impl std::fmt::Debug for UserLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLookups")
            .field("enterprises_reading", &self.lock().len())
            .finish()
    }
}

impl UserLookups {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Queue>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The active user `user_id` of `enterprise`, read in the next batch.
    pub(crate) async fn find<E: Engine>(
        self: &Arc<Self>,
        engine: &E,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Outcome {
        // Outside a runtime there is no task to run batches: read it alone.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let ids = [user_id.to_owned()];
            let mut found = read_batch(engine, enterprise.0, &ids).await?;
            return Ok(found.remove(user_id).unwrap_or(Found::Missing));
        };
        let (reply, outcome) = oneshot::channel();
        let start = {
            let mut queues = self.lock();
            let queue = queues.entry(enterprise.0).or_insert_with(|| Queue {
                waiting: VecDeque::new(),
                running: 0,
                last_taken: Instant::now(),
            });
            queue.waiting.push_back(Wanted {
                user_id: user_id.to_owned(),
                reply,
            });
            let start = queue.running == 0
                || (queue.running < RUNNERS
                    && (queue.waiting.len() >= MAX_BATCH * queue.running
                        || queue.last_taken.elapsed() >= STALL));
            if start {
                queue.running += 1;
                // A task about to start counts as taking now, so that lookups
                // arriving before it runs do not start more.
                queue.last_taken = Instant::now();
            }
            start
        };
        if start {
            let runner = Runner {
                lookups: Arc::clone(self),
                enterprise: enterprise.0,
                done: false,
            };
            runtime.spawn(runner.run(engine.clone()));
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(StoreError::Internal("the lookup was dropped".into())))
    }
}

/// A task taking one enterprise's batches while there are lookups waiting.
/// However it ends (a panic included) it gives up its place, and if it was the
/// queue's last task, whoever still waits hears that their lookup was dropped
/// rather than waiting forever.
struct Runner {
    lookups: Arc<UserLookups>,
    enterprise: i64,
    /// The queue was found empty and this task gave up its place.
    done: bool,
}

/// Gives up a task's place in `enterprise`'s queue; the last one removes the
/// queue (and with it whoever still waits in it).
fn leave(queues: &mut HashMap<i64, Queue>, enterprise: i64) {
    if let Some(queue) = queues.get_mut(&enterprise) {
        queue.running = queue.running.saturating_sub(1);
        if queue.running == 0 {
            queues.remove(&enterprise);
        }
    }
}

impl Runner {
    async fn run<E: Engine>(mut self, engine: E) {
        loop {
            let batch: Vec<Wanted> = {
                let mut queues = self.lookups.lock();
                let Some(queue) = queues.get_mut(&self.enterprise) else {
                    self.done = true;
                    return;
                };
                if queue.waiting.is_empty() {
                    leave(&mut queues, self.enterprise);
                    self.done = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.last_taken = Instant::now();
                queue.waiting.drain(..take).collect()
            };
            serve(&engine, self.enterprise, batch).await;
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !self.done {
            leave(&mut self.lookups.lock(), self.enterprise);
        }
    }
}

/// Answers one batch of one enterprise with one statement.
async fn serve<E: Engine>(engine: &E, enterprise: i64, batch: Vec<Wanted>) {
    // A caller that went away is not read for.
    let batch: Vec<Wanted> = batch.into_iter().filter(|w| !w.reply.is_closed()).collect();
    if batch.is_empty() {
        return;
    }
    let mut ids: Vec<String> = batch.iter().map(|w| w.user_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let read = tokio::time::timeout(LOOKUP_TIMEOUT, read_batch(engine, enterprise, &ids)).await;
    let read = read.unwrap_or_else(|_| {
        Err(StoreError::Unavailable(format!(
            "the database did not answer a lookup within {} s",
            LOOKUP_TIMEOUT.as_secs()
        )))
    });
    match read {
        Ok(found) => {
            for wanted in batch {
                let answer = found.get(&wanted.user_id).cloned();
                let _ = wanted.reply.send(Ok(answer.unwrap_or(Found::Missing)));
            }
        }
        Err(e) => {
            for wanted in batch {
                let _ = wanted.reply.send(Err(e.clone()));
            }
        }
    }
}

/// The lookup statement with `slots` (a power of two up to [`MAX_BATCH`])
/// `user_id` placeholders, built once per shape.
fn statement(slots: usize) -> &'static str {
    static SHAPES: OnceLock<Vec<String>> = OnceLock::new();
    let shapes = SHAPES.get_or_init(|| {
        let shape = |slots: usize| {
            format!(
                "SELECT user_id, CASE WHEN rendered_at = updated_at THEN user_json END \
                 AS user_json FROM users WHERE enterprise_id = ? AND active = TRUE \
                 AND user_id IN (?{})",
                ",?".repeat(slots - 1)
            )
        };
        (0..=MAX_BATCH.trailing_zeros())
            .map(|p| shape(1 << p))
            .collect()
    });
    &shapes[slots.trailing_zeros() as usize]
}

/// The statement reading `ids` (distinct) of one enterprise. The list is padded
/// to the next power of two with its last id, so that a connection prepares at
/// most seven shapes of it (1 to 64) rather than one per batch size.
async fn read_batch<E: Engine>(
    engine: &E,
    enterprise: i64,
    ids: &[String],
) -> Result<HashMap<String, Found>, StoreError> {
    let Some(last) = ids.last() else {
        return Ok(HashMap::new());
    };
    let slots = ids.len().next_power_of_two();
    let mut args = Vec::with_capacity(slots + 1);
    args.push(Value::from(enterprise));
    args.extend(ids.iter().map(Value::from));
    args.extend((ids.len()..slots).map(|_| Value::from(last)));
    let rows = engine.read(statement(slots), args).await?;
    let mut found = HashMap::with_capacity(rows.len());
    for mut row in rows {
        let user_id = row.take_text("user_id")?;
        let json = row.take_opt_text("user_json")?;
        found.insert(user_id, json.map_or(Found::Stale, Found::Json));
    }
    Ok(found)
}
