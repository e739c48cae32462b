//! Source configuration, as written in the `[[sources]]` tables of the TOML config.

use model::{Audience, EvidenceLevel};
use serde::{Deserialize, Serialize};

/// The kind of connector a source uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// An OAI-PMH 2.0 repository; `base_url` is the endpoint.
    OaiPmh,
    /// NCBI E-utilities; `base_url` is `.../entrez/eutils/`.
    Pubmed,
    /// Europe PMC REST; `base_url` is `.../europepmc/webservices/rest/`.
    Europepmc,
    /// ClinicalTrials.gov API v2; `base_url` is `.../api/v2/`.
    Clinicaltrials,
    /// An RSS 2.0 or Atom feed; `base_url` is the feed URL.
    Feed,
}

impl SourceKind {
    /// The name as written in config.
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceKind::OaiPmh => "oai-pmh",
            SourceKind::Pubmed => "pubmed",
            SourceKind::Europepmc => "europepmc",
            SourceKind::Clinicaltrials => "clinicaltrials",
            SourceKind::Feed => "feed",
        }
    }
}

/// One configured source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name; also the prefix of its record ids.
    pub name: String,
    /// Connector kind.
    pub kind: SourceKind,
    /// The API root as the source documents it, so it can point at a mirror or a local server.
    pub base_url: String,
    /// Search query (pubmed, europepmc, clinicaltrials).
    #[serde(default)]
    pub query: Option<String>,
    /// OAI-PMH metadata prefix (default `oai_dc`).
    #[serde(default)]
    pub metadata_prefix: Option<String>,
    /// OAI-PMH set.
    #[serde(default)]
    pub set: Option<String>,
    /// Harvest records from this date (`YYYY-MM-DD`) on, for the first harvest.
    #[serde(default)]
    pub from: Option<String>,
    /// Requests per second (default depends on the kind: 3 for PubMed, 10 with an API key).
    #[serde(default)]
    pub rate_per_s: Option<f64>,
    /// Name of the environment variable holding an API key (PubMed `api_key`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Contact e-mail sent to sources that ask for one (PubMed `email`).
    #[serde(default)]
    pub email: Option<String>,
    /// Evidence level for records the source does not classify (e.g. a guideline feed).
    #[serde(default)]
    pub evidence_level: Option<EvidenceLevel>,
    /// Audience for the source's records.
    #[serde(default)]
    pub audience: Option<Audience>,
    /// Records per request (each kind has a sensible default and maximum).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Whether live searches fan out to this source by default (federation).
    #[serde(default)]
    pub federated: bool,
    /// Harvest schedule: `"daily"`, `"hourly"`, `"weekly"`, or an interval such as `"6h"`, `"30m"`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Request timeout in seconds (default 30).
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

impl SourceConfig {
    /// A minimal config for a source, the other settings at their defaults.
    pub fn new(name: &str, kind: SourceKind, base_url: &str) -> Self {
        SourceConfig {
            name: name.to_string(),
            kind,
            base_url: base_url.to_string(),
            query: None,
            metadata_prefix: None,
            set: None,
            from: None,
            rate_per_s: None,
            api_key_env: None,
            email: None,
            evidence_level: None,
            audience: None,
            page_size: None,
            federated: false,
            schedule: None,
            timeout_s: None,
        }
    }

    /// Joins `base_url` and a relative path with exactly one slash.
    pub fn endpoint(&self, path: &str) -> String {
        if path.is_empty() {
            return self.base_url.clone();
        }
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// Applies the source's defaults (evidence level, audience) to a parsed record.
    pub fn apply_defaults(&self, record: &mut model::Record) {
        if let Some(a) = self.audience {
            record.audience = a;
        }
        if record.evidence_level.is_none() {
            record.evidence_level = self.evidence_level;
        }
        record.classify();
    }
}
