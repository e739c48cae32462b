//! Shared server state: the configuration and the live index generation, swapped atomically when
//! a build promotes a new generation. A search clones the `Arc` of the index it starts on and
//! finishes on it, whatever is swapped in meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use indexer::Config;
use search::{Generations, SearchIndex};

use crate::error::{ApiCode, ApiError};

/// The live index and the generation it came from.
#[derive(Clone)]
pub struct Live {
    /// The open index.
    pub index: Arc<SearchIndex>,
    /// Its generation number.
    pub generation: u64,
}

struct Inner {
    config: Config,
    generations: Generations,
    live: RwLock<Option<Live>>,
    ready: AtomicBool,
    store: Arc<store::Store>,
    admin_token: Option<String>,
    jobs: std::sync::OnceLock<crate::jobs::Jobs>,
    querylog: std::sync::OnceLock<crate::querylog::QueryLog>,
    federator: std::sync::OnceLock<Result<Arc<federation::Federator>, String>>,
    /// The MeSH thesaurus of `[index] mesh_xml`, read once (`None` when unset or unreadable).
    thesaurus: std::sync::OnceLock<Option<search::Thesaurus>>,
    /// The sentence-embedding model of `[index] semantic_model`, read once (`None` when unset
    /// or unreadable).
    encoder: std::sync::OnceLock<Option<Arc<search::semantic::Encoder>>>,
    /// The search threads (one per core); more searches wait in turn.
    searches: crate::pool::SearchPool,
}

/// Cheaply cloneable handle to the server state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// State for a configuration; opens (creating) the generations directory and the record
    /// store. The admin token is read from `EVIDENCE_ADMIN_TOKEN`.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let token = std::env::var("EVIDENCE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        Self::with_admin_token(config, token)
    }

    /// State with an explicit admin token (`None` disables the admin API).
    pub fn with_admin_token(config: Config, admin_token: Option<String>) -> anyhow::Result<Self> {
        let generations = Generations::open(&config.index_dir())?;
        let store = Arc::new(store::Store::open(&config.store_path())?);
        Ok(AppState(Arc::new(Inner {
            config,
            generations,
            live: RwLock::new(None),
            ready: AtomicBool::new(false),
            store,
            admin_token,
            jobs: std::sync::OnceLock::new(),
            querylog: std::sync::OnceLock::new(),
            federator: std::sync::OnceLock::new(),
            thesaurus: std::sync::OnceLock::new(),
            encoder: std::sync::OnceLock::new(),
            searches: crate::pool::SearchPool::new(
                crate::pool::default_threads(),
                crate::pool::default_nice(),
            )?,
        })))
    }

    /// Runs CPU-bound request work (a search, a record lookup, suggestions) on the search
    /// threads, one per core, in the order it arrives (see [`crate::pool`]). Without a bound,
    /// 32 concurrent requests would become 32 threads time-slicing two cores, and every
    /// request's latency would stretch; with it, requests wait their turn and finish in order.
    pub async fn run_blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.0.searches.run(f).await.map_err(ApiError::internal)
    }

    /// The sentence-embedding model configured by `[index] semantic_model`, read on first use.
    /// A model that cannot be loaded is logged and the engine ranks by words alone: never a
    /// reason not to serve.
    pub fn encoder(&self) -> Option<Arc<search::semantic::Encoder>> {
        self.0
            .encoder
            .get_or_init(|| {
                let path = self.0.config.index.semantic_model.as_ref()?;
                let started = std::time::Instant::now();
                match self.0.config.index.encoder() {
                    Ok(e) => {
                        tracing::info!(path = %path.display(), took_ms = started.elapsed().as_millis() as u64, "semantic model loaded");
                        e
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "semantic model not loaded; ranking by words alone");
                        None
                    }
                }
            })
            .clone()
    }

    /// The MeSH thesaurus configured by `[index] mesh_xml`, read on first use. A file that
    /// cannot be read is logged and searches run without synonyms: never a reason not to serve.
    pub fn thesaurus(&self) -> Option<&search::Thesaurus> {
        self.0
            .thesaurus
            .get_or_init(|| {
                let path = self.0.config.index.mesh_xml.as_ref()?;
                let started = std::time::Instant::now();
                match indexer::mesh::load_thesaurus(path) {
                    Ok(t) => {
                        tracing::info!(path = %path.display(), groups = t.len(), took_ms = started.elapsed().as_millis() as u64, "MeSH thesaurus loaded");
                        Some(t)
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "MeSH thesaurus not loaded; searching without synonyms");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The record store.
    pub fn store(&self) -> &Arc<store::Store> {
        &self.0.store
    }

    /// The admin bearer token, when the admin API is enabled.
    pub fn admin_token(&self) -> Option<&str> {
        self.0.admin_token.as_deref()
    }

    /// The query log writer, started on first use (on the current tokio runtime).
    pub fn querylog(&self) -> &crate::querylog::QueryLog {
        self.0
            .querylog
            .get_or_init(|| crate::querylog::QueryLog::start(Arc::clone(&self.0.store)))
    }

    /// Writes the queued query log entries (at shutdown), waiting at most `limit`.
    pub async fn flush_querylog(&self, limit: Duration) {
        if let Some(log) = self.0.querylog.get() {
            if tokio::time::timeout(limit, log.flush()).await.is_err() {
                tracing::warn!("the query log was not written before shutdown");
            }
        }
    }

    /// The federator of the configured remote sources, built on first use (a search that fans
    /// out to no source never builds it). Its circuit breakers and cache live as long as the
    /// server.
    pub fn federator(&self) -> Result<&federation::Federator, ApiError> {
        let built = self.0.federator.get_or_init(|| {
            let c = &self.0.config;
            let options = federation::FederationOptions {
                timeout: Duration::from_millis(c.federation.timeout_ms.max(1)),
                ..federation::FederationOptions::default()
            };
            federation::Federator::new(&c.sources, options)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        match built {
            Ok(f) => Ok(f),
            Err(e) => Err(ApiError::internal(format!("federation unavailable: {e}"))),
        }
    }

    /// The job runner, started on first use (on the current tokio runtime).
    pub fn jobs(&self) -> &crate::jobs::Jobs {
        self.0
            .jobs
            .get_or_init(|| crate::jobs::Jobs::start(self.clone()))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The index generations.
    pub fn generations(&self) -> &Generations {
        &self.0.generations
    }

    /// Whether the index is loaded and searchable.
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::SeqCst)
    }

    /// The live index, or 503 while it is being prepared.
    pub fn live(&self) -> Result<Live, ApiError> {
        self.0
            .live
            .read()
            .ok()
            .and_then(|l| l.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ApiCode::NotReady,
                    "the index is being prepared; try again in a moment",
                )
            })
    }

    /// Opens generation `n` and makes it the one searches use.
    pub fn load_generation(&self, n: u64) -> anyhow::Result<()> {
        let mut index =
            SearchIndex::open(&self.0.generations.path(n), self.0.config.ranking.clone())?;
        if let Some(t) = self.thesaurus() {
            index.set_thesaurus(Some(t.clone()));
        }
        index.set_encoder(self.encoder());
        index.set_split_searches(crate::pool::split_searches());
        index.set_pruned_unions(crate::pool::pruned_unions());
        let docs = index.num_docs();
        if let Ok(mut live) = self.0.live.write() {
            *live = Some(Live {
                index: Arc::new(index),
                generation: n,
            });
        }
        self.0.ready.store(true, Ordering::SeqCst);
        tracing::info!(generation = n, docs, "serving index generation");
        // The spelling and autocomplete vocabulary: built now for a small index, else in the
        // background; searches never wait for it.
        if let Ok(live) = self.live() {
            live.index.suggester_nonblocking();
        }
        Ok(())
    }

    /// The generation being served.
    pub fn live_generation(&self) -> Option<u64> {
        self.0
            .live
            .read()
            .ok()
            .and_then(|l| l.as_ref().map(|l| l.generation))
    }

    /// Makes sure an index is live: the live generation when there is one, else a new generation
    /// built from the starter corpus. Runs the build on a blocking thread.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        let gens = self.0.generations.clone();
        let removed = gens.clean_incomplete()?;
        if !removed.is_empty() {
            tracing::warn!(
                ?removed,
                "removed half-built index generations left by an earlier run"
            );
        }
        let build = || {
            let state = self.clone();
            async move {
                let report = crate::pool::background("startup-build", move || {
                    state.full_build(&indexer::Progress::default())
                })
                .await??;
                anyhow::Ok(report.generation)
            }
        };
        let live = match gens.live()? {
            Some(n) => n,
            None => {
                tracing::info!("no index yet: building one (the starter corpus's sample records when nothing is harvested)");
                build().await?
            }
        };
        match self.load_generation(live) {
            Err(e)
                if matches!(
                    e.downcast_ref::<search::SearchError>(),
                    Some(search::SearchError::SchemaMismatch(_))
                ) =>
            {
                // An index written by an earlier version: rebuild it from the records rather
                // than refuse to start. The old generation stays on disk until pruned.
                tracing::warn!(generation = live, error = %e, "the live index has an older schema; rebuilding it");
                let n = build().await?;
                self.load_generation(n)
            }
            other => other,
        }
    }

    /// A full build into a new generation, made live on disk: from the record store, or from
    /// the starter corpus (sample records) when nothing has been harvested.
    pub fn full_build(
        &self,
        progress: &indexer::Progress,
    ) -> Result<indexer::BuildReport, indexer::BuildError> {
        let cfg = self.config();
        let mut opts = cfg.index.build_options();
        opts.encoder = self.encoder();
        let empty = self
            .store()
            .count_live()
            .map_err(|e| indexer::BuildError::Source(e.to_string()))?
            == 0;
        if empty {
            let records = indexer::starter::records().map_err(indexer::BuildError::Source)?;
            let n = records.len() as u64;
            indexer::build_generation(
                self.generations(),
                &cfg.ranking,
                &opts,
                std::iter::once(Ok::<_, std::convert::Infallible>(records)),
                Some(n),
                progress,
            )
        } else {
            indexer::store_build::build_from_store(
                self.store(),
                self.generations(),
                &cfg.ranking,
                &opts,
                cfg.index.batch,
                progress,
            )
        }
    }

    /// Follows the live pointer: when a build or rollback promotes another generation, load it.
    /// Commits inside the live generation (incremental builds) reach searches through the reader's
    /// own reload.
    pub fn spawn_follower(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let pointer = state.0.generations.live().ok().flatten();
                if pointer.is_some() && pointer != state.live_generation() {
                    if let Some(n) = pointer {
                        let s = state.clone();
                        let res = tokio::task::spawn_blocking(move || s.load_generation(n)).await;
                        match res {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::error!(generation = n, error = %e, "cannot open new generation; still serving the old one")
                            }
                            Err(e) => tracing::error!(error = %e, "generation loader panicked"),
                        }
                    }
                }
            }
        })
    }
}
