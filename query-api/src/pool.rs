//! The search threads: CPU-bound request work (searches, record look-ups, suggestions) runs on a
//! fixed set of threads, one per core by default, that take jobs from one first-in, first-out
//! queue.
//!
//! Why not tokio's blocking pool behind a semaphore, as before: a finished search freed its slot
//! only once the async task that waited on it was polled again, and the next waiting search
//! started only once its own task was polled to hand it over: two trips through the runtime's
//! queues between one search and the next on the same slot. To keep the cores busy across those
//! gaps there had to be twice as many slots as cores, and then four searches time-sliced two
//! cores, so a search's latency depended on where the scheduler cut it. Under a closed loop of
//! 32 clients (benches/RESULTS.md) the cheapest query shape had the same p99 as the costliest.
//! Here a thread takes the next job the moment it finishes one, and no more searches run than
//! there are cores. A search that finds itself the only one running hands half of a large
//! segment's matching to one more thread, `search-half` (see `SearchIndex::set_split_searches`;
//! `EVIDENCE_SPLIT_SEARCHES=0` turns it off), so a lone search uses both cores.
//!
//! CPU priorities (Linux; elsewhere everything runs at the process's priority):
//! - the async runtime's threads keep the process's: they read requests and write answers in
//!   short bursts, and should never wait behind a search;
//! - search threads run at nice [`SEARCH_NICE`] (`EVIDENCE_SEARCH_NICE`, 0 to keep the
//!   process's): a search still has the cores whenever nothing else wants them, but a request
//!   that arrives, or an answer ready to go out, is not held up for a scheduler slice;
//! - background builds (harvest and reindex jobs, compaction, the start-up build) run at nice
//!   [`BACKGROUND_NICE`] on their own thread ([`background`]), and so do the indexing and merge
//!   threads tantivy starts from it and the rayon threads: a reindex takes the cores the searches
//!   leave, rather than a share of them (see `indexer::priority`; `indexer build` does the same).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use indexer::priority::{lower_priority, BACKGROUND_NICE};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The job panicked (the panic is logged; the thread carries on).
    #[error("the job panicked")]
    Panicked,
    /// The pool is shut down.
    #[error("the search threads have stopped")]
    Stopped,
}

/// Handle to the search threads; they stop when the last handle is dropped and the queue is
/// drained.
#[derive(Clone)]
pub struct SearchPool {
    tx: Sender<Job>,
    threads: usize,
    /// Jobs whose requester had gone (client disconnected, request timed out) before a thread
    /// reached them, so they were not run.
    skipped: Arc<AtomicU64>,
}

impl SearchPool {
    /// A pool of `threads` threads (at least one), named `search-N`, each at nice `nice` (or
    /// the process's priority, if lower).
    pub fn new(threads: usize, nice: i32) -> std::io::Result<SearchPool> {
        let threads = threads.max(1);
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for n in 0..threads {
            let rx: Receiver<Job> = rx.clone();
            std::thread::Builder::new()
                .name(format!("search-{n}"))
                .spawn(move || {
                    lower_priority(nice);
                    // The thread a lone search hands half its matching to, at this priority.
                    search::start_split_helper();
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })?;
        }
        Ok(SearchPool {
            tx,
            threads,
            skipped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs not run because their requester had gone.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Runs `f` on a search thread, after the jobs queued before it, and returns its value. A
    /// job whose future was dropped before a thread reached it is not run.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<std::thread::Result<T>>();
        let skipped = Arc::clone(&self.skipped);
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out);
        });
        self.tx.send(job).map_err(|_| PoolError::Stopped)?;
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(PoolError::Panicked),
            Err(_) => Err(PoolError::Stopped),
        }
    }
}

/// Threads for a pool: `EVIDENCE_SEARCH_THREADS` when set (1 to 256), else one per core.
pub fn default_threads() -> usize {
    env_number("EVIDENCE_SEARCH_THREADS", 1..=256)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// The nice value of search threads. With the load generator on the same two cores, 100k
/// records, 32 clients: at nice 0, p99 20.4–24.6 ms; at 5, 19.2–20.4; at 10, 17.9–19.1, at
/// the same throughput (benches/RESULTS.md).
pub const SEARCH_NICE: i32 = 10;

/// The search threads' nice value: `EVIDENCE_SEARCH_NICE` when set (0 to 19), else
/// [`SEARCH_NICE`].
pub fn default_nice() -> i32 {
    env_number("EVIDENCE_SEARCH_NICE", 0..=19).unwrap_or(SEARCH_NICE)
}

/// Whether a search running alone may use a second core (`EVIDENCE_SPLIT_SEARCHES`, `0` for
/// no; see `SearchIndex::set_split_searches`).
pub fn split_searches() -> bool {
    env_number("EVIDENCE_SPLIT_SEARCHES", 0..=1u8) != Some(0)
}

/// Whether searches of plain words skip scoring the matches that cannot reach the page
/// (`EVIDENCE_PRUNED_UNIONS`, `0` for no; see `SearchIndex::set_pruned_unions`).
pub fn pruned_unions() -> bool {
    env_number("EVIDENCE_PRUNED_UNIONS", 0..=1u8) != Some(0)
}

fn env_number<T: std::str::FromStr + PartialOrd>(
    name: &str,
    range: std::ops::RangeInclusive<T>,
) -> Option<T> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<T>().ok())
        .filter(|n| range.contains(n))
}

/// Runs `f` on a new thread named `name` at nice [`BACKGROUND_NICE`], and returns its value:
/// for builds, which start threads of their own (tantivy's indexing and merge threads), and
/// those inherit the low priority.
pub async fn background<T, F>(name: &str, f: F) -> Result<T, PoolError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<std::thread::Result<T>>();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            lower_priority(BACKGROUND_NICE);
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .map_err(|_| PoolError::Stopped)?;
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) => Err(PoolError::Panicked),
        Err(_) => Err(PoolError::Stopped),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use indexer::priority::current_nice;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_returns_their_values() {
        let pool = SearchPool::new(2, 0).unwrap();
        let a = pool.run(|| 2 + 2).await.unwrap();
        let b = pool.run(|| "text".to_string()).await.unwrap();
        assert_eq!((a, b.as_str()), (4, "text"));
        assert_eq!(pool.threads(), 2);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_and_the_thread_carries_on() {
        let pool = SearchPool::new(1, 0).unwrap();
        let r = pool.run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(r, Err(PoolError::Panicked)), "{r:?}");
        // The only thread survived the panic.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn jobs_run_in_the_order_they_were_queued() {
        let pool = SearchPool::new(1, 0).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        // Hold the only thread while the others queue up, one after another.
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || hold_rx.recv_timeout(Duration::from_secs(10)).is_ok())
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut rest = Vec::new();
        for i in 0..6 {
            let (pool, order) = (pool.clone(), Arc::clone(&order));
            rest.push(tokio::spawn(async move {
                pool.run(move || order.lock().unwrap().push(i)).await
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        hold_tx.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        for r in rest {
            r.await.unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_job_whose_requester_left_is_not_run() {
        let pool = SearchPool::new(1, 0).unwrap();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let ran = Arc::new(AtomicU64::new(0));
        let blocker = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || hold_rx.recv_timeout(Duration::from_secs(10)))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Queued behind the blocker, then abandoned before a thread reaches it.
        let abandoned = {
            let ran = Arc::clone(&ran);
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || ran.fetch_add(1, Ordering::Relaxed)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        abandoned.abort();
        let _ = abandoned.await;
        hold_tx.send(()).unwrap();
        blocker.await.unwrap().unwrap().unwrap();
        // A later job runs, so the abandoned one has been reached by now.
        pool.run(|| ()).await.unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 0);
        assert_eq!(pool.skipped(), 1);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn search_threads_and_background_builds_run_at_lower_priority() {
        let base = current_nice().unwrap();
        let pool = SearchPool::new(1, 7).unwrap();
        assert_eq!(pool.run(current_nice).await.unwrap(), Some(base.max(7)));
        // A thread a build starts inherits its priority.
        let (own, child) = background("test-build", || {
            let child = std::thread::spawn(current_nice).join().unwrap();
            (current_nice(), child)
        })
        .await
        .unwrap();
        assert_eq!(own, Some(BACKGROUND_NICE));
        assert_eq!(child, Some(BACKGROUND_NICE));
        // The caller's own priority is untouched.
        assert_eq!(current_nice(), Some(base));
    }

    #[tokio::test]
    async fn a_background_panic_is_an_error() {
        let r = background("test-panic", || -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(PoolError::Panicked)), "{r:?}");
    }
}
