//! Evidence levels, audiences, and classification from publication types and title cues.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// How strong a kind of evidence is, from the clinician's point of view. Declared strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceLevel {
    /// Clinical practice guidelines and consensus recommendations from a guideline body.
    Guideline,
    /// Systematic reviews and meta-analyses.
    SystematicReview,
    /// Randomised controlled trials (and registered interventional trials).
    Rct,
    /// Cohort, case-control, cross-sectional and other observational studies.
    Observational,
    /// Case reports and case series.
    CaseReport,
    /// Editorials, comments, letters, narrative opinion.
    Opinion,
    /// Plain-language information written for patients and the public.
    PatientInformation,
    /// Anything else (narrative reviews, protocols, unclassified).
    Other,
}

impl EvidenceLevel {
    /// Every level, strongest first.
    pub const ALL: [EvidenceLevel; 8] = [
        EvidenceLevel::Guideline,
        EvidenceLevel::SystematicReview,
        EvidenceLevel::Rct,
        EvidenceLevel::Observational,
        EvidenceLevel::CaseReport,
        EvidenceLevel::Opinion,
        EvidenceLevel::PatientInformation,
        EvidenceLevel::Other,
    ];

    /// The stable snake_case name used in the API and the index.
    pub fn as_str(&self) -> &'static str {
        match self {
            EvidenceLevel::Guideline => "guideline",
            EvidenceLevel::SystematicReview => "systematic_review",
            EvidenceLevel::Rct => "rct",
            EvidenceLevel::Observational => "observational",
            EvidenceLevel::CaseReport => "case_report",
            EvidenceLevel::Opinion => "opinion",
            EvidenceLevel::PatientInformation => "patient_information",
            EvidenceLevel::Other => "other",
        }
    }

    /// A human label for badges.
    pub fn label(&self) -> &'static str {
        match self {
            EvidenceLevel::Guideline => "Guideline",
            EvidenceLevel::SystematicReview => "Systematic review",
            EvidenceLevel::Rct => "Randomised trial",
            EvidenceLevel::Observational => "Observational study",
            EvidenceLevel::CaseReport => "Case report",
            EvidenceLevel::Opinion => "Opinion",
            EvidenceLevel::PatientInformation => "Patient information",
            EvidenceLevel::Other => "Other",
        }
    }
}

impl fmt::Display for EvidenceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EvidenceLevel {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        EvidenceLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == t)
            .ok_or_else(|| ModelError::UnknownEvidenceLevel(s.to_string()))
    }
}

/// Who a record is written for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Health professionals, researchers, students.
    #[default]
    Professional,
    /// Patients, carers and the public.
    Patient,
}

impl Audience {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Audience::Professional => "professional",
            Audience::Patient => "patient",
        }
    }
}

impl FromStr for Audience {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "professional" => Ok(Audience::Professional),
            "patient" | "public" => Ok(Audience::Patient),
            _ => Err(ModelError::UnknownAudience(s.to_string())),
        }
    }
}

/// Classifies from PubMed-style publication types (strongest signal), then title cues.
///
/// Returns `None` when nothing points to a level, so the caller can apply a source default.
pub fn classify(publication_types: &[String], title: &str) -> Option<EvidenceLevel> {
    let from_types = publication_types
        .iter()
        .filter_map(|t| classify_publication_type(t))
        .min();
    if from_types.is_some() {
        return from_types;
    }
    classify_title(title)
}

/// Maps one publication type (PubMed, Europe PMC, DataCite, DC `type`) to a level.
pub fn classify_publication_type(t: &str) -> Option<EvidenceLevel> {
    let t = t.trim().to_ascii_lowercase();
    let t = t.as_str();
    use EvidenceLevel::*;
    Some(match t {
        _ if t.contains("guideline") || t == "consensus development conference" => Guideline,
        _ if t.contains("systematic review")
            || t.contains("meta-analysis")
            || t == "systematic_review" =>
        {
            SystematicReview
        }
        _ if t.contains("randomized controlled trial")
            || t.contains("randomised controlled trial")
            || t == "clinical trial, phase iii"
            || t == "pragmatic clinical trial"
            || t == "equivalence trial"
            || t == "rct" =>
        {
            Rct
        }
        _ if t.contains("observational study")
            || t.contains("cohort")
            || t.contains("case-control")
            || t == "comparative study"
            || t == "multicenter study"
            || t == "clinical trial"
            || t.starts_with("clinical trial, phase")
            || t == "controlled clinical trial"
            || t == "twin study"
            || t == "validation study"
            || t == "evaluation study" =>
        {
            Observational
        }
        _ if t.contains("case report") || t == "case reports" => CaseReport,
        _ if t == "editorial"
            || t == "comment"
            || t == "letter"
            || t == "news"
            || t == "interview" =>
        {
            Opinion
        }
        _ if t.contains("patient education") || t == "patient information" => PatientInformation,
        _ => return None,
    })
}

/// Looks for cues in a title: "systematic review", "meta-analysis", "randomised controlled trial",
/// "guideline", "cohort", "case report" and their variants.
pub fn classify_title(title: &str) -> Option<EvidenceLevel> {
    let t = title.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    use EvidenceLevel::*;
    if has(&[
        "guideline",
        "guidance",
        "recommendations for",
        "consensus statement",
        "position statement",
    ]) {
        Some(Guideline)
    } else if has(&[
        "systematic review",
        "meta-analysis",
        "meta analysis",
        "metaanalysis",
        "umbrella review",
        "cochrane review",
    ]) {
        Some(SystematicReview)
    } else if (has(&[
        "randomised controlled",
        "randomized controlled",
        "randomised trial",
        "randomized trial",
        "randomised clinical trial",
        "randomized clinical trial",
        "randomised, ",
        "randomized, ",
    ]) || t.split(|c: char| !c.is_alphanumeric()).any(|w| w == "rct"))
        && !has(&["protocol for", "study protocol"])
    {
        Some(Rct)
    } else if has(&[
        "cohort",
        "case-control",
        "case control",
        "cross-sectional",
        "cross sectional",
        "registry study",
        "observational",
        "population-based",
    ]) {
        Some(Observational)
    } else if has(&["case report", "case series", "a case of"]) {
        Some(CaseReport)
    } else if has(&[
        "editorial",
        "commentary",
        "viewpoint",
        "opinion",
        "letter to the editor",
    ]) {
        Some(Opinion)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EvidenceLevel::*;

    fn check(types: &[&str], title: &str, expect: Option<EvidenceLevel>) {
        let types: Vec<String> = types.iter().map(|s| s.to_string()).collect();
        assert_eq!(classify(&types, title), expect, "{types:?} {title:?}");
    }

    #[test]
    fn classifies() {
        check(
            &["Journal Article", "Meta-Analysis"],
            "",
            Some(SystematicReview),
        );
        check(
            &["Journal Article", "Randomized Controlled Trial"],
            "",
            Some(Rct),
        );
        check(&["Practice Guideline"], "", Some(Guideline));
        check(&["Case Reports"], "", Some(CaseReport));
        check(&["Letter"], "", Some(Opinion));
        check(
            &["Observational Study", "Systematic Review"],
            "",
            Some(SystematicReview),
        );
        check(
            &["Journal Article"],
            "A randomised controlled trial of X",
            Some(Rct),
        );
        check(
            &[],
            "Study protocol for a randomised controlled trial",
            None,
        );
        check(
            &[],
            "Asthma: diagnosis and management guideline",
            Some(Guideline),
        );
        check(
            &[],
            "A prospective cohort of adults with sepsis",
            Some(Observational),
        );
        check(
            &[],
            "Haemoptysis after biopsy: a case report",
            Some(CaseReport),
        );
        check(&[], "Air embolism after lung biopsy", None);
        // Regression: "rct" must be a word, not part of "BRCT" (Europe PMC record 20516115).
        check(&[], "Structural basis of the BRCT domain of BRCA1", None);
        check(&[], "An RCT of statins in the elderly", Some(Rct));
    }

    #[test]
    fn names_roundtrip() {
        for l in EvidenceLevel::ALL {
            assert_eq!(l.as_str().parse::<EvidenceLevel>().unwrap(), l);
            assert_eq!(
                serde_json::to_string(&l).unwrap(),
                format!("\"{}\"", l.as_str())
            );
        }
        assert_eq!(
            "Systematic Review".parse::<EvidenceLevel>().unwrap(),
            SystematicReview
        );
        assert!("gold".parse::<EvidenceLevel>().is_err());
        assert!(Guideline < CaseReport);
    }
}
