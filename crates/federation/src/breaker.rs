//! A circuit breaker per source: after `threshold` consecutive failures (errors and timeouts) the
//! source is skipped for `cooldown`; then one search is let through as a probe. A successful probe
//! closes the circuit; a failed one opens it for another cool-down. While the probe runs, other
//! searches skip the source.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// A circuit breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// The breaker's answer to a search that wants to go through.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (the circuit is closed).
    Closed,
    /// Go ahead as the probe after a cool-down.
    Probe,
    /// Skip the source.
    Open {
        /// Consecutive failures so far.
        failures: u32,
        /// Time until the next probe (zero while a probe is running).
        retry_in: Duration,
    },
}

impl Breaker {
    /// A breaker that opens after `threshold` consecutive failures (at least 1) for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a search may go to the source now. A [`Admission::Probe`] must be followed by
    /// [`Breaker::record`] (the federator records a failure for a probe that is cancelled).
    pub fn admit(&self) -> Admission {
        let now = Instant::now();
        let mut s = self.state();
        if s.failures < self.threshold {
            return Admission::Closed;
        }
        match s.open_until {
            Some(until) if now < until => Admission::Open {
                failures: s.failures,
                retry_in: until - now,
            },
            _ if s.probing => Admission::Open {
                failures: s.failures,
                retry_in: Duration::ZERO,
            },
            _ => {
                s.probing = true;
                Admission::Probe
            }
        }
    }

    /// Records the outcome of a search that was let through.
    pub fn record(&self, ok: bool) {
        let mut s = self.state();
        s.probing = false;
        if ok {
            s.failures = 0;
            s.open_until = None;
        } else {
            s.failures = s.failures.saturating_add(1);
            if s.failures >= self.threshold {
                s.open_until = Some(Instant::now() + self.cooldown);
            }
        }
    }

    /// Ends a search that was let through without judging the source (it never reached it):
    /// counts nothing, and frees the probe slot.
    pub fn release(&self) {
        self.state().probing = false;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.state().failures
    }
}

/// Records a failure on drop unless [`Outcome::record`] was called: a search cancelled by the
/// overall deadline counts as a failure, and a probe never stays in flight forever.
pub(crate) struct Outcome<'a> {
    breaker: &'a Breaker,
    done: bool,
}

impl<'a> Outcome<'a> {
    pub(crate) fn new(breaker: &'a Breaker) -> Self {
        Outcome {
            breaker,
            done: false,
        }
    }

    pub(crate) fn record(mut self, ok: bool) {
        self.done = true;
        self.breaker.record(ok);
    }
}

impl Outcome<'_> {
    /// Ends without a verdict (see [`Breaker::release`]).
    pub(crate) fn neutral(mut self) {
        self.done = true;
        self.breaker.release();
    }
}

impl Drop for Outcome<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.record(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_probes() {
        let b = Breaker::new(2, Duration::from_secs(10));
        assert_eq!(b.admit(), Admission::Closed);
        b.record(false);
        assert_eq!(b.admit(), Admission::Closed);
        b.record(false);
        assert!(matches!(b.admit(), Admission::Open { failures: 2, .. }));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(b.admit(), Admission::Probe);
        // Only one probe at a time.
        assert!(matches!(b.admit(), Admission::Open { retry_in, .. } if retry_in.is_zero()));
        b.record(false);
        assert!(matches!(b.admit(), Admission::Open { failures: 3, .. }));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(b.admit(), Admission::Probe);
        b.record(true);
        assert_eq!(b.admit(), Admission::Closed);
        assert_eq!(b.failures(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_counts_as_failure() {
        let b = Breaker::new(1, Duration::from_secs(1));
        b.record(false);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(b.admit(), Admission::Probe);
        drop(Outcome::new(&b));
        assert!(matches!(b.admit(), Admission::Open { failures: 2, .. }));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(b.admit(), Admission::Probe);
        Outcome::new(&b).record(true);
        assert_eq!(b.admit(), Admission::Closed);
    }
}
