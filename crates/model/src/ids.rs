//! Identifier normalisation (DOI, PMID, PMCID, NCT) and detection of an identifier typed alone.

use serde::{Deserialize, Serialize};

/// The external identifiers a record may carry, each in its normalised form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identifiers {
    /// DOI, lower-cased, without a resolver prefix: `10.1000/xyz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
    /// PubMed id, digits only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pmid: Option<String>,
    /// PubMed Central id, `PMC` followed by digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pmcid: Option<String>,
    /// ClinicalTrials.gov id, `NCT` followed by eight digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nct: Option<String>,
}

impl Identifiers {
    /// Normalises every present identifier in place, dropping those that are not valid.
    pub fn normalise(&mut self) {
        self.doi = self.doi.as_deref().and_then(normalise_doi);
        self.pmid = self.pmid.as_deref().and_then(normalise_pmid);
        self.pmcid = self.pmcid.as_deref().and_then(normalise_pmcid);
        self.nct = self.nct.as_deref().and_then(normalise_nct);
    }

    /// Whether no identifier is present.
    pub fn is_empty(&self) -> bool {
        self.doi.is_none() && self.pmid.is_none() && self.pmcid.is_none() && self.nct.is_none()
    }

    /// Every present identifier, tagged with its kind.
    pub fn iter(&self) -> impl Iterator<Item = Identifier> + '_ {
        [
            self.doi.clone().map(Identifier::Doi),
            self.pmid.clone().map(Identifier::Pmid),
            self.pmcid.clone().map(Identifier::Pmcid),
            self.nct.clone().map(Identifier::Nct),
        ]
        .into_iter()
        .flatten()
    }

    /// Fills identifiers missing here from `other` (used when merging duplicates).
    pub fn fill_from(&mut self, other: &Identifiers) {
        fn fill(a: &mut Option<String>, b: &Option<String>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        fill(&mut self.doi, &other.doi);
        fill(&mut self.pmid, &other.pmid);
        fill(&mut self.pmcid, &other.pmcid);
        fill(&mut self.nct, &other.nct);
    }
}

/// One identifier of a known kind, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// A DOI.
    Doi(String),
    /// A PubMed id.
    Pmid(String),
    /// A PubMed Central id.
    Pmcid(String),
    /// A ClinicalTrials.gov id.
    Nct(String),
}

impl Identifier {
    /// The field name of this identifier kind (`doi`, `pmid`, `pmcid`, `nct`).
    pub fn kind(&self) -> &'static str {
        match self {
            Identifier::Doi(_) => "doi",
            Identifier::Pmid(_) => "pmid",
            Identifier::Pmcid(_) => "pmcid",
            Identifier::Nct(_) => "nct",
        }
    }

    /// The normalised value.
    pub fn value(&self) -> &str {
        match self {
            Identifier::Doi(v)
            | Identifier::Pmid(v)
            | Identifier::Pmcid(v)
            | Identifier::Nct(v) => v,
        }
    }
}

/// Lower-cases a DOI and strips `doi:` and resolver prefixes. Returns `None` unless it starts `10.`
/// and has a suffix.
pub fn normalise_doi(s: &str) -> Option<String> {
    let mut t = s.trim();
    for prefix in [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
        "doi.org/",
        "doi:",
        "DOI:",
    ] {
        if let Some(head) = t
            .get(..prefix.len())
            .filter(|h| h.eq_ignore_ascii_case(prefix))
        {
            t = t[head.len()..].trim();
        }
    }
    let t = t.trim_end_matches(['.', ',', ';']);
    let (prefix, suffix) = t.split_once('/')?;
    let registrant = prefix.strip_prefix("10.")?;
    if registrant.is_empty()
        || !registrant.chars().all(|c| c.is_ascii_digit() || c == '.')
        || suffix.is_empty()
        || suffix.chars().any(char::is_whitespace)
    {
        return None;
    }
    Some(t.to_lowercase())
}

/// Keeps a PMID's digits (`PMID: 123` becomes `123`). Returns `None` unless 1 to 9 digits remain and
/// the number is not zero.
pub fn normalise_pmid(s: &str) -> Option<String> {
    let t = s.trim();
    let t = strip_prefix_ci(t, "pmid")
        .map(|r| r.trim_start_matches([':', ' ']))
        .unwrap_or(t);
    let digits = t.trim_start_matches('0');
    if !t.is_empty() && t.len() <= 9 && t.chars().all(|c| c.is_ascii_digit()) && !digits.is_empty()
    {
        Some(digits.to_string())
    } else {
        None
    }
}

/// Normalises a PMCID to `PMC` + digits; bare digits are accepted only with the prefix.
pub fn normalise_pmcid(s: &str) -> Option<String> {
    let t = s.trim();
    let digits = strip_prefix_ci(t, "pmc")?;
    (!digits.is_empty() && digits.len() <= 10 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("PMC{digits}"))
}

/// Normalises an NCT number to `NCT` + eight digits.
pub fn normalise_nct(s: &str) -> Option<String> {
    let t = s.trim();
    let digits = strip_prefix_ci(t, "nct")?;
    (digits.len() == 8 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("NCT{digits}"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// Recognises a query that is nothing but one identifier: a DOI (with or without resolver), `PMID:
/// 123`, a bare number of 1 to 9 digits (a PMID), `PMC123`, or `NCT01234567`.
pub fn detect_identifier(q: &str) -> Option<Identifier> {
    let t = q.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(nct) = normalise_nct(t) {
        return Some(Identifier::Nct(nct));
    }
    if let Some(pmc) = normalise_pmcid(t) {
        return Some(Identifier::Pmcid(pmc));
    }
    if let Some(pmid) = normalise_pmid(t) {
        return Some(Identifier::Pmid(pmid));
    }
    if t.contains("10.") {
        if let Some(doi) = normalise_doi(t) {
            return Some(Identifier::Doi(doi));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doi_forms() {
        let cases = [
            ("10.1000/ABC.def", Some("10.1000/abc.def")),
            (
                "https://doi.org/10.1056/NEJMoa2034577",
                Some("10.1056/nejmoa2034577"),
            ),
            ("doi:10.5555/12345678.", Some("10.5555/12345678")),
            ("HTTP://DX.DOI.ORG/10.1/x", Some("10.1/x")),
            ("10.1000", None),
            ("11.1000/abc", None),
            ("10.abc/x", None),
            ("10.1000/a b", None),
        ];
        for (input, expect) in cases {
            assert_eq!(normalise_doi(input).as_deref(), expect, "{input}");
        }
    }

    #[test]
    fn pmid_pmcid_nct_forms() {
        assert_eq!(
            normalise_pmid("PMID: 31978945").as_deref(),
            Some("31978945")
        );
        assert_eq!(normalise_pmid("0012").as_deref(), Some("12"));
        assert_eq!(normalise_pmid("0"), None);
        assert_eq!(normalise_pmid("1234567890"), None);
        assert_eq!(normalise_pmid("12a"), None);
        assert_eq!(normalise_pmcid("pmc7092803").as_deref(), Some("PMC7092803"));
        assert_eq!(normalise_pmcid("7092803"), None);
        assert_eq!(normalise_nct("nct04280705").as_deref(), Some("NCT04280705"));
        assert_eq!(normalise_nct("NCT0428070"), None);
    }

    #[test]
    fn detects_identifier_queries() {
        assert_eq!(
            detect_identifier(" 90000001 "),
            Some(Identifier::Pmid("90000001".into()))
        );
        assert_eq!(
            detect_identifier("NCT90000001"),
            Some(Identifier::Nct("NCT90000001".into()))
        );
        assert_eq!(
            detect_identifier("PMC123"),
            Some(Identifier::Pmcid("PMC123".into()))
        );
        assert_eq!(
            detect_identifier("https://doi.org/10.5555/ABC-1"),
            Some(Identifier::Doi("10.5555/abc-1".into()))
        );
        assert_eq!(detect_identifier("asthma"), None);
        assert_eq!(detect_identifier("type 2 diabetes"), None);
        assert_eq!(detect_identifier("é"), None);
        // Regression: a multibyte character where a prefix would end must not panic.
        assert_eq!(detect_identifier("? ( 10.5555/ 😀"), None);
        assert_eq!(normalise_doi("doi😀x"), None);
        assert_eq!(normalise_nct("NC😀"), None);
    }
}
