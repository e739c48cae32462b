//! The query set: the shapes people type, drawn from the same vocabulary as the corpus, each kept
//! both as text in this engine's query language and in a neutral form (an OR of words and phrases,
//! optionally tagged to a field, plus filters) that each peer translates into its own syntax.
//!
//! All the shapes are OR queries ranked by relevance, as this engine runs free text by default
//! (`min_should_match = 0`); the peers are asked for the same thing, not for the cheaper AND.

use model::EvidenceLevel;

use crate::corpus::Generator;
use crate::rng::Rng;
use crate::vocab::{is_stop, Topic};

/// A query shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shape {
    /// One word: `asthma`.
    OneTerm,
    /// Two to four words: `inhaled corticosteroids asthma children`.
    FewTerms,
    /// A quoted phrase: `"heart failure"`.
    Phrase,
    /// A field tag: `asthma[ti] inhaler`, `mesh:"heart failure"`.
    FieldTagged,
    /// Two or three words with filters (years, evidence levels, a source) and facet counts.
    Filtered,
    /// A long question: `what is the best treatment for heart failure in older adults`.
    Question,
}

impl Shape {
    /// Every shape, in report order.
    pub const ALL: [Shape; 6] = [
        Shape::OneTerm,
        Shape::FewTerms,
        Shape::Phrase,
        Shape::FieldTagged,
        Shape::Filtered,
        Shape::Question,
    ];

    /// A short stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Shape::OneTerm => "1_term",
            Shape::FewTerms => "2-4_terms",
            Shape::Phrase => "phrase",
            Shape::FieldTagged => "field_tagged",
            Shape::Filtered => "filtered_faceted",
            Shape::Question => "question",
        }
    }
}

/// A field a clause may be tagged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagField {
    /// The title.
    Title,
    /// MeSH terms.
    Mesh,
}

/// One clause of a neutral query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// A word, in the default fields or one field.
    Word {
        /// Field, when tagged.
        field: Option<TagField>,
        /// The word (lower-case ASCII letters).
        word: String,
    },
    /// A phrase of plain words, in the default fields or one field.
    Phrase {
        /// Field, when tagged.
        field: Option<TagField>,
        /// The words (lower-case ASCII letters).
        words: Vec<String>,
    },
}

/// Filters, as every engine can apply them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryFilters {
    /// Published in or after.
    pub year_from: Option<u16>,
    /// Any of these evidence levels.
    pub evidence: Vec<EvidenceLevel>,
    /// Any of these sources.
    pub sources: Vec<String>,
}

impl QueryFilters {
    /// Whether there is any filter.
    pub fn is_empty(&self) -> bool {
        self.year_from.is_none() && self.evidence.is_empty() && self.sources.is_empty()
    }
}

/// One benchmark query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchQuery {
    /// Its shape.
    pub shape: Shape,
    /// The query in this engine's language, as a person would type it.
    pub text: String,
    /// The neutral form: clauses OR'ed together (stop words already dropped).
    pub clauses: Vec<Clause>,
    /// Filters.
    pub filters: QueryFilters,
    /// Whether facet counts are wanted.
    pub facets: bool,
}

impl BenchQuery {
    /// This engine's search request for the query: top 10 by relevance, facets when the shape
    /// asks for them, highlighting as asked.
    pub fn request(&self, highlight: bool, facets: Option<bool>) -> search::SearchRequest {
        search::SearchRequest {
            q: self.text.clone(),
            filters: search::Filters {
                evidence_levels: self.filters.evidence.clone(),
                year_from: self.filters.year_from,
                sources: self.filters.sources.clone(),
                ..Default::default()
            },
            limit: 10,
            facets: facets.unwrap_or(self.facets),
            highlight,
            ..Default::default()
        }
    }

    /// The path and query string of `GET /api/v1/search` for the query.
    pub fn http_path(&self) -> String {
        let mut s = format!("/api/v1/search?q={}", url_encode(&self.text));
        if let Some(y) = self.filters.year_from {
            s.push_str(&format!("&year_from={y}"));
        }
        if !self.filters.evidence.is_empty() {
            let v: Vec<&str> = self.filters.evidence.iter().map(|l| l.as_str()).collect();
            s.push_str(&format!("&evidence_level={}", v.join(",")));
        }
        if !self.filters.sources.is_empty() {
            s.push_str(&format!(
                "&source={}",
                url_encode(&self.filters.sources.join(","))
            ));
        }
        s
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn plain(w: &str) -> bool {
    w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase()) && !is_stop(w)
}

/// Makes `per_shape` queries of every shape from the corpus vocabulary, interleaved by shape
/// (so a run cut short still covers every shape evenly).
pub fn query_set(gen: &Generator, seed: u64, per_shape: usize) -> Vec<BenchQuery> {
    let v = gen.vocab();
    let mut rng = Rng::new(seed ^ 0x0051_E5ED);
    // Mid-frequency words: what people search for, neither "patients" nor a chemical's name.
    let words: Vec<&str> = v
        .words
        .iter()
        .take(4000)
        .skip(15)
        .map(String::as_str)
        .filter(|w| plain(w))
        .collect();
    // Topics of the head of the ranking (the clinical topics written about most).
    let head: Vec<&Topic> = v.topics.iter().take(400).collect();
    let phrases: Vec<&Topic> = v
        .topics
        .iter()
        .take(3000)
        .filter(|t| t.is_plain_phrase())
        .collect();
    let topic_word = |rng: &mut Rng| -> String {
        for _ in 0..20 {
            let t = rng.pick(&head);
            let ws: Vec<&str> = t.words().filter(|w| plain(w)).collect();
            if !ws.is_empty() {
                return rng.pick(&ws).to_string();
            }
        }
        rng.pick(&words).to_string()
    };
    let word = |rng: &mut Rng| rng.pick(&words).to_string();
    let years = [2010u16, 2015, 2018, 2020];
    let level_sets: &[&[EvidenceLevel]] = &[
        &[EvidenceLevel::SystematicReview, EvidenceLevel::Guideline],
        &[EvidenceLevel::Rct],
        &[
            EvidenceLevel::SystematicReview,
            EvidenceLevel::Rct,
            EvidenceLevel::Guideline,
        ],
        &[],
    ];
    let populations = [
        "adults",
        "children",
        "elderly",
        "women",
        "infants",
        "adolescents",
    ];

    let mut by_shape: Vec<Vec<BenchQuery>> = Vec::new();
    for shape in Shape::ALL {
        let mut out = Vec::with_capacity(per_shape);
        for _ in 0..per_shape {
            let q = match shape {
                Shape::OneTerm => {
                    let w = if rng.chance(0.5) {
                        topic_word(&mut rng)
                    } else {
                        word(&mut rng)
                    };
                    words_query(shape, vec![w])
                }
                Shape::FewTerms => {
                    let n = rng.range(2, 4);
                    let mut ws = vec![topic_word(&mut rng)];
                    while ws.len() < n {
                        let w = if rng.chance(0.4) {
                            topic_word(&mut rng)
                        } else {
                            word(&mut rng)
                        };
                        if !ws.contains(&w) {
                            ws.push(w);
                        }
                    }
                    words_query(shape, ws)
                }
                Shape::Phrase => {
                    let t = rng.pick(&phrases);
                    let ws: Vec<String> = t.words().map(str::to_string).collect();
                    BenchQuery {
                        shape,
                        text: format!("\"{}\"", ws.join(" ")),
                        clauses: vec![Clause::Phrase {
                            field: None,
                            words: ws,
                        }],
                        filters: QueryFilters::default(),
                        facets: false,
                    }
                }
                Shape::FieldTagged => {
                    if rng.chance(0.5) {
                        let a = topic_word(&mut rng);
                        let b = word(&mut rng);
                        BenchQuery {
                            shape,
                            text: format!("{a}[ti] {b}"),
                            clauses: vec![
                                Clause::Word {
                                    field: Some(TagField::Title),
                                    word: a,
                                },
                                Clause::Word {
                                    field: None,
                                    word: b,
                                },
                            ],
                            filters: QueryFilters::default(),
                            facets: false,
                        }
                    } else {
                        let t = rng.pick(&phrases);
                        let ws: Vec<String> = t.words().map(str::to_string).collect();
                        BenchQuery {
                            shape,
                            text: format!("mesh:\"{}\"", ws.join(" ")),
                            clauses: vec![Clause::Phrase {
                                field: Some(TagField::Mesh),
                                words: ws,
                            }],
                            filters: QueryFilters::default(),
                            facets: false,
                        }
                    }
                }
                Shape::Filtered => {
                    let n = rng.range(2, 3);
                    let mut ws = vec![topic_word(&mut rng)];
                    while ws.len() < n {
                        let w = word(&mut rng);
                        if !ws.contains(&w) {
                            ws.push(w);
                        }
                    }
                    let mut q = words_query(shape, ws);
                    q.filters.year_from = Some(*rng.pick(&years));
                    q.filters.evidence = rng.pick(level_sets).to_vec();
                    if q.filters.evidence.is_empty() || rng.chance(0.25) {
                        q.filters.sources = vec!["pubmed".into(), "cochrane".into(), "nice".into()];
                    }
                    q.facets = true;
                    q
                }
                Shape::Question => {
                    let t1 = topic_word(&mut rng);
                    let t2 = topic_word(&mut rng);
                    let w = word(&mut rng);
                    let p = populations[rng.range(0, populations.len() - 1)].to_string();
                    let (text, content) = match rng.range(0, 2) {
                        0 => (
                            format!("what is the best treatment for {t1} in {p} with {t2}"),
                            vec!["treatment".to_string(), t1, p, t2],
                        ),
                        1 => (
                            format!("does {w} reduce the risk of {t1} in {p} after {t2}"),
                            vec![w, "reduce".to_string(), "risk".to_string(), t1, p, t2],
                        ),
                        _ => (
                            format!("how should {t1} be managed in {p} with {t2} and {w}"),
                            vec![t1, "managed".to_string(), p, t2, w],
                        ),
                    };
                    let mut seen = Vec::new();
                    let clauses = content
                        .into_iter()
                        .filter(|w| !is_stop(w))
                        .filter(|w| {
                            let fresh = !seen.contains(w);
                            seen.push(w.clone());
                            fresh
                        })
                        .map(|word| Clause::Word { field: None, word })
                        .collect();
                    BenchQuery {
                        shape,
                        text,
                        clauses,
                        filters: QueryFilters::default(),
                        facets: false,
                    }
                }
            };
            out.push(q);
        }
        by_shape.push(out);
    }
    let mut all = Vec::with_capacity(per_shape * Shape::ALL.len());
    for i in 0..per_shape {
        for s in &by_shape {
            all.push(s[i].clone());
        }
    }
    all
}

fn words_query(shape: Shape, ws: Vec<String>) -> BenchQuery {
    BenchQuery {
        shape,
        text: ws.join(" "),
        clauses: ws
            .into_iter()
            .map(|word| Clause::Word { field: None, word })
            .collect(),
        filters: QueryFilters::default(),
        facets: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Vocab;

    #[test]
    fn every_shape_is_made_deterministically() {
        let g = Generator::new(1, Vocab::builtin());
        let a = query_set(&g, 5, 4);
        assert_eq!(a, query_set(&g, 5, 4));
        assert_eq!(a.len(), 24);
        for (i, q) in a.iter().enumerate() {
            assert_eq!(q.shape, Shape::ALL[i % 6], "interleaved by shape");
            assert!(!q.clauses.is_empty(), "{q:?}");
            assert!(!q.text.is_empty());
        }
        let f = a.iter().find(|q| q.shape == Shape::Filtered).unwrap();
        assert!(f.facets && !f.filters.is_empty());
        assert!(f.http_path().contains("year_from="));
        let question = a.iter().find(|q| q.shape == Shape::Question).unwrap();
        assert!(question.text.split(' ').count() >= 8);
    }

    #[test]
    fn url_encoding() {
        assert_eq!(
            url_encode("mesh:\"heart failure\""),
            "mesh%3A%22heart+failure%22"
        );
    }
}
