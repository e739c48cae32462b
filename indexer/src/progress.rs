//! Progress of a job, shared between the worker that advances it and whoever shows it (a progress
//! bar in the terminal, `GET /api/v1/admin/jobs/{id}`), plus the cancel flag checked between
//! batches.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// Live progress of one job.
#[derive(Debug)]
pub struct Progress {
    phase: Mutex<String>,
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    phase_started: Mutex<Instant>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            phase: Mutex::new("queued".into()),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            phase_started: Mutex::new(Instant::now()),
        }
    }
}

/// A copy of the progress at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    /// What the job is doing: `harvest:<source>`, `build`, `validate`, `swap`...
    pub phase: String,
    /// Units done in this phase.
    pub done: u64,
    /// Units expected in this phase (0 when unknown).
    pub total: u64,
    /// Units per second in this phase so far.
    pub rate_per_s: f64,
}

impl Progress {
    /// Starts a new phase, resetting the counters.
    pub fn phase(&self, name: &str, total: u64) {
        if let Ok(mut p) = self.phase.lock() {
            *p = name.to_string();
        }
        if let Ok(mut t) = self.phase_started.lock() {
            *t = Instant::now();
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Adds to the units done.
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the expected total.
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }

    /// Asks the job to stop at the next batch boundary.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The current state.
    pub fn snapshot(&self) -> Snapshot {
        let done = self.done.load(Ordering::Relaxed);
        let secs = self
            .phase_started
            .lock()
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        Snapshot {
            phase: self.phase.lock().map(|p| p.clone()).unwrap_or_default(),
            done,
            total: self.total.load(Ordering::Relaxed),
            rate_per_s: if secs > 0.0 { done as f64 / secs } else { 0.0 },
        }
    }
}
