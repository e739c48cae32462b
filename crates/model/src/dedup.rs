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
    let year = record.published.map(|d| d.year.to_string()).unwrap_or_default();
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
        assert_eq!(fold_title("Anæmia  in Pregnancy: A Café-Based Study."), "anæmia in pregnancy a cafe based study");
        assert_eq!(fold_title("  "), "");
    }

    #[test]
    fn fingerprint_needs_a_long_title() {
        let mut r = Record::new("a", "1", "Asthma");
        assert_eq!(fingerprint(&r), None);
        r.title = "Inhaled corticosteroids in mild asthma".into();
        r.published = Some(PartialDate::year(2019));
        assert_eq!(fingerprint(&r).as_deref(), Some("inhaled corticosteroids in mild asthma|2019"));
        r.identifiers.doi = Some("10.1/x".into());
        assert_eq!(keys(&r)[0], "doi:10.1/x");
    }
}
