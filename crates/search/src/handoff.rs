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
//! a half, checks for the next half for up to [`SPIN`], unless a search that will not split stops
//! it at once ([`Handoff::relax`]); the searching thread checks for the helper's answer
//! for up to [`WAIT_SPIN`]. Both check with the CPU's spin-wait hint rather than yielding to the
//! kernel as rayon's idle workers do.
//!
//! Past its spin the helper dozes: it naps for [`NAP`] (about 70 µs with Linux's default timer
//! slack) and checks for a job or a wake after each nap, for up to [`DOZE_FOR`]; only then does
//! it sleep until notified. A wake is then a counter's increment, not a system call: woken on
//! the condition variable, a helper relaxed by the search before cost the next search 25 µs
//! (p50) inside `wake` on this VM, a third of the gap between 2-4 word searches run alone and
//! the same searches among the other shapes (benches/RESULTS.md, tenth session). An idle server
//! still burns no CPU: after a lone user's search the helper spins at most 0.3 ms and naps
//! for 50 ms.
//!
//! The searching thread also hands the helper records of its page to read, when the helper is
//! still spinning after the search's half: with a proximity bonus, the best-ranked records as
//! the bonus re-ranks them (`index::EarlyReads`), else the second half of the page
//! (`SearchIndex::load_page`).
//!
//! The helper spins only while a half may come. In the ninth session, a helper that spun after
//! every wake slowed the searches that did not split (field-tagged ones by 6-8% at the p50),
//! since the two vCPUs share a core's resources. In the tenth, among the other shapes, it was
//! slightly faster for field-tagged searches and slower for questions; the doze took away the
//! wake's cost that spinning would have saved.
//!
//! The halves are `'static` jobs (the search's tables are shared by `Arc`), so a job can outlive
//! a searching thread that gave up on it; a job that panics is reported as an error of its
//! search and leaves the helper running.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the helper spins, checking for work, after a half or a [`Handoff::wake`] before it
/// dozes, unless [`Handoff::relax`] stops it sooner.
const SPIN: Duration = Duration::from_micros(300);

/// How long the helper naps between checks for work once it has stopped spinning, and for how
/// long it naps before it sleeps until a job comes.
const NAP: Duration = Duration::from_micros(20);
const DOZE_FOR: Duration = Duration::from_millis(50);

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
    /// The helper is asleep on `ready` (or about to be): `Slot::sleeping`, readable without
    /// the lock.
    asleep: AtomicBool,
    /// The helper is spinning ([`Handoff::awake`]).
    spinning: AtomicBool,
    /// Calls of [`Handoff::wake`] so far, and the count the helper last saw.
    wakes: AtomicU64,
    seen: AtomicU64,
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
                asleep: AtomicBool::new(false),
                spinning: AtomicBool::new(false),
                wakes: AtomicU64::new(0),
                seen: AtomicU64::new(0),
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
    /// [`SPIN`] at most). A dozing helper sees it at its next nap's end; only one asleep on
    /// the condition variable needs a system call.
    pub(crate) fn wake(&self) {
        self.wanted.store(true, Ordering::Relaxed);
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if !self.asleep.load(Ordering::SeqCst) {
            return;
        }
        let slot = lock(&self.slot);
        if slot.sleeping {
            self.ready.notify_one();
        }
    }

    /// Tells a helper woken by [`Handoff::wake`] that no half will come: it stops spinning at
    /// once (and dozes) rather than taking the CPU's resources from the searching thread.
    pub(crate) fn relax(&self) {
        self.wanted.store(false, Ordering::Relaxed);
    }

    /// Whether the helper is spinning, checking for work, so that a job handed now starts
    /// within microseconds.
    pub(crate) fn awake(&self) -> bool {
        self.spinning.load(Ordering::Relaxed)
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
            self.spin();
            if !self.pending.load(Ordering::Acquire) {
                self.doze();
            }
            let mut slot = lock(&self.slot);
            if slot.job.is_none() {
                slot.sleeping = true;
                self.asleep.store(true, Ordering::SeqCst);
                // A wake between the doze and here found the helper not yet asleep, so it did
                // not notify: it is seen here instead.
                if self.wakes.load(Ordering::SeqCst) == self.seen.load(Ordering::Relaxed) {
                    slot = self
                        .ready
                        .wait(slot)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                slot.sleeping = false;
                self.asleep.store(false, Ordering::SeqCst);
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

    /// Checks for a job while one may come: until [`SPIN`] has passed or [`Handoff::relax`] is
    /// called.
    fn spin(&self) {
        self.seen
            .store(self.wakes.load(Ordering::SeqCst), Ordering::Relaxed);
        self.spinning.store(true, Ordering::Relaxed);
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
        self.spinning.store(false, Ordering::Relaxed);
    }

    /// Sleeps in short naps for up to [`DOZE_FOR`], checking for a job or a wake after each, so
    /// that a search that follows soon wakes the helper without a system call.
    fn doze(&self) {
        let started = Instant::now();
        loop {
            std::thread::sleep(NAP);
            if self.pending.load(Ordering::Acquire) {
                return;
            }
            if self.wakes.load(Ordering::SeqCst) != self.seen.load(Ordering::Relaxed) {
                self.spin();
                if self.pending.load(Ordering::Acquire) {
                    return;
                }
            }
            if started.elapsed() >= DOZE_FOR {
                return;
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
    fn a_wake_reaches_a_dozing_or_sleeping_helper() {
        let handoff = Handoff::get().expect("a helper thread");
        // Past the spin (dozing), then past the doze (asleep until notified). Other tests may
        // wake the helper meanwhile, which these checks allow.
        for pause in [SPIN * 4, DOZE_FOR + Duration::from_millis(30)] {
            assert_eq!(handoff.run(|| 1u8).wait(), Some(1));
            std::thread::sleep(pause);
            handoff.wake();
            let mine = handoff.wakes.load(Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(10);
            // The helper saw the wake: it started spinning after it.
            while handoff.seen.load(Ordering::Relaxed) < mine {
                assert!(Instant::now() < until, "the wake was not seen");
                std::thread::sleep(Duration::from_micros(50));
            }
            handoff.relax();
            std::thread::sleep(pause);
            assert_eq!(handoff.run(|| 2u8).wait(), Some(2));
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
