//! Snippets: the best fragment of a text for a query, with the query's words marked.
//!
//! The same choice as tantivy's `SnippetGenerator` (fragments of at most `max_bytes` bytes that
//! start at a token, scored by the summed `1 / (1 + document frequency)` of the query terms they
//! hold; the best one, the earliest on ties), made for a page of hits at once: one analyser
//! serves every hit of a search, so the tokenizer's buffers and memo are reused, and tokens are
//! compared with the query terms as they come out of the analyser (already lower-cased) instead
//! of being lower-cased into a new string each. A test holds the two to the same output.

use std::ops::Range;

use tantivy::query::Query;
use tantivy::schema::{Field, FieldType};
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::Searcher;

use crate::analysis::{filtered_bio_tokenizer, BioTokenizer, WordFilter};

/// Finds snippets in one field's texts for one query.
pub(crate) struct Highlighter {
    analyzer: Analyser,
    /// Query term → its weight in a fragment's score.
    terms: foldhash::HashMap<String, f32>,
    max_bytes: usize,
}

/// The field's analyser: for the `bio` analysers, one that normalises only the words that can
/// become a query term or be dropped as a stop word (the same tokens, found with a fraction of
/// the work; see [`WordFilter`]).
enum Analyser {
    Bio(Box<BioTokenizer>),
    Other(TextAnalyzer),
}

/// A fragment of a text with the ranges to mark (relative to the fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fragment<'t> {
    /// Where the fragment starts in the text, in bytes.
    pub start: usize,
    pub text: &'t str,
    pub marks: Vec<Range<usize>>,
}

impl Highlighter {
    /// A highlighter for the terms of `query` in `field`; `None` when the query holds none.
    pub fn new(
        searcher: &Searcher,
        query: &dyn Query,
        field: Field,
        max_bytes: usize,
    ) -> Option<Highlighter> {
        let mut found = Vec::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                found.push(term.clone());
            }
        });
        let mut terms = foldhash::HashMap::default();
        for term in found {
            let value = term.value();
            let Some(text) = value.as_str() else {
                continue;
            };
            let df = searcher.doc_freq(&term).ok()?;
            if df > 0 {
                terms.insert(text.to_string(), 1.0 / (1.0 + df as f32));
            }
        }
        if terms.is_empty() {
            return None;
        }
        let schema = searcher.schema();
        let name = match schema.get_field_entry(field).field_type() {
            FieldType::Str(options) => options.get_indexing_options().map(|o| o.tokenizer()),
            _ => None,
        };
        let filter = WordFilter::for_terms(terms.keys().map(String::as_str));
        let analyzer = match name.and_then(|n| filtered_bio_tokenizer(n, filter)) {
            Some(bio) => Analyser::Bio(Box::new(bio)),
            None => Analyser::Other(searcher.index().tokenizer_for_field(field).ok()?),
        };
        Some(Highlighter {
            analyzer,
            terms,
            max_bytes,
        })
    }

    /// The best fragment of `text`, or `None` when no query term occurs in it.
    pub fn fragment<'t>(&mut self, text: &'t str) -> Option<Fragment<'t>> {
        let mut picker = Picker::new(self.max_bytes);
        match &mut self.analyzer {
            // The words, scanned without building tokens; words that can be no term come with
            // no text, and need no look-up.
            Analyser::Bio(t) => t.scan(text, |from, to, term| {
                let weight = term.and_then(|w| self.terms.get(w)).copied();
                picker.token(from, to, weight);
            }),
            Analyser::Other(a) => {
                let mut stream = a.token_stream(text);
                while stream.advance() {
                    let token = stream.token();
                    let weight = self.terms.get(token.text.as_str()).copied();
                    picker.token(token.offset_from, token.offset_to, weight);
                }
            }
        }
        picker.finish(text)
    }
}

/// Picks the best fragment of a text from its tokens, in order: fragments start at a token and
/// end within `max_bytes` of where they start, and score the summed weights of the query terms
/// they hold; the best one wins, the earliest on ties.
struct Picker {
    max_bytes: usize,
    /// (score, start, stop, marks) of the best fragment so far.
    best: Option<(f32, usize, usize, Vec<Range<usize>>)>,
    /// The current fragment.
    score: f32,
    start: usize,
    stop: usize,
    marks: Vec<Range<usize>>,
}

impl Picker {
    fn new(max_bytes: usize) -> Self {
        Picker {
            max_bytes,
            best: None,
            score: 0.0,
            start: 0,
            stop: 0,
            marks: Vec::new(),
        }
    }

    /// The next token, with its term's weight when it is one of the query's terms.
    fn token(&mut self, offset_from: usize, offset_to: usize, weight: Option<f32>) {
        if offset_to.saturating_sub(self.start) > self.max_bytes {
            self.close();
            self.score = 0.0;
            self.start = offset_from;
        }
        self.stop = offset_to;
        if let Some(w) = weight {
            self.score += w;
            self.marks.push(offset_from..offset_to);
        }
    }

    /// Ends the current fragment, keeping it if it is the best so far.
    fn close(&mut self) {
        let better = match &self.best {
            None => true,
            Some((s, b_start, b_stop, _)) => {
                self.score > *s
                    || (self.score == *s && (self.start, self.stop) < (*b_start, *b_stop))
            }
        };
        if self.score > 0.0 && better {
            self.best = Some((
                self.score,
                self.start,
                self.stop,
                std::mem::take(&mut self.marks),
            ));
        } else {
            self.marks.clear();
        }
    }

    /// The best fragment of `text`, if any held a query term.
    fn finish(mut self, text: &str) -> Option<Fragment<'_>> {
        self.close();
        let (_, start, stop, marks) = self.best?;
        let text = text.get(start..stop)?;
        let marks = marks
            .into_iter()
            .map(|r| r.start - start..r.end - start)
            .collect();
        Some(Fragment { start, text, marks })
    }
}

impl Fragment<'_> {
    /// The fragment as HTML, marks wrapped in `<mark>`; overlapping marks (a compound and its
    /// parts) are merged.
    pub fn to_html(&self) -> String {
        let mut marks = self.marks.clone();
        marks.sort_by_key(|r| (r.start, r.end));
        marks.dedup();
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(marks.len());
        for r in marks {
            match merged.last_mut() {
                Some(last) if last.end > r.start => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let mut html = String::with_capacity(self.text.len() + 16 * merged.len());
        let mut from = 0;
        for r in merged {
            let (Some(before), Some(marked)) =
                (self.text.get(from..r.start), self.text.get(r.clone()))
            else {
                continue;
            };
            html.push_str(&crate::index::escape_html(before));
            html.push_str("<mark>");
            html.push_str(&crate::index::escape_html(marked));
            html.push_str("</mark>");
            from = r.end;
        }
        html.push_str(&crate::index::escape_html(
            self.text.get(from..).unwrap_or(""),
        ));
        html
    }
}

#[cfg(test)]
mod tests {
    use tantivy::snippet::SnippetGenerator;

    use super::*;
    use crate::{RankingParams, SearchIndex};

    /// The highlighter picks the fragment and marks tantivy's generator picks, on texts with
    /// compounds, UK spellings, repeated terms, several fragments and no match at all.
    #[test]
    fn agrees_with_tantivys_snippet_generator() {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let texts = [
            "Asthma in children: inhaled corticosteroids reduce asthma attacks.",
            "COVID-19 and IL-6: tocilizumab in severe COVID 19 pneumonia; covid19 outcomes.",
            "Paediatric anaemia is common. Iron deficiency anemia in pediatric care. \
             Screening for anaemia at twelve months, iron supplements, dietary advice, \
             follow-up of anaemia in primary care, and referral when anaemia persists.",
            "Nothing relevant here at all, only words about weather & <tags>.",
            "Aetiology of oedema: oestrogen, the thaeir ageing grey matter; i-s café naïve \
             patients, AETIOLOGY and Oedema again, then the end.",
            "Heart failure with reduced ejection fraction: SGLT2 inhibitors lower heart \
             failure admissions; randomised trials of heart failure therapies in older adults \
             with heart failure and diabetes; heart failure nurses.",
        ];
        let mut b = index.builder(16 << 20).unwrap();
        let records = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut r = model::Record::new("t", &i.to_string(), "x");
                r.abstract_text = Some(t.to_string());
                r
            })
            .collect();
        b.add(records, false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let searcher = index.searcher();
        let field = index.fields().abstract_text;
        for q in [
            "asthma",
            "anaemia iron",
            "covid-19 IL-6",
            "heart failure",
            "\"heart failure\" diabetes",
            "weather",
            "etiology edema",
            "estrogen aging gray",
            "naive cafe patients",
            "absentword",
        ] {
            let compiled = crate::query::compile_with(q, index.fields(), index.params(), None);
            let query = compiled.query.unwrap();
            for max in [30, 80, 280] {
                let mut ours = Highlighter::new(&searcher, &*query, field, max);
                let mut theirs = SnippetGenerator::create(&searcher, &*query, field).unwrap();
                theirs.set_max_num_chars(max);
                for text in texts {
                    let expected = theirs.snippet(text);
                    let got = ours.as_mut().and_then(|h| h.fragment(text));
                    match got {
                        None => assert!(expected.fragment().is_empty(), "{q} / {text}"),
                        Some(f) => {
                            assert_eq!(f.text, expected.fragment(), "{q} / {max} / {text}");
                            let mut a = f.marks.clone();
                            let mut b = expected.highlighted().to_vec();
                            a.sort_by_key(|r| (r.start, r.end));
                            b.sort_by_key(|r| (r.start, r.end));
                            assert_eq!(a, b, "{q} / {text}");
                            let mut e = expected;
                            e.set_snippet_prefix_postfix("<mark>", "</mark>");
                            assert_eq!(f.to_html(), e.to_html());
                        }
                    }
                }
            }
        }
    }
}
