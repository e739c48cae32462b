//! The side-by-side run behind `benches/compare.sh`.
//!
//! `compare run --docs N [--quick]` generates the corpus, builds this engine's index generation in
//! a child process (records/s and peak RSS of a full build), measures in-process latency per query
//! shape, starts the real `query-api` binary on a free loopback port and loads it at concurrency 1,
//! 8 and 32, measures latency while a second full build runs, then builds and measures the peers
//! (raw tantivy, SQLite FTS5, PostgreSQL when `--pg` is given) on the same documents and queries.
//! It writes `summary.json` and `results.json` to `--out` and appends a section to `--results`.
//!
//! `compare build --data DIR --docs N --seed S` is the child: it streams generated records into
//! `indexer::build_generation` (which merges the new generation into one segment before it goes
//! live, unless `--no-compact`) and prints a JSON report with its own peak RSS.
//! `compare profile [--docs N | --data DIR] [--shape S[,S...]|all] [--seconds N] [--served] [--no-split] [--params JSON]`
//! runs one query shape in a loop for `perf`, on a fresh build or on a folder `compare build` made.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use benches::corpus::{Generator, PeerDoc};
use benches::engines::{measure, EngineRun, Evidence, Postgres, Sqlite, TantivyRaw};
use benches::load::{self, LoadOptions, LoadResult};
use benches::queries::{query_set, BenchQuery, Shape};
use benches::stats::{mib, proc_status_kib, Summary};
use benches::vocab::{Vocab, VocabSource};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// mimalloc, as the shipped binaries (`query-api`, `indexer`) use, so the builds and searches
/// measured here run on the allocator they run on in production.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEED: u64 = 2026;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("build") => cmd_build(&args[1..]),
        Some("criterion-md") => cmd_criterion_md(&args[1..]),
        Some("profile") => cmd_profile(&args[1..]),
        _ => {
            eprintln!(
                "usage: compare run --docs N [--quick] [--out DIR] [--results FILE] [--pg URL] [--query-api BIN]\n       compare build --data DIR --docs N --seed S [--memory-mb N] [--no-compact]\n       compare profile [--docs N | --data DIR] [--shape S[,S...]|all] [--seconds N] [--served] [--no-split] [--params JSON]\n       compare criterion-md --dir target/criterion [--since EPOCH_SECONDS]"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = res {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn has(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[compare] {}", msg.as_ref());
}

// ---------------------------------------------------------------------------------------------
// The child: one full build of a generation.

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BuildOut {
    documents: u64,
    generation: u64,
    seconds: f64,
    records_per_s: f64,
    generate_only_records_per_s: f64,
    vm_hwm_mib: f64,
    /// The largest RssAnon sampled during the build (its own memory, without mapped files).
    #[serde(default)]
    rss_anon_peak_mib: f64,
    vocab: String,
    /// The writer's memory budget (`--memory-mb`, by default the engine's own default).
    #[serde(default)]
    memory_mb: usize,
    /// The merge after the build, as the server does after a reindex job
    /// (`[index] compact_after_build`); `None` with `--no-compact`.
    #[serde(default)]
    compact: Option<CompactOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CompactOut {
    segments_before: usize,
    seconds: f64,
}

fn cmd_build(args: &[String]) -> Result<()> {
    // As `indexer build` does: batch priority, inherited by the build's threads. It changes
    // nothing on an idle machine (the build figures); beside the server (the rebuild test) the
    // build takes the cores the searches leave.
    indexer::priority::lower_priority(indexer::priority::BACKGROUND_NICE);
    let data = PathBuf::from(flag(args, "--data").context("--data is required")?);
    let docs: u64 = flag(args, "--docs")
        .and_then(|s| benches::parse_size(&s))
        .context("--docs is required")? as u64;
    let seed: u64 = flag(args, "--seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let memory_mb: usize = flag(args, "--memory-mb")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(indexer::config::default_memory_mb);
    let vocab = Vocab::load_default();
    let vocab_name = match vocab.source {
        VocabSource::Mesh => "mesh",
        VocabSource::Builtin => "builtin",
    };
    let gen = Generator::new(seed, vocab);
    // Generation speed alone, on a sample, so the build's figure (which includes streaming the
    // generated records, as a real build includes reading the store) can be read either way.
    let sample = docs.min(20_000);
    let t = Instant::now();
    drop(gen.records(0..sample));
    let generate_rate = sample as f64 / t.elapsed().as_secs_f64().max(1e-9);

    let gens = search::Generations::open(&data.join("index"))?;
    let opts = indexer::BuildOptions {
        memory_bytes: memory_mb << 20,
        keep_generations: 2,
        compact: !has(args, "--no-compact"),
        encoder: None,
    };
    let batch = 5_000u64;
    let mut next = 0u64;
    let batches = std::iter::from_fn(|| {
        if next >= docs {
            return None;
        }
        let end = (next + batch).min(docs);
        let b = gen.records(next..end);
        next = end;
        Some(Ok::<_, std::convert::Infallible>(b))
    });
    let anon = benches::stats::AnonPeak::start();
    let report = indexer::build_generation(
        &gens,
        &search::RankingParams::default(),
        &opts,
        batches,
        Some(docs),
        &indexer::Progress::default(),
    )?;
    if let Some(e) = &report.compact_error {
        bail!("the build's merge failed: {e}");
    }
    let compact = report.compact.map(|c| CompactOut {
        segments_before: c.segments_before,
        seconds: c.seconds,
    });
    let out = BuildOut {
        documents: report.documents,
        generation: report.generation,
        seconds: report.seconds,
        records_per_s: report.records_per_s,
        generate_only_records_per_s: generate_rate,
        vm_hwm_mib: proc_status_kib(None, "VmHWM").map(mib).unwrap_or(0.0),
        rss_anon_peak_mib: mib(anon.finish()),
        vocab: vocab_name.into(),
        memory_mb,
        compact,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn spawn_build(data: &Path, docs: u64, seed: u64) -> Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .args(["build", "--data"])
        .arg(data)
        .args(["--docs", &docs.to_string(), "--seed", &seed.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the build child")
}

fn finish_build(child: Child) -> Result<BuildOut> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("build child failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).with_context(|| format!("bad build report: {line}"))
}

// ---------------------------------------------------------------------------------------------
// A loop to run under a profiler: `perf record -g compare profile --docs 100k --shape 2-4_terms`.

fn cmd_profile(args: &[String]) -> Result<()> {
    let docs = flag(args, "--docs")
        .and_then(|s| benches::parse_size(&s))
        .unwrap_or(100_000) as u64;
    let shape = flag(args, "--shape").unwrap_or_else(|| Shape::FewTerms.as_str().into());
    let seconds: u64 = flag(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(600);
    let served = has(args, "--served");
    let gen = Generator::new(SEED, Vocab::load_default());
    let queries: Vec<BenchQuery> = query_set(&gen, SEED, 50)
        .into_iter()
        .filter(|q| shape == "all" || shape.split(',').any(|s| s == q.shape.as_str()))
        .collect();
    if queries.is_empty() {
        bail!("no queries of shape {shape}");
    }
    // `--data DIR` opens the live generation of a data folder made by `compare build` (one build
    // serves many profiles); otherwise the records are built into a temporary folder.
    let dir = tempfile::tempdir()?;
    let index = match flag(args, "--data") {
        Some(data) => {
            let gens = search::Generations::open(&PathBuf::from(data).join("index"))?;
            let live = gens
                .live()?
                .context("the data folder has no live generation")?;
            let index =
                search::SearchIndex::open(&gens.path(live), search::RankingParams::default())?;
            log(format!(
                "opened generation {live}; running {shape} for {seconds}s"
            ));
            index
        }
        None => {
            let (index, secs) = benches::engines::build_evidence_index(
                Some(dir.path()),
                gen.records(0..docs),
                indexer::config::default_memory_mb() << 20,
            )?;
            log(format!(
                "built {docs} in {secs:.1}s; running {shape} for {seconds}s"
            ));
            index
        }
    };
    let mut e = Evidence {
        index,
        highlight: served,
        facets: served.then_some(true),
        label: "profile",
    };
    if has(args, "--no-split") {
        e.index.set_split_searches(false);
    }
    if has(args, "--no-pruning") {
        e.index.set_pruned_unions(false);
    }
    if let Some(p) = flag(args, "--params") {
        e.index.set_params(
            serde_json::from_str(&p)
                .context("--params must be a JSON object of ranking parameters")?,
        );
    }
    let run = measure(
        &mut e,
        &queries,
        Duration::from_secs(1),
        Duration::from_secs(seconds),
        1_000_000,
    );
    println!("{}", serde_json::to_string_pretty(&run)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Criterion's results as a markdown table.

fn find_benchmarks(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") && p.join("benchmark.json").is_file() {
                out.push(p);
            } else {
                find_benchmarks(&p, out, depth + 1);
            }
        }
    }
}

fn human_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn cmd_criterion_md(args: &[String]) -> Result<()> {
    let dir = PathBuf::from(flag(args, "--dir").unwrap_or_else(|| "target/criterion".into()));
    let since: u64 = flag(args, "--since")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut found = Vec::new();
    find_benchmarks(&dir, &mut found, 0);
    let mut rows = Vec::new();
    for p in found {
        let fresh = std::fs::metadata(p.join("estimates.json"))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .is_some_and(|d| d.as_secs() >= since);
        if !fresh {
            continue;
        }
        let read = |f: &str| -> Option<Value> {
            serde_json::from_str(&std::fs::read_to_string(p.join(f)).ok()?).ok()
        };
        let (Some(bench), Some(est)) = (read("benchmark.json"), read("estimates.json")) else {
            continue;
        };
        let id = bench["full_id"].as_str().unwrap_or("?").to_string();
        let mean = est["mean"]["point_estimate"].as_f64().unwrap_or(0.0);
        let median = est["median"]["point_estimate"].as_f64().unwrap_or(0.0);
        let thrpt = if let Some(b) = bench["throughput"]["Bytes"].as_f64() {
            format!("{:.1} MB/s", b / (mean / 1e9) / 1e6)
        } else if let Some(n) = bench["throughput"]["Elements"].as_f64() {
            format!("{:.0} elements/s", n / (mean / 1e9))
        } else {
            format!("{:.0} per s", 1e9 / mean.max(1e-9))
        };
        rows.push((id, median, mean, thrpt));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if rows.is_empty() {
        return Ok(());
    }
    println!("| benchmark | median | mean | throughput |");
    println!("|---|---:|---:|---:|");
    for (id, median, mean, thrpt) in rows {
        println!(
            "| {id} | {} | {} | {thrpt} |",
            human_time(median),
            human_time(mean)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The server under load.

/// Waits, after a server is ready, until its suggestion vocabulary is built (one search starts
/// the build; it reads every stored record, 70 s at 1M records on one core), so that the loads
/// measure a server in its steady state rather than sharing the cores with that build, and its
/// memory is measured after the build has read the store. A server that does not say (an older
/// binary) is loaded as it is.
fn settle(addr: SocketAddr) {
    let started = Instant::now();
    let waited = load::wait_for(addr, "/api/v1/search?q=asthma", "", Duration::from_secs(30))
        .and_then(|()| {
            load::wait_for(
                addr,
                "/readyz",
                "\"suggestions\":\"ready\"",
                Duration::from_secs(900),
            )
        });
    match waited {
        Ok(()) => log(format!(
            "suggestion vocabulary ready after {:.1}s",
            started.elapsed().as_secs_f64()
        )),
        Err(e) => log(format!(
            "loading without waiting for the suggestion vocabulary: {e}"
        )),
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(bin: &Path, data: &Path, log_path: &Path) -> Result<Server> {
        Self::start_with(bin, data, log_path, None)
    }

    fn start_with(
        bin: &Path,
        data: &Path,
        log_path: &Path,
        config: Option<&Path>,
    ) -> Result<Server> {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let logf = std::fs::File::create(log_path)?;
        let mut cmd = Command::new(bin);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let mut child = cmd
            .arg("--data")
            .arg(data)
            .arg("--bind")
            .arg(addr.to_string())
            .env("RUST_LOG", "warn,query_api=info")
            .env_remove("EVIDENCE_CONFIG")
            .stdout(logf.try_clone()?)
            .stderr(logf)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        // Give up early when the server exits (a config it rejects, a port taken).
        for _ in 0..3000 {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{} exited with {status}; see {}",
                    bin.display(),
                    log_path.display()
                );
            }
            if load::wait_ready(addr, "/readyz", Duration::from_millis(200)).is_ok() {
                settle(addr);
                return Ok(Server { child, addr });
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("{} did not become ready", bin.display())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load_opts(
    addr: SocketAddr,
    paths: &Arc<Vec<String>>,
    c: usize,
    warm: u64,
    secs: u64,
) -> LoadOptions {
    LoadOptions {
        addr,
        paths: Arc::clone(paths),
        concurrency: c,
        warmup: Duration::from_secs(warm),
        duration: Duration::from_secs(secs),
        max_requests_per_client: 5_000_000,
        stop: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

#[derive(Debug, Clone, Serialize)]
struct PeerResult {
    build_seconds: f64,
    docs_per_s: f64,
    run: EngineRun,
}

fn peer_docs(gen: &Generator, n: u64) -> Vec<PeerDoc> {
    let mut out = Vec::with_capacity(n as usize);
    let mut i = 0;
    while i < n {
        let end = (i + 20_000).min(n);
        out.extend(gen.records(i..end).iter().map(PeerDoc::from_record));
        i = end;
    }
    out
}

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = proc_meminfo_gib();
    format!("{cores} cores ({cpu}), {mem:.0} GiB RAM")
}

fn proc_meminfo_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Budget {
    warmup: Duration,
    per_engine: Duration,
    rounds: usize,
    http_warm: u64,
    http_secs: u64,
    idle_secs: u64,
}

fn cmd_run(args: &[String]) -> Result<()> {
    let quick = has(args, "--quick");
    let docs: u64 = flag(args, "--docs")
        .and_then(|s| benches::parse_size(&s))
        .unwrap_or(if quick { 100_000 } else { 1_000_000 }) as u64;
    let out_dir = PathBuf::from(flag(args, "--out").unwrap_or_else(|| "target/bench".into()));
    let results_md = flag(args, "--results").map(PathBuf::from);
    let pg_url = flag(args, "--pg").filter(|s| !s.is_empty());
    let pg_note = flag(args, "--pg-note").unwrap_or_else(|| "no --pg URL given".into());
    let note = flag(args, "--note").unwrap_or_default();
    let criterion_md = flag(args, "--criterion-md").map(PathBuf::from);
    let per_shape: usize = flag(args, "--queries-per-shape")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let budget = if quick {
        Budget {
            warmup: Duration::from_secs(3),
            per_engine: Duration::from_secs(15),
            rounds: 20,
            http_warm: 2,
            http_secs: 10,
            idle_secs: 10,
        }
    } else {
        Budget {
            warmup: Duration::from_secs(5),
            per_engine: Duration::from_secs(40),
            rounds: 50,
            http_warm: 3,
            http_secs: 20,
            idle_secs: 15,
        }
    };
    // A scale for every time budget (smoke tests: `--budget-scale 0.2`).
    let scale: f64 = flag(args, "--budget-scale")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0f64)
        .clamp(0.05, 10.0);
    let budget = Budget {
        warmup: budget.warmup.mul_f64(scale),
        per_engine: budget.per_engine.mul_f64(scale),
        rounds: budget.rounds,
        http_warm: ((budget.http_warm as f64 * scale).ceil() as u64).max(1),
        http_secs: ((budget.http_secs as f64 * scale).ceil() as u64).max(1),
        idle_secs: ((budget.idle_secs as f64 * scale).ceil() as u64).max(1),
    };
    let query_api_bin = flag(args, "--query-api")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("query-api")))
                .unwrap_or_else(|| PathBuf::from("query-api"))
        });
    std::fs::create_dir_all(&out_dir)?;
    let work = tempfile::Builder::new()
        .prefix("work-")
        .tempdir_in(&out_dir)?;
    let data = work.path().join("data");
    let started = Instant::now();
    let load_before = loadavg();
    log(format!(
        "{docs} documents, quick = {quick}, work dir {}",
        work.path().display()
    ));

    let vocab = Vocab::load_default();
    let vocab_name = match vocab.source {
        VocabSource::Mesh => "MeSH 2026 descriptors (../shared/data)",
        VocabSource::Builtin => "built-in word lists (MeSH CSV absent)",
    };
    log(format!(
        "vocabulary: {vocab_name}: {} words, {} topics",
        vocab.words.len(),
        vocab.topics.len()
    ));
    let gen = Generator::new(SEED, vocab);
    let queries = query_set(&gen, SEED, per_shape);
    let paths: Arc<Vec<String>> = Arc::new(queries.iter().map(BenchQuery::http_path).collect());

    // 1. This engine's full build, in a child process so its peak RSS is its own.
    log("building this engine's index generation (child process)");
    let build = finish_build(spawn_build(&data, docs, SEED)?)?;
    log(format!(
        "built {} docs in {:.1}s: {:.0} records/s, peak RSS {:.0} MiB; merged {} segment(s) in {:.1}s",
        build.documents,
        build.seconds,
        build.records_per_s,
        build.vm_hwm_mib,
        build.compact.as_ref().map_or(0, |c| c.segments_before),
        build.compact.as_ref().map_or(0.0, |c| c.seconds)
    ));

    // 2. In process.
    let gens = search::Generations::open(&data.join("index"))?;
    let live = gens.live()?.context("no live generation after the build")?;
    let mut inproc: BTreeMap<&'static str, EngineRun> = BTreeMap::new();
    {
        let index = search::SearchIndex::open(&gens.path(live), search::RankingParams::default())?;
        let mut e = Evidence {
            index,
            highlight: false,
            facets: None,
            label: "evidence-inprocess",
        };
        // Measures `e` as it stands, under its label.
        let mut run = |e: &mut Evidence, what: &str| {
            log(format!("measuring in process ({what})"));
            let r = measure(e, &queries, budget.warmup, budget.per_engine, budget.rounds);
            inproc.insert(e.label, r);
        };
        run(
            &mut e,
            "comparison task: top 10, facets only where asked, no snippets",
        );
        // The same task with each search on one thread (no second core for a lone search):
        // what splitting buys, and the row to hold beside the peers' single-threaded searches.
        e.index.set_split_searches(false);
        e.label = "evidence-inprocess-1core";
        run(&mut e, "every search on one thread: split searches off");
        e.index.set_split_searches(true);
        // The same task with pseudo-relevance feedback off (a `[ranking]` setting), when the
        // ranking parameters have it: what the feedback pass costs.
        match feedback_off() {
            Some(p) => {
                e.index.set_params(p);
                e.label = "evidence-inprocess-noprf";
                run(&mut e, "pseudo-relevance feedback off: prf_docs = 0");
                e.index.set_params(search::RankingParams::default());
            }
            _ => log(
                "ranking has no prf_docs setting (or it is already off): no feedback-off variant",
            ),
        }
        e.highlight = true;
        e.facets = Some(true);
        e.label = "evidence-inprocess-served";
        run(&mut e, "as served: facets and snippets on every query");
    }

    // 3. HTTP against the real binary.
    let mut http: Vec<LoadResult> = Vec::new();
    let mut server_rss: Option<(f64, f64, f64, f64)> = None;
    let mut rebuild: Option<(LoadResult, LoadResult, BuildOut)> = None;
    let mut http_note = String::new();
    let mut http_noprf: Option<LoadResult> = None;
    let skip_rebuild = has(args, "--skip-rebuild");
    if query_api_bin.is_file() {
        log(format!("starting {} on loopback", query_api_bin.display()));
        let server = Server::start(&query_api_bin, &data, &out_dir.join("query-api.log"))?;
        let rss_ready = proc_status_kib(Some(server.pid()), "VmRSS")
            .map(mib)
            .unwrap_or(0.0);
        for c in [1usize, 8, 32] {
            log(format!(
                "HTTP load at concurrency {c} for {}s",
                budget.http_secs
            ));
            http.push(load::run(&load_opts(
                server.addr,
                &paths,
                c,
                budget.http_warm,
                budget.http_secs,
            ))?);
        }
        let hwm = proc_status_kib(Some(server.pid()), "VmHWM")
            .map(mib)
            .unwrap_or(0.0);
        // The index is memory-mapped: RSS counts the index pages the searches touched (file
        // pages, in the page cache and shared) besides the process's own memory (anonymous).
        let anon = proc_status_kib(Some(server.pid()), "RssAnon")
            .map(mib)
            .unwrap_or(0.0);
        let file = proc_status_kib(Some(server.pid()), "RssFile")
            .map(mib)
            .unwrap_or(0.0);
        server_rss = Some((rss_ready, hwm, anon, file));

        // 4. Latency while a second full build runs (same size, another seed), vs idle.
        if skip_rebuild {
            log("latency during a rebuild: skipped (--skip-rebuild)");
        } else {
            log(format!(
                "idle latency at concurrency 1 for {}s",
                budget.idle_secs
            ));
            let idle = load::run(&load_opts(server.addr, &paths, 1, 1, budget.idle_secs))?;
            log("latency during a second full build (child process)");
            let stop = Arc::new(AtomicBool::new(false));
            let mut opts = load_opts(server.addr, &paths, 1, 0, 3600);
            opts.stop = Some(Arc::clone(&stop));
            let loader = std::thread::spawn(move || load::run(&opts));
            let child = spawn_build(&data, docs, SEED + 1);
            let built = child.and_then(finish_build);
            stop.store(true, Ordering::Relaxed);
            let during = loader
                .join()
                .map_err(|_| anyhow::anyhow!("load thread panicked"))??;
            let built = built?;
            rebuild = Some((idle, during, built));
        }
        drop(server);

        // 5. The server again with pseudo-relevance feedback off, at concurrency 32: what the
        // feedback pass costs over HTTP (when the defaults have it on).
        let cfg = out_dir.join("noprf.toml");
        std::fs::write(&cfg, "[ranking]\nprf_docs = 0\n")?;
        match feedback_off().map(|_| {
            Server::start_with(
                &query_api_bin,
                &data,
                &out_dir.join("query-api-noprf.log"),
                Some(&cfg),
            )
        }) {
            None => log("the default ranking has feedback off: no feedback-off server run"),
            Some(Ok(server)) => {
                log(format!(
                    "HTTP load at concurrency 32 with feedback off for {}s",
                    budget.http_secs
                ));
                http_noprf = Some(load::run(&load_opts(
                    server.addr,
                    &paths,
                    32,
                    budget.http_warm,
                    budget.http_secs,
                ))?);
            }
            Some(Err(e)) => log(format!("no feedback-off server run: {e:#}")),
        }
    } else {
        http_note = format!(
            "{} not found: HTTP runs skipped (build it with cargo build --release -p query-api)",
            query_api_bin.display()
        );
        log(&http_note);
    }

    // 5. Peers on the same documents and queries.
    log("generating the peers' documents");
    let pdocs = peer_docs(&gen, docs);
    let mut peers: BTreeMap<&'static str, Result<PeerResult, String>> = BTreeMap::new();
    {
        log("raw tantivy: build and measure");
        let dir = work.path().join("tantivy-raw");
        match TantivyRaw::build(&dir, &pdocs) {
            Ok((mut e, secs)) => {
                let run = measure(
                    &mut e,
                    &queries,
                    budget.warmup,
                    budget.per_engine,
                    budget.rounds,
                );
                peers.insert(
                    "tantivy-raw",
                    Ok(PeerResult {
                        build_seconds: secs,
                        docs_per_s: docs as f64 / secs,
                        run,
                    }),
                );
                // Diagnostic: the same with a total count, as this engine always computes one.
                e.count = true;
                let run = measure(
                    &mut e,
                    &queries,
                    budget.warmup,
                    budget.per_engine / 2,
                    budget.rounds,
                );
                peers.insert(
                    "tantivy-raw+count",
                    Ok(PeerResult {
                        build_seconds: secs,
                        docs_per_s: docs as f64 / secs,
                        run,
                    }),
                );
            }
            Err(e) => {
                peers.insert("tantivy-raw", Err(format!("{e:#}")));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    {
        log("SQLite FTS5: build and measure");
        let path = work.path().join("fts5.sqlite");
        let r = Sqlite::build(&path, &pdocs).map(|(mut e, secs)| PeerResult {
            build_seconds: secs,
            docs_per_s: docs as f64 / secs,
            run: measure(
                &mut e,
                &queries,
                budget.warmup,
                budget.per_engine,
                budget.rounds,
            ),
        });
        peers.insert("sqlite-fts5", r.map_err(|e| format!("{e:#}")));
        let _ = std::fs::remove_file(&path);
    }
    match &pg_url {
        Some(url) => {
            log("PostgreSQL: load, index and measure");
            let r = Postgres::build(url, &pdocs).map(|(mut e, secs)| {
                let run = measure(
                    &mut e,
                    &queries,
                    budget.warmup,
                    budget.per_engine,
                    budget.rounds,
                );
                PeerResult {
                    build_seconds: secs,
                    docs_per_s: docs as f64 / secs,
                    run,
                }
            });
            if let Err(e) = &r {
                log(format!("PostgreSQL failed: {e:#}"));
            }
            peers.insert("postgres-fts", r.map_err(|e| format!("{e:#}")));
        }
        None => {
            log(format!("PostgreSQL skipped: {pg_note}"));
            peers.insert("postgres-fts", Err(pg_note.clone()));
        }
    }
    drop(pdocs);
    for (name, r) in &peers {
        if let Ok(p) = r {
            log(format!(
                "{name}: p50 {:.3} ms, p99 {:.3} ms",
                p.run.all.p50_ms, p.run.all.p99_ms
            ));
        }
    }

    // 6. Output.
    let date = sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let commit = sh("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = sh("git", &["status", "--porcelain"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let commit = if dirty {
        format!("{commit} (uncommitted changes)")
    } else {
        commit
    };
    let brief = |s: &Summary| json!({"p50_ms": s.p50_ms, "p95_ms": s.p95_ms, "p99_ms": s.p99_ms, "qps": s.qps});
    let mut engines = serde_json::Map::new();
    for name in ["evidence-inprocess", "evidence-inprocess-1core"] {
        if let Some(r) = inproc.get(name) {
            engines.insert(name.into(), brief(&r.all));
        }
    }
    if let Some(r) = http.iter().find(|r| r.concurrency == 32) {
        let mut v = brief(&r.summary);
        v["concurrency"] = json!(32);
        engines.insert("evidence-http".into(), v);
    } else {
        engines.insert("evidence-http".into(), Value::Null);
    }
    for name in ["sqlite-fts5", "postgres-fts", "tantivy-raw"] {
        match peers.get(name) {
            Some(Ok(p)) => engines.insert(name.into(), brief(&p.run.all)),
            Some(Err(e)) => engines.insert(name.into(), json!({"skipped": e})),
            None => engines.insert(name.into(), Value::Null),
        };
    }
    let goals = goals(docs, &build, &inproc, &http, &peers, server_rss);
    let summary = json!({
        "docs": docs,
        "index_docs_per_s": build.records_per_s,
        "engines": engines,
        "quick": quick,
        "date": date,
        "commit": commit,
        "machine": machine(),
        "memory_mib": {
            "query_api_rss_ready": server_rss.map(|s| s.0),
            "query_api_vm_hwm": server_rss.map(|s| s.1),
            "query_api_rss_anon_after_load": server_rss.map(|s| s.2),
            "query_api_rss_file_after_load": server_rss.map(|s| s.3),
            "full_build_vm_hwm": build.vm_hwm_mib,
            "full_build_rss_anon_peak": build.rss_anon_peak_mib,
        },
        "merge_after_build": build.compact.as_ref().map(|c| json!({
            "segments_before": c.segments_before,
            "seconds": c.seconds,
        })),
        "evidence_http_feedback_off": http_noprf.as_ref().map(|r| brief(&r.summary)),
        "rebuild": rebuild.as_ref().map(|(idle, during, b)| json!({
            "idle": brief(&idle.summary),
            "during_build": brief(&during.summary),
            "build_records_per_s_while_serving": b.records_per_s,
        })),
        "goals": goals.iter().map(|g| json!({"goal": g.0, "measured": g.1, "met": g.2})).collect::<Vec<_>>(),
    });
    std::fs::write(
        out_dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    let details = json!({
        "summary": summary,
        "build": build,
        "in_process": inproc,
        "http": http,
        "rebuild": rebuild.as_ref().map(|(i, d, b)| json!({"idle": i, "during": d, "build": b})),
        "peers": peers.iter().map(|(k, v)| (k.to_string(), match v { Ok(p) => serde_json::to_value(p).unwrap_or(Value::Null), Err(e) => json!({"skipped": e}) })).collect::<serde_json::Map<_, _>>(),
        "queries": queries.iter().map(|q| json!({"shape": q.shape.as_str(), "text": q.text, "sqlite": Sqlite::translate(q), "postgres": Postgres::translate(q), "tantivy": TantivyRaw::translate(q)})).collect::<Vec<_>>(),
    });
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&details)?,
    )?;
    log(format!("wrote {}", out_dir.join("summary.json").display()));

    if let Some(md_path) = results_md {
        let criterion = criterion_md
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let md = markdown(MdInput {
            docs,
            quick,
            date: &date,
            commit: &commit,
            load_before: &load_before,
            load_after: &loadavg(),
            vocab: vocab_name,
            note: &note,
            minutes: started.elapsed().as_secs_f64() / 60.0,
            build: &build,
            inproc: &inproc,
            http: &http,
            http_noprf: http_noprf.as_ref(),
            http_note: &http_note,
            server_rss,
            rebuild: rebuild.as_ref(),
            peers: &peers,
            goals: &goals,
            criterion: &criterion,
            queries: &queries,
        });
        let mut old = std::fs::read_to_string(&md_path).unwrap_or_default();
        if !old.is_empty() && !old.ends_with('\n') {
            old.push('\n');
        }
        std::fs::write(&md_path, format!("{old}\n{md}"))?;
        log(format!("appended results to {}", md_path.display()));
    }
    Ok(())
}

/// The default ranking with pseudo-relevance feedback off, when that differs from the default.
fn feedback_off() -> Option<search::RankingParams> {
    serde_json::from_value::<search::RankingParams>(json!({"prf_docs": 0}))
        .ok()
        .filter(|p| *p != search::RankingParams::default())
}

type Goal = (String, String, Option<bool>);

fn goals(
    docs: u64,
    build: &BuildOut,
    inproc: &BTreeMap<&'static str, EngineRun>,
    http: &[LoadResult],
    peers: &BTreeMap<&'static str, Result<PeerResult, String>>,
    server_rss: Option<(f64, f64, f64, f64)>,
) -> Vec<Goal> {
    let mut out = Vec::new();
    let few_terms = |name: &str| {
        inproc
            .get(name)
            .and_then(|r| r.per_shape.get(Shape::FewTerms.as_str()))
    };
    if let Some(s) = few_terms("evidence-inprocess") {
        let at = if docs >= 1_000_000 {
            ""
        } else {
            " (goal is at 1M docs; not this size)"
        };
        let one_core = few_terms("evidence-inprocess-1core")
            .map(|c| {
                format!(
                    "; on one core p50 {:.3} ms, p99 {:.3} ms",
                    c.p50_ms, c.p99_ms
                )
            })
            .unwrap_or_default();
        out.push((
            "in-process p50 < 0.5 ms and p99 < 10 ms at 1M docs, 2-4 term queries".to_string(),
            format!(
                "p50 {:.3} ms, p99 {:.3} ms at {}{one_core}{at}",
                s.p50_ms,
                s.p99_ms,
                benches::size_label(docs as usize)
            ),
            (docs >= 1_000_000).then_some(s.p50_ms < 0.5 && s.p99_ms < 10.0),
        ));
    }
    if let Some(r) = http.iter().find(|r| r.concurrency == 32) {
        out.push((
            "HTTP at concurrency 32: >= 1,000 QPS with p99 < 20 ms at 100k docs".to_string(),
            format!(
                "{:.0} QPS, p99 {:.2} ms at {}",
                r.summary.qps,
                r.summary.p99_ms,
                benches::size_label(docs as usize)
            ),
            (docs == 100_000).then_some(r.summary.qps >= 1000.0 && r.summary.p99_ms < 20.0),
        ));
    }
    out.push((
        "indexing >= 10,000 records/s".to_string(),
        format!(
            "{:.0} records/s (full build of {}, generation included)",
            build.records_per_s,
            benches::size_label(docs as usize)
        ),
        Some(build.records_per_s >= 10_000.0),
    ));
    // Against this engine on one core: SQLite searches on one thread.
    let ours = inproc
        .get("evidence-inprocess-1core")
        .or_else(|| inproc.get("evidence-inprocess"));
    if let (Some(ours), Some(Ok(lite))) = (ours, peers.get("sqlite-fts5")) {
        let r50 = lite.run.all.p50_ms / ours.all.p50_ms.max(1e-6);
        let r99 = lite.run.all.p99_ms / ours.all.p99_ms.max(1e-6);
        out.push((
            "query latency >= 5x below SQLite FTS5 on the same queries".to_string(),
            format!(
                "SQLite/ours: {r50:.1}x at p50, {r99:.1}x at p99{}",
                if inproc.contains_key("evidence-inprocess-1core") {
                    " (ours on one core per search)"
                } else {
                    ""
                }
            ),
            Some(r50 >= 5.0 && r99 >= 5.0),
        ));
    }
    if let Some((_, hwm, anon, file)) = server_rss {
        out.push((
            "serving 1M docs in < 1.5 GiB RSS".to_string(),
            format!(
                "query-api peak RSS {hwm:.0} MiB at {} (after the loads: {anon:.0} MiB own memory, {file:.0} MiB mapped index pages)",
                benches::size_label(docs as usize)
            ),
            (docs >= 1_000_000).then_some(hwm < 1536.0),
        ));
    }
    out
}

struct MdInput<'a> {
    docs: u64,
    quick: bool,
    date: &'a str,
    commit: &'a str,
    load_before: &'a str,
    load_after: &'a str,
    vocab: &'a str,
    note: &'a str,
    minutes: f64,
    build: &'a BuildOut,
    inproc: &'a BTreeMap<&'static str, EngineRun>,
    http: &'a [LoadResult],
    http_noprf: Option<&'a LoadResult>,
    http_note: &'a str,
    server_rss: Option<(f64, f64, f64, f64)>,
    rebuild: Option<&'a (LoadResult, LoadResult, BuildOut)>,
    peers: &'a BTreeMap<&'static str, Result<PeerResult, String>>,
    goals: &'a [Goal],
    criterion: &'a str,
    queries: &'a [BenchQuery],
}

fn f3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn markdown(m: MdInput) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let size = benches::size_label(m.docs as usize);
    let _ = writeln!(
        s,
        "## Run {} — {size} documents{}",
        m.date,
        if m.quick { " (`--quick`)" } else { "" }
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "- Machine: {}; load average {} before, {} after.",
        machine(),
        m.load_before,
        m.load_after
    );
    let _ = writeln!(
        s,
        "- Commit: {}. Vocabulary: {}. Run took {:.1} minutes.",
        m.commit, m.vocab, m.minutes
    );
    let _ = writeln!(s, "- Queries: {} ({} per shape), interleaved by shape; each engine measured in a closed loop of one client thread (a lone search of this engine may use the second core; `evidence-inprocess-1core` has that off, and is the row the SQLite ratio uses).", m.queries.len(), m.queries.len() / Shape::ALL.len());
    if !m.note.is_empty() {
        let _ = writeln!(s, "- Note: {}", m.note);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "### Engines, same documents and queries (top 10, filters; evidence counts for the faceted shape)");
    let _ = writeln!(s);
    let _ = writeln!(s, "| engine | build s | docs/s | p50 ms | p95 ms | p99 ms | QPS (1 thread) | queries | zero-hit | errors |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let row = |s: &mut String, name: &str, build: Option<(f64, f64)>, r: &EngineRun| {
        let (bs, dps) = build
            .map(|(a, b)| (format!("{a:.1}"), format!("{b:.0}")))
            .unwrap_or(("—".into(), "—".into()));
        let _ = writeln!(
            s,
            "| {name} | {bs} | {dps} | {} | {} | {} | {:.0} | {} | {} | {} |",
            f3(r.all.p50_ms),
            f3(r.all.p95_ms),
            f3(r.all.p99_ms),
            r.all.qps,
            r.all.count,
            r.zero_hit,
            r.errors
        );
    };
    if let Some(r) = m.inproc.get("evidence-inprocess") {
        row(
            &mut s,
            "evidence-inprocess",
            Some((m.build.seconds, m.build.records_per_s)),
            r,
        );
    }
    if let Some(r) = m.inproc.get("evidence-inprocess-1core") {
        row(
            &mut s,
            "evidence-inprocess-1core (no search split)",
            None,
            r,
        );
    }
    if let Some(r) = m.inproc.get("evidence-inprocess-noprf") {
        row(&mut s, "evidence-inprocess-noprf (feedback off)", None, r);
    }
    if let Some(r) = m.inproc.get("evidence-inprocess-served") {
        row(
            &mut s,
            "evidence-inprocess-served (facets + snippets always)",
            None,
            r,
        );
    }
    for (name, r) in m.peers {
        match r {
            Ok(p) => row(&mut s, name, Some((p.build_seconds, p.docs_per_s)), &p.run),
            Err(e) => {
                let _ = writeln!(s, "| {name} | skipped: {e} | | | | | | | | |");
            }
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "p50 / p99 in ms per query shape:");
    let _ = writeln!(s);
    let mut names: Vec<(&str, &EngineRun)> = m.inproc.iter().map(|(k, v)| (*k, v)).collect();
    for (k, v) in m.peers {
        if let Ok(p) = v {
            names.push((k, &p.run));
        }
    }
    let _ = write!(s, "| shape |");
    for (n, _) in &names {
        let _ = write!(s, " {n} |");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for shape in Shape::ALL {
        let _ = write!(s, "| {} |", shape.as_str());
        for (_, r) in &names {
            match r.per_shape.get(shape.as_str()) {
                Some(x) => {
                    let _ = write!(s, " {} / {} |", f3(x.p50_ms), f3(x.p99_ms));
                }
                None => {
                    let _ = write!(s, " — |");
                }
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "### HTTP: real `query-api` on 127.0.0.1 (facets and snippets on every request), closed loop");
    let _ = writeln!(s);
    if m.http.is_empty() {
        let _ = writeln!(s, "Skipped: {}", m.http_note);
    } else {
        let _ = writeln!(s, "| concurrency | QPS | p50 ms | p95 ms | p99 ms | max ms | requests | non-200 | errors | mean body bytes |");
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let rows = m
            .http
            .iter()
            .map(|r| (r.concurrency.to_string(), r))
            .chain(m.http_noprf.map(|r| {
                (
                    format!("{} (feedback off: `[ranking] prf_docs = 0`)", r.concurrency),
                    r,
                )
            }));
        for (label, r) in rows {
            let x = &r.summary;
            let _ = writeln!(
                s,
                "| {label} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                x.qps,
                f3(x.p50_ms),
                f3(x.p95_ms),
                f3(x.p99_ms),
                f3(x.max_ms),
                x.count,
                r.non_200,
                r.errors,
                r.mean_body_bytes
            );
        }
    }
    let _ = writeln!(s);
    if let Some((idle, during, b)) = m.rebuild {
        let _ = writeln!(
            s,
            "### Search latency during a full rebuild vs idle (HTTP, concurrency 1)"
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| state | p50 ms | p95 ms | p99 ms | max ms | QPS | requests |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for (name, r) in [
            ("idle", idle),
            ("during a full build of the same size", during),
        ] {
            let x = &r.summary;
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {:.0} | {} |",
                f3(x.p50_ms),
                f3(x.p95_ms),
                f3(x.p99_ms),
                f3(x.max_ms),
                x.qps,
                x.count
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "The second build ({} documents) ran at {:.0} records/s while serving ({:.0} records/s idle); its generation went live when done and the server swapped to it.",
            b.documents, b.records_per_s, m.build.records_per_s
        );
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "### Indexing and memory");
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "- Full build (`indexer::build_generation`, {} MiB writer budget) of {} records: {:.1} s, **{:.0} records/s** including generating the records on the fly (generation alone: {:.0} records/s).",
        m.build.memory_mb, m.build.documents, m.build.seconds, m.build.records_per_s, m.build.generate_only_records_per_s
    );
    if let Some(c) = &m.build.compact {
        let _ = writeln!(
            s,
            "- Then, before it went live, as every full build does by default (`[index] compact_after_build`), its {} segment(s) were merged into one in {:.1} s, not counted in the records/s above. Every search below runs on the merged index; raw tantivy's index is merged too.",
            c.segments_before, c.seconds
        );
    }
    let _ = writeln!(
        s,
        "- Peak RSS of the full build{} (child process VmHWM): {:.0} MiB, of which at most {:.0} MiB its own memory (RssAnon, sampled every 20 ms); the rest is pages of the memory-mapped segments it read.",
        if m.build.compact.is_some() { ", its merge included" } else { "" },
        m.build.vm_hwm_mib,
        m.build.rss_anon_peak_mib
    );
    if let Some((ready, hwm, anon, file)) = m.server_rss {
        let _ = writeln!(s, "- `query-api` serving {size}: RSS {ready:.0} MiB when ready and its suggestion vocabulary built, peak (VmHWM) {hwm:.0} MiB after the load runs; then {anon:.0} MiB of its own memory (RssAnon) and {file:.0} MiB of mapped index pages (RssFile: page cache, shared and reclaimable, and larger when the index was just written and is all cached).");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "### Goals");
    let _ = writeln!(s);
    let _ = writeln!(s, "| goal | measured | met |");
    let _ = writeln!(s, "|---|---|---|");
    for (g, v, met) in m.goals {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a at this size",
        };
        let _ = writeln!(s, "| {g} | {v} | {met} |");
    }
    let _ = writeln!(s);
    if !m.criterion.trim().is_empty() {
        let _ = writeln!(s, "### Criterion (in-process micro-benchmarks)");
        let _ = writeln!(s);
        s.push_str(m.criterion.trim_end());
        let _ = writeln!(s);
        let _ = writeln!(s);
    }
    s
}
