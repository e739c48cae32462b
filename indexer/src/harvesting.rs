//! Harvest jobs: walk each source page by page, storing every page's records, deletions and
//! checkpoint in one transaction, so a killed harvest resumes after the last stored page.

use std::sync::Arc;
use std::time::Instant;

use harvest::connector::{fetcher_for, Connector};
use harvest::SourceConfig;
use serde::Serialize;
use store::{PageStats, Store};

use crate::progress::Progress;

/// What one source's harvest did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceReport {
    /// Source name.
    pub source: String,
    /// Pages stored.
    pub pages: u64,
    /// Records added, updated, unchanged, deleted.
    pub stats: PageStats,
    /// Items the source sent that could not become records (missing id or title).
    pub rejected: u64,
    /// Why the harvest stopped early, if it did. Pages before the failure are kept, and the
    /// checkpoint points just before the failed page.
    pub error: Option<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl SourceReport {
    /// Whether the source finished without error.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Harvests one source into the store. Never fails as a whole: errors end up in the report.
pub async fn harvest_source(
    store: Arc<Store>,
    cfg: &SourceConfig,
    full: bool,
    progress: &Progress,
) -> SourceReport {
    let started = Instant::now();
    let mut report = SourceReport {
        source: cfg.name.clone(),
        pages: 0,
        stats: PageStats::default(),
        rejected: 0,
        error: None,
        seconds: 0.0,
    };
    progress.phase(&format!("harvest:{}", cfg.name), 0);
    let result = run(store, cfg, full, progress, &mut report).await;
    if let Err(e) = result {
        tracing::warn!(source = %cfg.name, error = %e, pages = report.pages, "harvest stopped");
        report.error = Some(e);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, store::StoreError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("store task failed: {e}"))?
        .map_err(|e| format!("store: {e}"))
}

async fn run(
    store: Arc<Store>,
    cfg: &SourceConfig,
    full: bool,
    progress: &Progress,
    report: &mut SourceReport,
) -> Result<(), String> {
    let name = cfg.name.clone();
    if full {
        let (s, n) = (Arc::clone(&store), name.clone());
        blocking(move || s.reset_source(&n)).await?;
    }
    let (s, n) = (Arc::clone(&store), name.clone());
    let checkpoint = blocking(move || s.checkpoint(&n)).await?;
    let mut connector =
        Connector::new(cfg, checkpoint.as_ref(), full).map_err(|e| e.to_string())?;
    let fetcher = fetcher_for(cfg).map_err(|e| e.to_string())?;
    let (s, n) = (Arc::clone(&store), name.clone());
    let harvest_id = blocking(move || s.start_harvest(&n)).await?;
    let outcome: Result<(), String> = async {
        loop {
            if progress.is_cancelled() {
                return Err("cancelled".into());
            }
            let page = match connector.next_page(&fetcher).await {
                Ok(Some(page)) => page,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            if let Some(total) = page.total {
                progress.set_total(total);
            }
            for r in page.parsed.rejected.iter().take(20) {
                tracing::warn!(source = %name, url = %page.url, source_id = ?r.source_id, reason = %r.reason, "item rejected");
            }
            let n_records = page.parsed.records.len() as u64;
            let rejected = page.parsed.rejected.len() as u64;
            let s = Arc::clone(&store);
            let src = name.clone();
            let stats = blocking(move || {
                s.apply_page(&src, &page.parsed.records, &page.parsed.deleted, &page.checkpoint)
            })
            .await?;
            report.pages += 1;
            report.stats += stats;
            report.rejected += rejected;
            progress.advance(n_records);
            let (s, st, rj) = (Arc::clone(&store), report.stats, report.rejected);
            blocking(move || s.update_harvest(harvest_id, &st, rj)).await?;
        }
    }
    .await;
    let (s, st, rj, err) = (
        Arc::clone(&store),
        report.stats,
        report.rejected,
        outcome.clone().err(),
    );
    blocking(move || s.finish_harvest(harvest_id, &st, rj, err.as_deref())).await?;
    outcome
}
