//! Translation of the engine's query language (parsed by [`search::query::parse`]) and of the search
//! filters into each remote source's own syntax.
//!
//! | construct | PubMed (`term`) | Europe PMC (`query`) | ClinicalTrials.gov (`query.term`) |
//! |---|---|---|---|
//! | word, prefix `diabet*` | `word`, `diabet*` (four letters at least) | `word`, `diabet*` | `word`; prefixes dropped |
//! | `"phrase"` | `"phrase"` | `"phrase"` | `"phrase"` |
//! | title / abstract / title+abstract | `[ti]` / `[tiab]` (widened) / `[tiab]` | `TITLE:` / `ABSTRACT:` / both | `AREA[BriefTitle]`, `AREA[OfficialTitle]` / `AREA[BriefSummary]` |
//! | MeSH / keyword | `[mh]` / `[ot]` | `MESH_HEADING:` / `KW:` | `AREA[ConditionMeshTerm]`, `AREA[InterventionMeshTerm]` / `AREA[Keyword]`, `AREA[Condition]`, `AREA[InterventionName]` |
//! | author / journal / publication type | `[au]` / `[ta]` / `[pt]` | `AUTH:` / `JOURNAL:` / `PUB_TYPE:` | dropped / `AREA[LeadSponsorName]` / dropped |
//! | PMID / DOI / PMCID / NCT | `[pmid]` / `[doi]` / `[pmcid]` / `[si]` | `EXT_ID: AND SRC:MED` / `DOI:` / `PMCID:` / free text | NCT `AREA[NCTId]`, others dropped |
//! | AND, OR, juxtaposition | `AND`, `OR`, `AND` | `AND`, `OR`, `AND` | `AND`, `OR`, `AND` |
//! | NOT | `a NOT (b OR c)`, alone `all[sb] NOT b` | `a NOT (b OR c)`; alone dropped | `a AND NOT (b OR c)`; alone dropped |
//! | years | `datetype=pdat`, `mindate`, `maxdate` | `PUB_YEAR:[a TO b]` | `filter.advanced` `AREA[StudyFirstPostDate]RANGE[..]` |
//! | evidence levels | publication types, e.g. `guideline[pt]` | `PUB_TYPE:"..."` | rct: `AREA[DesignAllocation]RANDOMIZED`, observational: `AREA[StudyType]OBSERVATIONAL` |
//! | open access | `free full text[sb]` | `OPEN_ACCESS:y` | every trial is open |
//!
//! Every operand is rendered as an atom or a parenthesised group, so PubMed's left-to-right reading
//! of booleans gives the same result as the engine's precedence.
//!
//! What a source cannot express is never sent approximately wrong: it is dropped, and the drop is
//! noted in [`Translation::notes`], which end up in the source's status message. Dropping a filter
//! is safe because the federator filters every remote record again with the engine's own rules
//! (see [`crate::matches_filters`]). When nothing is left to send, or when the source cannot hold a
//! record the filters accept (patient information from PubMed), translation fails with the reason
//! and the source is skipped.

use harvest::{SourceConfig, SourceKind};
use model::{Audience, EvidenceLevel, Identifier};
use search::query::{parse, FieldName, Node};
use search::Filters;

/// A query in a source's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The query: PubMed's `term`, Europe PMC's `query`, ClinicalTrials.gov's `query.term`.
    pub query: String,
    /// Further request parameters (PubMed's date limits, ClinicalTrials.gov's `filter.advanced`).
    pub params: Vec<(&'static str, String)>,
    /// What the source cannot express and was dropped or widened, for the status message.
    pub notes: Vec<String>,
    /// The open-access state every answer has because the query asked for it (PubMed's free full
    /// text subset), recorded on the remote records.
    pub open_access: Option<bool>,
}

impl Translation {
    /// The normalised request, for cache keys: query and parameters, whitespace collapsed.
    pub fn cache_key(&self) -> String {
        let mut key = collapse(&self.query);
        let mut params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", collapse(v)))
            .collect();
        params.sort();
        for p in params {
            key.push('\u{1f}');
            key.push_str(&p);
        }
        if let Some(oa) = self.open_access {
            key.push_str(if oa { "\u{1f}oa" } else { "\u{1f}not-oa" });
        }
        key
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Translates a query and filters for one source. `Err` holds the reason the source cannot be asked
/// (it is then skipped).
pub fn translate(cfg: &SourceConfig, q: &str, filters: &Filters) -> Result<Translation, String> {
    let kind = cfg.kind;
    let mut dialect: Box<dyn Dialect> = match kind {
        SourceKind::Pubmed => Box::new(Pubmed),
        SourceKind::Europepmc => Box::new(EuropePmc),
        SourceKind::Clinicaltrials => Box::new(ClinicalTrials),
        other => {
            return Err(format!(
                "{} sources cannot be searched live",
                other.as_str()
            ))
        }
    };
    let d = &mut *dialect;
    let name = d.name();
    // Audience: the records of a source have the source's audience, so a source of the other
    // audience cannot answer at all.
    let source_audience = cfg.audience.unwrap_or(Audience::Professional);
    if let Some(a) = filters.audience {
        if a != source_audience {
            return Err(format!(
                "{name} holds no {} records (audience filter)",
                a.as_str()
            ));
        }
    }
    let (node, _) = parse(q);
    if node == Node::All {
        return Err("browsing without search terms is not sent to remote sources".to_string());
    }
    let mut notes = Vec::new();
    let Some(mut query) = render(&node, d, &mut notes) else {
        let why = if notes.is_empty() {
            String::new()
        } else {
            format!(": {}", notes.join("; "))
        };
        return Err(format!(
            "nothing in the query can be searched in {name}{why}"
        ));
    };
    let mut t = Translation {
        query: String::new(),
        params: Vec::new(),
        notes: Vec::new(),
        open_access: None,
    };
    d.filters(&mut query, filters, &mut t, &mut notes)?;
    if filters.max_reading_grade.is_some() {
        notes.push(format!(
            "{name} cannot filter by reading grade: filtered after retrieval"
        ));
    }
    t.query = query;
    let mut seen = std::collections::BTreeSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    t.notes = notes;
    Ok(t)
}

/// The source-specific parts of a translation.
trait Dialect {
    /// The source, for notes.
    fn name(&self) -> &'static str;
    /// A word, possibly a prefix, in the given fields (empty: the source's default search).
    fn term(
        &self,
        fields: &[FieldName],
        text: &str,
        prefix: bool,
        notes: &mut Vec<String>,
    ) -> Option<String>;
    /// A quoted phrase in the given fields.
    fn phrase(&self, fields: &[FieldName], text: &str, notes: &mut Vec<String>) -> Option<String>;
    /// An identifier.
    fn ident(&self, id: &Identifier, notes: &mut Vec<String>) -> Option<String>;
    /// An expression matching every record, for a `NOT` with nothing positive beside it.
    fn everything(&self) -> Option<&'static str>;
    /// The operator between the positive part and the excluded part.
    fn not_operator(&self) -> &'static str;
    /// Adds the filters it can express to the query or the parameters; notes or fails on the rest.
    fn filters(
        &self,
        query: &mut String,
        filters: &Filters,
        t: &mut Translation,
        notes: &mut Vec<String>,
    ) -> Result<(), String>;
}

fn render(node: &Node, d: &dyn Dialect, notes: &mut Vec<String>) -> Option<String> {
    match node {
        Node::All => None,
        Node::Term {
            fields,
            text,
            prefix,
        } => d.term(fields, text, *prefix, notes),
        Node::Phrase { fields, text } => {
            let text = collapse(&text.replace('"', " "));
            if text.is_empty() {
                None
            } else {
                d.phrase(fields, &text, notes)
            }
        }
        Node::Ident(id) => d.ident(id, notes),
        Node::And(items) | Node::Implicit(items) => conjunction(items, d, notes),
        Node::Or(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|n| match n {
                    Node::Not(inner) => lone_not(inner, d, notes),
                    other => render(other, d, notes),
                })
                .collect();
            group(parts, " OR ")
        }
        Node::Not(inner) => lone_not(inner, d, notes),
    }
}

fn group(mut parts: Vec<String>, op: &str) -> Option<String> {
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(format!("({})", parts.join(op))),
    }
}

fn conjunction(items: &[Node], d: &dyn Dialect, notes: &mut Vec<String>) -> Option<String> {
    let mut positives = Vec::new();
    let mut negatives = Vec::new();
    for item in items {
        match item {
            Node::Not(inner) => {
                if let Some(n) = render(inner, d, notes) {
                    negatives.push(n);
                }
            }
            other => {
                if let Some(p) = render(other, d, notes) {
                    positives.push(p);
                }
            }
        }
    }
    let excluded = group(negatives, " OR ");
    match (group(positives, " AND "), excluded) {
        (Some(p), None) => Some(p),
        (Some(p), Some(n)) => Some(format!("({p} {} {n})", d.not_operator())),
        (None, Some(n)) => match d.everything() {
            Some(all) => Some(format!("({all} {} {n})", d.not_operator())),
            None => {
                notes.push(format!(
                    "{} cannot search a NOT with nothing beside it: dropped",
                    d.name()
                ));
                None
            }
        },
        (None, None) => None,
    }
}

fn lone_not(inner: &Node, d: &dyn Dialect, notes: &mut Vec<String>) -> Option<String> {
    let n = render(inner, d, notes)?;
    match d.everything() {
        Some(all) => Some(format!("({all} {} {n})", d.not_operator())),
        None => {
            notes.push(format!(
                "{} cannot search a NOT with nothing beside it: dropped",
                d.name()
            ));
            None
        }
    }
}

/// Quotes `text` unless every character is a letter, a digit or one of `allowed`.
fn quote_unless_plain(text: &str, allowed: &[char]) -> String {
    if text
        .chars()
        .all(|c| c.is_alphanumeric() || allowed.contains(&c))
    {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('"', ""))
    }
}

fn letters(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphanumeric()).count()
}

/// Publication types (as PubMed and Europe PMC name them) for an evidence level.
fn publication_types(level: EvidenceLevel) -> Option<&'static [&'static str]> {
    use EvidenceLevel::*;
    Some(match level {
        Guideline => &[
            "guideline",
            "practice guideline",
            "consensus development conference",
        ],
        SystematicReview => &["systematic review", "meta-analysis"],
        Rct => &["randomized controlled trial"],
        Observational => &["observational study"],
        CaseReport => &["case reports"],
        Opinion => &["editorial", "comment", "letter"],
        PatientInformation => &["patient education handout"],
        Other => return None,
    })
}

/// The publication types of every level, or `None` (with a note) when one cannot be expressed.
fn evidence_types(
    name: &str,
    levels: &[EvidenceLevel],
    notes: &mut Vec<String>,
) -> Option<Vec<&'static str>> {
    if levels.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for l in levels {
        match publication_types(*l) {
            Some(types) => out.extend_from_slice(types),
            None => {
                notes.push(format!(
                    "{name} cannot search evidence level {}: evidence levels filtered after retrieval",
                    l.as_str()
                ));
                return None;
            }
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// PubMed
// ---------------------------------------------------------------------------------------------

struct Pubmed;

impl Pubmed {
    fn tags(fields: &[FieldName], notes: &mut Vec<String>) -> Vec<&'static str> {
        use FieldName::*;
        if fields.is_empty() {
            return vec![""];
        }
        if fields.contains(&Title) && fields.contains(&Abstract) {
            let mut v = vec!["[tiab]"];
            v.extend(
                fields
                    .iter()
                    .filter(|f| !matches!(f, Title | Abstract))
                    .map(|f| Self::tag(*f, notes)),
            );
            return v;
        }
        fields.iter().map(|f| Self::tag(*f, notes)).collect()
    }

    fn tag(f: FieldName, notes: &mut Vec<String>) -> &'static str {
        match f {
            FieldName::Title => "[ti]",
            FieldName::Abstract => {
                notes.push(
                    "pubmed has no abstract-only field: abstract terms searched in title/abstract"
                        .to_string(),
                );
                "[tiab]"
            }
            FieldName::Mesh => "[mh]",
            FieldName::Keywords => "[ot]",
            FieldName::Author => "[au]",
            FieldName::Journal => "[ta]",
            FieldName::PublicationType => "[pt]",
        }
    }

    fn tagged(value: &str, fields: &[FieldName], notes: &mut Vec<String>) -> Option<String> {
        let parts: Vec<String> = Self::tags(fields, notes)
            .into_iter()
            .map(|tag| format!("{value}{tag}"))
            .collect();
        group(parts, " OR ")
    }
}

impl Dialect for Pubmed {
    fn name(&self) -> &'static str {
        "pubmed"
    }

    fn term(
        &self,
        fields: &[FieldName],
        text: &str,
        prefix: bool,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        if prefix {
            if letters(text) < 4 || !text.chars().all(|c| c.is_alphanumeric() || c == '-') {
                notes.push(format!(
                    "pubmed truncation needs four letters at least: {text}* dropped"
                ));
                return None;
            }
            return Self::tagged(&format!("{text}*"), fields, notes);
        }
        let value = quote_unless_plain(text, &['-', '\'', '.', '/']);
        Self::tagged(&value, fields, notes)
    }

    fn phrase(&self, fields: &[FieldName], text: &str, notes: &mut Vec<String>) -> Option<String> {
        Self::tagged(&format!("\"{text}\""), fields, notes)
    }

    fn ident(&self, id: &Identifier, _notes: &mut Vec<String>) -> Option<String> {
        Some(match id {
            Identifier::Pmid(v) => format!("{v}[pmid]"),
            Identifier::Doi(v) => format!("\"{v}\"[doi]"),
            Identifier::Pmcid(v) => format!("{v}[pmcid]"),
            Identifier::Nct(v) => format!("{v}[si]"),
        })
    }

    fn everything(&self) -> Option<&'static str> {
        Some("all[sb]")
    }

    fn not_operator(&self) -> &'static str {
        "NOT"
    }

    fn filters(
        &self,
        query: &mut String,
        filters: &Filters,
        t: &mut Translation,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        if let Some(types) = evidence_types(self.name(), &filters.evidence_levels, notes) {
            let pts: Vec<String> = types.iter().map(|p| format!("{p}[pt]")).collect();
            *query = format!("{query} AND ({})", pts.join(" OR "));
        }
        match filters.open_access {
            Some(true) => *query = format!("{query} AND free full text[sb]"),
            Some(false) => *query = format!("({query} NOT free full text[sb])"),
            None => {}
        }
        t.open_access = filters.open_access;
        if filters.year_from.is_some() || filters.year_to.is_some() {
            t.params.push(("datetype", "pdat".to_string()));
            t.params.push((
                "mindate",
                filters
                    .year_from
                    .map_or("1800".to_string(), |y| y.to_string()),
            ));
            t.params.push((
                "maxdate",
                filters
                    .year_to
                    .map_or("3000".to_string(), |y| y.to_string()),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Europe PMC
// ---------------------------------------------------------------------------------------------

struct EuropePmc;

/// Characters Europe PMC's Lucene syntax gives a meaning to.
const LUCENE_SPECIAL: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '"', '~', '*', '?', ':', '\\', '/',
];

impl EuropePmc {
    fn prefixes(fields: &[FieldName]) -> Vec<&'static str> {
        use FieldName::*;
        if fields.is_empty() {
            return vec![""];
        }
        fields
            .iter()
            .map(|f| match f {
                Title => "TITLE:",
                Abstract => "ABSTRACT:",
                Mesh => "MESH_HEADING:",
                Keywords => "KW:",
                Author => "AUTH:",
                Journal => "JOURNAL:",
                PublicationType => "PUB_TYPE:",
            })
            .collect()
    }

    fn fielded(value: &str, fields: &[FieldName]) -> Option<String> {
        let parts: Vec<String> = Self::prefixes(fields)
            .into_iter()
            .map(|p| format!("{p}{value}"))
            .collect();
        group(parts, " OR ")
    }
}

impl Dialect for EuropePmc {
    fn name(&self) -> &'static str {
        "europe pmc"
    }

    fn term(
        &self,
        fields: &[FieldName],
        text: &str,
        prefix: bool,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        if prefix {
            if text.chars().any(|c| LUCENE_SPECIAL.contains(&c)) {
                notes.push(format!("europe pmc cannot truncate {text}*: dropped"));
                return None;
            }
            return Self::fielded(&format!("{text}*"), fields);
        }
        let value = if text.chars().any(|c| LUCENE_SPECIAL.contains(&c)) {
            format!("\"{}\"", text.replace('"', ""))
        } else {
            text.to_string()
        };
        Self::fielded(&value, fields)
    }

    fn phrase(&self, fields: &[FieldName], text: &str, _notes: &mut Vec<String>) -> Option<String> {
        Self::fielded(&format!("\"{text}\""), fields)
    }

    fn ident(&self, id: &Identifier, _notes: &mut Vec<String>) -> Option<String> {
        Some(match id {
            Identifier::Pmid(v) => format!("(EXT_ID:{v} AND SRC:MED)"),
            Identifier::Doi(v) => format!("DOI:\"{v}\""),
            Identifier::Pmcid(v) => format!("PMCID:{v}"),
            // Europe PMC has no trial-id field; articles cite the registration number in their text.
            Identifier::Nct(v) => format!("\"{v}\""),
        })
    }

    fn everything(&self) -> Option<&'static str> {
        None
    }

    fn not_operator(&self) -> &'static str {
        "NOT"
    }

    fn filters(
        &self,
        query: &mut String,
        filters: &Filters,
        t: &mut Translation,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        if let Some(types) = evidence_types(self.name(), &filters.evidence_levels, notes) {
            let pts: Vec<String> = types.iter().map(|p| format!("PUB_TYPE:\"{p}\"")).collect();
            *query = format!("{query} AND ({})", pts.join(" OR "));
        }
        if filters.year_from.is_some() || filters.year_to.is_some() {
            *query = format!(
                "{query} AND PUB_YEAR:[{} TO {}]",
                filters.year_from.unwrap_or(1000),
                filters.year_to.unwrap_or(3000)
            );
        }
        match filters.open_access {
            Some(true) => *query = format!("{query} AND OPEN_ACCESS:y"),
            Some(false) => *query = format!("{query} AND OPEN_ACCESS:n"),
            None => {}
        }
        let _ = t;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// ClinicalTrials.gov
// ---------------------------------------------------------------------------------------------

struct ClinicalTrials;

impl ClinicalTrials {
    fn areas(f: FieldName, notes: &mut Vec<String>) -> &'static [&'static str] {
        match f {
            FieldName::Title => &["BriefTitle", "OfficialTitle"],
            FieldName::Abstract => &["BriefSummary"],
            FieldName::Mesh => &["ConditionMeshTerm", "InterventionMeshTerm"],
            FieldName::Keywords => &["Keyword", "Condition", "InterventionName"],
            FieldName::Journal => &["LeadSponsorName"],
            FieldName::Author => {
                notes.push(
                    "clinicaltrials.gov records have no authors: author terms dropped".into(),
                );
                &[]
            }
            FieldName::PublicationType => {
                notes.push(
                    "clinicaltrials.gov records have no publication types: publication type terms dropped"
                        .into(),
                );
                &[]
            }
        }
    }

    fn fielded(value: &str, fields: &[FieldName], notes: &mut Vec<String>) -> Option<String> {
        if fields.is_empty() {
            return Some(value.to_string());
        }
        let mut parts = Vec::new();
        for f in fields {
            for area in Self::areas(*f, notes) {
                let part = format!("AREA[{area}]{value}");
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
        }
        group(parts, " OR ")
    }
}

impl Dialect for ClinicalTrials {
    fn name(&self) -> &'static str {
        "clinicaltrials.gov"
    }

    fn term(
        &self,
        fields: &[FieldName],
        text: &str,
        prefix: bool,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        if prefix {
            notes.push(format!(
                "clinicaltrials.gov has no truncation: {text}* dropped"
            ));
            return None;
        }
        Self::fielded(&quote_unless_plain(text, &['-']), fields, notes)
    }

    fn phrase(&self, fields: &[FieldName], text: &str, notes: &mut Vec<String>) -> Option<String> {
        Self::fielded(&format!("\"{text}\""), fields, notes)
    }

    fn ident(&self, id: &Identifier, notes: &mut Vec<String>) -> Option<String> {
        match id {
            Identifier::Nct(v) => Some(format!("AREA[NCTId]{v}")),
            other => {
                notes.push(format!(
                    "clinicaltrials.gov cannot search by {}: dropped",
                    other.kind()
                ));
                None
            }
        }
    }

    fn everything(&self) -> Option<&'static str> {
        None
    }

    fn not_operator(&self) -> &'static str {
        "AND NOT"
    }

    fn filters(
        &self,
        _query: &mut String,
        filters: &Filters,
        t: &mut Translation,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let mut advanced = Vec::new();
        let levels = &filters.evidence_levels;
        if !levels.is_empty() {
            use EvidenceLevel::*;
            if levels.contains(&Other) {
                notes.push(
                    "clinicaltrials.gov cannot search evidence level other: evidence levels filtered after retrieval"
                        .to_string(),
                );
            } else {
                let mut parts = Vec::new();
                if levels.contains(&Rct) {
                    parts.push("AREA[DesignAllocation]RANDOMIZED");
                }
                if levels.contains(&Observational) {
                    parts.push("AREA[StudyType]OBSERVATIONAL");
                    parts.push("AREA[DesignAllocation]NON_RANDOMIZED");
                }
                match group(parts.iter().map(|s| s.to_string()).collect(), " OR ") {
                    Some(g) => advanced.push(g),
                    None => {
                        return Err(
                            "clinicaltrials.gov holds trials only, none of the evidence levels asked for"
                                .to_string(),
                        )
                    }
                }
            }
        }
        if filters.year_from.is_some() || filters.year_to.is_some() {
            advanced.push(format!(
                "AREA[StudyFirstPostDate]RANGE[{},{}]",
                filters
                    .year_from
                    .map_or("MIN".to_string(), |y| format!("{y}-01-01")),
                filters
                    .year_to
                    .map_or("MAX".to_string(), |y| format!("{y}-12-31")),
            ));
        }
        if filters.open_access == Some(false) {
            return Err(
                "every clinicaltrials.gov record is free to read (open access filter)".into(),
            );
        }
        if !advanced.is_empty() {
            t.params.push(("filter.advanced", advanced.join(" AND ")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: SourceKind) -> SourceConfig {
        SourceConfig::new("s", kind, "http://127.0.0.1:1/")
    }

    fn tr(kind: SourceKind, q: &str, filters: &Filters) -> Result<Translation, String> {
        translate(&cfg(kind), q, filters)
    }

    /// The translated query of `q` without filters.
    fn check(kind: SourceKind, q: &str, expected: &str) {
        match tr(kind, q, &Filters::default()) {
            Ok(t) => assert_eq!(t.query, expected, "{kind:?} {q:?} (notes {:?})", t.notes),
            Err(e) => panic!("{kind:?} {q:?}: skipped: {e}"),
        }
    }

    /// Like [`check`], and a note containing `note`.
    fn check_noted(kind: SourceKind, q: &str, expected: &str, note: &str) {
        let t = tr(kind, q, &Filters::default()).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(t.query, expected, "{kind:?} {q:?}");
        assert!(
            t.notes.iter().any(|n| n.contains(note)),
            "{kind:?} {q:?}: no note {note:?} in {:?}",
            t.notes
        );
    }

    /// The source is skipped, for a reason containing `why`.
    fn check_skipped(kind: SourceKind, q: &str, filters: &Filters, why: &str) {
        match tr(kind, q, filters) {
            Ok(t) => panic!("{kind:?} {q:?} sent as {:?}", t.query),
            Err(e) => assert!(e.contains(why), "{kind:?} {q:?}: {e}"),
        }
    }

    use SourceKind::{Clinicaltrials as C, Europepmc as E, Pubmed as P};

    #[test]
    fn pubmed_constructs() {
        check(P, "asthma", "asthma");
        check(P, "title:asthma", "asthma[ti]");
        check(P, "asthma[ti]", "asthma[ti]");
        check(P, "asthma[tiab]", "asthma[tiab]");
        check_noted(P, "abstract:asthma", "asthma[tiab]", "abstract-only");
        check(P, "asthma[mh]", "asthma[mh]");
        check(P, "keyword:wheeze", "wheeze[ot]");
        check(P, "smith[au]", "smith[au]");
        check(P, "lancet[ta]", "lancet[ta]");
        check(P, "guideline[pt]", "guideline[pt]");
        check(P, "\"heart failure\"", "\"heart failure\"");
        check(P, "\"heart failure\"[tiab]", "\"heart failure\"[tiab]");
        check(P, "diabet*", "diabet*");
        check(P, "diabet*[ti]", "diabet*[ti]");
        check_noted(P, "asthma dia*", "asthma", "four letters");
        check(P, "covid-19", "covid-19");
        check(P, "asthma AND children", "(asthma AND children)");
        check(P, "asthma children", "(asthma AND children)");
        check(P, "asthma OR wheeze", "(asthma OR wheeze)");
        check(P, "asthma NOT children", "(asthma NOT children)");
        check(
            P,
            "asthma -children -adults",
            "(asthma NOT (children OR adults))",
        );
        check(P, "NOT asthma", "(all[sb] NOT asthma)");
        check(P, "asthma OR -wheeze", "(asthma OR (all[sb] NOT wheeze))");
        check(
            P,
            "(asthma OR wheeze) AND steroid*",
            "((asthma OR wheeze) AND steroid*)",
        );
        check(
            P,
            "title:(asthma OR wheeze) children",
            "((asthma[ti] OR wheeze[ti]) AND children)",
        );
        check(P, "31978945", "31978945[pmid]");
        check(P, "pmid:31978945", "31978945[pmid]");
        check(P, "10.1056/NEJMoa2001017", "\"10.1056/nejmoa2001017\"[doi]");
        check(P, "PMC7092803", "PMC7092803[pmcid]");
        check(P, "NCT01234567", "NCT01234567[si]");
    }

    #[test]
    fn europe_pmc_constructs() {
        check(E, "asthma", "asthma");
        check(E, "title:asthma", "TITLE:asthma");
        check(E, "abstract:asthma", "ABSTRACT:asthma");
        check(E, "asthma[tiab]", "(TITLE:asthma OR ABSTRACT:asthma)");
        check(E, "asthma[mh]", "MESH_HEADING:asthma");
        check(E, "keyword:wheeze", "KW:wheeze");
        check(E, "smith[au]", "AUTH:smith");
        check(E, "lancet[ta]", "JOURNAL:lancet");
        check(E, "guideline[pt]", "PUB_TYPE:guideline");
        check(E, "\"heart failure\"[ti]", "TITLE:\"heart failure\"");
        check(E, "diabet*", "diabet*");
        check(E, "covid-19", "\"covid-19\"");
        check(E, "asthma AND children", "(asthma AND children)");
        check(E, "asthma OR wheeze", "(asthma OR wheeze)");
        check(E, "asthma -children", "(asthma NOT children)");
        check_noted(E, "asthma OR -wheeze", "asthma", "NOT with nothing");
        check(E, "31978945", "(EXT_ID:31978945 AND SRC:MED)");
        check(E, "10.1056/NEJMoa2001017", "DOI:\"10.1056/nejmoa2001017\"");
        check(E, "PMC7092803", "PMCID:PMC7092803");
        check(E, "NCT01234567", "\"NCT01234567\"");
    }

    #[test]
    fn clinicaltrials_constructs() {
        check(C, "asthma", "asthma");
        check(
            C,
            "title:asthma",
            "(AREA[BriefTitle]asthma OR AREA[OfficialTitle]asthma)",
        );
        check(C, "abstract:asthma", "AREA[BriefSummary]asthma");
        check(
            C,
            "asthma[mh]",
            "(AREA[ConditionMeshTerm]asthma OR AREA[InterventionMeshTerm]asthma)",
        );
        check(
            C,
            "keyword:wheeze",
            "(AREA[Keyword]wheeze OR AREA[Condition]wheeze OR AREA[InterventionName]wheeze)",
        );
        check(C, "pfizer[ta]", "AREA[LeadSponsorName]pfizer");
        check(C, "\"heart failure\"", "\"heart failure\"");
        check(C, "asthma AND children", "(asthma AND children)");
        check(C, "asthma OR wheeze", "(asthma OR wheeze)");
        check(C, "asthma -children", "(asthma AND NOT children)");
        check(C, "NCT01234567", "AREA[NCTId]NCT01234567");
        check_noted(C, "asthma smith[au]", "asthma", "no authors");
        check_noted(C, "asthma guideline[pt]", "asthma", "no publication types");
        check_noted(C, "asthma diabet*", "asthma", "no truncation");
        check_skipped(C, "31978945", &Filters::default(), "cannot search by pmid");
        check_skipped(C, "diabet*", &Filters::default(), "nothing in the query");
    }

    #[test]
    fn browsing_and_audience_skip_every_source() {
        for kind in [P, E, C] {
            check_skipped(kind, "*", &Filters::default(), "without search terms");
            check_skipped(kind, "", &Filters::default(), "without search terms");
            let patient = Filters {
                audience: Some(Audience::Patient),
                ..Filters::default()
            };
            check_skipped(kind, "asthma", &patient, "no patient records");
        }
        let mut c = cfg(P);
        c.audience = Some(Audience::Patient);
        let patient = Filters {
            audience: Some(Audience::Patient),
            ..Filters::default()
        };
        assert!(translate(&c, "asthma", &patient).is_ok());
        let professional = Filters {
            audience: Some(Audience::Professional),
            ..Filters::default()
        };
        assert!(tr(P, "asthma", &professional).is_ok());
        assert!(translate(&cfg(SourceKind::OaiPmh), "asthma", &Filters::default()).is_err());
    }

    #[test]
    fn evidence_year_and_access_filters() {
        use EvidenceLevel::*;
        let f = Filters {
            evidence_levels: vec![Guideline, SystematicReview],
            year_from: Some(2015),
            year_to: Some(2020),
            open_access: Some(true),
            ..Filters::default()
        };
        let t = tr(P, "asthma", &f).unwrap();
        assert_eq!(
            t.query,
            "asthma AND (guideline[pt] OR practice guideline[pt] OR consensus development conference[pt] OR systematic review[pt] OR meta-analysis[pt]) AND free full text[sb]"
        );
        assert_eq!(
            t.params,
            vec![
                ("datetype", "pdat".to_string()),
                ("mindate", "2015".to_string()),
                ("maxdate", "2020".to_string())
            ]
        );
        assert_eq!(t.open_access, Some(true));

        let t = tr(E, "asthma", &f).unwrap();
        assert_eq!(
            t.query,
            "asthma AND (PUB_TYPE:\"guideline\" OR PUB_TYPE:\"practice guideline\" OR PUB_TYPE:\"consensus development conference\" OR PUB_TYPE:\"systematic review\" OR PUB_TYPE:\"meta-analysis\") AND PUB_YEAR:[2015 TO 2020] AND OPEN_ACCESS:y"
        );

        // ClinicalTrials.gov holds no guidelines or reviews.
        check_skipped(C, "asthma", &f, "trials only");
        let trials = Filters {
            evidence_levels: vec![Rct, Observational, Guideline],
            year_from: Some(2015),
            ..Filters::default()
        };
        let t = tr(C, "asthma", &trials).unwrap();
        assert_eq!(t.query, "asthma");
        assert_eq!(
            t.params,
            vec![(
                "filter.advanced",
                "(AREA[DesignAllocation]RANDOMIZED OR AREA[StudyType]OBSERVATIONAL OR AREA[DesignAllocation]NON_RANDOMIZED) AND AREA[StudyFirstPostDate]RANGE[2015-01-01,MAX]".to_string()
            )]
        );
        let closed = Filters {
            open_access: Some(false),
            ..Filters::default()
        };
        check_skipped(C, "asthma", &closed, "free to read");
        let t = tr(P, "asthma OR wheeze", &closed).unwrap();
        assert_eq!(t.query, "((asthma OR wheeze) NOT free full text[sb])");

        // A level the source cannot express: the whole evidence filter is dropped, with a note.
        let other = Filters {
            evidence_levels: vec![Rct, Other],
            year_to: Some(2001),
            ..Filters::default()
        };
        let t = tr(P, "asthma", &other).unwrap();
        assert_eq!(t.query, "asthma");
        assert!(
            t.notes.iter().any(|n| n.contains("evidence level other")),
            "{:?}",
            t.notes
        );
        assert_eq!(t.params[1], ("mindate", "1800".to_string()));
        let t = tr(C, "asthma", &other).unwrap();
        assert_eq!(
            t.params,
            vec![(
                "filter.advanced",
                "AREA[StudyFirstPostDate]RANGE[MIN,2001-12-31]".to_string()
            )]
        );
        let grade = Filters {
            max_reading_grade: Some(8.0),
            ..Filters::default()
        };
        assert!(tr(E, "asthma", &grade).unwrap().notes[0].contains("reading grade"));
    }

    #[test]
    fn cache_keys_normalise_whitespace_and_order() {
        let a = Translation {
            query: "asthma  AND x".into(),
            params: vec![("b", "2".into()), ("a", "1".into())],
            notes: vec![],
            open_access: None,
        };
        let b = Translation {
            query: "asthma AND x".into(),
            params: vec![("a", "1".into()), ("b", "2".into())],
            notes: vec!["n".into()],
            open_access: None,
        };
        assert_eq!(a.cache_key(), b.cache_key());
        let c = Translation {
            open_access: Some(true),
            ..b.clone()
        };
        assert_ne!(c.cache_key(), b.cache_key());
    }
}
