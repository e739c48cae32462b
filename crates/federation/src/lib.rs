//! Federated search: one query also searches live remote sources (PubMed, Europe PMC,
//! ClinicalTrials.gov), and their answers are fused with the local results within a deadline.
//!
//! The parts, in the order a search meets them:
//! - [`resolve`] picks the sources (`federate=name1,name2|all|none`, else `[federation] default`,
//!   else the sources marked `federated = true`);
//! - [`translate`](translate::translate) turns the query and filters into each source's syntax,
//!   noting what the source cannot express;
//! - [`Federator::search`] fans out on tokio: every source at once, each within its own deadline and
//!   all within the overall one, behind a per-source concurrency cap and circuit breaker, with a
//!   five-minute cache of remote answers; a source that hangs, fails or answers garbage shows in
//!   its [`SourceReport`] and never delays or fails the search;
//! - remote records are filtered again with the engine's own rules ([`matches_filters`]) and scored
//!   by the local ranking model (`search::SearchIndex::score_external`);
//! - [`merge`](merge::merge) fuses local and remote lists into one ranking and merges duplicates;
//!   [`Highlighter`] gives remote hits the shape of local ones, HTML-escaped.
//!
//! ```no_run
//! use federation::{Federator, FederationOptions, RemoteQuery};
//! # async fn run(sources: Vec<harvest::SourceConfig>) -> Result<(), federation::FederationError> {
//! let names = federation::resolve(&sources, &[], None)?;
//! let federator = Federator::new(&sources, FederationOptions::default())?;
//! let answer = federator
//!     .search(&names, &RemoteQuery { q: "asthma[ti] AND steroid*".into(), filters: Default::default(), depth: 10 })
//!     .await;
//! for report in &answer.reports {
//!     println!("{} {:?} {} ms", report.name, report.status, report.took_ms);
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod breaker;
mod client;
mod federator;
mod highlight;
pub mod merge;
pub mod translate;

pub use breaker::{Admission, Breaker};
pub use client::{RemoteAnswer, RemoteError};
pub use federator::{
    is_federable, resolve, FederatedAnswer, FederationOptions, Federator, RemoteList, RemoteQuery,
    SourceReport, SourceStatus,
};
pub use highlight::{Highlighter, SNIPPET_CHARS};
pub use merge::{add_to_facets, merge, Fusion, MergeInput, Merged, MergedHit};

use model::Record;
use search::Filters;

/// Errors of federation set-up and source selection (a failing source is never an error: it is a
/// [`SourceReport`]).
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// `federate` names a source that is not configured.
    #[error("federate names unknown source {name:?}; sources that can be searched live: {}", known.join(", "))]
    UnknownSource {
        /// The name given.
        name: String,
        /// The federable sources configured.
        known: Vec<String>,
    },
    /// `federate` names a source of a kind that has no live search.
    #[error("source {name:?} is an {kind} source, which cannot be searched live")]
    NotFederable {
        /// The name given.
        name: String,
        /// Its kind.
        kind: &'static str,
    },
    /// A source's HTTP client could not be built.
    #[error("source {name}: cannot build its client: {message}")]
    Client {
        /// The source.
        name: String,
        /// Why.
        message: String,
    },
}

impl FederationError {
    /// Whether the caller caused it (a 4xx rather than a 5xx).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            FederationError::UnknownSource { .. } | FederationError::NotFederable { .. }
        )
    }
}

/// Whether a record passes the search filters, by the rules the local index applies: evidence level
/// (unclassified counts as `other`), publication year (a record without one fails any year
/// filter), source, audience, open access (unknown fails both `true` and `false`) and reading grade
/// (a record whose grade cannot be computed fails).
pub fn matches_filters(r: &Record, f: &Filters) -> bool {
    if !f.evidence_levels.is_empty() && !f.evidence_levels.contains(&r.level()) {
        return false;
    }
    if f.year_from.is_some() || f.year_to.is_some() {
        let Some(year) = r.published.map(|d| d.year).filter(|y| *y > 0) else {
            return false;
        };
        if f.year_from.is_some_and(|from| year < i32::from(from))
            || f.year_to.is_some_and(|to| year > i32::from(to))
        {
            return false;
        }
    }
    if !f.sources.is_empty() && !f.sources.contains(&r.source) {
        return false;
    }
    if f.audience.is_some_and(|a| a != r.audience) {
        return false;
    }
    if let Some(oa) = f.open_access {
        if r.open_access != Some(oa) {
            return false;
        }
    }
    if let Some(max) = f.max_reading_grade {
        let grade = search::readability::flesch_kincaid_grade(
            &r.title,
            r.abstract_text.as_deref().unwrap_or(""),
        );
        // As the index filters its records: in tenths (`search::readability::grade_tenths`,
        // never 0), and a record too short to grade never passes.
        let tenths = grade.map(search::readability::grade_tenths);
        let hi = (max.max(0.0) * 10.0).round() as u64;
        match tenths {
            Some(t) if t <= hi.max(1) => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Audience, EvidenceLevel, PartialDate};

    #[test]
    fn filters_follow_the_index_rules() {
        let mut r = Record::new("pubmed", "1", "Asthma");
        let f = |f: Filters| matches_filters(&r, &f);
        assert!(f(Filters::default()));
        let mut r2 = r.clone();
        r2.published = Some(PartialDate::year(2019));
        assert!(!f(Filters {
            year_from: Some(2010),
            ..Default::default()
        }));
        assert!(matches_filters(
            &r2,
            &Filters {
                year_from: Some(2010),
                year_to: Some(2019),
                ..Default::default()
            }
        ));
        assert!(!matches_filters(
            &r2,
            &Filters {
                year_to: Some(2018),
                ..Default::default()
            }
        ));
        assert!(f(Filters {
            evidence_levels: vec![EvidenceLevel::Other],
            ..Default::default()
        }));
        assert!(!f(Filters {
            audience: Some(Audience::Patient),
            ..Default::default()
        }));
        assert!(!f(Filters {
            open_access: Some(false),
            ..Default::default()
        }));
        assert!(!f(Filters {
            sources: vec!["other".into()],
            ..Default::default()
        }));
        assert!(!f(Filters {
            max_reading_grade: Some(30.0),
            ..Default::default()
        }));
        r.abstract_text = Some("Asthma makes it hard to breathe. Your inhaler helps. Use it every day. Ask your nurse to check how you use it. Keep it with you.".into());
        r.evidence_level = Some(EvidenceLevel::PatientInformation);
        assert!(matches_filters(
            &r,
            &Filters {
                max_reading_grade: Some(12.0),
                evidence_levels: vec![EvidenceLevel::PatientInformation],
                ..Default::default()
            }
        ));
        // The easiest text (grade 0 or below by the formula) passes any reading-level filter,
        // as the index's own records do.
        r.title = "Asthma".into();
        r.abstract_text = Some(
            "We ate. We ran. We sat. We slept. I read. I wrote. You swam. You sang. They ate. \
             They ran."
                .into(),
        );
        assert!(matches_filters(
            &r,
            &Filters {
                max_reading_grade: Some(0.0),
                ..Default::default()
            }
        ));
    }
}
