//! The fan-out: every chosen source searched at once, each within its own deadline and all within
//! the overall one, behind a per-source concurrency cap, a circuit breaker and a cache.

use std::sync::Arc;
use std::time::Duration;

use harvest::{SourceConfig, SourceKind};
use model::Record;
use search::Filters;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::breaker::{Admission, Breaker, Outcome};
use crate::client::{Client, RemoteError};
use crate::translate::{translate, Translation};
use crate::FederationError;

/// Settings of a [`Federator`]; build with struct update syntax from [`Default`].
#[derive(Debug, Clone)]
pub struct FederationOptions {
    /// Overall deadline of a federated search (`[federation] timeout_ms`).
    pub timeout: Duration,
    /// Searches of one source in flight at once; more wait for a slot (within the deadline).
    pub max_concurrent_per_source: usize,
    /// Consecutive failures after which a source's circuit opens.
    pub breaker_threshold: u32,
    /// How long an open circuit skips its source before a probe.
    pub breaker_cooldown: Duration,
    /// How long a remote answer is reused.
    pub cache_ttl: Duration,
    /// Remote answers kept at most.
    pub cache_capacity: u64,
    /// Largest remote response accepted, in bytes.
    pub max_body_bytes: u64,
    /// Most records asked of one source.
    pub max_depth: usize,
}

impl Default for FederationOptions {
    fn default() -> Self {
        FederationOptions {
            timeout: Duration::from_millis(1500),
            max_concurrent_per_source: 4,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(300),
            cache_capacity: 2_000,
            max_body_bytes: 8 << 20,
            max_depth: 100,
        }
    }
}

/// Depths actually asked of a source: a request is rounded up to one of these, so that neighbouring
/// pages share one cached answer.
const DEPTH_STEPS: [usize; 4] = [10, 20, 50, 100];

/// How a source's part of a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    /// Answered (possibly from the cache).
    Ok,
    /// Did not answer within its deadline.
    Timeout,
    /// Failed: a status, an unreadable answer, a connection error.
    Error,
    /// Not asked: open circuit, nothing to send, or a filter the source cannot satisfy.
    Skipped,
}

/// One source's part of a search, as the answer's `sources` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// Source name (`local` for the local index).
    pub name: String,
    /// How it ended.
    pub status: SourceStatus,
    /// Time spent on it, in milliseconds.
    pub took_ms: u64,
    /// How many records the source says match, when it says.
    pub total: Option<u64>,
    /// Why it failed or was skipped, what the source could not express, or that the answer came
    /// from the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the answer came from the cache.
    #[serde(skip)]
    pub cached: bool,
}

/// A federated search.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteQuery {
    /// The query, in the engine's language.
    pub q: String,
    /// The filters; each source gets what it can express, and every record is filtered again here.
    pub filters: Filters,
    /// Records wanted from each source (capped at [`FederationOptions::max_depth`]).
    pub depth: usize,
}

/// The records of one source, in its order, already filtered.
#[derive(Debug, Clone)]
pub struct RemoteList {
    /// Source name.
    pub source: String,
    /// Records, best first by the source's own ranking.
    pub records: Vec<Record>,
}

/// What a federated search brought back.
#[derive(Debug, Clone, Default)]
pub struct FederatedAnswer {
    /// One report per source asked, in the order asked.
    pub reports: Vec<SourceReport>,
    /// The records of every source that answered.
    pub lists: Vec<RemoteList>,
}

#[derive(Debug)]
struct Cached {
    records: Vec<Record>,
    total: Option<u64>,
    remarks: Vec<String>,
}

struct Remote {
    cfg: SourceConfig,
    client: Client,
    breaker: Breaker,
    slots: Semaphore,
    /// The source's own deadline (`timeout_s`), when shorter than the overall one.
    timeout: Duration,
}

/// Searches remote sources live. Cheap to share (`Arc`); one per server.
pub struct Federator {
    remotes: Vec<Arc<Remote>>,
    options: FederationOptions,
    cache: moka::future::Cache<String, Arc<Cached>>,
    /// Local-model scores of records, by index state, query and record id (see
    /// [`Federator::scores_with`]).
    scores: moka::sync::Cache<String, Option<f32>>,
}

impl std::fmt::Debug for Federator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federator")
            .field(
                "sources",
                &self.remotes.iter().map(|r| &r.cfg.name).collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .finish()
    }
}

/// Whether sources of this kind can be searched live.
pub fn is_federable(kind: SourceKind) -> bool {
    matches!(
        kind,
        SourceKind::Pubmed | SourceKind::Europepmc | SourceKind::Clinicaltrials
    )
}

/// The sources a search fans out to.
///
/// - `requested` `None` (no `federate` parameter): `default` when it is not empty, else every
///   source marked `federated = true`; names that are not federable sources are ignored.
/// - `Some([])` (`federate=none`): none.
/// - `Some(["all"])`: every federable source.
/// - `Some(names)`: those; an unknown name, or a source of a kind that cannot be searched live, is
///   an error.
pub fn resolve(
    sources: &[SourceConfig],
    default: &[String],
    requested: Option<&[String]>,
) -> Result<Vec<String>, FederationError> {
    let federable = |s: &&SourceConfig| is_federable(s.kind);
    let names: Vec<String> = match requested {
        None if !default.is_empty() => default
            .iter()
            .filter(|n| sources.iter().filter(federable).any(|s| &s.name == *n))
            .cloned()
            .collect(),
        None => sources
            .iter()
            .filter(federable)
            .filter(|s| s.federated)
            .map(|s| s.name.clone())
            .collect(),
        Some(req) if req.iter().any(|n| n == "all") => sources
            .iter()
            .filter(federable)
            .map(|s| s.name.clone())
            .collect(),
        Some(req) => {
            let mut out = Vec::new();
            for n in req {
                match sources.iter().find(|s| &s.name == n) {
                    Some(s) if is_federable(s.kind) => out.push(n.clone()),
                    Some(s) => {
                        return Err(FederationError::NotFederable {
                            name: n.clone(),
                            kind: s.kind.as_str(),
                        })
                    }
                    None => {
                        return Err(FederationError::UnknownSource {
                            name: n.clone(),
                            known: sources
                                .iter()
                                .filter(federable)
                                .map(|s| s.name.clone())
                                .collect(),
                        })
                    }
                }
            }
            out
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    Ok(names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .collect())
}

impl Federator {
    /// A federator over every federable source of `sources` (other kinds are left out).
    pub fn new(
        sources: &[SourceConfig],
        options: FederationOptions,
    ) -> Result<Self, FederationError> {
        let mut remotes = Vec::new();
        for cfg in sources.iter().filter(|s| is_federable(s.kind)) {
            let timeout = cfg
                .timeout_s
                .map(Duration::from_secs)
                .filter(|t| !t.is_zero())
                .unwrap_or(options.timeout)
                .min(options.timeout);
            // The deadline cuts requests off; the client's own timeout is a backstop behind it, so
            // that a slow source reports `timeout` rather than a transport error.
            let backstop = timeout + Duration::from_millis(500);
            let client = Client::new(cfg, backstop, options.max_body_bytes).map_err(|e| {
                FederationError::Client {
                    name: cfg.name.clone(),
                    message: e.to_string(),
                }
            })?;
            remotes.push(Arc::new(Remote {
                cfg: cfg.clone(),
                client,
                breaker: Breaker::new(options.breaker_threshold, options.breaker_cooldown),
                slots: Semaphore::new(options.max_concurrent_per_source.max(1)),
                timeout,
            }));
        }
        let cache = moka::future::Cache::builder()
            .max_capacity(options.cache_capacity)
            .time_to_live(options.cache_ttl)
            .build();
        let scores = moka::sync::Cache::builder()
            .max_capacity(options.cache_capacity.saturating_mul(100))
            .time_to_live(options.cache_ttl)
            .build();
        Ok(Federator {
            remotes,
            options,
            cache,
            scores,
        })
    }

    /// The settings in use.
    pub fn options(&self) -> &FederationOptions {
        &self.options
    }

    /// Names of the sources that can be searched.
    pub fn source_names(&self) -> Vec<&str> {
        self.remotes.iter().map(|r| r.cfg.name.as_str()).collect()
    }

    /// Consecutive failures of a source (0 for an unknown one), for tests and metrics.
    pub fn failures(&self, name: &str) -> u32 {
        self.remotes
            .iter()
            .find(|r| r.cfg.name == name)
            .map_or(0, |r| r.breaker.failures())
    }

    /// Remote answers currently cached.
    pub async fn cached_answers(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// Scores of `records` for query `q`, computed by `score` (the local model,
    /// `search::SearchIndex::score_external`) for the records not seen before with the same
    /// `index_key` (anything that changes when the index's statistics change, e.g. a hash of its
    /// segments). A repeated query, whose remote answers come from the cache, is then fused
    /// without analysing the remote records again. Remembered as long as remote answers.
    /// Blocking-safe (no async); call it where the scoring runs.
    pub fn scores_with(
        &self,
        q: &str,
        index_key: u64,
        records: &[Record],
        score: impl FnOnce(&[Record]) -> Vec<Option<f32>>,
    ) -> Vec<Option<f32>> {
        let key = |r: &Record| format!("{index_key:x}\u{1f}{q}\u{1f}{}", r.id);
        let mut out: Vec<Option<Option<f32>>> =
            records.iter().map(|r| self.scores.get(&key(r))).collect();
        let missing: Vec<usize> = (0..records.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let fresh = if missing.len() == records.len() {
                score(records)
            } else {
                let todo: Vec<Record> = missing.iter().map(|&i| records[i].clone()).collect();
                score(&todo)
            };
            for (&i, s) in missing.iter().zip(fresh) {
                self.scores.insert(key(&records[i]), s);
                out[i] = Some(s);
            }
        }
        out.into_iter().map(Option::flatten).collect()
    }

    /// Searches the named sources at once. Returns within the overall deadline (plus scheduling
    /// slack) whatever the sources do, with one report per name.
    pub async fn search(&self, names: &[String], query: &RemoteQuery) -> FederatedAnswer {
        let started = Instant::now();
        let deadline = started + self.options.timeout;
        let depth = query.depth.clamp(1, self.options.max_depth.max(1));
        let fetch_depth = DEPTH_STEPS
            .iter()
            .copied()
            .find(|d| *d >= depth)
            .unwrap_or(depth)
            .min(self.options.max_depth.max(depth));
        let query = Arc::new(RemoteQuery {
            depth,
            ..query.clone()
        });
        let mut tasks = Vec::new();
        for name in names {
            let Some(remote) = self.remotes.iter().find(|r| &r.cfg.name == name) else {
                tasks.push((name.clone(), None));
                continue;
            };
            let remote = Arc::clone(remote);
            let cache = self.cache.clone();
            let q = Arc::clone(&query);
            let source_deadline = (started + remote.timeout).min(deadline);
            let handle = tokio::spawn(async move {
                search_one(&remote, &cache, &q, fetch_depth, source_deadline).await
            });
            tasks.push((name.clone(), Some(handle)));
        }
        let mut answer = FederatedAnswer::default();
        // Each task ends by its own deadline; the slack only covers a starved scheduler.
        let hard_stop = deadline + Duration::from_millis(50);
        for (name, handle) in tasks {
            let Some(mut handle) = handle else {
                answer.reports.push(report(
                    &name,
                    SourceStatus::Skipped,
                    started,
                    None,
                    Some("not a source that can be searched live".into()),
                ));
                continue;
            };
            match tokio::time::timeout_at(hard_stop, &mut handle).await {
                Ok(Ok((rep, records))) => {
                    if let Some(records) = records {
                        answer.lists.push(RemoteList {
                            source: name.clone(),
                            records,
                        });
                    }
                    answer.reports.push(rep);
                }
                Ok(Err(e)) => answer.reports.push(report(
                    &name,
                    SourceStatus::Error,
                    started,
                    None,
                    Some(format!("search task failed: {e}")),
                )),
                Err(_) => {
                    handle.abort();
                    answer.reports.push(report(
                        &name,
                        SourceStatus::Timeout,
                        started,
                        None,
                        Some(format!(
                            "no answer within {} ms",
                            self.options.timeout.as_millis()
                        )),
                    ));
                }
            }
        }
        answer
    }
}

fn report(
    name: &str,
    status: SourceStatus,
    started: Instant,
    total: Option<u64>,
    message: Option<String>,
) -> SourceReport {
    SourceReport {
        name: name.to_string(),
        status,
        took_ms: started.elapsed().as_millis() as u64,
        total,
        message,
        cached: false,
    }
}

fn join_message(parts: Vec<String>) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// One source's search: translation, cache, breaker, slot, request, filtering.
async fn search_one(
    remote: &Remote,
    cache: &moka::future::Cache<String, Arc<Cached>>,
    q: &RemoteQuery,
    fetch_depth: usize,
    deadline: Instant,
) -> (SourceReport, Option<Vec<Record>>) {
    let started = Instant::now();
    let name = remote.cfg.name.as_str();
    if !q.filters.sources.is_empty() && !q.filters.sources.iter().any(|s| s == name) {
        let rep = report(
            name,
            SourceStatus::Skipped,
            started,
            None,
            Some("not among the sources asked for (source filter)".into()),
        );
        return (rep, None);
    }
    let t: Translation = match translate(&remote.cfg, &q.q, &q.filters) {
        Ok(t) => t,
        Err(why) => {
            return (
                report(name, SourceStatus::Skipped, started, None, Some(why)),
                None,
            )
        }
    };
    let key_of = |depth: usize| format!("{name}\u{1e}{}\u{1e}{depth}", t.cache_key());
    // A deeper answer already cached serves a shallower request.
    let mut hit = None;
    for d in DEPTH_STEPS.iter().copied().filter(|d| *d >= fetch_depth) {
        if let Some(c) = cache.get(&key_of(d)).await {
            hit = Some(c);
            break;
        }
    }
    if hit.is_none() && !DEPTH_STEPS.contains(&fetch_depth) {
        hit = cache.get(&key_of(fetch_depth)).await;
    }
    if let Some(c) = hit {
        let records = finish(&c.records, q);
        let mut message = t.notes.clone();
        message.extend(c.remarks.iter().cloned());
        message.push("from cache".into());
        let mut rep = report(
            name,
            SourceStatus::Ok,
            started,
            c.total,
            join_message(message),
        );
        rep.cached = true;
        return (rep, Some(records));
    }
    match remote.breaker.admit() {
        Admission::Closed | Admission::Probe => {}
        Admission::Open { failures, retry_in } => {
            let when = if retry_in.is_zero() {
                "a probe is under way".to_string()
            } else {
                format!("next try in {} s", retry_in.as_secs().max(1))
            };
            let rep = report(
                name,
                SourceStatus::Skipped,
                started,
                None,
                Some(format!(
                    "circuit open after {failures} consecutive failures; {when}"
                )),
            );
            return (rep, None);
        }
    }
    let outcome = Outcome::new(&remote.breaker);
    let timeout_message = |what: &str| {
        format!(
            "{what} within {} ms",
            deadline.saturating_duration_since(started).as_millis()
        )
    };
    let _slot = match tokio::time::timeout_at(deadline, remote.slots.acquire()).await {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => {
            outcome.record(false);
            let rep = report(
                name,
                SourceStatus::Error,
                started,
                None,
                Some("source is shutting down".into()),
            );
            return (rep, None);
        }
        Err(_) => {
            // Busy, not failing: this does not count against the source.
            outcome.neutral();
            let rep = report(
                name,
                SourceStatus::Timeout,
                started,
                None,
                Some(timeout_message("no free connection slot")),
            );
            return (rep, None);
        }
    };
    let result =
        tokio::time::timeout_at(deadline, remote.client.search(&t, fetch_depth, deadline)).await;
    match result {
        Ok(Ok(answer)) => {
            outcome.record(true);
            let cached = Arc::new(Cached {
                records: answer.records,
                total: answer.total,
                remarks: answer.remarks,
            });
            cache.insert(key_of(fetch_depth), Arc::clone(&cached)).await;
            let records = finish(&cached.records, q);
            let mut message = t.notes.clone();
            message.extend(cached.remarks.iter().cloned());
            let rep = report(
                name,
                SourceStatus::Ok,
                started,
                cached.total,
                join_message(message),
            );
            (rep, Some(records))
        }
        Ok(Err(e)) => {
            outcome.record(false);
            tracing::warn!(source = %name, error = %e, "federated search failed");
            let mut message = vec![describe(&e)];
            message.extend(t.notes.iter().cloned());
            let rep = report(
                name,
                SourceStatus::Error,
                started,
                None,
                join_message(message),
            );
            (rep, None)
        }
        Err(_) => {
            outcome.record(false);
            tracing::warn!(source = %name, "federated search timed out");
            let rep = report(
                name,
                SourceStatus::Timeout,
                started,
                None,
                Some(timeout_message("no answer")),
            );
            (rep, None)
        }
    }
}

fn describe(e: &RemoteError) -> String {
    e.to_string()
}

/// The records a search uses: the first `depth`, those the filters accept.
fn finish(records: &[Record], q: &RemoteQuery) -> Vec<Record> {
    records
        .iter()
        .take(q.depth)
        .filter(|r| crate::matches_filters(r, &q.filters))
        .cloned()
        .collect()
}
