//! The thread that searches the second half of a split search, handed its half without a sleep
//! on either side when that can be avoided.
//!
//! A thread asleep in the kernel takes tens of microseconds to run again once woken on this
//! project's 2-vCPU benchmark machine. Timed inside 2-4 word searches at 1M records, the rayon
//! helper used before began its half 37 µs (p50) after it was handed it, and the searching
//! thread, asleep while the helper finished, ran again about 38 µs after the helper had (the
//! difference of the two p50s): some 75 µs of a 530 µs search spent waking threads
//! (benches/RESULTS.md, ninth session). So a search wakes the helper as it starts
//! ([`Handoff::wake`]), while it analyses and plans its query, and the helper, woken or done with
//! a half, checks for the next half for up to [`SPIN`], unless a search that will not split sends
//! it to sleep at once ([`Handoff::relax`]); the searching thread checks for the helper's answer
//! for up to [`WAIT_SPIN`]. Both check with the CPU's spin-wait hint rather than yielding to the
//! kernel as rayon's idle workers do. Past those times both sleep, so an idle server burns no
//! CPU: a lone user's search costs the helper at most 0.3 ms of spinning after its half.
//!
//! Spinning only while a half may come matters: a helper that spun after every wake slowed the
//! searches that did not split (field-tagged ones by 6-8% at the p50), since the two vCPUs share
//! a core's resources.
//!
//! The halves are `'static` jobs (the search's tables are shared by `Arc`), so a job can outlive
//! a searching thread that gave up on it; a job that panics is reported as an error of its
//! search and leaves the helper running.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the helper checks for work after a half or a [`Handoff::wake`] before it sleeps,
/// unless [`Handoff::relax`] sends it to sleep sooner.
const SPIN: Duration = Duration::from_micros(300);

/// How long a searching thread checks for the helper's answer before it sleeps.
const WAIT_SPIN: Duration = Duration::from_micros(500);

type Job = Box<dyn FnOnce() + Send + 'static>;

static HANDOFF: OnceLock<Option<&'static Handoff>> = OnceLock::new();

/// The helper thread's mailbox.
pub(crate) struct Handoff {
    slot: Mutex<Slot>,
    ready: Condvar,
    /// A job is in the slot (read while spinning, without the lock).
    pending: AtomicBool,
    /// A half may come soon: set by [`Handoff::wake`] and after each half, cleared by
    /// [`Handoff::relax`]. The helper spins only while it is set.
    wanted: AtomicBool,
}

#[derive(Default)]
struct Slot {
    job: Option<Job>,
    /// The helper is asleep on `ready` (a hand-over must notify it).
    sleeping: bool,
}

/// The answer of a job handed to the helper.
pub(crate) struct Pending<R>(Receiver<std::thread::Result<R>>);

impl Handoff {
    /// The helper, started on first use; `None` if no thread could be started.
    pub(crate) fn get() -> Option<&'static Handoff> {
        *HANDOFF.get_or_init(|| {
            let handoff: &'static Handoff = Box::leak(Box::new(Handoff {
                slot: Mutex::new(Slot::default()),
                ready: Condvar::new(),
                pending: AtomicBool::new(false),
                wanted: AtomicBool::new(false),
            }));
            std::thread::Builder::new()
                .name("search-half".into())
                .spawn(move || handoff.serve())
                .map_err(|e| tracing::warn!("no helper thread for split searches: {e}"))
                .ok()
                .map(|_| handoff)
        })
    }

    /// The helper if it has been started.
    pub(crate) fn started() -> Option<&'static Handoff> {
        HANDOFF.get().copied().flatten()
    }

    /// Wakes the helper if it sleeps, so that it is checking for work when a half comes (for
    /// [`SPIN`] at most).
    pub(crate) fn wake(&self) {
        self.wanted.store(true, Ordering::Relaxed);
        if self.pending.load(Ordering::Relaxed) {
            return;
        }
        let slot = lock(&self.slot);
        if slot.sleeping {
            self.ready.notify_one();
        }
    }

    /// Tells a helper woken by [`Handoff::wake`] that no half will come: it sleeps again at once
    /// rather than taking the CPU's resources from the searching thread.
    pub(crate) fn relax(&self) {
        self.wanted.store(false, Ordering::Relaxed);
    }

    /// Hands `job` to the helper.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Pending<R> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move || {
            // The receiver may be gone (its search failed): the answer is then dropped.
            let _ = tx.send(catch_unwind(AssertUnwindSafe(job)));
        });
        let mut slot = lock(&self.slot);
        // One search splits at a time (only a lone search does), but should two meet, the
        // second queues behind the first's half rather than replacing it.
        while slot.job.is_some() {
            drop(slot);
            std::thread::yield_now();
            slot = lock(&self.slot);
        }
        slot.job = Some(job);
        self.pending.store(true, Ordering::Release);
        if slot.sleeping {
            self.ready.notify_one();
        }
        Pending(rx)
    }

    fn serve(&self) {
        loop {
            let started = Instant::now();
            let mut spins = 0u32;
            while !self.pending.load(Ordering::Acquire) {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(64)
                    && (!self.wanted.load(Ordering::Relaxed) || started.elapsed() >= SPIN)
                {
                    break;
                }
            }
            let mut slot = lock(&self.slot);
            if slot.job.is_none() {
                slot.sleeping = true;
                slot = self
                    .ready
                    .wait(slot)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                slot.sleeping = false;
            }
            let job = slot.job.take();
            self.pending.store(false, Ordering::Release);
            drop(slot);
            // Woken without a job (by `wake`, or spuriously), it checks for one again.
            if let Some(job) = job {
                job();
                // Another half may follow soon (the next segment's, or the next search's).
                self.wanted.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl<R> Pending<R> {
    /// The job's answer: checked for [`WAIT_SPIN`], then waited for asleep. `None` if it
    /// panicked.
    pub(crate) fn wait(self) -> Option<R> {
        let until = Instant::now() + WAIT_SPIN;
        let mut spins = 0u32;
        loop {
            match self.0.try_recv() {
                Ok(answer) => return answer.ok(),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && Instant::now() >= until {
                break;
            }
        }
        self.0.recv().ok().and_then(Result::ok)
    }
}

fn lock(m: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_helper_and_answer_in_order() {
        let handoff = Handoff::get().expect("a helper thread");
        let caller = std::thread::current().id();
        for i in 0..50u64 {
            if i % 7 == 0 {
                // Long enough for the helper to stop spinning and sleep.
                std::thread::sleep(Duration::from_millis(2));
            }
            if i % 3 == 0 {
                handoff.wake();
            }
            let pending = handoff.run(move || (i * i, std::thread::current().id()));
            let (square, on) = pending.wait().expect("an answer");
            assert_eq!(square, i * i);
            assert_ne!(on, caller, "the job ran on the helper thread");
        }
    }

    #[test]
    fn a_job_that_panics_answers_none_and_the_helper_lives_on() {
        let handoff = Handoff::get().expect("a helper thread");
        let pending = handoff.run(|| -> u32 { panic!("a half failed") });
        assert!(pending.wait().is_none());
        assert_eq!(handoff.run(|| 7u32).wait(), Some(7));
    }
}
