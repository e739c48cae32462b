//! Latency summaries from HDR histograms (microsecond resolution), and memory from `/proc`.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds, from 1 µs to 10 minutes, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; a failure here is a programming error.
    #[allow(clippy::unwrap_used)]
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

/// Records one latency, saturating at the histogram's bound.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = (d.as_micros() as u64).clamp(1, 600_000_000);
    h.saturating_record(us);
}

/// What a run of queries came to.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Queries measured.
    pub count: u64,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Mean, milliseconds.
    pub mean_ms: f64,
    /// Queries per second over the measured wall time.
    pub qps: f64,
}

impl Summary {
    /// Summarises a histogram measured over `wall`.
    pub fn from_histogram(h: &Histogram<u64>, wall: Duration) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let secs = wall.as_secs_f64();
        Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
            qps: if secs > 0.0 {
                h.len() as f64 / secs
            } else {
                0.0
            },
        }
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`), on Linux.
pub fn proc_status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The largest `RssAnon` (the process's own memory, without mapped files) seen while it runs,
/// sampled every 20 ms: `VmHWM` counts the pages of memory-mapped index files too, which a
/// merge reads in full.
pub struct AnonPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl AnonPeak {
    /// Starts sampling this process.
    pub fn start() -> AnonPeak {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0u64;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(proc_status_kib(None, "RssAnon").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak.max(proc_status_kib(None, "RssAnon").unwrap_or(0))
        });
        AnonPeak { stop, thread }
    }

    /// Stops sampling; the peak in KiB (0 where `/proc` is unreadable).
    pub fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let mut h = histogram();
        for us in 1..=100u64 {
            record(&mut h, Duration::from_micros(us * 1000));
        }
        let s = Summary::from_histogram(&h, Duration::from_secs(2));
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{}", s.p99_ms);
        assert!((s.qps - 50.0).abs() < 1e-9);
    }

    #[test]
    fn reads_own_status() {
        if cfg!(target_os = "linux") {
            assert!(proc_status_kib(None, "VmRSS").is_some());
        }
    }
}
