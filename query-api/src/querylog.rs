//! The query log for staff analytics (top queries, zero-result queries), written off the request
//! path: searches push onto a bounded channel and one task writes to the store. When the writer
//! falls behind, entries are dropped and counted rather than slowing searches down. No personal
//! data is kept (see `store::normalise_query`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

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

/// Handle to the writer.
#[derive(Clone)]
pub struct QueryLog {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
}

impl QueryLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<store::Store>) -> QueryLog {
        let (tx, mut rx) = mpsc::channel::<Entry>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(e) = rx.try_recv() {
                    batch.push(e);
                    if batch.len() >= 512 {
                        break;
                    }
                }
                let s = Arc::clone(&store);
                let res = tokio::task::spawn_blocking(move || {
                    let entries: Vec<_> = batch
                        .iter()
                        .map(|e| (e.q.as_str(), &e.filters, e.total, e.took_ms))
                        .collect();
                    s.log_queries(&entries)
                })
                .await;
                if let Ok(Err(e)) = res {
                    tracing::warn!(error = %e, "query log write failed");
                }
            }
        });
        QueryLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Logs a search without waiting.
    pub fn log(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
