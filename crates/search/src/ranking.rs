//! Ranking parameters: BM25 field weights and the priors multiplied into the text score.
//!
//! `final = text × evidence_prior[level] × recency × trust`, where
//! - `text` is BM25 summed over the query's fields, each field's score times its weight, plus the
//!   proximity bonus;
//! - `recency = 1 + recency_weight × 0.5^(age_years / recency_half_life_years)` (a mild lift for new
//!   records that never outweighs a clearly better text match);
//! - `trust` is `retracted_factor` for retracted records, `superseded_factor` for guidance replaced by
//!   a newer version, and 1 otherwise.
//!
//! Plain free-text queries are also expanded before scoring: with MeSH synonyms when a thesaurus
//! is configured (`synonym_weight`), and by pseudo-relevance feedback (RM3: `prf_docs`,
//! `prf_terms`, `prf_weight`), whose terms widen the result set.
//!
//! Every weight is a named parameter, set in the `[ranking]` table of the config, and tuned with
//! `indexer eval` (see benches/RELEVANCE.md), not by feel.

use model::EvidenceLevel;
use serde::{Deserialize, Serialize};

/// Multipliers per evidence level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidencePriors {
    /// Guidelines.
    pub guideline: f32,
    /// Systematic reviews and meta-analyses.
    pub systematic_review: f32,
    /// Randomised trials.
    pub rct: f32,
    /// Observational studies.
    pub observational: f32,
    /// Case reports.
    pub case_report: f32,
    /// Opinion pieces.
    pub opinion: f32,
    /// Patient information.
    pub patient_information: f32,
    /// Unclassified.
    pub other: f32,
}

impl Default for EvidencePriors {
    fn default() -> Self {
        EvidencePriors {
            guideline: 1.30,
            systematic_review: 1.25,
            rct: 1.15,
            observational: 1.05,
            case_report: 0.90,
            opinion: 0.90,
            patient_information: 1.0,
            other: 1.0,
        }
    }
}

impl EvidencePriors {
    /// The multipliers indexed by evidence ordinal (the order of [`EvidenceLevel::ALL`]).
    pub fn as_array(&self) -> [f32; 8] {
        EvidenceLevel::ALL.map(|l| self.get(l))
    }

    /// The multiplier of one level.
    pub fn get(&self, level: EvidenceLevel) -> f32 {
        match level {
            EvidenceLevel::Guideline => self.guideline,
            EvidenceLevel::SystematicReview => self.systematic_review,
            EvidenceLevel::Rct => self.rct,
            EvidenceLevel::Observational => self.observational,
            EvidenceLevel::CaseReport => self.case_report,
            EvidenceLevel::Opinion => self.opinion,
            EvidenceLevel::PatientInformation => self.patient_information,
            EvidenceLevel::Other => self.other,
        }
    }

    /// All multipliers 1: plain text ranking.
    pub fn neutral() -> Self {
        EvidencePriors {
            guideline: 1.0,
            systematic_review: 1.0,
            rct: 1.0,
            observational: 1.0,
            case_report: 1.0,
            opinion: 1.0,
            patient_information: 1.0,
            other: 1.0,
        }
    }
}

/// Every ranking knob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingParams {
    /// BM25 weight of the title.
    pub title_weight: f32,
    /// BM25 weight of the abstract.
    pub abstract_weight: f32,
    /// BM25 weight of MeSH terms.
    pub mesh_weight: f32,
    /// BM25 weight of keywords (and trial conditions and interventions).
    pub keywords_weight: f32,
    /// Boost of an exact identifier hit (PMID, DOI, PMCID, NCT typed alone), large enough to put it
    /// first.
    pub identifier_boost: f32,
    /// Weight of the sloppy-phrase bonus for free-text terms that stand close together (0 = off).
    pub proximity_weight: f32,
    /// How many positions apart the terms may be for the proximity bonus.
    pub proximity_slop: u32,
    /// Share of free-text terms a record must match (0 = any one term; 1 = all).
    pub min_should_match: f32,
    /// Evidence-level priors.
    pub evidence: EvidencePriors,
    /// Size of the recency lift for a record published today.
    pub recency_weight: f32,
    /// Years after which the recency lift halves.
    pub recency_half_life_years: f32,
    /// Multiplier for retracted records. Below 1, a retracted record ranks under every sound
    /// record of equal relevance; at 0.5 it needs twice the textual evidence to outrank one, so
    /// it sinks in a search for its topic but stays first, marked, when sought by name (at 0.2 a
    /// retracted trial searched by its own title fell to the third page, and the page a clinician
    /// saw did not say it had been withdrawn).
    pub retracted_factor: f32,
    /// Multiplier for superseded guidance.
    pub superseded_factor: f32,
    /// Weight of thesaurus synonyms (MeSH entry terms) relative to the typed words; used only
    /// when a thesaurus is configured (0 = off).
    pub synonym_weight: f32,
    /// Pseudo-relevance feedback: how many top records of a first pass supply expansion terms
    /// (0 = off, the default: see benches/RELEVANCE.md). Only plain free-text queries are expanded.
    pub prf_docs: usize,
    /// Pseudo-relevance feedback: how many expansion terms are added.
    pub prf_terms: usize,
    /// Pseudo-relevance feedback: the weight λ of the original query; expansion terms share
    /// 1 − λ (RM3 interpolation).
    pub prf_weight: f32,
    /// Pseudo-relevance feedback may add records that contain none of the typed words only for
    /// free-text queries of at least this many words (natural-language questions, whose words are
    /// already or'ed together). Shorter queries keep exactly the records their words match, so
    /// totals and facets count what was typed; feedback only reorders them (0 = never widen).
    pub prf_widen_min_terms: usize,
    /// Semantic re-ranking, used only when a sentence-embedding model is configured
    /// (`[semantic] model`): the share `w` of the cosine similarity between the query's and the
    /// record's embeddings in the re-ranked window, where a record scores
    /// `((1 − w) × text + w × cosine × best text in the window) × priors` (0 = off).
    pub semantic_weight: f32,
    /// Semantic re-ranking: how many of the best text matches are re-ranked. Only these move, so
    /// the records found, the total and the facets stay those of the typed words.
    pub semantic_window: usize,
    /// Semantic search: how many records closest in meaning to the query join the records its
    /// words match, whether or not they contain those words (counted in the total and facets,
    /// marked in `explain`). 0 = re-rank the text matches only.
    pub semantic_neighbours: usize,
    /// Semantic search: the least cosine similarity for a record to join by meaning alone, so
    /// that a query nothing in the collection is about does not fill the page with the least
    /// unrelated records (unrelated abstracts score about 0 to 0.15 with all-MiniLM-L6-v2). On
    /// NFCorpus dev: no floor 0.3334 nDCG@10 / 0.2920 recall@100, 0.2 0.3335 / 0.2795, 0.3
    /// 0.3315 / 0.2580.
    pub semantic_min_similarity: f32,
}

impl Default for RankingParams {
    fn default() -> Self {
        RankingParams {
            title_weight: 1.0,
            abstract_weight: 1.0,
            mesh_weight: 1.5,
            keywords_weight: 1.2,
            identifier_boost: 1000.0,
            proximity_weight: 1.0,
            proximity_slop: 8,
            min_should_match: 0.0,
            evidence: EvidencePriors::default(),
            recency_weight: 0.10,
            recency_half_life_years: 8.0,
            retracted_factor: 0.5,
            superseded_factor: 0.6,
            synonym_weight: 0.5,
            prf_docs: 0,
            prf_terms: 20,
            prf_weight: 0.5,
            prf_widen_min_terms: 0,
            semantic_weight: 0.5,
            semantic_window: 1000,
            semantic_neighbours: 100,
            semantic_min_similarity: 0.2,
        }
    }
}

impl RankingParams {
    /// Plain BM25 over the same fields: no priors, no proximity, no synonyms, no feedback. The
    /// baseline of `indexer eval`.
    pub fn plain_bm25() -> Self {
        RankingParams {
            evidence: EvidencePriors::neutral(),
            recency_weight: 0.0,
            retracted_factor: 1.0,
            superseded_factor: 1.0,
            proximity_weight: 0.0,
            synonym_weight: 0.0,
            prf_docs: 0,
            semantic_weight: 0.0,
            ..Default::default()
        }
    }

    /// How many of `n` free-text terms must match.
    pub fn min_should_match(&self, n: usize) -> usize {
        if self.min_should_match <= 0.0 || n < 2 {
            0
        } else {
            ((n as f32) * self.min_should_match.min(1.0)).ceil() as usize
        }
    }

    /// The recency multiplier for a record `age_days` old (negative ages count as new).
    pub fn recency(&self, age_days: Option<i64>) -> f32 {
        match age_days {
            Some(age) if self.recency_weight > 0.0 && self.recency_half_life_years > 0.0 => {
                let years = age.max(0) as f32 / 365.25;
                1.0 + self.recency_weight * 0.5f32.powf(years / self.recency_half_life_years)
            }
            _ => 1.0,
        }
    }

    /// The trust multiplier for a record's flags.
    pub fn trust(&self, flags: u64) -> f32 {
        let mut f = 1.0;
        if flags & crate::schema::FLAG_RETRACTED != 0 {
            f *= self.retracted_factor;
        }
        if flags & crate::schema::FLAG_SUPERSEDED != 0 {
            f *= self.superseded_factor;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_order_and_bounds() {
        let p = RankingParams::default();
        let e = p.evidence.as_array();
        assert!(e[0] > e[4], "guideline above case report");
        assert!((p.recency(Some(0)) - 1.10).abs() < 1e-6);
        assert!((p.recency(Some((8.0 * 365.25) as i64)) - 1.05).abs() < 1e-3);
        assert_eq!(p.recency(None), 1.0);
        assert!(p.trust(crate::schema::FLAG_RETRACTED) < p.trust(crate::schema::FLAG_SUPERSEDED));
        assert_eq!(p.min_should_match(3), 0);
        let strict = RankingParams {
            min_should_match: 0.5,
            ..Default::default()
        };
        assert_eq!(strict.min_should_match(3), 2);
        let toml_like: RankingParams = serde_json::from_str(r#"{"title_weight": 4.0}"#).unwrap();
        assert_eq!(toml_like.title_weight, 4.0);
        assert!(serde_json::from_str::<RankingParams>(r#"{"titel_weight": 4.0}"#).is_err());
    }
}
