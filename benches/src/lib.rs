//! Benchmarks of the evidence search engine, and the same work done by peer engines.
//!
//! - [`corpus`]: a seeded, deterministic generator of abstract-sized biomedical records with
//!   Zipf-like term frequencies, real clinical vocabulary (MeSH, read from `../shared/data` when it
//!   is there) and realistic titles, years, evidence levels and sources.
//! - [`queries`]: a query set of the shapes people type (one term, a few terms, a phrase, a field
//!   tag, filters with facets, a long question), each also kept in a neutral form that every engine
//!   translates into its own syntax.
//! - [`engines`]: this engine in process, and the peers: raw tantivy, SQLite FTS5, PostgreSQL.
//! - [`load`]: the HTTP load generator (loopback only).
//! - [`stats`]: latency summaries from HDR histograms, and peak memory from `/proc`.
//!
//! The binaries `compare` (the side-by-side run behind `benches/compare.sh`) and `loadgen` (a
//! stand-alone load run against a server already listening on loopback) and the criterion targets
//! in `benches/benches/` are built on these.
//!
//! ```
//! use benches::corpus::Generator;
//! let g = Generator::new(7, benches::vocab::Vocab::builtin());
//! let a = g.record(42);
//! assert_eq!(a, g.record(42), "the same seed and index give the same record");
//! assert!(a.abstract_text.as_deref().unwrap_or("").len() > 600);
//! ```
#![warn(missing_docs)]

pub mod corpus;
pub mod engines;
pub mod load;
pub mod queries;
pub mod rng;
pub mod stats;
pub mod vocab;

use std::path::PathBuf;

/// The shared data directory beside the repository (`../shared/data`), found from the crate's
/// manifest directory or the working directory.
pub fn shared_data() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("EVIDENCE_SHARED_DATA") {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../shared/data"),
        PathBuf::from("../shared/data"),
        PathBuf::from("../../shared/data"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}

/// Corpus sizes to run, from the `EVIDENCE_BENCH_SIZES` variable (`10k,100k,1m`, or plain
/// numbers), defaulting to `default`.
pub fn sizes_from_env(default: &[usize]) -> Vec<usize> {
    match std::env::var("EVIDENCE_BENCH_SIZES") {
        Ok(v) if !v.trim().is_empty() => v.split(',').filter_map(parse_size).collect(),
        _ => default.to_vec(),
    }
}

/// Parses `10k`, `100k`, `1m`, `250000`.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = s.strip_suffix('k') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 1_000_000)
    } else {
        (s.as_str(), 1)
    };
    num.trim().parse::<usize>().ok().map(|n| n * mult)
}

/// A size as people write it: `10k`, `1m`.
pub fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n.rem_euclid(1_000_000) == 0 {
        format!("{}m", n / 1_000_000)
    } else if n >= 1_000 && n.rem_euclid(1_000) == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10k"), Some(10_000));
        assert_eq!(parse_size(" 1M "), Some(1_000_000));
        assert_eq!(parse_size("2500"), Some(2500));
        assert_eq!(parse_size("x"), None);
        assert_eq!(size_label(100_000), "100k");
        assert_eq!(size_label(1_000_000), "1m");
        assert_eq!(size_label(1234), "1234");
    }
}
