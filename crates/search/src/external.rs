//! Scoring records that are not in the index, such as the answers of a live remote source in a
//! federated search, with the index's own ranking model.
//!
//! A remote source ranks by its own model, so its scores (when it gives any) cannot be compared with
//! ours. [`SearchIndex::score_external`] instead scores each remote record as if it had been indexed
//! here: the query is parsed by the same query language, each record field is analysed by the same
//! analyzer as at index time, and each term is weighted by BM25 with the *local* document
//! frequencies and average field lengths (tantivy's own [`Bm25Weight`], fed the local searcher's
//! statistics) and the same field weights. The product with the evidence, recency and trust priors
//! follows, exactly as for a local hit.
//!
//! What is reproduced: term and phrase BM25 per field with the field weights of
//! [`crate::RankingParams`], the analysis of split words (`IL-6`: the joined form or the phrase of
//! its parts), prefix terms (a constant score per matching field, as tantivy's regex queries give),
//! identifier look-ups (the identifier boost), and booleans (matching clauses add up; `NOT` clauses
//! add nothing). What is not: the proximity bonus, thesaurus synonyms and pseudo-relevance feedback,
//! which need the whole index; the caller calibrates remote scores against local ones to absorb
//! that difference (see the federation crate).
//!
//! ```
//! use search::{RankingParams, SearchIndex};
//! let index = SearchIndex::create_in_ram(RankingParams::plain_bm25()).unwrap();
//! let mut b = index.builder(32 << 20).unwrap();
//! b.add(vec![model::Record::new("demo", "1", "Iron for anaemia"), model::Record::new("demo", "2", "Asthma in children")], false).unwrap();
//! b.finish().unwrap();
//! index.reload().unwrap();
//! let remote = model::Record::new("remote", "9", "Oral iron for anemia in pregnancy");
//! let scores = index.score_external("anaemia", &[remote, model::Record::new("remote", "10", "Something else")]);
//! assert!(scores[0].unwrap() > 0.0);
//! assert_eq!(scores[1], Some(0.0));
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use model::Record;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::Bm25Weight;
use tantivy::schema::Field;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::{Searcher, Term};

use crate::analysis::{bio_analyzer, bio_unstemmed_analyzer, name_analyzer};
use crate::query::{parse, FieldName, Node};
use crate::schema::{Fields, FLAG_RETRACTED, FLAG_SUPERSEDED};
use crate::{RankingParams, SearchIndex};

impl SearchIndex {
    /// Scores records that are not in the index as the local ranking model would if they were:
    /// BM25 per field with the local corpus statistics and field weights, times the evidence,
    /// recency and trust priors.
    ///
    /// One score per record, in order. `None` when a record cannot be scored: the query has nothing
    /// to score with (`*`, a lone `NOT`), the index is empty, or the record has no text in any field
    /// the query searches. A record with text that matches no query term scores `Some(0.0)`.
    pub fn score_external(&self, q: &str, records: &[Record]) -> Vec<Option<f32>> {
        let searcher = self.searcher();
        if searcher.num_docs() == 0 || records.is_empty() {
            return vec![None; records.len()];
        }
        let (node, _) = parse(q);
        let mut scorer = ExternalScorer::new(&searcher, self.fields(), self.params());
        let plan = scorer.plan(&node);
        if !plan.scorable() {
            return vec![None; records.len()];
        }
        let mut needs = BTreeMap::new();
        plan.needs(&mut needs);
        let today = days_today();
        records
            .iter()
            .map(|r| {
                let mut doc = DocText::new(r, &needs);
                if !plan.has_text(&mut doc) {
                    return None;
                }
                let text = plan.score(&mut doc, &mut scorer.analyzers);
                Some(text * priors(self.params(), r, today))
            })
            .collect()
    }
}

/// The evidence × recency × trust multiplier of a record, as the index computes it at search time.
fn priors(params: &RankingParams, r: &Record, today: i64) -> f32 {
    let evidence = params.evidence.get(r.level());
    let age = r.published.map(|d| today - d.days_since_epoch());
    let recency = params.recency(age);
    let mut flags = 0;
    if r.retracted {
        flags |= FLAG_RETRACTED;
    }
    if r.superseded_by.is_some() {
        flags |= FLAG_SUPERSEDED;
    }
    evidence * recency * params.trust(flags)
}

fn days_today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() / 86_400) as i64)
        .unwrap_or(0)
}

/// The analyzers, as at index time.
struct Analyzers {
    bio: TextAnalyzer,
    bio_unstemmed: TextAnalyzer,
    name: TextAnalyzer,
}

impl Analyzers {
    fn for_field(&mut self, f: FieldName) -> &mut TextAnalyzer {
        match f {
            FieldName::Author | FieldName::Journal => &mut self.name,
            _ => &mut self.bio,
        }
    }
}

/// One analysed token: position, how many positions it spans, text.
struct Tok {
    position: usize,
    len: usize,
    text: String,
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut s = analyzer.token_stream(text);
    while s.advance() {
        let t = s.token();
        out.push(Tok {
            position: t.position,
            len: t.position_length,
            text: t.text.clone(),
        });
    }
    out
}

/// The terms and prefixes a plan looks for in one field.
#[derive(Default)]
struct Needs {
    terms: HashSet<String>,
    prefixes: Vec<String>,
}

/// A record's analysed field, as the index would hold it: positions of the terms the plan looks
/// for, the prefixes present, and the number of tokens (the field norm).
#[derive(Default)]
struct FieldIndex {
    positions: HashMap<String, Vec<u32>>,
    prefixes: HashSet<String>,
    norm: u32,
}

impl FieldIndex {
    fn build(analyzer: &mut TextAnalyzer, values: &[&str], needs: Option<&Needs>) -> Self {
        let mut out = FieldIndex::default();
        // Positions continue across values with a gap of one, as tantivy's postings writer does.
        let mut base: u32 = 0;
        for v in values {
            let mut end = base;
            let mut stream = analyzer.token_stream(v);
            while stream.advance() {
                let t = stream.token();
                let start = base + t.position as u32;
                end = end.max(start + t.position_length as u32);
                out.norm += 1;
                let Some(needs) = needs else { continue };
                if needs.terms.contains(&t.text) {
                    match out.positions.get_mut(&t.text) {
                        Some(p) => p.push(start),
                        None => {
                            out.positions.insert(t.text.clone(), vec![start]);
                        }
                    }
                }
                for p in &needs.prefixes {
                    if t.text.starts_with(p.as_str()) && !out.prefixes.contains(p) {
                        out.prefixes.insert(p.clone());
                    }
                }
            }
            base = end + 1;
        }
        out
    }

    fn tf(&self, term: &str) -> u32 {
        self.positions.get(term).map_or(0, |p| p.len() as u32)
    }

    /// Occurrences of the phrase: positions `p` where every `(offset, term)` is at `p + offset`.
    fn phrase_tf(&self, terms: &[(usize, String)]) -> u32 {
        let Some((first_offset, first)) = terms.first() else {
            return 0;
        };
        let Some(starts) = self.positions.get(first) else {
            return 0;
        };
        let mut count = 0;
        for &p in starts {
            let Some(origin) = p.checked_sub(*first_offset as u32) else {
                continue;
            };
            let all = terms[1..].iter().all(|(off, t)| {
                self.positions
                    .get(t)
                    .is_some_and(|ps| ps.binary_search(&(origin + *off as u32)).is_ok())
            });
            if all {
                count += 1;
            }
        }
        count
    }
}

/// A record's fields, analysed on first use.
struct DocText<'a> {
    record: &'a Record,
    needs: &'a BTreeMap<FieldName, Needs>,
    fields: BTreeMap<FieldName, FieldIndex>,
}

impl<'a> DocText<'a> {
    fn new(record: &'a Record, needs: &'a BTreeMap<FieldName, Needs>) -> Self {
        DocText {
            record,
            needs,
            fields: BTreeMap::new(),
        }
    }

    /// The values of a field, as `schema::to_document` indexes them.
    fn values(&self, f: FieldName) -> Vec<&'a str> {
        let r = self.record;
        match f {
            FieldName::Title => vec![r.title.as_str()],
            FieldName::Abstract => r.abstract_text.as_deref().into_iter().collect(),
            FieldName::Mesh => r.mesh_terms.iter().map(String::as_str).collect(),
            FieldName::Keywords => {
                let mut v: Vec<&str> = r.keywords.iter().map(String::as_str).collect();
                if let Some(t) = &r.trial {
                    v.extend(
                        t.conditions
                            .iter()
                            .chain(&t.interventions)
                            .map(String::as_str),
                    );
                }
                v
            }
            FieldName::Author => r.authors.iter().map(String::as_str).collect(),
            FieldName::Journal => r
                .journal
                .as_deref()
                .or(r.publisher.as_deref())
                .into_iter()
                .collect(),
            FieldName::PublicationType => r.publication_types.iter().map(String::as_str).collect(),
        }
    }

    fn has_values(&self, f: FieldName) -> bool {
        self.values(f).iter().any(|v| !v.trim().is_empty())
    }

    fn field(&mut self, f: FieldName, analyzers: &mut Analyzers) -> &FieldIndex {
        if !self.fields.contains_key(&f) {
            let values = self.values(f);
            let built = FieldIndex::build(analyzers.for_field(f), &values, self.needs.get(&f));
            self.fields.insert(f, built);
        }
        // Inserted just above when missing.
        self.fields.entry(f).or_default()
    }
}

/// How one typed word or phrase is matched in one field, with its BM25 weight (field weight
/// included).
enum Matcher {
    /// A single term.
    Term { text: String, bm25: Bm25Weight },
    /// Terms at fixed offsets from one another.
    Phrase {
        terms: Vec<(usize, String)>,
        bm25: Bm25Weight,
    },
    /// A prefix of an analysed term: a constant score.
    Prefix { prefix: String, weight: f32 },
}

/// The scoring plan of a parsed query.
enum Plan {
    /// Nothing to score with.
    Nothing,
    /// Matching children add up (AND, OR, juxtaposition).
    Sum(Vec<Plan>),
    /// A clause that scores nothing (`NOT`).
    Excluded,
    /// A word or phrase over fields: the matchers of each field add up.
    Text(Vec<(FieldName, Vec<Matcher>)>),
    /// An identifier: the boost when the record carries it, plus the text search of its value.
    Ident {
        kind: &'static str,
        value: String,
        bm25: Option<Box<Bm25Weight>>,
        text: Box<Plan>,
    },
}

impl Plan {
    /// What the plan looks for, field by field.
    fn needs(&self, out: &mut BTreeMap<FieldName, Needs>) {
        match self {
            Plan::Nothing | Plan::Excluded => {}
            Plan::Sum(v) => v.iter().for_each(|p| p.needs(out)),
            Plan::Ident { text, .. } => text.needs(out),
            Plan::Text(fields) => {
                for (f, matchers) in fields {
                    let n = out.entry(*f).or_default();
                    for m in matchers {
                        match m {
                            Matcher::Term { text, .. } => {
                                n.terms.insert(text.clone());
                            }
                            Matcher::Phrase { terms, .. } => {
                                n.terms.extend(terms.iter().map(|(_, t)| t.clone()));
                            }
                            Matcher::Prefix { prefix, .. } => {
                                if !n.prefixes.contains(prefix) {
                                    n.prefixes.push(prefix.clone());
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn scorable(&self) -> bool {
        match self {
            Plan::Nothing | Plan::Excluded => false,
            Plan::Sum(v) => v.iter().any(Plan::scorable),
            Plan::Text(fields) => fields.iter().any(|(_, m)| !m.is_empty()),
            Plan::Ident { .. } => true,
        }
    }

    /// Whether the record has text in any field the plan searches.
    fn has_text(&self, doc: &mut DocText<'_>) -> bool {
        match self {
            Plan::Nothing | Plan::Excluded => false,
            Plan::Sum(v) => v.iter().any(|p| p.has_text(doc)),
            Plan::Text(fields) => fields.iter().any(|(f, _)| doc.has_values(*f)),
            Plan::Ident { .. } => true,
        }
    }

    fn score(&self, doc: &mut DocText<'_>, analyzers: &mut Analyzers) -> f32 {
        match self {
            Plan::Nothing | Plan::Excluded => 0.0,
            Plan::Sum(v) => v.iter().map(|p| p.score(doc, analyzers)).sum(),
            Plan::Text(fields) => {
                let mut total = 0.0;
                for (f, matchers) in fields {
                    if matchers.is_empty() || !doc.has_values(*f) {
                        continue;
                    }
                    let field = doc.field(*f, analyzers);
                    let norm_id = FieldNormReader::fieldnorm_to_id(field.norm);
                    for m in matchers {
                        total += match m {
                            Matcher::Term { text, bm25 } => match field.tf(text) {
                                0 => 0.0,
                                tf => bm25.score(norm_id, tf),
                            },
                            Matcher::Phrase { terms, bm25 } => match field.phrase_tf(terms) {
                                0 => 0.0,
                                tf => bm25.score(norm_id, tf),
                            },
                            Matcher::Prefix { prefix, weight } => {
                                if field.prefixes.contains(prefix) {
                                    *weight
                                } else {
                                    0.0
                                }
                            }
                        };
                    }
                }
                total
            }
            Plan::Ident {
                kind,
                value,
                bm25,
                text,
            } => {
                let ids: Vec<_> = doc.record.identifiers.iter().collect();
                let has = ids
                    .iter()
                    .any(|i| i.kind() == *kind && i.value().eq_ignore_ascii_case(value));
                let ident = match (has, bm25) {
                    (true, Some(w)) => {
                        w.score(FieldNormReader::fieldnorm_to_id(ids.len() as u32), 1)
                    }
                    _ => 0.0,
                };
                ident + text.score(doc, analyzers)
            }
        }
    }
}

/// Builds plans against the local searcher's statistics.
struct ExternalScorer<'a> {
    searcher: &'a Searcher,
    fields: &'a Fields,
    params: &'a RankingParams,
    analyzers: Analyzers,
}

impl<'a> ExternalScorer<'a> {
    fn new(searcher: &'a Searcher, fields: &'a Fields, params: &'a RankingParams) -> Self {
        ExternalScorer {
            searcher,
            fields,
            params,
            analyzers: Analyzers {
                bio: bio_analyzer(),
                bio_unstemmed: bio_unstemmed_analyzer(),
                name: name_analyzer(),
            },
        }
    }

    fn field(&self, f: FieldName) -> Field {
        match f {
            FieldName::Title => self.fields.title,
            FieldName::Abstract => self.fields.abstract_text,
            FieldName::Mesh => self.fields.mesh,
            FieldName::Keywords => self.fields.keywords,
            FieldName::Author => self.fields.authors,
            FieldName::Journal => self.fields.journal,
            FieldName::PublicationType => self.fields.pubtypes,
        }
    }

    /// The fields searched and their weights: the default fields with the ranking weights, or the
    /// tagged ones with weight 1 (as the query builder does).
    fn weighted(&self, fields: &[FieldName]) -> Vec<(FieldName, f32)> {
        let p = self.params;
        if fields.is_empty() {
            vec![
                (FieldName::Title, p.title_weight),
                (FieldName::Abstract, p.abstract_weight),
                (FieldName::Mesh, p.mesh_weight),
                (FieldName::Keywords, p.keywords_weight),
            ]
        } else {
            fields.iter().map(|f| (*f, 1.0)).collect()
        }
    }

    fn bm25(&self, field: Field, terms: &[&str], weight: f32) -> Option<Bm25Weight> {
        if terms.is_empty() {
            return None;
        }
        let terms: Vec<Term> = terms
            .iter()
            .map(|t| Term::from_field_text(field, t))
            .collect();
        Bm25Weight::for_terms(self.searcher, &terms)
            .ok()
            .filter(|w| w.max_score().is_finite() && w.max_score() > 0.0)
            .map(|w| w.boost_by(weight))
    }

    fn plan(&mut self, node: &Node) -> Plan {
        match node {
            Node::All => Plan::Nothing,
            Node::Not(_) => Plan::Excluded,
            Node::And(items) | Node::Or(items) | Node::Implicit(items) => {
                let parts: Vec<Plan> = items.iter().map(|n| self.plan(n)).collect();
                if parts.iter().any(Plan::scorable) {
                    Plan::Sum(parts)
                } else {
                    Plan::Nothing
                }
            }
            Node::Term {
                fields,
                text,
                prefix,
            } => self.text_plan(fields, text, *prefix, false),
            Node::Phrase { fields, text } => self.text_plan(fields, text, false, true),
            Node::Ident(id) => {
                let term = format!("{}:{}", id.kind(), id.value().to_lowercase());
                // When no local record carries an identifier of any kind the field has no
                // statistics; a record that has the identifier still gets the boost.
                let bm25 = self
                    .bm25(
                        self.fields.ids,
                        &[term.as_str()],
                        self.params.identifier_boost,
                    )
                    .or_else(|| {
                        let docs = self.searcher.num_docs().max(1);
                        Some(
                            Bm25Weight::for_one_term(0, docs, 1.0)
                                .boost_by(self.params.identifier_boost),
                        )
                    });
                let text = self.text_plan(&[], id.value(), false, false);
                Plan::Ident {
                    kind: id.kind(),
                    value: id.value().to_string(),
                    bm25: bm25.map(Box::new),
                    text: Box::new(text),
                }
            }
        }
    }

    fn text_plan(&mut self, fields: &[FieldName], text: &str, prefix: bool, phrase: bool) -> Plan {
        let mut out = Vec::new();
        for (f, weight) in self.weighted(fields) {
            let field = self.field(f);
            let mut matchers = Vec::new();
            if prefix {
                let toks = match f {
                    FieldName::Author | FieldName::Journal => {
                        tokens(&mut self.analyzers.name, text)
                    }
                    _ => tokens(&mut self.analyzers.bio_unstemmed, text),
                };
                if let Some(t) = toks.iter().rfind(|t| t.len == 1) {
                    matchers.push(Matcher::Prefix {
                        prefix: t.text.clone(),
                        weight,
                    });
                }
            } else {
                let toks = tokens(self.analyzers.for_field(f), text);
                let single: Vec<&Tok> = toks.iter().filter(|t| t.len == 1).collect();
                if phrase && single.len() >= 2 {
                    self.push_phrase(&mut matchers, field, &single, weight);
                } else {
                    // A word: each joined form as a term, and its single parts as a term or a
                    // phrase (what the query builder's `terms_query` does).
                    for t in toks.iter().filter(|t| t.len > 1) {
                        if let Some(bm25) = self.bm25(field, &[t.text.as_str()], weight) {
                            matchers.push(Matcher::Term {
                                text: t.text.clone(),
                                bm25,
                            });
                        }
                    }
                    match single.len() {
                        0 => {}
                        1 => {
                            if let Some(bm25) = self.bm25(field, &[single[0].text.as_str()], weight)
                            {
                                matchers.push(Matcher::Term {
                                    text: single[0].text.clone(),
                                    bm25,
                                });
                            }
                        }
                        _ => self.push_phrase(&mut matchers, field, &single, weight),
                    }
                }
            }
            if !matchers.is_empty() {
                out.push((f, matchers));
            }
        }
        if out.is_empty() {
            Plan::Nothing
        } else {
            Plan::Text(out)
        }
    }

    fn push_phrase(&self, matchers: &mut Vec<Matcher>, field: Field, single: &[&Tok], weight: f32) {
        let base = single[0].position;
        let terms: Vec<(usize, String)> = single
            .iter()
            .map(|t| (t.position - base, t.text.clone()))
            .collect();
        let texts: Vec<&str> = terms.iter().map(|(_, t)| t.as_str()).collect();
        if let Some(bm25) = self.bm25(field, &texts, weight) {
            matchers.push(Matcher::Phrase { terms, bm25 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SearchRequest, Sort};

    fn record(id: &str, title: &str, abs: &str) -> Record {
        let mut r = Record::new("t", id, title);
        r.abstract_text = (!abs.is_empty()).then(|| abs.to_string());
        r
    }

    fn corpus() -> Vec<Record> {
        let mut v = vec![
            record(
                "1",
                "Iron supplements for anaemia in pregnancy",
                "A randomised trial of oral iron in pregnant women with anaemia.",
            ),
            record(
                "2",
                "Inhaled corticosteroids for asthma in children",
                "Systematic review of inhaled steroids; asthma control improved.",
            ),
            record(
                "3",
                "Heart failure with reduced ejection fraction",
                "Guideline on the management of heart failure and IL-6 levels.",
            ),
            record(
                "4",
                "Asthma and heart failure: a cohort study",
                "Patients with asthma had more heart failure admissions.",
            ),
            record(
                "5",
                "COVID-19 and diabetes mellitus",
                "Diabetic patients with COVID-19 fared worse; diabetes management matters.",
            ),
        ];
        v[1].mesh_terms = vec!["Asthma".into(), "Adrenal Cortex Hormones".into()];
        v[1].keywords = vec!["asthma".into(), "children".into()];
        v[1].publication_types = vec!["Systematic Review".into()];
        v[2].authors = vec!["Smith J".into()];
        v[2].published = Some(model::PartialDate::year(2020));
        v[3].retracted = true;
        v
    }

    fn index_with(params: RankingParams) -> SearchIndex {
        let index = SearchIndex::create_in_ram(params).unwrap();
        let mut b = index.builder(32 << 20).unwrap();
        b.add(corpus(), false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        index
    }

    /// The external score of an indexed record equals the score the index gives it, for every
    /// construct the external scorer reproduces.
    #[test]
    fn external_scores_equal_local_scores() {
        let params = RankingParams {
            prf_docs: 0,
            proximity_weight: 0.0,
            synonym_weight: 0.0,
            ..RankingParams::default()
        };
        let index = index_with(params);
        for q in [
            "asthma",
            "anemia",
            "heart failure",
            "\"heart failure\"",
            "asthma AND children",
            "asthma OR anaemia",
            "asthma -children",
            "title:asthma",
            "asthma[mh]",
            "smith[au]",
            "IL-6",
            "covid-19",
            "diabet*",
            "\"heart failure\"[ti] OR iron",
        ] {
            let res = index
                .search(&SearchRequest {
                    q: q.into(),
                    limit: 10,
                    facets: false,
                    highlight: false,
                    sort: Sort::Relevance,
                    ..Default::default()
                })
                .unwrap();
            assert!(!res.hits.is_empty(), "{q}: no hits");
            let records: Vec<Record> = res.hits.iter().map(|h| h.record.clone()).collect();
            let ext = index.score_external(q, &records);
            for (h, e) in res.hits.iter().zip(&ext) {
                let e = e.unwrap_or_else(|| panic!("{q}: {} unscored", h.record.id));
                assert!(
                    (h.score - e).abs() <= 1e-3 * h.score.abs().max(1.0),
                    "{q}: {} local {} external {e}",
                    h.record.id,
                    h.score
                );
            }
        }
    }

    #[test]
    fn unscorable_queries_and_records() {
        let index = index_with(RankingParams::plain_bm25());
        let r = record("x", "Asthma in adults", "");
        assert_eq!(
            index.score_external("*", std::slice::from_ref(&r)),
            vec![None]
        );
        assert_eq!(
            index.score_external("NOT asthma", std::slice::from_ref(&r)),
            vec![None]
        );
        // A field the record lacks: nothing to score.
        assert_eq!(
            index.score_external("smith[au]", std::slice::from_ref(&r)),
            vec![None]
        );
        assert_eq!(
            index.score_external("zzzz", std::slice::from_ref(&r)),
            vec![Some(0.0)]
        );
        let empty = SearchIndex::create_in_ram(RankingParams::plain_bm25()).unwrap();
        assert_eq!(empty.score_external("asthma", &[r]), vec![None]);
        assert!(index.score_external("asthma", &[]).is_empty());
    }

    #[test]
    fn identifiers_and_priors_count() {
        let index = index_with(RankingParams::default());
        let mut a = record("a", "Asthma in adults", "");
        a.identifiers.pmid = Some("123456".into());
        let b = record("b", "Asthma in adults", "");
        let s = index.score_external("pmid:123456", &[a.clone(), b.clone()]);
        assert!(s[0].unwrap() > 100.0 * s[1].unwrap().max(0.01), "{s:?}");
        let mut guideline = b.clone();
        guideline.evidence_level = Some(model::EvidenceLevel::Guideline);
        let mut retracted = b.clone();
        retracted.retracted = true;
        let s = index.score_external("asthma", &[b, guideline, retracted]);
        let (plain, g, r) = (s[0].unwrap(), s[1].unwrap(), s[2].unwrap());
        assert!(g > plain && plain > r, "{s:?}");
    }
}
