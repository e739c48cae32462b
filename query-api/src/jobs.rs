//! The job runner: admin requests enqueue jobs and get an id at once (202); one worker runs them in
//! order, so only one job writes the store and the index at a time. A job that would duplicate one
//! already queued or running (same kind, sources and `full`) is refused with 409 and the other's id.
//! `DELETE` sets the job's cancel flag, checked between pages and batches; a cancelled build never
//! goes live. Job history lives in the store; jobs left running by a dead server show as
//! `interrupted` after restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexer::Progress;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{JobRecord, JobState, PageStats};
use tokio::sync::mpsc;

use crate::state::AppState;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Harvest sources, then index what changed.
    Harvest,
    /// Full rebuild into a new generation.
    Reindex,
    /// Merge the live generation's segments into one (`SearchIndex::compact`).
    Compact,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Harvest => "harvest",
            JobKind::Reindex => "reindex",
            JobKind::Compact => "compact",
        }
    }
}

/// A validated job request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Kind.
    pub kind: JobKind,
    /// Sources to harvest (all configured when empty).
    pub sources: Vec<String>,
    /// Start harvests over, and rebuild the index in full.
    pub full: bool,
    /// Who asked: `admin` or `schedule`.
    pub trigger: String,
}

struct Active {
    record: Mutex<JobRecord>,
    progress: Arc<Progress>,
}

struct Inner {
    state: AppState,
    queue: mpsc::UnboundedSender<String>,
    active: Mutex<HashMap<String, Arc<Active>>>,
    counter: AtomicU64,
}

/// Handle to the runner.
#[derive(Clone)]
pub struct Jobs(Arc<Inner>);

/// Why a job was not accepted.
#[derive(Debug)]
pub enum SubmitError {
    /// An identical job is queued or running.
    Duplicate(String),
    /// The store failed.
    Store(String),
}

fn now() -> String {
    store::timestamp::now()
}

impl Jobs {
    /// Starts the worker on the current tokio runtime. Jobs the store shows as queued or running
    /// (left by a server that died) are marked interrupted first.
    pub fn start(state: AppState) -> Jobs {
        match state.store().mark_interrupted() {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(?ids, "jobs interrupted by the last shutdown")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot mark interrupted jobs"),
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let jobs = Jobs(Arc::new(Inner {
            state,
            queue: tx,
            active: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        }));
        let worker = jobs.clone();
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                let active = worker
                    .0
                    .active
                    .lock()
                    .ok()
                    .and_then(|a| a.get(&id).cloned());
                if let Some(active) = active {
                    worker.run(&id, &active).await;
                    if let Ok(mut a) = worker.0.active.lock() {
                        a.remove(&id);
                    }
                }
            }
        });
        jobs
    }

    /// Accepts a job and queues it.
    pub fn submit(&self, spec: JobSpec) -> Result<JobRecord, SubmitError> {
        let params = serde_json::to_value(&spec).unwrap_or(Value::Null);
        let mut active = self
            .0
            .active
            .lock()
            .map_err(|_| SubmitError::Store("job table poisoned".into()))?;
        for (id, a) in active.iter() {
            if let Ok(r) = a.record.lock() {
                let same = r.params.get("kind") == params.get("kind")
                    && r.params.get("sources") == params.get("sources")
                    && r.params.get("full") == params.get("full");
                if same && !r.state.is_terminal() {
                    return Err(SubmitError::Duplicate(id.clone()));
                }
            }
        }
        let n = self.0.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "job-{}-{n}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        let record = JobRecord::new(id.clone(), spec.kind.as_str(), params);
        self.0
            .state
            .store()
            .insert_job(&record)
            .map_err(|e| SubmitError::Store(e.to_string()))?;
        active.insert(
            id.clone(),
            Arc::new(Active {
                record: Mutex::new(record.clone()),
                progress: Arc::new(Progress::default()),
            }),
        );
        drop(active);
        let _ = self.0.queue.send(id);
        Ok(record)
    }

    /// A job as JSON, with live progress when it is active.
    pub fn get(&self, id: &str) -> Result<Option<Value>, String> {
        if let Some(a) = self.0.active.lock().ok().and_then(|a| a.get(id).cloned()) {
            return Ok(Some(render(&a)));
        }
        match self.0.state.store().get_job(id) {
            Ok(Some(r)) => Ok(Some(render_record(&r))),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Recent jobs, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<Value>, String> {
        let stored = self
            .0
            .state
            .store()
            .list_jobs(limit)
            .map_err(|e| e.to_string())?;
        let active = self.0.active.lock().map(|a| a.clone()).unwrap_or_default();
        Ok(stored
            .iter()
            .map(|r| match active.get(&r.id) {
                Some(a) => render(a),
                None => render_record(r),
            })
            .collect())
    }

    /// Asks a job to stop. `Ok(true)` when it was queued or running.
    pub fn cancel(&self, id: &str) -> Result<Option<bool>, String> {
        if let Some(a) = self.0.active.lock().ok().and_then(|a| a.get(id).cloned()) {
            a.progress.cancel();
            return Ok(Some(true));
        }
        match self.0.state.store().get_job(id) {
            Ok(Some(_)) => Ok(Some(false)),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether a job for this source is queued or running.
    pub fn has_pending_for(&self, source: &str) -> bool {
        let active = self.0.active.lock().map(|a| a.clone()).unwrap_or_default();
        active.values().any(|a| {
            a.record
                .lock()
                .map(|r| {
                    r.params
                        .get("sources")
                        .and_then(|s| s.as_array())
                        .is_some_and(|s| s.is_empty() || s.iter().any(|x| x == source))
                })
                .unwrap_or(false)
        })
    }

    fn update(&self, active: &Active, f: impl FnOnce(&mut JobRecord)) {
        if let Ok(mut r) = active.record.lock() {
            f(&mut r);
            r.progress = serde_json::to_value(active.progress.snapshot()).unwrap_or(Value::Null);
            if let Err(e) = self.0.state.store().update_job(&r) {
                tracing::error!(job = %r.id, error = %e, "cannot save job state");
            }
        }
    }

    async fn run(&self, id: &str, active: &Arc<Active>) {
        if active.progress.is_cancelled() {
            self.update(active, |r| {
                r.state = JobState::Cancelled;
                r.finished_at = Some(now());
            });
            return;
        }
        let started = Instant::now();
        self.update(active, |r| {
            r.state = JobState::Running;
            r.started_at = Some(now());
        });
        // Save progress now and then while it runs.
        let ticker = {
            let (jobs, a) = (self.clone(), Arc::clone(active));
            tokio::spawn(async move {
                let mut t = tokio::time::interval(Duration::from_secs(2));
                loop {
                    t.tick().await;
                    jobs.update(&a, |_| {});
                }
            })
        };
        let spec: Option<JobSpec> = active
            .record
            .lock()
            .ok()
            .and_then(|r| serde_json::from_value(r.params.clone()).ok());
        let outcome = match spec {
            Some(spec) => self.execute(&spec, active).await,
            None => Outcome::failed(vec!["unreadable job parameters".into()]),
        };
        ticker.abort();
        let cancelled = active.progress.is_cancelled();
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(job = %id, ?outcome.errors, cancelled, seconds, "job finished");
        self.update(active, |r| {
            r.state = if cancelled {
                JobState::Cancelled
            } else if outcome.errors.is_empty() {
                JobState::Succeeded
            } else {
                JobState::Failed
            };
            r.counts = outcome.counts.clone();
            r.errors = outcome
                .errors
                .iter()
                .map(|e| Value::String(e.clone()))
                .collect();
            r.finished_at = Some(now());
            if let Some(obj) = r.counts.as_object_mut() {
                obj.insert("seconds".into(), json!(seconds));
            }
        });
    }

    async fn execute(&self, spec: &JobSpec, active: &Arc<Active>) -> Outcome {
        let state = &self.0.state;
        let mut out = Outcome::default();
        if spec.kind == JobKind::Compact {
            let st = state.clone();
            let progress = Arc::clone(&active.progress);
            let res = crate::pool::background("compact", move || -> Result<Value, String> {
                let live = st.live().map_err(|e| e.message)?;
                progress.phase("compact", 0);
                let c = indexer::compact(&live.index).map_err(|e| e.to_string())?;
                Ok(json!({
                    "mode": "compact",
                    "generation": live.generation,
                    "segments_before": c.segments_before,
                    "segments": c.segments,
                    "documents": c.documents,
                    "seconds": c.seconds,
                }))
            })
            .await;
            match res {
                Ok(Ok(v)) => out.index = v,
                Ok(Err(e)) => out.errors.push(format!("compact: {e}")),
                Err(e) => out.errors.push(format!("compact task failed: {e}")),
            }
            out.counts = json!({"index": out.index});
            return out;
        }
        if spec.kind == JobKind::Harvest {
            let sources: Vec<harvest::SourceConfig> = if spec.sources.is_empty() {
                state.config().sources.clone()
            } else {
                spec.sources
                    .iter()
                    .filter_map(|n| state.config().source(n).cloned())
                    .collect()
            };
            for s in &sources {
                if active.progress.is_cancelled() {
                    return out;
                }
                let report = indexer::harvesting::harvest_source(
                    Arc::clone(state.store()),
                    s,
                    spec.full,
                    &active.progress,
                )
                .await;
                out.harvest += report.stats;
                out.rejected += report.rejected;
                out.per_source
                    .push(serde_json::to_value(&report).unwrap_or(Value::Null));
                if let Some(e) = report.error {
                    out.errors.push(format!("{}: {e}", s.name));
                }
            }
        }
        if active.progress.is_cancelled() {
            return out;
        }
        // Index: incremental onto the live generation when it was built from the store, else a
        // full build into a new generation.
        let full = spec.kind == JobKind::Reindex || spec.full || !self.live_is_from_store();
        let st = state.clone();
        let progress = Arc::clone(&active.progress);
        let res = crate::pool::background("index-job", move || -> Result<Value, String> {
            let cfg = st.config();
            if full {
                // Nothing harvested yet: the starter corpus is rebuilt rather than an empty
                // index going live.
                let report = st.full_build(&progress).map_err(|e| e.to_string())?;
                st.load_generation(report.generation).map_err(|e| e.to_string())?;
                Ok(json!({"mode": "full", "generation": report.generation, "documents": report.documents, "rejected": report.rejected.len(), "records_per_s": report.records_per_s, "compact": report.compact, "compact_error": report.compact_error}))
            } else {
                let live = st.live().map_err(|e| e.message)?;
                let report = indexer::incremental::apply_changes(&live.index, st.store(), cfg.index.memory_mb << 20, cfg.index.batch, &progress)
                    .map_err(|e| e.to_string())?;
                Ok(json!({"mode": "incremental", "generation": live.generation, "changes": report.changes, "upserted": report.upserted, "deleted": report.deleted}))
            }
        })
        .await;
        match res {
            Ok(Ok(v)) => out.index = v,
            Ok(Err(e)) => out.errors.push(format!("index: {e}")),
            Err(e) => out.errors.push(format!("index task failed: {e}")),
        }
        out.counts = json!({
            "added": out.harvest.added,
            "updated": out.harvest.updated,
            "unchanged": out.harvest.unchanged,
            "deleted": out.harvest.deleted,
            "failed": out.rejected,
            "sources": out.per_source,
            "index": out.index,
        });
        out
    }

    fn live_is_from_store(&self) -> bool {
        let state = &self.0.state;
        let built = state
            .store()
            .get_meta(indexer::store_build::META_INDEXED_GENERATION)
            .ok()
            .flatten()
            .and_then(|g| g.parse::<u64>().ok());
        built.is_some() && built == state.live_generation()
    }
}

#[derive(Debug, Default)]
struct Outcome {
    harvest: PageStats,
    rejected: u64,
    per_source: Vec<Value>,
    index: Value,
    counts: Value,
    errors: Vec<String>,
}

impl Outcome {
    fn failed(errors: Vec<String>) -> Self {
        Outcome {
            errors,
            ..Default::default()
        }
    }
}

fn render_record(r: &JobRecord) -> Value {
    json!({
        "id": r.id,
        "kind": r.kind,
        "state": r.state.as_str(),
        "params": r.params,
        "progress": r.progress,
        "counts": r.counts,
        "errors": r.errors,
        "created_at": r.created_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
    })
}

fn render(a: &Active) -> Value {
    let mut v = a
        .record
        .lock()
        .map(|r| render_record(&r))
        .unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "progress".into(),
            serde_json::to_value(a.progress.snapshot()).unwrap_or(Value::Null),
        );
        if a.progress.is_cancelled() && obj.get("state").and_then(|s| s.as_str()) == Some("running")
        {
            obj.insert("state".into(), json!("cancelling"));
        }
    }
    v
}

/// Parses a schedule: `hourly`, `daily`, `weekly`, or `<n>m`, `<n>h`, `<n>d`.
pub fn parse_schedule(s: &str) -> Option<Duration> {
    let s = s.trim().to_ascii_lowercase();
    match s.as_str() {
        "hourly" => return Some(Duration::from_secs(3600)),
        "daily" => return Some(Duration::from_secs(86_400)),
        "weekly" => return Some(Duration::from_secs(7 * 86_400)),
        _ => {}
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs.max(60)))
}

/// Runs due scheduled harvests as ordinary jobs: a source is due when its last harvest started
/// longer ago than its schedule (or it never ran) and no job for it is pending.
pub fn spawn_scheduler(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            for s in &state.config().sources {
                let Some(interval) = s.schedule.as_deref().and_then(parse_schedule) else {
                    continue;
                };
                let last = state.store().last_harvest(&s.name).ok().flatten();
                let age = last
                    .as_ref()
                    .and_then(|h| {
                        time::OffsetDateTime::parse(
                            &h.started_at,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .map(|t| (time::OffsetDateTime::now_utc() - t).unsigned_abs());
                let due = age.is_none_or(|a| a >= interval);
                if due && !state.jobs().has_pending_for(&s.name) {
                    let spec = JobSpec {
                        kind: JobKind::Harvest,
                        sources: vec![s.name.clone()],
                        full: false,
                        trigger: "schedule".into(),
                    };
                    match state.jobs().submit(spec) {
                        Ok(r) => {
                            tracing::info!(source = %s.name, job = %r.id, "scheduled harvest queued")
                        }
                        Err(e) => {
                            tracing::warn!(source = %s.name, error = ?e, "scheduled harvest not queued")
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(parse_schedule("daily"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_schedule("6h"), Some(Duration::from_secs(21_600)));
        assert_eq!(parse_schedule("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(
            parse_schedule("10s"),
            Some(Duration::from_secs(60)),
            "at least a minute"
        );
        assert_eq!(parse_schedule("0h"), None);
        assert_eq!(parse_schedule("soon"), None);
        assert_eq!(parse_schedule("h"), None);
    }
}
