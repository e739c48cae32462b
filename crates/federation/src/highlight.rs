//! Display parts of remote hits: titles and snippets HTML-escaped (remote text is untrusted), with
//! the words that match the query in `<mark>`, as local hits have them.
//!
//! A word matches when the index's `bio` analyzer turns it into a term of the query (so "anaemia"
//! in a title matches the query "anemia", and "trials" matches "trial"), or when it starts with a
//! prefix of the query (`diabet*`).

use std::collections::HashSet;

use model::Record;
use search::analysis::{bio_analyzer, bio_unstemmed_analyzer, single_tokens};
use search::query::{parse, Node};
use search::{escape_html, Hit};
use tantivy::tokenizer::TextAnalyzer;

use crate::merge::MergedHit;

/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 280;

/// Marks query words in remote text.
pub struct Highlighter {
    terms: HashSet<String>,
    prefixes: Vec<String>,
    bio: TextAnalyzer,
}

impl std::fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Highlighter")
            .field("terms", &self.terms)
            .field("prefixes", &self.prefixes)
            .finish()
    }
}

impl Highlighter {
    /// A highlighter for the positive words of a query (words under `NOT` are not marked).
    pub fn new(q: &str) -> Self {
        let (node, _) = parse(q);
        let mut words = Vec::new();
        let mut prefixes = Vec::new();
        collect(&node, &mut words, &mut prefixes);
        let mut bio = bio_analyzer();
        let terms: HashSet<String> = single_tokens(&mut bio, &words.join(" . "))
            .into_iter()
            .collect();
        let mut unstemmed = bio_unstemmed_analyzer();
        let prefixes = prefixes
            .iter()
            .flat_map(|p| single_tokens(&mut unstemmed, p))
            .filter(|p| p.chars().count() >= 3)
            .collect();
        Highlighter {
            terms,
            prefixes,
            bio,
        }
    }

    fn matches(&mut self, word: &str) -> bool {
        if !self.prefixes.is_empty() {
            let lower = word.to_lowercase();
            if self.prefixes.iter().any(|p| lower.starts_with(p.as_str())) {
                return true;
            }
        }
        if self.terms.is_empty() {
            return false;
        }
        single_tokens(&mut self.bio, word)
            .iter()
            .any(|t| self.terms.contains(t))
    }

    /// `text` escaped, query words in `<mark>`.
    pub fn mark(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 16);
        for (is_word, piece) in pieces(text) {
            if is_word && self.matches(piece) {
                out.push_str("<mark>");
                out.push_str(&escape_html(piece));
                out.push_str("</mark>");
            } else {
                out.push_str(&escape_html(piece));
            }
        }
        out
    }

    /// A passage of at most `max` characters around the first query word (the start of the text
    /// when none matches), escaped and marked, with `…` where it was cut.
    pub fn snippet(&mut self, text: &str, max: usize) -> String {
        let mut first = None;
        let mut offset = 0;
        for (is_word, piece) in pieces(text) {
            if is_word && self.matches(piece) {
                first = Some(offset);
                break;
            }
            offset += piece.len();
        }
        let total = text.chars().count();
        // Start at the sentence holding the first match when it fits, else a little before it.
        let start = match first {
            Some(at) if text[..at].chars().count() + 20 > max => {
                let sentence = text[..at]
                    .rfind(". ")
                    .map(|i| i + 2)
                    .filter(|i| text[*i..at].chars().count() < max / 2);
                sentence.unwrap_or_else(|| {
                    let back = text[..at]
                        .char_indices()
                        .rev()
                        .nth(60)
                        .map_or(0, |(i, _)| i);
                    text[back..at].find(' ').map_or(back, |s| back + s + 1)
                })
            }
            _ => 0,
        };
        let rest = &text[start..];
        let mut cut: String = rest.chars().take(max).collect();
        let truncated = rest.chars().count() > max;
        if truncated {
            if let Some(i) = cut.rfind(' ').filter(|i| *i > max / 2) {
                cut.truncate(i);
            }
        }
        let mut out = String::new();
        if start > 0 && total > 0 {
            out.push('…');
        }
        out.push_str(&self.mark(&cut));
        if truncated {
            out.push('…');
        }
        out
    }

    /// The display shape of a remote record, as a local hit has it.
    pub fn remote_hit(&mut self, record: Record, score: f32) -> Hit {
        let title_html = self.mark(&record.title);
        let snippet_html = record
            .abstract_text
            .as_deref()
            .map(|a| self.snippet(a, SNIPPET_CHARS))
            .unwrap_or_default();
        let reading_grade = search::readability::flesch_kincaid_grade(
            &record.title,
            record.abstract_text.as_deref().unwrap_or(""),
        )
        .map(|g| search::readability::grade_tenths(g) as f32 / 10.0);
        Hit {
            record,
            score,
            title_html,
            snippet_html,
            reading_grade,
            explain: None,
            by_meaning_only: false,
        }
    }

    /// The display shape of a fused hit: a local representative keeps the index's highlighting (a
    /// snippet is made when the local record had no abstract and a duplicate brought one).
    pub fn hit(&mut self, merged: MergedHit) -> Hit {
        match merged.local {
            Some(parts) => {
                let snippet_html = if parts.snippet_html.is_empty() {
                    merged
                        .record
                        .abstract_text
                        .as_deref()
                        .map(|a| self.snippet(a, SNIPPET_CHARS))
                        .unwrap_or_default()
                } else {
                    parts.snippet_html
                };
                Hit {
                    record: merged.record,
                    score: merged.score,
                    title_html: parts.title_html,
                    snippet_html,
                    reading_grade: parts.reading_grade,
                    explain: parts.explain,
                    by_meaning_only: parts.by_meaning_only,
                }
            }
            None => self.remote_hit(merged.record, merged.score),
        }
    }
}

/// The positive words (and prefixes) of a parsed query.
fn collect(node: &Node, words: &mut Vec<String>, prefixes: &mut Vec<String>) {
    match node {
        Node::Term {
            text, prefix: true, ..
        } => prefixes.push(text.clone()),
        Node::Term { text, .. } | Node::Phrase { text, .. } => words.push(text.clone()),
        Node::Ident(id) => words.push(id.value().to_string()),
        Node::And(v) | Node::Or(v) | Node::Implicit(v) => {
            for n in v {
                collect(n, words, prefixes);
            }
        }
        Node::Not(_) | Node::All => {}
    }
}

/// Splits text into runs of letters and digits (words) and the rest.
fn pieces(text: &str) -> impl Iterator<Item = (bool, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let word = first.is_alphanumeric();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric() != word)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some((word, piece))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_query_words_and_escapes_the_rest() {
        let mut h = Highlighter::new("anemia trial* -children");
        assert_eq!(
            h.mark("Anaemia <b>trials</b> in children & adults"),
            "<mark>Anaemia</mark> &lt;b&gt;<mark>trials</mark>&lt;/b&gt; in children &amp; adults"
        );
        let mut none = Highlighter::new("*");
        assert_eq!(
            none.mark("<script>x</script>"),
            "&lt;script&gt;x&lt;/script&gt;"
        );
    }

    #[test]
    fn snippets_start_near_the_first_match() {
        let mut h = Highlighter::new("magnesium");
        let long = format!(
            "{}Intravenous magnesium helps. {}",
            "Filler words here. ".repeat(30),
            "More text. ".repeat(40)
        );
        let s = h.snippet(&long, 120);
        assert!(s.starts_with('…'), "{s}");
        assert!(s.contains("<mark>magnesium</mark>"), "{s}");
        assert!(s.ends_with('…'), "{s}");
        assert!(s.chars().count() < 140, "{s}");
        let short = h.snippet("Oral magnesium.", 120);
        assert_eq!(short, "Oral <mark>magnesium</mark>.");
    }

    #[test]
    fn remote_hits_have_the_local_shape() {
        let mut h = Highlighter::new("asthma");
        let mut r = Record::new("pubmed", "1", "Asthma <i>care</i>");
        r.abstract_text = Some("Asthma is common.".into());
        let hit = h.remote_hit(r, 2.5);
        assert_eq!(
            hit.title_html,
            "<mark>Asthma</mark> &lt;i&gt;care&lt;/i&gt;"
        );
        assert_eq!(hit.snippet_html, "<mark>Asthma</mark> is common.");
        assert_eq!(hit.score, 2.5);
    }
}
