//! The query log for staff analytics (top queries, zero-result queries), written off the request
//! path: searches push onto a bounded channel and one task writes to the store, in one
//! transaction per [`WINDOW`]. When the writer falls behind, entries are dropped and counted
//! rather than slowing searches down. No personal data is kept (see `store::normalise_query`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// One search to log.
#[derive(Debug)]
pub struct Entry {
    /// The query as typed.
    pub q: String,
    /// The filters, as JSON.
    pub filters: serde_json::Value,
    /// Matching records.
    pub total: u64,
    /// Time taken.
    pub took_ms: u64,
}

/// How long the writer gathers entries before it writes them in one transaction. Under load a
/// write per wake-up meant hundreds of small transactions a second at 1,700 searches/s; with a
/// window the server spent 3–7% less CPU per search and answered 3–7% more of them
/// (benches/RESULTS.md). [`QueryLog::flush`] cuts the window short, and the server calls it when
/// it shuts down, so nothing queued is lost.
pub const WINDOW: Duration = Duration::from_millis(250);

/// Most entries in one transaction.
const MAX_BATCH: usize = 1024;

enum Msg {
    Entry(Entry),
    /// Write what is queued now, then answer.
    Flush(oneshot::Sender<()>),
}

/// Handle to the writer.
#[derive(Clone)]
pub struct QueryLog {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl QueryLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<store::Store>) -> QueryLog {
        let (tx, mut rx) = mpsc::channel::<Msg>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = Vec::new();
                let mut ack = None;
                let deadline = tokio::time::Instant::now() + WINDOW;
                let mut next = Some(first);
                while let Some(msg) = next {
                    match msg {
                        Msg::Entry(e) => batch.push(e),
                        Msg::Flush(a) => {
                            ack = Some(a);
                            break;
                        }
                    }
                    if batch.len() >= MAX_BATCH {
                        break;
                    }
                    // None when the window has closed, or every handle is gone.
                    next = tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten();
                }
                if !batch.is_empty() {
                    let s = Arc::clone(&store);
                    let res = tokio::task::spawn_blocking(move || {
                        let entries: Vec<_> = batch
                            .iter()
                            .map(|e| (e.q.as_str(), &e.filters, e.total, e.took_ms))
                            .collect();
                        s.log_queries(&entries)
                    })
                    .await;
                    match res {
                        Ok(Err(e)) => tracing::warn!(error = %e, "query log write failed"),
                        Err(e) => tracing::warn!(error = %e, "query log writer stopped"),
                        Ok(Ok(())) => {}
                    }
                }
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            }
        });
        QueryLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Writes every entry queued before this call, and returns once they are in the store (or
    /// the writer has stopped).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Logs a search without waiting.
    pub fn log(&self, entry: Entry) {
        if self.tx.try_send(Msg::Entry(entry)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(q: &str, total: u64) -> Entry {
        Entry {
            q: q.into(),
            filters: serde_json::json!({}),
            total,
            took_ms: 1,
        }
    }

    /// Entries wait for the window, so a flush must write them itself: read straight after
    /// it, every entry logged before it is in the store.
    #[tokio::test]
    async fn flush_writes_what_is_queued_without_waiting_for_the_window() {
        let store = Arc::new(store::Store::open_in_memory().unwrap());
        let log = QueryLog::start(Arc::clone(&store));
        for q in ["asthma", "asthma", "sepsis", "zzzqqq"] {
            log.log(entry(q, if q == "zzzqqq" { 0 } else { 5 }));
        }
        log.flush().await;
        let top = store.top_queries("2000-01-01", 10).unwrap();
        assert_eq!(top.first(), Some(&("asthma".to_string(), 2)), "{top:?}");
        assert_eq!(top.iter().map(|(_, n)| n).sum::<u64>(), 4, "{top:?}");
        let zero = store.zero_result_queries("2000-01-01", 10).unwrap();
        assert_eq!(zero, vec![("zzzqqq".to_string(), 1)]);
        // A flush with nothing queued answers too, and later entries are still written.
        log.flush().await;
        log.log(entry("sepsis", 3));
        log.flush().await;
        let top = store.top_queries("2000-01-01", 10).unwrap();
        assert!(top.contains(&("sepsis".to_string(), 2)), "{top:?}");
        assert_eq!(log.dropped(), 0);
    }

    /// Without a flush, entries reach the store once the window closes.
    #[tokio::test]
    async fn entries_are_written_when_the_window_closes() {
        let store = Arc::new(store::Store::open_in_memory().unwrap());
        let log = QueryLog::start(Arc::clone(&store));
        log.log(entry("heart failure", 9));
        let mut seen = Vec::new();
        for _ in 0..100 {
            tokio::time::sleep(WINDOW / 5).await;
            seen = store.top_queries("2000-01-01", 10).unwrap();
            if !seen.is_empty() {
                break;
            }
        }
        assert_eq!(seen, vec![("heart failure".to_string(), 1)]);
    }
}
