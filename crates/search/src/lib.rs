//! The search core: a tantivy index of evidence records with a biomedical analyser, UK/US spelling
//! folding, a clinician's query language, evidence-aware ranking, facets, snippets and
//! explanations. No HTTP here: the API maps [`SearchError`] to status codes.
//!
//! ```
//! use search::{RankingParams, SearchIndex, SearchRequest};
//! let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
//! let mut b = index.builder(32 << 20).unwrap();
//! let mut r = model::Record::new("demo", "1", "Iron supplements for anaemia in pregnancy (2024 update)");
//! r.abstract_text = Some("A randomised trial of oral iron.".into());
//! b.add(vec![r], false).unwrap();
//! b.finish().unwrap();
//! index.reload().unwrap();
//! let res = index.search(&SearchRequest { q: "anemia".into(), ..Default::default() }).unwrap();
//! assert_eq!(res.total, 1);
//! assert_eq!(res.hits[0].title_html, "Iron supplements for <mark>anaemia</mark> in pregnancy (2024 update)");
//! ```
#![warn(missing_docs)]

pub mod analysis;
mod external;
pub mod facets;
pub mod generations;
mod handoff;
mod index;
mod maintenance;
mod meaning;
mod proximity;
pub mod query;
pub mod ranking;
pub mod readability;
pub mod schema;
mod snippet;
mod split;
pub mod suggest;
mod union;

pub use analysis::Thesaurus;
pub use facets::{FacetCount, Facets};
pub use generations::Generations;
pub use index::{
    escape_html, Explanation, Filters, Hit, IndexBuilder, SearchIndex, SearchRequest,
    SearchResults, SemanticPart, Sort, MAX_RESULT_WINDOW,
};
pub use query::{Interpreted, MAX_QUERY_CHARS};
pub use ranking::{EvidencePriors, RankingParams};
/// The sentence-embedding model used for re-ranking by meaning.
pub use semantic;
/// Starts the thread that searches the second halves of split searches (see
/// [`SearchIndex::set_split_searches`]) from the calling thread, whose CPU priority it takes.
pub use split::start_helper as start_split_helper;

/// Errors of the search core.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request asks for results past the deepest allowed.
    #[error("results past {max} cannot be paged to; narrow the search")]
    TooDeep {
        /// The deepest result reachable.
        max: usize,
    },
    /// The index on disk was built by an incompatible version.
    #[error("index at {0} has another schema; rebuild it")]
    SchemaMismatch(String),
    /// A stored document could not be read back.
    #[error("corrupt index document: {0}")]
    Corrupt(String),
    /// No index generation is live yet.
    #[error("no index has been built yet")]
    NoIndex,
    /// File system error.
    #[error("io error on {0}: {1}")]
    Io(String, std::io::Error),
    /// tantivy failed.
    #[error(transparent)]
    Tantivy(#[from] tantivy::TantivyError),
}

impl SearchError {
    /// Whether the caller caused it (a 4xx rather than a 5xx).
    pub fn is_user_error(&self) -> bool {
        matches!(self, SearchError::TooDeep { .. })
    }
}
