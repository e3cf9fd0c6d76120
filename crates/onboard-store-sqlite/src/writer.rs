//! The single writer connection, and group commit on it.
//!
//! SQLite admits one writer at a time, so write transactions take turns on one
//! connection behind an async mutex, running their statements on the caller's
//! own thread. What costs time is the commit's `fsync`; so the transactions that
//! queue while one runs share a database transaction (`BEGIN IMMEDIATE`): each
//! is a savepoint inside it, released when it commits, and the database
//! transaction commits (one `fsync`, on a blocking thread) when no further writer
//! is waiting or the group holds [`MAX_GROUP`] members. So 64 concurrent
//! registrations cost a few fsyncs instead of 64.
//!
//! Every member learns its outcome only from that commit: a write is
//! acknowledged after it is durable, exactly as with one commit each, and if the
//! commit fails every member gets the error. A member sees the writes of the
//! members before it in its group, so:
//! - a member whose statement fails rolls back to its savepoint, leaving the
//!   others' writes in place, and then waits for the group's commit before its
//!   caller hears of the failure (a 409 for a `user_id` another member just took
//!   is answered only once that user is durable and readable);
//! - a member dropped without committing is rolled back alone;
//! - if a rollback to a savepoint itself fails, the whole database transaction
//!   is rolled back and every member released into it so far is told so.
//!
//! Who commits: whoever lets go of the connection when no writer is waiting
//! (a member that committed or rolled back, or a waiter that gave up). The
//! waiting count is read again after letting go, so a waiter that gives up
//! between the check and the release cannot leave a group uncommitted. The commit
//! runs as a task of its own, so a caller that stops waiting cannot interrupt it.
//!
//! While another process (an admin command on the same file) holds the write
//! lock, `BEGIN IMMEDIATE` is tried again after a pause that starts at 1 ms and
//! doubles up to 50 ms, for up to [`LOCK_WAIT`], sleeping rather than holding a
//! thread; then the database counts as unavailable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use onboard_core::store::StoreError;
use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::convert::classify;
use crate::health::WriteHealth;

/// At most this many write transactions (committed or not) share one database
/// transaction, so a steady stream of writers cannot postpone everyone's
/// acknowledgement indefinitely.
const MAX_GROUP: usize = 64;

/// What a member of a group waits for: the outcome of the commit that holds it.
type Outcome = oneshot::Sender<Result<(), StoreError>>;

pub(crate) struct WriterState {
    /// `None` only if a commit's blocking thread died holding it.
    conn: Option<Connection>,
    /// A database transaction is open, holding the members released so far.
    open: bool,
    /// Members that began in the open transaction, committed or not.
    members: usize,
    group: Vec<Outcome>,
    /// Database transactions committed (or attempted), for tests to count groups.
    #[cfg(test)]
    commits: u64,
}

pub(crate) struct Writer {
    state: Arc<Mutex<WriterState>>,
    /// Writers waiting for the connection.
    waiting: AtomicUsize,
    /// Whether commits succeed: the connection lost, or the disk failing.
    health: Arc<WriteHealth>,
}

impl Writer {
    pub(crate) fn new(conn: Connection) -> Arc<Writer> {
        Arc::new(Writer {
            state: Arc::new(Mutex::new(WriterState {
                conn: Some(conn),
                open: false,
                members: 0,
                group: Vec::new(),
                #[cfg(test)]
                commits: 0,
            })),
            waiting: AtomicUsize::new(0),
            health: Arc::default(),
        })
    }

    /// Waits for the connection and opens a savepoint on it (and the database
    /// transaction, if none is open).
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<Member, StoreError> {
        let ticket = Ticket::take(self);
        let mut guard = Arc::clone(&self.state).lock_owned().await;
        ticket.arrived();
        let started = match begin_database_transaction(&mut guard).await {
            Ok(()) => start(&mut guard),
            Err(e) => Err(e),
        };
        match started {
            Ok(()) => Ok(Member {
                writer: Arc::clone(self),
                guard: Some(guard),
            }),
            Err(e) => {
                self.settle(guard);
                Err(e)
            }
        }
    }

    /// Whether commits succeed, as the last ones went.
    pub(crate) fn health(&self) -> &WriteHealth {
        &self.health
    }

    /// Lets go of the connection, committing the open group if no writer waits
    /// for it (or the group is full).
    fn settle(self: &Arc<Self>, guard: OwnedMutexGuard<WriterState>) {
        if guard.open && (self.waiting() == 0 || guard.members >= MAX_GROUP) {
            return flush(guard, Arc::clone(&self.health));
        }
        drop(guard);
        if self.waiting() == 0 {
            self.flush_if_idle();
        }
    }

    /// Commits the open group if nobody holds the connection.
    fn flush_if_idle(&self) {
        if let Ok(guard) = Arc::clone(&self.state).try_lock_owned()
            && guard.open
        {
            flush(guard, Arc::clone(&self.health));
        }
    }

    fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// How long a writer waits for another process (a command-line tool on the same
/// file) to let go of the database's write lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens the database transaction unless one is open. The connection has no
/// busy timeout (a blocked call would hold a runtime thread), so while another
/// process holds the write lock this waits between attempts without a thread.
async fn begin_database_transaction(state: &mut WriterState) -> Result<(), StoreError> {
    let conn = state
        .conn
        .as_mut()
        .ok_or_else(|| StoreError::Unavailable("the writer connection was lost".into()))?;
    if state.open && conn.is_autocommit() {
        // SQLite rolled the whole transaction back on an error (a full disk, say):
        // the group's writes are gone, and its members must hear so.
        state.open = false;
        answer(std::mem::take(&mut state.group), &Err(lost()));
    }
    if state.open {
        return Ok(());
    }
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => break,
            Err(e) if busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(classify(e)),
        }
    }
    state.open = true;
    state.members = 0;
    Ok(())
}

fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Opens this member's savepoint in the open database transaction.
fn start(state: &mut WriterState) -> Result<(), StoreError> {
    let conn = state
        .conn
        .as_mut()
        .ok_or_else(|| StoreError::Unavailable("the writer connection was lost".into()))?;
    state.members += 1;
    conn.execute_batch("SAVEPOINT member").map_err(classify)
}

fn lost() -> StoreError {
    StoreError::Unavailable("the database rolled the transaction back".into())
}

fn answer(group: Vec<Outcome>, outcome: &Result<(), StoreError>) {
    for member in group {
        let _ = member.send(outcome.clone());
    }
}

/// Commits the open database transaction on a blocking thread, then answers
/// every member of the group. It runs as its own task, so a caller that stops
/// waiting cannot interrupt a commit halfway.
fn flush(mut guard: OwnedMutexGuard<WriterState>, health: Arc<WriteHealth>) {
    let group = std::mem::take(&mut guard.group);
    guard.open = false;
    #[cfg(test)]
    {
        guard.commits += 1;
    }
    let Some(conn) = guard.conn.take() else {
        return answer(group, &Err(lost()));
    };
    let commit = move || {
        let outcome = if conn.is_autocommit() {
            Err(lost())
        } else {
            conn.execute_batch("COMMIT").map_err(classify)
        };
        if outcome.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        (conn, outcome)
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let outcome = match tokio::task::spawn_blocking(commit).await {
                    Ok((conn, outcome)) => {
                        guard.conn = Some(conn);
                        outcome
                    }
                    Err(e) => {
                        health.mark_lost();
                        Err(StoreError::Internal(format!("the commit failed: {e}")))
                    }
                };
                health.commit_outcome(&outcome);
                drop(guard);
                answer(group, &outcome);
            });
        }
        // Outside a runtime (a store dropped at exit): commit here.
        Err(_) => {
            let (conn, outcome) = commit();
            health.commit_outcome(&outcome);
            guard.conn = Some(conn);
            drop(guard);
            answer(group, &outcome);
        }
    }
}

/// A writer waiting for the connection. Dropped before it arrives (its caller
/// gave up), it stops counting as waiting, and commits a group that was left
/// open for it.
struct Ticket<'a> {
    writer: &'a Arc<Writer>,
    armed: bool,
}

impl<'a> Ticket<'a> {
    fn take(writer: &'a Arc<Writer>) -> Ticket<'a> {
        writer.waiting.fetch_add(1, Ordering::SeqCst);
        Ticket {
            writer,
            armed: true,
        }
    }

    fn arrived(mut self) {
        self.armed = false;
        self.writer.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.armed && self.writer.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.writer.flush_if_idle();
        }
    }
}

/// One write transaction: a savepoint in the group's database transaction.
/// Dropped without [`Member::commit`], its writes are rolled back.
pub(crate) struct Member {
    writer: Arc<Writer>,
    guard: Option<OwnedMutexGuard<WriterState>>,
}

impl Member {
    /// The connection, while this member's transaction is still open: after
    /// SQLite rolled the whole transaction back, a statement would run (and
    /// commit) on its own, so none runs.
    pub(crate) fn conn(&self) -> Result<&Connection, StoreError> {
        let state = self.guard.as_ref();
        let conn = state.and_then(|g| g.conn.as_ref());
        let conn =
            conn.ok_or_else(|| StoreError::Unavailable("the writer connection was lost".into()))?;
        if conn.is_autocommit() {
            return Err(lost());
        }
        Ok(conn)
    }

    /// The writer's record of whether commits succeed.
    pub(crate) fn health(&self) -> &WriteHealth {
        &self.writer.health
    }

    /// Rolls this member back after a failed statement, then waits for the
    /// group's commit before its caller hears of the failure: what the member
    /// read may have been other members' writes, which are only durable (and
    /// visible to readers) once that commit is done.
    pub(crate) async fn abandon(&mut self) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        roll_back(&mut guard);
        if !guard.open || guard.group.is_empty() {
            self.writer.settle(guard);
            return;
        }
        let (member, outcome) = oneshot::channel();
        guard.group.push(member);
        self.writer.settle(guard);
        let _ = outcome.await;
    }

    /// Releases the savepoint into the group and waits for the group's commit.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut guard) = self.guard.take() else {
            return Err(lost());
        };
        let released = match guard.conn.as_ref() {
            Some(conn) => conn.execute_batch("RELEASE member").map_err(classify),
            None => Err(lost()),
        };
        if let Err(e) = released {
            roll_back(&mut guard);
            self.writer.settle(guard);
            return Err(e);
        }
        let (member, outcome) = oneshot::channel();
        guard.group.push(member);
        self.writer.settle(guard);
        outcome
            .await
            .unwrap_or_else(|_| Err(StoreError::Internal("the group commit was dropped".into())))
    }
}

/// Undoes a member's writes, leaving the rest of the group's. If that fails,
/// its writes cannot be told apart from the others': the whole transaction is
/// rolled back and every member released into it so far hears so.
fn roll_back(state: &mut WriterState) {
    let Some(conn) = &state.conn else { return };
    if conn.is_autocommit()
        || conn
            .execute_batch("ROLLBACK TO member; RELEASE member")
            .is_ok()
    {
        return;
    }
    let _ = conn.execute_batch("ROLLBACK");
    state.open = false;
    let group = std::mem::take(&mut state.group);
    answer(group, &Err(lost()));
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            roll_back(&mut guard);
            self.writer.settle(guard);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::convert::{execute, fetch};
    use onboard_store_sql::Value;

    fn writer(dir: &tempfile::TempDir) -> Arc<Writer> {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE t (k TEXT PRIMARY KEY);",
        )
        .unwrap();
        Writer::new(conn)
    }

    fn keys(dir: &tempfile::TempDir) -> Vec<String> {
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        let rows = fetch(&conn, "SELECT k FROM t ORDER BY k", &[]).unwrap();
        rows.iter().map(|r| r.text("k").unwrap()).collect()
    }

    async fn insert(writer: &Arc<Writer>, k: &str) -> Result<(), StoreError> {
        let member = writer.begin().await?;
        execute(
            member.conn()?,
            "INSERT INTO t (k) VALUES (?)",
            &[Value::from(k)],
        )?;
        tokio::task::yield_now().await;
        member.commit().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_commits_and_each_lands_once() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move { insert(&w, &format!("k{i:03}")).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(keys(&dir).len(), 200);
        let commits = w.state.lock().await.commits;
        assert!(commits < 200, "200 writers took {commits} commits");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_that_fails_or_rolls_back_leaves_the_rest_of_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        insert(&w, "taken").await.unwrap();
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move {
                    match i % 3 {
                        0 => insert(&w, &format!("k{i:02}")).await.map(|_| true),
                        // A conflict: the statement fails, the member gives up.
                        1 => insert(&w, "taken").await.map(|_| false),
                        // Writes, then drops its transaction without committing.
                        _ => {
                            let member = w.begin().await?;
                            let sql = "INSERT INTO t (k) VALUES (?)";
                            execute(member.conn()?, sql, &[Value::from(format!("gone{i}"))])?;
                            tokio::task::yield_now().await;
                            drop(member);
                            Ok(false)
                        }
                    }
                })
            })
            .collect();
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Err(StoreError::Conflict(_)) => conflicts += 1,
                other => {
                    other.unwrap();
                }
            }
        }
        assert_eq!(conflicts, 20);
        let keys = keys(&dir);
        assert_eq!(keys.len(), 21, "{keys:?}");
        assert!(keys.iter().all(|k| k == "taken" || k.starts_with('k')));
    }

    /// Another process holding the write lock: the writer waits for it without
    /// holding the thread, so on a one-thread runtime other tasks keep running.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_lock_held_elsewhere_is_waited_for_without_blocking_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        w.state
            .lock()
            .await
            .conn
            .as_ref()
            .unwrap()
            .busy_timeout(Duration::ZERO)
            .unwrap();
        let other = Connection::open(dir.path().join("w.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let write = {
            let w = w.clone();
            tokio::spawn(async move { insert(&w, "after").await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!write.is_finished(), "the write went through a held lock");
        assert!(ticks.load(Ordering::SeqCst) >= 10, "the thread was blocked");
        other.execute_batch("COMMIT").unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(5), write).await;
        outcome
            .expect("the write never went through")
            .unwrap()
            .unwrap();
        ticker.abort();
        assert_eq!(keys(&dir), ["after"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_gives_up_does_not_strand_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let first = w.begin().await.unwrap();
        execute(first.conn().unwrap(), "INSERT INTO t (k) VALUES ('a')", &[]).unwrap();
        // A second writer queues, then gives up before it gets the connection.
        let waiter = {
            let w = w.clone();
            tokio::spawn(async move { insert(&w, "never").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(w.waiting(), 1);
        waiter.abort();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(w.waiting(), 0);
        // Had it still counted as waiting, the first would leave its group open
        // for it and never be answered.
        let outcome = tokio::time::timeout(Duration::from_secs(5), first.commit()).await;
        outcome
            .expect("the first writer was never answered")
            .unwrap();
        assert_eq!(keys(&dir), ["a"]);
    }
}
