//! Dedup keys: the same article from several sources is recognised by identifier first, then by a
//! normalised title and year fingerprint.
//!
//! The rule: two records are duplicates when they share a DOI, a PMID, a PMCID or an NCT id, or,
//! when neither has an identifier the other also has, when their fingerprints are equal.
//! The fingerprint is the title folded to lower-case ASCII letters and digits, words joined by one
//! space, plus the publication year. Titles shorter than 20 folded characters get no fingerprint,
//! since short titles ("Asthma", "Editorial") collide across unrelated records.

use unicode_normalization::UnicodeNormalization;

use crate::record::Record;

/// Folds a title for comparison: NFKD, drop marks, lower-case, keep letters and digits.
pub fn fold_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut pending_space = false;
    for c in title.nfkd() {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else if !unicode_normalization::char::is_combining_mark(c) {
            pending_space = true;
        }
    }
    out
}

/// The title + year fingerprint, when the title is long enough to be distinctive.
pub fn fingerprint(record: &Record) -> Option<String> {
    let folded = fold_title(&record.title);
    if folded.len() < 20 {
        return None;
    }
    let year = record
        .published
        .map(|d| d.year.to_string())
        .unwrap_or_default();
    Some(format!("{folded}|{year}"))
}

/// Every key under which this record may meet a duplicate: `doi:...`, `pmid:...`, `pmcid:...`,
/// `nct:...`, and `fp:...` for the fingerprint.
pub fn keys(record: &Record) -> Vec<String> {
    let mut keys: Vec<String> = record
        .identifiers
        .iter()
        .map(|i| format!("{}:{}", i.kind(), i.value()))
        .collect();
    if let Some(fp) = fingerprint(record) {
        keys.push(format!("fp:{fp}"));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartialDate;

    #[test]
    fn fold_is_accent_and_punctuation_blind() {
        assert_eq!(
            fold_title("Anæmia  in Pregnancy: A Café-Based Study."),
            "anæmia in pregnancy a cafe based study"
        );
        assert_eq!(fold_title("  "), "");
    }

    #[test]
    fn fingerprint_needs_a_long_title() {
        let mut r = Record::new("a", "1", "Asthma");
        assert_eq!(fingerprint(&r), None);
        r.title = "Inhaled corticosteroids in mild asthma".into();
        r.published = Some(PartialDate::year(2019));
        assert_eq!(
            fingerprint(&r).as_deref(),
            Some("inhaled corticosteroids in mild asthma|2019")
        );
        r.identifiers.doi = Some("10.1/x".into());
        assert_eq!(keys(&r)[0], "doi:10.1/x");
    }
}

/// How much metadata a record carries; the richest record of a duplicate group represents it.
pub fn richness(r: &Record) -> u32 {
    let mut s = 0u32;
    s += r
        .abstract_text
        .as_ref()
        .map(|a| 10 + (a.len() / 200) as u32)
        .unwrap_or(0);
    s += 3 * r.mesh_terms.len().min(10) as u32;
    s += 2 * r.identifiers.iter().count() as u32;
    s += r.publication_types.len().min(5) as u32;
    s += r.keywords.len().min(5) as u32;
    s += u32::from(!r.authors.is_empty()) * 2;
    s += u32::from(r.journal.is_some() || r.publisher.is_some());
    s += u32::from(r.published.is_some_and(|d| d.month.is_some()));
    s
}

/// Merges a duplicate into the record that represents their group: fills what the representative
/// lacks, unions identifiers, MeSH terms, keywords and publication types, keeps every source id in
/// `merged_from`, and keeps the strongest trust signals (a retraction in any copy marks the merged
/// record retracted).
pub fn merge(into: &mut Record, dup: &Record) {
    fn fill<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
        if a.is_none() {
            a.clone_from(b);
        }
    }
    fn union(a: &mut Vec<String>, b: &[String]) {
        for x in b {
            if !a.iter().any(|y| y.eq_ignore_ascii_case(x)) {
                a.push(x.clone());
            }
        }
    }
    if into.abstract_text.as_ref().map_or(0, |a| a.len())
        < dup.abstract_text.as_ref().map_or(0, |a| a.len())
    {
        into.abstract_text.clone_from(&dup.abstract_text);
    }
    if into.authors.is_empty() {
        into.authors.clone_from(&dup.authors);
    }
    fill(&mut into.journal, &dup.journal);
    fill(&mut into.publisher, &dup.publisher);
    match (into.published, dup.published) {
        (None, d) => into.published = d,
        (Some(a), Some(b)) if a.year == b.year && a.month.is_none() && b.month.is_some() => {
            into.published = Some(b)
        }
        _ => {}
    }
    into.identifiers.fill_from(&dup.identifiers);
    union(&mut into.publication_types, &dup.publication_types);
    union(&mut into.mesh_terms, &dup.mesh_terms);
    union(&mut into.mesh_major, &dup.mesh_major);
    union(&mut into.keywords, &dup.keywords);
    fill(&mut into.language, &dup.language);
    fill(&mut into.url, &dup.url);
    if dup.open_access == Some(true) {
        into.open_access = Some(true);
    } else {
        fill(&mut into.open_access, &dup.open_access);
    }
    fill(&mut into.licence, &dup.licence);
    fill(&mut into.trial, &dup.trial);
    into.retracted |= dup.retracted;
    fill(&mut into.superseded_by, &dup.superseded_by);
    // The stronger of two classifications wins (levels are ordered strongest first), except that
    // an unclassified copy never overrides a classified one.
    match (into.evidence_level, dup.evidence_level) {
        (None, b) => into.evidence_level = b,
        (Some(a), Some(b)) if b < a && b != crate::EvidenceLevel::Other => {
            into.evidence_level = Some(b)
        }
        _ => {}
    }
    if !into.merged_from.contains(&dup.id) && dup.id != into.id {
        into.merged_from.push(dup.id.clone());
    }
    for id in &dup.merged_from {
        if !into.merged_from.contains(id) && *id != into.id {
            into.merged_from.push(id.clone());
        }
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::EvidenceLevel;

    #[test]
    fn merge_keeps_richest_and_lists_sources() {
        let mut pm = Record::new(
            "pubmed",
            "31978945",
            "A novel coronavirus from patients with pneumonia in China, 2019",
        );
        pm.identifiers.pmid = Some("31978945".into());
        pm.identifiers.doi = Some("10.1056/nejmoa2001017".into());
        pm.mesh_terms = vec!["Pneumonia, Viral".into()];
        let mut epmc = Record::new(
            "europepmc",
            "MED:31978945",
            "A Novel Coronavirus from Patients with Pneumonia in China, 2019.",
        );
        epmc.identifiers.pmcid = Some("PMC7092803".into());
        epmc.abstract_text = Some(
            "In December 2019, a cluster of patients with pneumonia of unknown cause...".into(),
        );
        epmc.open_access = Some(true);
        epmc.retracted = false;
        epmc.evidence_level = Some(EvidenceLevel::Observational);
        assert!(richness(&pm) > 0);
        merge(&mut pm, &epmc);
        assert_eq!(pm.identifiers.pmcid.as_deref(), Some("PMC7092803"));
        assert!(pm.abstract_text.is_some());
        assert_eq!(pm.open_access, Some(true));
        assert_eq!(pm.merged_from, vec!["europepmc:MED:31978945".to_string()]);
        assert_eq!(pm.evidence_level, Some(EvidenceLevel::Observational));
        assert_eq!(
            fingerprint(&pm).map(|f| f.split('|').next().map(str::to_string)),
            fingerprint(&epmc).map(|f| f.split('|').next().map(str::to_string))
        );
        let mut retracted = epmc.clone();
        retracted.retracted = true;
        merge(&mut pm, &retracted);
        assert!(
            pm.retracted,
            "a retraction in any copy marks the merged record"
        );
    }
}
