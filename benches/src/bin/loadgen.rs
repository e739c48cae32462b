//! A stand-alone HTTP load run against a server already listening on loopback, with the
//! benchmark query set:
//!
//! ```text
//! loadgen --addr 127.0.0.1:8080 [--concurrency 1,8,32] [--seconds 10] [--warmup 2] [--per-shape 50]
//! ```
//!
//! It prints one JSON line per concurrency level (QPS, p50/p95/p99 from an HDR histogram). The
//! queries come from the corpus vocabulary, so they find things in an index built by `compare`;
//! against another index they still exercise every query shape.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use benches::corpus::Generator;
use benches::load::{self, LoadOptions};
use benches::queries::{query_set, BenchQuery};
use benches::vocab::Vocab;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        eprintln!("loadgen --addr 127.0.0.1:PORT [--concurrency 1,8,32] [--seconds 10] [--warmup 2] [--per-shape 50]");
        return Ok(());
    }
    let addr: SocketAddr = flag(&args, "--addr")
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .context("--addr must be IP:PORT")?;
    let levels: Vec<usize> = flag(&args, "--concurrency")
        .unwrap_or_else(|| "1,8,32".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds: u64 = flag(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(3600);
    let warmup: u64 = flag(&args, "--warmup")
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
        .min(600);
    let per_shape: usize = flag(&args, "--per-shape")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let gen = Generator::new(2026, Vocab::load_default());
    let paths: Arc<Vec<String>> = Arc::new(
        query_set(&gen, 2026, per_shape)
            .iter()
            .map(BenchQuery::http_path)
            .collect(),
    );
    load::wait_ready(addr, "/readyz", Duration::from_secs(60))?;
    for c in levels {
        let r = load::run(&LoadOptions {
            addr,
            paths: Arc::clone(&paths),
            concurrency: c.clamp(1, 1024),
            warmup: Duration::from_secs(warmup),
            duration: Duration::from_secs(seconds),
            max_requests_per_client: 5_000_000,
            stop: None,
        })?;
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
