//! The normalised evidence record and everything that is pure about it.
//!
//! Every source (PubMed, Europe PMC, OAI-PMH, ClinicalTrials.gov, feeds, files) is parsed into a
//! [`Record`]. This crate owns the record's shape, identifier normalisation ([`ids`]), partial dates
//! ([`date`]), evidence-level classification ([`evidence`]) and dedup keys ([`dedup`]). It does no IO.
//!
//! ```
//! use model::{Record, EvidenceLevel};
//! let mut r = Record::new("pubmed", "12345", "Inhaled corticosteroids for asthma: a systematic review");
//! r.publication_types.push("Systematic Review".into());
//! r.classify();
//! assert_eq!(r.evidence_level, Some(EvidenceLevel::SystematicReview));
//! assert_eq!(r.id, "pubmed:12345");
//! ```
#![warn(missing_docs)]

pub mod date;
pub mod dedup;
pub mod evidence;
pub mod ids;
mod record;

pub use date::PartialDate;
pub use evidence::{Audience, EvidenceLevel};
pub use ids::{Identifier, Identifiers};
pub use record::{Record, TrialInfo, SAMPLE_SOURCE};

/// Errors raised while validating or normalising outside data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// A date string that is not `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (or a recognised variant).
    #[error("invalid date {0:?}")]
    InvalidDate(String),
    /// An evidence level name that is not one of the known levels.
    #[error("unknown evidence level {0:?}")]
    UnknownEvidenceLevel(String),
    /// An audience name that is not `professional` or `patient`.
    #[error("unknown audience {0:?}")]
    UnknownAudience(String),
    /// A record that cannot be indexed because a required field is missing.
    #[error("record {id:?} is missing {field}")]
    MissingField {
        /// The record id, or the empty string when the id itself is missing.
        id: String,
        /// The name of the missing field.
        field: &'static str,
    },
}
