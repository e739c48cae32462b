//! The `indexer` command line for library staff: harvest, import, build, rollback, stats.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use indexer::{Config, Progress};
use search::Generations;
use store::Store;

/// mimalloc, as `query-api` uses: indexing threads allocate many small token and posting
/// buffers, where glibc's malloc costs more.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Harvest, import and index evidence for the evidence search engine.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML).
    #[arg(long, global = true, env = "EVIDENCE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (record store and index); overrides the config.
    #[arg(long, global = true, env = "EVIDENCE_DATA")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// PubMed XML (`PubmedArticleSet`, baseline and update files), `.xml` or `.xml.gz`.
    PubmedXml,
    /// The project's JSONL record format, one record per line.
    Jsonl,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Harvest configured sources into the record store (incremental from each checkpoint).
    Harvest {
        /// Only these sources (repeatable); all when none is named.
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Start over instead of resuming from the checkpoint.
        #[arg(long)]
        full: bool,
    },
    /// Import local files into the record store.
    Import {
        /// File format.
        #[arg(long, value_enum)]
        format: Format,
        /// Source name for PubMed XML records (ids become `<source>:<pmid>`).
        #[arg(long, default_value = "pubmed")]
        source: String,
        /// Files to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Build a new index generation from the store and make it live.
    Build {
        /// Full rebuild into a new generation (the default; incremental builds come from the server's jobs).
        #[arg(long)]
        full: bool,
    },
    /// Make the previous index generation live again.
    Rollback,
    /// Merge the live generation's segments into one, so that searches visit one segment (a
    /// running server picks it up on its next reload; it rebuilds its suggestion vocabulary).
    Compact,
    /// Counts of records by source and evidence level, and the live generation.
    Stats {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Measure relevance on a BEIR-layout folder: nDCG@10, recall@100, MRR@10.
    Eval {
        /// The BEIR folder (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`).
        #[arg(long)]
        beir: PathBuf,
        /// The judgement split.
        #[arg(long, default_value = "dev")]
        split: String,
        /// Print one JSON object `{"ndcg@10", "recall@100", "mrr@10", "queries"}`.
        #[arg(long)]
        json: bool,
        /// Write a TREC run file (`qid Q0 docid rank score tag`).
        #[arg(long)]
        run: Option<PathBuf>,
        /// Plain BM25 over the same fields (no priors, no expansion), for the baseline.
        #[arg(long)]
        baseline: bool,
        /// NLM MeSH descriptor XML whose entry terms expand queries.
        #[arg(long)]
        mesh: Option<PathBuf>,
        /// A sentence-transformers model folder (all-MiniLM-L6-v2): embed the corpus and re-rank
        /// by meaning, as `[index] semantic_model` does (default: the config's setting).
        #[arg(long, env = "EVIDENCE_SEMANTIC_MODEL")]
        semantic_model: Option<PathBuf>,
        /// Keep the text of documents with an empty title whole, instead of recovering a title
        /// that ends at the word `abstract` near its start (NFCorpus's preprocessed dump).
        #[arg(long)]
        no_title_recovery: bool,
    },
    /// Recent jobs and harvests.
    Jobs {
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .init();
}

/// Shows a job's progress: a bar on a terminal, a log line every few seconds otherwise.
fn show_progress(
    progress: Arc<Progress>,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let tty = std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>20} [{bar:30}] {pos}/{len} ({per_sec}, {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let mut last_log = std::time::Instant::now();
        loop {
            let stopped = rx.recv_timeout(Duration::from_millis(200)).is_ok();
            let s = progress.snapshot();
            if let Some(b) = &bar {
                b.set_message(s.phase.clone());
                b.set_length(s.total.max(s.done));
                b.set_position(s.done);
            } else if last_log.elapsed() > Duration::from_secs(5) || stopped {
                tracing::info!(phase = %s.phase, done = s.done, total = s.total, rate = format!("{:.0}/s", s.rate_per_s), "progress");
                last_log = std::time::Instant::now();
            }
            if stopped {
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                break;
            }
        }
    });
    (stop, handle)
}

fn print_compacted(generation: u64, c: &indexer::CompactReport) {
    println!(
        "generation {generation}: {} segment(s) merged into {} in {:.1} s ({} documents)",
        c.segments_before, c.segments, c.seconds, c.documents
    );
}

fn with_progress<T>(f: impl FnOnce(&Progress) -> T) -> T {
    let progress = Arc::new(Progress::default());
    let (stop, handle) = show_progress(Arc::clone(&progress));
    let out = f(&progress);
    let _ = stop.send(());
    let _ = handle.join();
    out
}

fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::open(&config.store_path()).with_context(|| {
        format!(
            "cannot open the record store {}",
            config.store_path().display()
        )
    })
}

fn main() -> std::process::ExitCode {
    init_logging();
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::from(1)
        }
    }
}

fn real_main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let mut config = Config::load_or_default(cli.config.as_deref())?;
    if let Some(d) = cli.data {
        config.server.data = d;
    }
    let mut opts = config.index.build_options();
    // The model is read only by the commands that index or evaluate.
    if matches!(cli.command, Command::Build { .. }) {
        opts.encoder = config
            .index
            .encoder()
            .context("loading [index] semantic_model")?;
    }
    match cli.command {
        Command::Harvest { sources, full } => {
            let selected: Vec<_> = if sources.is_empty() {
                config.sources.clone()
            } else {
                let mut v = Vec::new();
                for name in &sources {
                    match config.source(name) {
                        Some(s) => v.push(s.clone()),
                        None => {
                            let known: Vec<&str> =
                                config.sources.iter().map(|s| s.name.as_str()).collect();
                            bail!(
                                "unknown source {name:?}; configured sources: {}",
                                known.join(", ")
                            );
                        }
                    }
                }
                v
            };
            if selected.is_empty() {
                bail!("no sources configured; add [[sources]] to a config file and pass --config");
            }
            let store = Arc::new(open_store(&config)?);
            let rt = tokio::runtime::Runtime::new()?;
            let reports = with_progress(|progress| {
                rt.block_on(async {
                    let mut out = Vec::new();
                    for s in &selected {
                        out.push(
                            indexer::harvesting::harvest_source(
                                Arc::clone(&store),
                                s,
                                full,
                                progress,
                            )
                            .await,
                        );
                    }
                    out
                })
            });
            let mut failed = 0;
            for r in &reports {
                println!(
                    "{:<16} pages {:>5}  added {:>7}  updated {:>6}  unchanged {:>7}  deleted {:>5}  rejected {:>4}  {:.1}s  {}",
                    r.source,
                    r.pages,
                    r.stats.added,
                    r.stats.updated,
                    r.stats.unchanged,
                    r.stats.deleted,
                    r.rejected,
                    r.seconds,
                    match &r.error {
                        None => "ok".to_string(),
                        Some(e) => format!("FAILED: {e}"),
                    }
                );
                failed += usize::from(!r.ok());
            }
            if failed > 0 {
                eprintln!("{failed} of {} sources failed; the next harvest resumes each from its last stored page", reports.len());
                return Ok(std::process::ExitCode::from(2));
            }
        }
        Command::Import {
            format,
            source,
            paths,
        } => {
            let store = open_store(&config)?;
            let mut total = store::PageStats::default();
            let mut rejected = 0u64;
            for path in &paths {
                let mut apply = |parsed: harvest::Parsed| -> Result<(), anyhow::Error> {
                    for r in parsed.rejected.iter().take(20) {
                        tracing::warn!(file = %path.display(), source_id = ?r.source_id, reason = %r.reason, "item rejected");
                    }
                    rejected += parsed.rejected.len() as u64;
                    if !parsed.records.is_empty() {
                        total += store.upsert_records(&parsed.records)?;
                    }
                    if !parsed.deleted.is_empty() {
                        total += store.apply_deletions(&parsed.deleted)?;
                    }
                    Ok(())
                };
                match format {
                    Format::PubmedXml => {
                        harvest::files::read_pubmed_xml(path, &source, 1000, &mut apply)
                            .with_context(|| format!("importing {}", path.display()))?;
                    }
                    Format::Jsonl => {
                        harvest::files::read_jsonl(path, 1000, &mut apply)
                            .with_context(|| format!("importing {}", path.display()))?;
                    }
                }
            }
            println!(
                "imported: added {}  updated {}  unchanged {}  deleted {}  rejected {}",
                total.added, total.updated, total.unchanged, total.deleted, rejected
            );
        }
        Command::Build { full: _ } => {
            // Batch work: it yields the cores to a server on the same machine (the threads the
            // build starts inherit the priority).
            indexer::priority::lower_priority(indexer::priority::BACKGROUND_NICE);
            let store = open_store(&config)?;
            let gens = Generations::open(&config.index_dir())?;
            let report = with_progress(|progress| {
                indexer::store_build::build_from_store(
                    &store,
                    &gens,
                    &config.ranking,
                    &opts,
                    config.index.batch,
                    progress,
                )
            })?;
            println!(
                "generation {} is live: {} documents ({} rejected) in {:.1}s, {:.0} records/s",
                report.generation,
                report.documents,
                report.rejected.len(),
                report.seconds,
                report.records_per_s
            );
            for (id, why) in report.rejected.iter().take(20) {
                println!("  rejected {id}: {why}");
            }
            if let Some(c) = report.compact.as_ref().filter(|c| c.segments_before > 1) {
                print_compacted(report.generation, c);
            }
            if let Some(e) = &report.compact_error {
                println!("  its segments were not merged: {e}");
            }
        }
        Command::Rollback => {
            let gens = Generations::open(&config.index_dir())?;
            let live = gens.live()?;
            match gens.previous()? {
                Some(prev) => {
                    gens.promote(prev)?;
                    println!(
                        "generation {prev} is live again (was {})",
                        live.map(|n| n.to_string()).unwrap_or_default()
                    );
                }
                None => bail!("no earlier complete generation to roll back to"),
            }
        }
        Command::Compact => {
            let gens = Generations::open(&config.index_dir())?;
            let live = gens
                .live()?
                .context("no index generation is live yet; run `indexer build`")?;
            let index = search::SearchIndex::open(&gens.path(live), config.ranking.clone())?;
            print_compacted(live, &indexer::compact(&index).with_context(|| {
                format!("cannot compact generation {live} (a build or update may be writing to it; try again when it finishes)")
            })?);
        }
        Command::Stats { json } => {
            let store = open_store(&config)?;
            let gens = Generations::open(&config.index_dir())?;
            let by_source = store.count_by_source()?;
            let by_level: std::collections::BTreeMap<String, u64> = store
                .count_by_evidence_level()?
                .into_iter()
                .map(|(k, v)| (k.as_str().to_string(), v))
                .collect();
            let live = gens.live()?;
            let out = serde_json::json!({
                "records": store.count_live()?,
                "sources": by_source,
                "evidence_levels": by_level,
                "live_generation": live,
                "generations": gens.list()?,
                "store": config.store_path(),
            });
            if json {
                println!("{out}");
            } else {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
        }
        Command::Eval {
            beir,
            split,
            json,
            run,
            baseline,
            mesh,
            no_title_recovery,
            semantic_model,
        } => {
            let mut opts = indexer::eval::EvalOptions::new(&beir, &split);
            if let Some(dir) = semantic_model.or(config.index.semantic_model.clone()) {
                if !baseline {
                    let started = std::time::Instant::now();
                    opts.encoder = Some(std::sync::Arc::new(
                        search::semantic::Encoder::load(&dir)
                            .with_context(|| format!("loading the model in {}", dir.display()))?,
                    ));
                    tracing::info!(
                        took_ms = started.elapsed().as_millis() as u64,
                        "semantic model loaded"
                    );
                }
            }
            opts.run_file = run;
            opts.recover_titles = !no_title_recovery;
            opts.params = if baseline {
                search::RankingParams::plain_bm25()
            } else {
                config.ranking.clone()
            };
            if let Some(m) = mesh {
                opts.thesaurus = Some(
                    indexer::mesh::load_thesaurus(&m)
                        .with_context(|| format!("reading MeSH descriptors {}", m.display()))?,
                );
            }
            let report = indexer::eval::evaluate(&opts)
                .with_context(|| format!("evaluating {}", beir.display()))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} {split}: nDCG@10 {:.4}  recall@100 {:.4}  MRR@10 {:.4}  ({} queries)",
                    beir.display(),
                    report.ndcg_at_10,
                    report.recall_at_100,
                    report.mrr_at_10,
                    report.queries
                );
            }
        }
        Command::Jobs { limit } => {
            let store = open_store(&config)?;
            for j in store.list_jobs(limit)? {
                println!(
                    "{:<24} {:<8} {:<12} {} {}",
                    j.id,
                    j.kind,
                    j.state.as_str(),
                    j.created_at,
                    j.finished_at.unwrap_or_default()
                );
            }
            for h in store.harvests(limit)? {
                println!(
                    "harvest #{:<5} {:<16} {} added {} updated {} deleted {} {}",
                    h.id,
                    h.source,
                    h.started_at,
                    h.stats.added,
                    h.stats.updated,
                    h.stats.deleted,
                    h.error.unwrap_or_else(|| "ok".into())
                );
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
