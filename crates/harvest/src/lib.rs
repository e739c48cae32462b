//! Harvesting: one module per source, each a pure parser (bytes in, records out) plus the paging
//! logic that walks a source page by page, and the polite HTTP [`fetch::Fetcher`] they share.
//!
//! A harvest is a loop over [`Page`]s: the caller (the `indexer` job) stores each page's records,
//! deletions and checkpoint in one transaction, so a killed harvest resumes after the last stored
//! page and never skips or duplicates a record.
#![warn(missing_docs)]

pub mod clinicaltrials;
pub mod config;
pub mod connector;
pub mod error;
pub mod europe_pmc;
pub mod feed;
pub mod fetch;
pub mod files;
pub mod oai_pmh;
pub mod pubmed;

pub use config::{SourceConfig, SourceKind};
pub use error::{HarvestError, ParseError};

use model::Record;

/// An item a parser could not turn into a record (missing id or title), counted and reported,
/// never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejected {
    /// The source's id for the item, when it had one.
    pub source_id: Option<String>,
    /// Why it was rejected, e.g. "missing title".
    pub reason: String,
}

/// What one parsed response holds: records, deletions and rejects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Records, normalised (`Record::normalise` already applied).
    pub records: Vec<Record>,
    /// Ids (`"<source>:<source id>"`) of records the source reports as deleted.
    pub deleted: Vec<String>,
    /// Items that could not become records.
    pub rejected: Vec<Rejected>,
}

/// One page of a harvest, with the checkpoint to store after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// What the page held.
    pub parsed: Parsed,
    /// The connector's state after this page: storing it with the page's records lets a later
    /// harvest resume right after this page. Opaque JSON owned by each connector.
    pub checkpoint: serde_json::Value,
    /// The URL that was fetched for this page, for reports.
    pub url: String,
    /// Total number of records the source says match, when it says.
    pub total: Option<u64>,
}
