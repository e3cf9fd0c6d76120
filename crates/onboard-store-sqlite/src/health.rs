//! Whether the writer can commit (CONTRACT §13): readiness tells the truth.
//!
//! A commit that fails because the disk is full (or the file cannot be written)
//! starts an *episode*: it is logged once, and from then on `ping` fails with
//! why, so `/readyz` answers 503 and a load balancer routes elsewhere. While the
//! episode lasts, `ping` probes at most once per [`PROBE_EVERY`]: it writes and
//! syncs [`ROOM`] bytes beside the database, then makes a real commit. Only a
//! probe ends the episode (logged once too): a small client write can succeed on
//! a full disk (into room the write-ahead log already holds) while a
//! registration cannot, so one success says little.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use onboard_core::store::StoreError;

/// How often a failing writer is tried again by `ping`.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The free room a probe asks of the database's filesystem: several large
/// writes' worth, so that readiness does not come back for a disk that can take
/// one page and no registration.
pub(crate) const ROOM: usize = 1024 * 1024;

/// Writes and syncs [`ROOM`] bytes in `folder`, then removes them.
pub(crate) fn room_in(folder: &Path) -> Result<(), StoreError> {
    let file = folder.join(".onboard-room-probe");
    let written = (|| {
        let mut probe = std::fs::File::create(&file)?;
        probe.write_all(&vec![0u8; ROOM])?;
        probe.sync_all()
    })();
    let _ = std::fs::remove_file(&file);
    written.map_err(|e| match e.raw_os_error() {
        // ENOSPC, EDQUOT
        Some(28 | 122) => StoreError::DiskFull(e.to_string()),
        _ => StoreError::Unavailable(format!("the data folder cannot be written: {e}")),
    })
}

#[derive(Default)]
pub(crate) struct WriteHealth {
    /// The connection was lost (its commit thread died): writes are unavailable
    /// until the process restarts.
    lost: AtomicBool,
    /// Why the last commit failed, while no commit has succeeded since.
    fault: Mutex<Option<StoreError>>,
    /// When `ping` last tried a commit during an episode.
    probed: Mutex<Option<Instant>>,
}

impl WriteHealth {
    pub(crate) fn mark_lost(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// A commit failed: a failure of the disk starts an episode.
    pub(crate) fn commit_outcome(&self, outcome: &Result<(), StoreError>) {
        if let Err(e) = outcome {
            self.failed(e);
        }
    }

    /// A failed statement inside a transaction: only a full disk counts (a
    /// uniqueness conflict says nothing about the disk).
    pub(crate) fn statement_failed(&self, e: &StoreError) {
        if matches!(e, StoreError::DiskFull(_)) {
            self.failed(e);
        }
    }

    /// Why commits fail now, if they do.
    pub(crate) fn fault(&self) -> Option<StoreError> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `ping` should try a commit now (at most once per [`PROBE_EVERY`]).
    pub(crate) fn probe_due(&self) -> bool {
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if probed.is_some_and(|at| now.duration_since(at) < PROBE_EVERY) {
            return false;
        }
        *probed = Some(now);
        true
    }

    fn failed(&self, e: &StoreError) {
        if !matches!(e, StoreError::DiskFull(_) | StoreError::Unavailable(_)) {
            return;
        }
        let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if fault.is_none() {
            // The driver's words name the database's state, never a row's values.
            match e {
                StoreError::DiskFull(why) => tracing::error!(
                    error = %why,
                    "the database's disk is full; writes are refused until space is freed"
                ),
                other => tracing::error!(error = %other, "the database cannot commit writes"),
            }
        }
        *fault = Some(e.clone());
    }

    /// A probe found room and committed: the episode is over.
    pub(crate) fn recovered(&self) {
        let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if fault.take().is_some() {
            tracing::warn!("the database commits writes again");
        }
    }
}
