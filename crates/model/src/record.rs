use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::date::PartialDate;
use crate::evidence::{self, Audience, EvidenceLevel};
use crate::ids::Identifiers;
use crate::ModelError;

/// The source name of the invented demonstration records in `fixtures/starter`. Any answer that
/// contains a record of this source carries a notice that it is not real evidence.
pub const SAMPLE_SOURCE: &str = "sample";

/// Registry details of a clinical trial.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrialInfo {
    /// Overall recruitment status, e.g. `RECRUITING`, `COMPLETED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Phases, e.g. `PHASE3`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<String>,
    /// Conditions studied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// Interventions tested.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interventions: Vec<String>,
    /// `INTERVENTIONAL` or `OBSERVATIONAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_type: Option<String>,
}

/// One normalised evidence record, whatever source it came from.
///
/// This is also the project's JSONL record format (one JSON object per line), used by
/// `fixtures/starter` and `indexer import --format jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Stable id, `"<source>:<source id>"`.
    pub id: String,
    /// The configured source name it was harvested from.
    pub source: String,
    /// Title, plain text.
    pub title: String,
    /// Abstract, plain text; structured abstracts keep their labels (`BACKGROUND: ...`).
    #[serde(rename = "abstract", skip_serializing_if = "Option::is_none")]
    pub abstract_text: Option<String>,
    /// Authors as display names, `Family Initials` or an organisation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// Journal title, for articles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// Publisher or issuing body, for guidelines and reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Publication date, possibly partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<PartialDate>,
    /// External identifiers.
    #[serde(skip_serializing_if = "Identifiers::is_empty")]
    pub identifiers: Identifiers,
    /// Publication types as the source states them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub publication_types: Vec<String>,
    /// MeSH descriptor names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mesh_terms: Vec<String>,
    /// The MeSH descriptors flagged as major topics (a subset of `mesh_terms`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mesh_major: Vec<String>,
    /// Author or publisher keywords.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// ISO 639 language code, e.g. `eng`, `en`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Landing page or full text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether the full text is free to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_access: Option<bool>,
    /// Licence, e.g. `CC BY 4.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Evidence level; classified from the record when the source does not state it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_level: Option<EvidenceLevel>,
    /// Who it is written for.
    pub audience: Audience,
    /// Country of origin (ISO code or name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Whether the article has been retracted. Retracted records are shown, marked, and ranked low.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
    /// The id of the record that replaces this one (a newer version of a guideline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// Trial registry details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialInfo>,
    /// Ids of duplicate records from other sources merged into this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// When the record was harvested (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Hash of the record's content, excluding `updated` and this field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

impl Record {
    /// A record with its id built from the source name and the source's own id.
    pub fn new(source: &str, source_id: &str, title: &str) -> Self {
        Record {
            id: format!("{source}:{source_id}"),
            source: source.to_string(),
            title: title.to_string(),
            ..Default::default()
        }
    }

    /// Whether this is an invented demonstration record, never to be taken for evidence.
    pub fn is_sample(&self) -> bool {
        self.source == SAMPLE_SOURCE
    }

    /// Checks the fields without which a record cannot be indexed: id and title.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.id.trim().is_empty() {
            return Err(ModelError::MissingField {
                id: String::new(),
                field: "id",
            });
        }
        if self.title.trim().is_empty() {
            return Err(ModelError::MissingField {
                id: self.id.clone(),
                field: "title",
            });
        }
        Ok(())
    }

    /// Normalises identifiers and whitespace and fills the evidence level when it is unknown.
    pub fn normalise(&mut self) {
        self.identifiers.normalise();
        if !is_collapsed(&self.title) {
            self.title = collapse_ws(&self.title);
        }
        if let Some(a) = &self.abstract_text {
            if a.is_empty() || !is_collapsed(a) {
                let a = collapse_ws(a);
                self.abstract_text = (!a.is_empty()).then_some(a);
            }
        }
        if self
            .publication_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("Retracted Publication"))
        {
            self.retracted = true;
        }
        self.classify();
    }

    /// Fills `evidence_level` from publication types and title cues if it is not set; patient
    /// material with no stronger signal is `patient_information`.
    pub fn classify(&mut self) {
        if self.evidence_level.is_none() {
            self.evidence_level =
                evidence::classify(&self.publication_types, &self.title).or(match self.audience {
                    Audience::Patient => Some(EvidenceLevel::PatientInformation),
                    Audience::Professional => None,
                });
        }
    }

    /// The evidence level, `other` when unclassified.
    pub fn level(&self) -> EvidenceLevel {
        self.evidence_level.unwrap_or(EvidenceLevel::Other)
    }

    /// The hash of everything but `updated` and `content_hash`, so that a re-harvest of an unchanged
    /// record can be recognised and skipped.
    pub fn compute_hash(&self) -> String {
        let mut copy = self.clone();
        copy.updated = None;
        copy.content_hash = None;
        // Serialising a plain struct of strings cannot fail; fall back to Debug all the same.
        let bytes = serde_json::to_vec(&copy).unwrap_or_else(|_| format!("{copy:?}").into_bytes());
        hex::encode(Sha256::digest(&bytes))
    }
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether [`collapse_ws`] would return `s` unchanged, decided on bytes for ASCII text (most
/// records are already tidy, and the build normalises every one): no whitespace but single
/// spaces between words.
fn is_collapsed(s: &str) -> bool {
    if !s.is_ascii() {
        return false;
    }
    let b = s.as_bytes();
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let mut prev_space = false;
    for &c in b {
        if c == b' ' {
            if prev_space {
                return false;
            }
            prev_space = true;
        } else if c.is_ascii_whitespace() || c == 0x0B {
            return false;
        } else {
            prev_space = false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        #[test]
        fn collapsed_means_collapse_changes_nothing(s in "([a-z]{0,4}|[ \t\n\r\x0B\x0C]|\u{a0}|\u{2009}|é){0,10}") {
            // Exactly the ASCII texts collapse_ws leaves as they are (others always go through it).
            let unchanged = super::collapse_ws(&s) == s;
            proptest::prop_assert_eq!(super::is_collapsed(&s), s.is_ascii() && unchanged);
        }
    }

    use super::*;

    #[test]
    fn jsonl_roundtrip_and_abstract_rename() {
        let line = r#"{"id":"sample:1","source":"sample","title":"T","abstract":"A","published":"2020-05","identifiers":{"doi":"10.5555/X"},"audience":"patient"}"#;
        let mut r: Record = serde_json::from_str(line).unwrap();
        r.normalise();
        assert_eq!(r.abstract_text.as_deref(), Some("A"));
        assert_eq!(r.identifiers.doi.as_deref(), Some("10.5555/x"));
        assert_eq!(r.evidence_level, Some(EvidenceLevel::PatientInformation));
        assert!(r.is_sample());
        let back = serde_json::to_string(&r).unwrap();
        assert!(back.contains("\"abstract\":\"A\""), "{back}");
    }

    #[test]
    fn hash_ignores_harvest_time() {
        let mut a = Record::new("s", "1", "Title");
        let h1 = a.compute_hash();
        a.updated = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(a.compute_hash(), h1);
        a.title.push('!');
        assert_ne!(a.compute_hash(), h1);
    }

    #[test]
    fn validate_requires_id_and_title() {
        assert!(Record::new("s", "1", "x").validate().is_ok());
        assert!(Record::new("s", "1", "  ").validate().is_err());
        assert!(Record::default().validate().is_err());
    }

    #[test]
    fn retraction_from_publication_type() {
        let mut r = Record::new("pubmed", "1", "x");
        r.publication_types.push("Retracted Publication".into());
        r.normalise();
        assert!(r.retracted);
    }
}
