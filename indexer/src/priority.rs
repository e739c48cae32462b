//! CPU priorities. Builds are batch work: an index build (`indexer build`, a harvest or
//! reindex job, compaction) runs at the lowest priority, [`BACKGROUND_NICE`], and so do the
//! threads it starts (tantivy's indexing and merge threads, rayon's), since a thread inherits its
//! creator's priority. On an idle machine that costs nothing; beside a server it means the build
//! takes the cores the searches leave instead of a share of them. The server's search threads
//! run at a middling priority (`query_api::pool`), so that its own request and answer handling
//! comes first.
//!
//! Linux only, where the nice value belongs to a thread (elsewhere these do nothing).

/// The nice value of builds: the lowest priority there is.
pub const BACKGROUND_NICE: i32 = 19;

/// Lowers the calling thread's CPU priority to nice `nice`, unless it is already lower (an
/// unprivileged process cannot raise it back). Threads it starts afterwards inherit it. A
/// failure is logged, never fatal.
pub fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        match getpriority_process(tid) {
            Ok(now) if now >= nice => {}
            _ => {
                if let Err(e) = setpriority_process(tid, nice) {
                    tracing::debug!(nice, error = %e, "thread priority unchanged");
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// The calling thread's nice value (`None` off Linux or when it cannot be read).
pub fn current_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(all(test, target_os = "linux"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lowers_this_thread_only_and_never_raises() {
        let outside = current_nice().unwrap();
        let (own, child, after_raise) = std::thread::spawn(|| {
            lower_priority(12);
            let own = current_nice();
            let child = std::thread::spawn(current_nice).join().unwrap();
            lower_priority(3);
            (own, child, current_nice())
        })
        .join()
        .unwrap();
        assert_eq!(own, Some(outside.max(12)));
        assert_eq!(child, own, "a new thread inherits its creator's priority");
        assert_eq!(
            after_raise, own,
            "asking for a higher priority changes nothing"
        );
        assert_eq!(current_nice(), Some(outside), "other threads keep theirs");
    }
}
