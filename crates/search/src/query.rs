//! The query language, and its translation into a tantivy query.
//!
//! What a clinician or librarian can type:
//! - free text: `asthma inhaled steroids` (terms are ranked together; records with more of them
//!   rank higher; see [`crate::RankingParams::min_should_match`]),
//! - booleans `AND`, `OR`, `NOT` (upper case), `-term`, and parentheses; AND binds tighter than OR,
//!   and a group with an explicit `AND` requires all its terms,
//! - quoted phrases `"heart failure"`,
//! - field tags `title:`, `abstract:`, `tiab:`, `mesh:`, `keyword:`, `author:`, `journal:`, `pt:`,
//!   and PubMed style suffixes `[ti]`, `[ab]`, `[tiab]`, `[mh]`, `[kw]`, `[au]`, `[ta]`, `[pt]`,
//! - prefixes `diabet*` (at least three letters before the star),
//! - identifiers: a PMID, DOI, PMCID or NCT number typed alone finds that record first; also
//!   `pmid:`, `doi:`, `pmcid:`, `nct:` tags.
//!
//! Parsing is lenient, never an error: an unclosed quote or parenthesis is closed at the end, a
//! stray `)` or a dangling operator is ignored, an unknown tag is dropped, and each such repair is
//! reported in [`Interpreted::warnings`], so the answer says how the query was understood.

use std::collections::BTreeSet;

use model::ids::{
    detect_identifier, normalise_doi, normalise_nct, normalise_pmcid, normalise_pmid,
};
use model::Identifier;
use serde::Serialize;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, RegexQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::Term;

use crate::analysis::{
    bio_analyzer, bio_unstemmed_analyzer, name_analyzer, single_tokens, uk_variant, us_spelling,
    Thesaurus,
};
use crate::schema::Fields;
use crate::RankingParams;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1024;
/// Deepest nesting of parentheses and NOTs followed; deeper groups are flattened.
const MAX_DEPTH: usize = 24;
/// Most terms a query may hold; the rest are ignored with a warning.
const MAX_TERMS: usize = 64;
/// Most synonyms searched for one matched thesaurus term.
const MAX_SYNONYMS: usize = 12;

/// A searchable field a tag can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    /// Title.
    Title,
    /// Abstract.
    Abstract,
    /// MeSH terms.
    Mesh,
    /// Keywords (and trial conditions and interventions).
    Keywords,
    /// Authors.
    Author,
    /// Journal or publisher.
    Journal,
    /// Publication type.
    PublicationType,
}

impl FieldName {
    fn from_tag(tag: &str) -> Option<Vec<FieldName>> {
        use FieldName::*;
        Some(match tag.trim().to_ascii_lowercase().as_str() {
            "ti" | "title" => vec![Title],
            "ab" | "abstract" => vec![Abstract],
            "tiab" | "title/abstract" => vec![Title, Abstract],
            "mh" | "mesh" | "mesh terms" | "majr" => vec![Mesh],
            "kw" | "keyword" | "keywords" | "ot" => vec![Keywords],
            "au" | "author" | "authors" | "1au" | "lastau" => vec![Author],
            "ta" | "journal" | "jour" | "publisher" => vec![Journal],
            "pt" | "publication type" | "type" => vec![PublicationType],
            _ => return None,
        })
    }

    fn as_str(&self) -> &'static str {
        match self {
            FieldName::Title => "title",
            FieldName::Abstract => "abstract",
            FieldName::Mesh => "mesh",
            FieldName::Keywords => "keywords",
            FieldName::Author => "author",
            FieldName::Journal => "journal",
            FieldName::PublicationType => "publication_type",
        }
    }
}

/// The parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Matches every record (`*` or an empty query).
    All,
    /// A word, possibly a prefix, in the default fields or the named ones.
    Term {
        /// Fields; empty means the default fields.
        fields: Vec<FieldName>,
        /// The word as typed.
        text: String,
        /// Whether it ended with `*`.
        prefix: bool,
    },
    /// A quoted phrase.
    Phrase {
        /// Fields; empty means the default fields.
        fields: Vec<FieldName>,
        /// The phrase as typed.
        text: String,
    },
    /// An identifier look-up.
    Ident(Identifier),
    /// All must match.
    And(Vec<Node>),
    /// Any may match.
    Or(Vec<Node>),
    /// Juxtaposed terms, ranked together.
    Implicit(Vec<Node>),
    /// Must not match.
    Not(Box<Node>),
}

/// How the engine understood a query, for the answer's `query` object.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Interpreted {
    /// The query as received.
    pub original: String,
    /// The query as understood, in the engine's own syntax, with spelling variants shown as ORs
    /// and field tags explicit; it can be pasted back as a query.
    pub interpreted: String,
    /// The fields searched when no tag is given, with their weights.
    pub default_fields: Vec<String>,
    /// Expansions applied (spelling variants).
    pub expansions: Vec<Expansion>,
    /// The identifier the query was recognised as, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<IdentifierMatch>,
    /// Repairs made to the query (unclosed quotes, stray parentheses...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One expansion of a term.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expansion {
    /// The term as typed.
    pub term: String,
    /// The forms it also matches.
    pub variants: Vec<String>,
    /// Why, e.g. `uk/us spelling`.
    pub reason: &'static str,
}

/// An identifier recognised in the query.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdentifierMatch {
    /// `pmid`, `doi`, `pmcid` or `nct`.
    pub kind: &'static str,
    /// The normalised value.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Minus,
    Word(String),
    Quoted(String),
    Field(String),
    Tag(String),
}

fn lex(q: &str, warnings: &mut Vec<String>) -> Vec<Tok> {
    let mut toks = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            toks.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            toks.push(Tok::RParen);
            i += 1;
        } else if c == '"' || c == '\u{201c}' || c == '\u{201d}' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && !matches!(chars[j], '"' | '\u{201c}' | '\u{201d}') {
                j += 1;
            }
            if j >= chars.len() {
                warnings.push(format!(
                    "unclosed quote at character {}: closed at the end",
                    i + 1
                ));
            }
            toks.push(Tok::Quoted(
                chars[start..j.min(chars.len())].iter().collect(),
            ));
            i = j + 1;
        } else if c == '[' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j] != ']' {
                j += 1;
            }
            if j >= chars.len() {
                warnings.push(format!("unclosed [ at character {}: ignored", i + 1));
            }
            toks.push(Tok::Tag(chars[start..j.min(chars.len())].iter().collect()));
            i = j + 1;
        } else if c == '-'
            && toks_can_start_unary(&toks)
            && chars
                .get(i + 1)
                .is_some_and(|n| !n.is_whitespace() && *n != '-')
        {
            toks.push(Tok::Minus);
            i += 1;
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '(' | ')' | '"' | '[')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "AND" | "&&" => toks.push(Tok::And),
                "OR" | "||" => toks.push(Tok::Or),
                "NOT" => toks.push(Tok::Not),
                _ => {
                    // `field:value` or `field:` followed by a phrase or group.
                    if let Some((name, rest)) = word.split_once(':') {
                        let known = FieldName::from_tag(name).is_some()
                            || matches!(
                                name.to_ascii_lowercase().as_str(),
                                "pmid" | "doi" | "nct" | "pmcid"
                            );
                        if known && !name.is_empty() {
                            toks.push(Tok::Field(name.to_ascii_lowercase()));
                            if !rest.is_empty() {
                                toks.push(Tok::Word(rest.to_string()));
                            }
                            continue;
                        }
                    }
                    toks.push(Tok::Word(word));
                }
            }
        }
    }
    bound_nesting(toks, warnings)
}

/// Keeps recursion bounded whatever the input: parentheses nested deeper than [`MAX_DEPTH`] are all
/// dropped, and runs of NOT collapse to one.
fn bound_nesting(toks: Vec<Tok>, warnings: &mut Vec<String>) -> Vec<Tok> {
    let mut depth = 0usize;
    let mut max = 0usize;
    for t in &toks {
        match t {
            Tok::LParen => {
                depth += 1;
                max = max.max(depth);
            }
            Tok::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let drop_parens = max > MAX_DEPTH;
    if drop_parens {
        warnings.push(format!(
            "parentheses nested deeper than {MAX_DEPTH} are ignored"
        ));
    }
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut collapsed = false;
    for t in toks {
        let is_not = matches!(t, Tok::Not | Tok::Minus);
        if is_not && matches!(out.last(), Some(Tok::Not | Tok::Minus)) {
            collapsed = true;
            continue;
        }
        if drop_parens && matches!(t, Tok::LParen | Tok::RParen) {
            continue;
        }
        out.push(t);
    }
    if collapsed {
        warnings.push("repeated NOT read as one NOT".into());
    }
    out
}

fn toks_can_start_unary(toks: &[Tok]) -> bool {
    !matches!(toks.last(), Some(Tok::Field(_)))
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    warnings: &'a mut Vec<String>,
    terms: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn parse_query(&mut self) -> Node {
        let mut parts = Vec::new();
        while self.peek().is_some() {
            if let Some(n) = self.parse_or(0) {
                parts.push(n);
            }
            if let Some(Tok::RParen) = self.peek() {
                self.warnings.push("unmatched ')' ignored".into());
                self.pos += 1;
            }
        }
        match parts.len() {
            0 => Node::All,
            1 => parts.pop().unwrap_or(Node::All),
            _ => Node::Implicit(parts),
        }
    }

    fn parse_or(&mut self, depth: usize) -> Option<Node> {
        let mut alts = Vec::new();
        if let Some(n) = self.parse_and(depth) {
            alts.push(n);
        }
        while let Some(Tok::Or) = self.peek() {
            self.pos += 1;
            match self.parse_and(depth) {
                Some(n) => alts.push(n),
                None => self
                    .warnings
                    .push("OR with nothing after it ignored".into()),
            }
        }
        match alts.len() {
            0 => None,
            1 => alts.pop(),
            _ => Some(Node::Or(alts)),
        }
    }

    fn parse_and(&mut self, depth: usize) -> Option<Node> {
        let mut items = Vec::new();
        let mut explicit = false;
        loop {
            match self.peek() {
                None | Some(Tok::RParen) | Some(Tok::Or) => break,
                Some(Tok::And) => {
                    self.pos += 1;
                    if items.is_empty() {
                        self.warnings
                            .push("AND with nothing before it ignored".into());
                    } else {
                        explicit = true;
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(n) = self.parse_unary(depth) {
                items.push(n);
            }
        }
        match items.len() {
            0 => None,
            1 if !matches!(items[0], Node::Not(_)) => items.pop(),
            _ if explicit => Some(Node::And(items)),
            _ => Some(Node::Implicit(items)),
        }
    }

    fn parse_unary(&mut self, depth: usize) -> Option<Node> {
        match self.peek() {
            Some(Tok::Not) | Some(Tok::Minus) => {
                let minus = matches!(self.peek(), Some(Tok::Minus));
                self.pos += 1;
                let inner = if minus {
                    self.parse_primary(depth + 1, &[])
                } else {
                    self.parse_unary(depth + 1)
                };
                match inner {
                    Some(n) => Some(Node::Not(Box::new(n))),
                    None => {
                        self.warnings
                            .push("NOT with nothing after it ignored".into());
                        None
                    }
                }
            }
            _ => self.parse_primary(depth, &[]),
        }
    }

    fn parse_primary(&mut self, depth: usize, fields: &[FieldName]) -> Option<Node> {
        if depth > 2 * MAX_DEPTH {
            // Only chains of field prefixes can get here (parentheses and NOTs are bounded in
            // `lex`); drop the rest of the chain.
            self.next();
            self.warnings
                .push("query nested too deeply: part ignored".into());
            return None;
        }
        let tok = self.next()?;
        let node = match tok {
            Tok::LParen => {
                let inner = self.parse_or(depth + 1);
                match self.peek() {
                    Some(Tok::RParen) => self.pos += 1,
                    _ => self.warnings.push("unclosed '(' closed at the end".into()),
                }
                inner.map(|n| with_fields(n, fields))
            }
            Tok::Field(name) => {
                return match name.as_str() {
                    "pmid" | "doi" | "nct" | "pmcid" => {
                        let value = match self.next() {
                            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => w,
                            other => {
                                if other.is_some() {
                                    self.pos -= 1;
                                }
                                self.warnings.push(format!("{name}: with no value ignored"));
                                return None;
                            }
                        };
                        let id = match name.as_str() {
                            "pmid" => normalise_pmid(&value).map(Identifier::Pmid),
                            "doi" => normalise_doi(&value).map(Identifier::Doi),
                            "nct" => normalise_nct(&value).map(Identifier::Nct),
                            _ => normalise_pmcid(&value).map(Identifier::Pmcid),
                        };
                        match id {
                            Some(id) => Some(Node::Ident(id)),
                            None => {
                                self.warnings.push(format!(
                                    "{value:?} is not a valid {name}; searched as text"
                                ));
                                self.term(fields, &value)
                            }
                        }
                    }
                    _ => {
                        let f =
                            FieldName::from_tag(&name).unwrap_or_else(|| vec![FieldName::Title]);
                        self.parse_primary(depth + 1, &f)
                    }
                };
            }
            Tok::Word(w) => self.term(fields, &w),
            Tok::Quoted(p) => {
                if p.trim().is_empty() {
                    None
                } else {
                    self.count_term().then(|| Node::Phrase {
                        fields: fields.to_vec(),
                        text: p,
                    })
                }
            }
            Tok::Tag(t) => {
                self.warnings
                    .push(format!("tag [{t}] with nothing before it ignored"));
                None
            }
            Tok::RParen => {
                self.warnings.push("unmatched ')' ignored".into());
                None
            }
            Tok::And | Tok::Or | Tok::Not | Tok::Minus => {
                self.warnings
                    .push("operator in an unexpected place ignored".into());
                None
            }
        };
        // A PubMed style tag right after the operand.
        if let Some(Tok::Tag(tag)) = self.peek().cloned() {
            self.pos += 1;
            match FieldName::from_tag(&tag) {
                Some(f) => return node.map(|n| with_fields(n, &f)),
                None => self.warnings.push(format!("unknown tag [{tag}] ignored")),
            }
        }
        node
    }

    fn count_term(&mut self) -> bool {
        self.terms += 1;
        if self.terms == MAX_TERMS + 1 {
            self.warnings
                .push(format!("only the first {MAX_TERMS} terms are used"));
        }
        self.terms <= MAX_TERMS
    }

    fn term(&mut self, fields: &[FieldName], word: &str) -> Option<Node> {
        if word == "*" {
            return Some(Node::All);
        }
        if !self.count_term() {
            return None;
        }
        let (text, prefix) = match word.strip_suffix('*') {
            Some(stem) if stem.chars().filter(|c| c.is_alphanumeric()).count() >= 3 => {
                (stem.to_string(), true)
            }
            Some(stem) => {
                self.warnings.push(format!(
                    "prefix {word:?} is too short (three letters at least): searched as a word"
                ));
                (stem.to_string(), false)
            }
            None => (word.to_string(), false),
        };
        let text = text
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_string();
        if text.is_empty() {
            return None;
        }
        Some(Node::Term {
            fields: fields.to_vec(),
            text,
            prefix,
        })
    }
}

fn with_fields(node: Node, fields: &[FieldName]) -> Node {
    if fields.is_empty() {
        return node;
    }
    let map = |v: Vec<Node>| v.into_iter().map(|n| with_fields(n, fields)).collect();
    match node {
        Node::Term { text, prefix, .. } => Node::Term {
            fields: fields.to_vec(),
            text,
            prefix,
        },
        Node::Phrase { text, .. } => Node::Phrase {
            fields: fields.to_vec(),
            text,
        },
        Node::And(v) => Node::And(map(v)),
        Node::Or(v) => Node::Or(map(v)),
        Node::Implicit(v) => Node::Implicit(map(v)),
        Node::Not(n) => Node::Not(Box::new(with_fields(*n, fields))),
        other => other,
    }
}

/// Parses a query string. Never fails; repairs are listed in the returned warnings.
pub fn parse(q: &str) -> (Node, Vec<String>) {
    let mut warnings = Vec::new();
    let q = q.trim();
    if q.is_empty() || q == "*" {
        return (Node::All, warnings);
    }
    if let Some(id) = detect_identifier(q) {
        return (Node::Ident(id), warnings);
    }
    let toks = lex(q, &mut warnings);
    let mut p = Parser {
        toks,
        pos: 0,
        warnings: &mut warnings,
        terms: 0,
    };
    let node = p.parse_query();
    let mut seen = BTreeSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    (node, warnings)
}

/// Turns a parsed query into a tantivy query, using the analyzers of the index.
pub struct QueryBuilder<'a> {
    fields: &'a Fields,
    params: &'a RankingParams,
    bio: TextAnalyzer,
    bio_unstemmed: TextAnalyzer,
    name: TextAnalyzer,
    expansions: BTreeSet<Expansion>,
    thesaurus: Option<&'a Thesaurus>,
}

struct Tok2 {
    position: usize,
    len: usize,
    text: String,
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Tok2> {
    let mut out = Vec::new();
    let mut s = analyzer.token_stream(text);
    while s.advance() {
        let t = s.token();
        out.push(Tok2 {
            position: t.position,
            len: t.position_length,
            text: t.text.clone(),
        });
    }
    out
}

impl<'a> QueryBuilder<'a> {
    /// A builder over the index's fields with the given ranking parameters.
    pub fn new(fields: &'a Fields, params: &'a RankingParams) -> Self {
        QueryBuilder {
            fields,
            params,
            bio: bio_analyzer(),
            bio_unstemmed: bio_unstemmed_analyzer(),
            name: name_analyzer(),
            expansions: BTreeSet::new(),
            thesaurus: None,
        }
    }

    /// Expands free-text terms with the synonyms of `thesaurus` (weighted by
    /// [`RankingParams::synonym_weight`]).
    pub fn with_thesaurus(mut self, thesaurus: Option<&'a Thesaurus>) -> Self {
        self.thesaurus = thesaurus.filter(|t| !t.is_empty());
        self
    }

    /// The default fields with their weights.
    pub fn default_fields(&self) -> Vec<(FieldName, f32)> {
        let p = self.params;
        vec![
            (FieldName::Title, p.title_weight),
            (FieldName::Abstract, p.abstract_weight),
            (FieldName::Mesh, p.mesh_weight),
            (FieldName::Keywords, p.keywords_weight),
        ]
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

    fn weighted(&self, fields: &[FieldName]) -> Vec<(FieldName, f32)> {
        if fields.is_empty() {
            self.default_fields()
        } else {
            fields.iter().map(|f| (*f, 1.0)).collect()
        }
    }

    fn note_spelling(&mut self, text: &str) {
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 4)
        {
            let lower = word.to_lowercase();
            let us = us_spelling(&lower).into_owned();
            let variant = if us != lower {
                Some(us)
            } else {
                uk_variant(&lower)
            };
            if let Some(v) = variant {
                self.expansions.insert(Expansion {
                    term: word.to_string(),
                    variants: vec![v],
                    reason: "uk/us spelling",
                });
            }
        }
    }

    /// Builds the tantivy query for a node; `None` when nothing searchable is left (stop words
    /// only).
    pub fn build(&mut self, node: &Node) -> Option<Box<dyn Query>> {
        match node {
            Node::All => Some(Box::new(AllQuery)),
            Node::Ident(id) => {
                let term = Term::from_field_text(
                    self.fields.ids,
                    &format!("{}:{}", id.kind(), id.value().to_lowercase()),
                );
                let ident: Box<dyn Query> = Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                    self.params.identifier_boost,
                ));
                // Also search the typed text, so that a number or DOI quoted in an abstract is
                // still found, below the record the identifier names.
                let text = self.build_text(&[], id.value(), false);
                Some(match text {
                    Some(t) => Box::new(BooleanQuery::new(vec![
                        (Occur::Should, ident),
                        (Occur::Should, t),
                    ])),
                    None => ident,
                })
            }
            Node::Term {
                fields,
                text,
                prefix,
            } => {
                self.note_spelling(text);
                let q = self.build_text(fields, text, *prefix)?;
                match self.synonyms(std::slice::from_ref(node)) {
                    Some(syn) => Some(Box::new(BooleanQuery::new(vec![
                        (Occur::Should, q),
                        (Occur::Should, syn),
                    ]))),
                    None => Some(q),
                }
            }
            Node::Phrase { fields, text } => {
                self.note_spelling(text);
                self.build_phrase(fields, text)
            }
            Node::Not(inner) => {
                let inner = self.build(inner)?;
                Some(Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(AllQuery)),
                    (Occur::MustNot, inner),
                ])))
            }
            Node::And(items) => self.build_bool(items, Occur::Must, 0, Vec::new()),
            Node::Or(items) => self.build_bool(items, Occur::Should, 0, Vec::new()),
            Node::Implicit(items) => {
                let (q, bonus) = self.build_implicit(items)?;
                Some(match bonus {
                    Some(bonus) => with_bonus(q, bonus),
                    None => q,
                })
            }
        }
    }

    /// Juxtaposed words: their union (with any synonyms), and apart from it the proximity bonus
    /// for records where they stand close together.
    fn build_implicit(&mut self, items: &[Node]) -> Option<WithBonus> {
        let positives = items.iter().filter(|n| !matches!(n, Node::Not(_))).count();
        let msm = self.params.min_should_match(positives);
        let extra: Vec<Box<dyn Query>> = self.synonyms(items).into_iter().collect();
        let q = self.build_bool(items, Occur::Should, msm, extra)?;
        Some((q, self.proximity(items)))
    }

    fn build_bool(
        &mut self,
        items: &[Node],
        occur: Occur,
        min_should: usize,
        extra_should: Vec<Box<dyn Query>>,
    ) -> Option<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for item in items {
            match item {
                Node::Not(inner) => {
                    if let Some(q) = self.build(inner) {
                        clauses.push((Occur::MustNot, q));
                    }
                }
                other => {
                    if let Some(q) = self.build(other) {
                        if occur == Occur::Should && min_should <= 1 {
                            push_should_flat(&mut clauses, q);
                        } else {
                            clauses.push((occur, q));
                        }
                    }
                }
            }
        }
        let positives = clauses.iter().filter(|(o, _)| *o != Occur::MustNot).count();
        if positives > 0 {
            // Synonyms are alternatives to the typed terms: they never count towards the
            // minimum to match.
            for q in extra_should {
                clauses.push((Occur::Should, q));
            }
        }
        if positives == 0 {
            if clauses.is_empty() {
                return None;
            }
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        if clauses.len() == 1 && clauses[0].0 != Occur::MustNot {
            return clauses.pop().map(|(_, q)| q);
        }
        let q = if occur == Occur::Should && min_should > 1 {
            BooleanQuery::with_minimum_required_clauses(clauses, min_should.min(positives))
        } else {
            BooleanQuery::new(clauses)
        };
        Some(Box::new(q))
    }

    /// The synonyms of the plain free-text words among `items` (thesaurus terms matched on their
    /// analysed form, longest first): each match becomes its alternatives as phrases over the
    /// default fields, all weighted by [`RankingParams::synonym_weight`].
    fn synonyms(&mut self, items: &[Node]) -> Option<Box<dyn Query>> {
        let thesaurus = self.thesaurus?;
        if self.params.synonym_weight <= 0.0 {
            return None;
        }
        let words: Vec<&str> = items
            .iter()
            .filter_map(|n| match n {
                Node::Term {
                    fields,
                    text,
                    prefix: false,
                } if fields.is_empty() => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if words.is_empty() {
            return None;
        }
        let toks = single_tokens(&mut self.bio, &words.join(" "));
        let matches = thesaurus.matches(&toks);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for m in matches {
            let mut shown = Vec::new();
            for (name, _) in m.alternatives.iter().take(MAX_SYNONYMS) {
                if let Some(q) = self.build_phrase(&[], name) {
                    clauses.push((Occur::Should, q));
                    shown.push(name.clone());
                }
            }
            if !shown.is_empty() {
                self.expansions.insert(Expansion {
                    term: m.term.clone(),
                    variants: shown,
                    reason: "synonym",
                });
            }
        }
        combine(clauses).map(|q| weight_query(q, self.params.synonym_weight))
    }

    /// A bonus for records where the juxtaposed plain terms stand close together (sloppy phrase
    /// in title and abstract).
    fn proximity(&mut self, items: &[Node]) -> Option<Proximity> {
        if self.params.proximity_weight <= 0.0 {
            return None;
        }
        let words: Vec<&str> = items
            .iter()
            .filter_map(|n| match n {
                Node::Term {
                    fields,
                    text,
                    prefix: false,
                } if fields.is_empty() => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if words.len() < 2 || words.len() != items.len() {
            return None;
        }
        let joined = words.join(" ");
        let toks = tokens(&mut self.bio, &joined);
        let single: Vec<&Tok2> = toks.iter().filter(|t| t.len == 1).collect();
        if single.len() < 2 {
            return None;
        }
        let phrases = [self.fields.title, self.fields.abstract_text]
            .into_iter()
            .map(|f| {
                let mut terms: Vec<(usize, Term)> = single
                    .iter()
                    .map(|t| {
                        (
                            t.position - single[0].position,
                            Term::from_field_text(f, &t.text),
                        )
                    })
                    .collect();
                // As `PhraseQuery::new_with_offset` orders them (a stable sort).
                terms.sort_by_key(|&(offset, _)| offset);
                terms
            })
            .collect();
        Some(Proximity {
            phrases,
            slop: self.params.proximity_slop,
            boost: self.params.proximity_weight,
        })
    }

    fn analyzer_for(&mut self, f: FieldName) -> &mut TextAnalyzer {
        match f {
            FieldName::Author | FieldName::Journal => &mut self.name,
            _ => &mut self.bio,
        }
    }

    fn build_text(
        &mut self,
        fields: &[FieldName],
        text: &str,
        prefix: bool,
    ) -> Option<Box<dyn Query>> {
        let mut per_field: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (f, weight) in self.weighted(fields) {
            let field = self.field(f);
            let q: Option<Box<dyn Query>> = if prefix {
                let toks = match f {
                    FieldName::Author | FieldName::Journal => tokens(&mut self.name, text),
                    _ => tokens(&mut self.bio_unstemmed, text),
                };
                toks.iter().rfind(|t| t.len == 1).and_then(|t| {
                    let pattern = format!("{}.*", regex_escape(&t.text));
                    RegexQuery::from_pattern(&pattern, field)
                        .ok()
                        .map(|q| Box::new(q) as Box<dyn Query>)
                })
            } else {
                let toks = tokens(self.analyzer_for(f), text);
                terms_query(field, &toks)
            };
            if let Some(q) = q {
                per_field.push((Occur::Should, weight_query(q, weight)));
            }
        }
        combine(per_field)
    }

    fn build_phrase(&mut self, fields: &[FieldName], text: &str) -> Option<Box<dyn Query>> {
        let mut per_field: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (f, weight) in self.weighted(fields) {
            let field = self.field(f);
            let toks = tokens(self.analyzer_for(f), text);
            let single: Vec<&Tok2> = toks.iter().filter(|t| t.len == 1).collect();
            let q: Option<Box<dyn Query>> = match single.len() {
                0 => None,
                1 => terms_query(field, &toks),
                _ => {
                    let base = single[0].position;
                    let terms = single
                        .iter()
                        .map(|t| (t.position - base, Term::from_field_text(field, &t.text)))
                        .collect();
                    Some(Box::new(PhraseQuery::new_with_offset(terms)))
                }
            };
            if let Some(q) = q {
                per_field.push((Occur::Should, weight_query(q, weight)));
            }
        }
        combine(per_field)
    }
}

fn weight_query(q: Box<dyn Query>, weight: f32) -> Box<dyn Query> {
    if (weight - 1.0).abs() < f32::EPSILON {
        q
    } else if let Some(t) = q.downcast_ref::<ScoredTerm>() {
        Box::new(ScoredTerm {
            term: t.term.clone(),
            boost: t.boost * weight,
        })
    } else {
        Box::new(BoostQuery::new(q, weight))
    }
}

/// `Query::weight` for a readable stand-in of a tantivy query: the weight of `self.inner()`.
macro_rules! weight_of_inner {
    () => {
        fn weight(
            &self,
            enable_scoring: tantivy::query::EnableScoring<'_>,
        ) -> tantivy::Result<Box<dyn tantivy::query::Weight>> {
            self.inner().weight(enable_scoring)
        }
    };
}

/// One word in one field, scored by BM25 with its term frequencies and multiplied by `boost`:
/// exactly a `TermQuery` (`WithFreqs`) inside a `BoostQuery`, whose weight it builds, but with
/// its term and boost readable, so that a search of plain words can be recognised
/// ([`term_union`]) and matched by [`crate::union`].
#[derive(Clone, Debug)]
pub(crate) struct ScoredTerm {
    term: Term,
    boost: f32,
}

impl ScoredTerm {
    fn new(term: Term) -> ScoredTerm {
        ScoredTerm { term, boost: 1.0 }
    }

    fn inner(&self) -> Box<dyn Query> {
        let q = Box::new(TermQuery::new(
            self.term.clone(),
            IndexRecordOption::WithFreqs,
        ));
        if self.boost == 1.0 {
            q
        } else {
            Box::new(BoostQuery::new(q, self.boost))
        }
    }
}

impl Query for ScoredTerm {
    weight_of_inner!();

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        visitor(&self.term, false);
    }
}

/// The proximity bonus of a group of words: the sum of a sloppy phrase query per field (title,
/// then abstract), times `boost`. Exactly `BoostQuery(BooleanQuery(Should PhraseQuery...))`,
/// whose weight it builds, but with its phrases readable, so that the bonus of a page's records
/// can be computed for those records only ([`crate::proximity`]).
#[derive(Clone, Debug)]
pub struct Proximity {
    /// Per field, the phrase's terms with their offsets, in offset order.
    pub(crate) phrases: Vec<Vec<(usize, Term)>>,
    pub(crate) slop: u32,
    pub(crate) boost: f32,
}

impl Proximity {
    fn inner(&self) -> Box<dyn Query> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = self
            .phrases
            .iter()
            .map(|terms| {
                let mut pq = PhraseQuery::new_with_offset(terms.clone());
                pq.set_slop(self.slop);
                let q: Box<dyn Query> = Box::new(pq);
                (Occur::Should, q)
            })
            .collect();
        Box::new(BoostQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            self.boost,
        ))
    }
}

impl Query for Proximity {
    weight_of_inner!();

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (_, term) in self.phrases.iter().flatten() {
            visitor(term, true);
        }
    }
}

/// The terms and boosts of a query that is a union of two or more [`ScoredTerm`]s (any one
/// matching is enough, the score is the sum), as plain word searches are built; `None` for any
/// other query.
pub(crate) fn term_union(q: &dyn Query) -> Option<Vec<(Term, f32)>> {
    let b = q.downcast_ref::<BooleanQuery>()?;
    if b.get_minimum_number_should_match() > 1 || b.clauses().len() < 2 {
        return None;
    }
    b.clauses()
        .iter()
        .map(|(occur, c)| match (occur, c.downcast_ref::<ScoredTerm>()) {
            (Occur::Should, Some(t)) => Some((t.term.clone(), t.boost)),
            _ => None,
        })
        .collect()
}

/// Adds `q` to a union, splicing in the clauses of a nested pure union (a word's per-field
/// queries) instead of nesting it. The score is the same sum, but tantivy runs one flat union of
/// term scorers (statically dispatched, one buffer) where a union of unions made every term
/// scorer a virtual call and buffered each document twice: about a fifth of a 2-4 word search at
/// 1M records. Only pure unions (every clause `Should`, at most one required) are spliced, so the
/// set of matches cannot change.
fn push_should_flat(clauses: &mut Vec<(Occur, Box<dyn Query>)>, q: Box<dyn Query>) {
    match q.downcast_ref::<BooleanQuery>() {
        Some(b)
            if b.get_minimum_number_should_match() <= 1
                && b.clauses().iter().all(|(o, _)| *o == Occur::Should) =>
        {
            for (_, c) in b.clauses() {
                push_should_flat(clauses, c.box_clone());
            }
        }
        _ => clauses.push((Occur::Should, q)),
    }
}

/// A query and, apart from it, a bonus that may be added to its matches' scores.
type WithBonus = (Box<dyn Query>, Option<Proximity>);

/// `q` scored with the proximity `bonus`: the matches of `q`, with the bonus added where it
/// matches.
pub fn with_bonus(q: Box<dyn Query>, bonus: Proximity) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, q),
        (Occur::Should, Box::new(bonus)),
    ]))
}

fn combine(mut clauses: Vec<(Occur, Box<dyn Query>)>) -> Option<Box<dyn Query>> {
    match clauses.len() {
        0 => None,
        1 => clauses.pop().map(|(_, q)| q),
        _ => Some(Box::new(BooleanQuery::new(clauses))),
    }
}

/// The query for one typed word in one field, from its analysed tokens: a term; a phrase of its
/// parts when the word splits ("IL-6" → "il 6"), or'ed with the joined form ("il6").
fn terms_query(field: Field, toks: &[Tok2]) -> Option<Box<dyn Query>> {
    let term = |t: &Tok2| -> Box<dyn Query> {
        Box::new(ScoredTerm::new(Term::from_field_text(field, &t.text)))
    };
    let single: Vec<&Tok2> = toks.iter().filter(|t| t.len == 1).collect();
    let joined: Vec<&Tok2> = toks.iter().filter(|t| t.len > 1).collect();
    let mut alts: Vec<(Occur, Box<dyn Query>)> =
        joined.iter().map(|t| (Occur::Should, term(t))).collect();
    match single.len() {
        0 => {}
        1 => alts.push((Occur::Should, term(single[0]))),
        _ => {
            // Several words from one typed token (e.g. "heart/lung") stay a phrase.
            let base = single[0].position;
            let terms = single
                .iter()
                .map(|t| (t.position - base, Term::from_field_text(field, &t.text)))
                .collect();
            alts.push((Occur::Should, Box::new(PhraseQuery::new_with_offset(terms))));
        }
    }
    combine(alts)
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Renders a parsed query back into the engine's syntax with expansions shown.
pub fn render(node: &Node) -> String {
    fn fields_suffix(fields: &[FieldName]) -> String {
        if fields.is_empty() {
            String::new()
        } else {
            format!(
                "[{}]",
                fields
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    }
    fn variants(text: &str) -> String {
        let lower = text.to_lowercase();
        let us = us_spelling(&lower).into_owned();
        let v = if us != lower {
            Some(us)
        } else {
            uk_variant(&lower)
        };
        match v {
            Some(v) if !text.contains(' ') => format!("({text} OR {v})"),
            _ => text.to_string(),
        }
    }
    fn join(items: &[Node], sep: &str) -> String {
        items
            .iter()
            .map(|n| match n {
                Node::And(_) | Node::Or(_) | Node::Implicit(_) => format!("({})", render(n)),
                _ => render(n),
            })
            .collect::<Vec<_>>()
            .join(sep)
    }
    match node {
        Node::All => "*".into(),
        Node::Ident(id) => format!("{}:{}", id.kind(), id.value()),
        Node::Term {
            fields,
            text,
            prefix,
        } => {
            let t = if *prefix {
                format!("{text}*")
            } else {
                variants(text)
            };
            format!("{t}{}", fields_suffix(fields))
        }
        Node::Phrase { fields, text } => format!("\"{text}\"{}", fields_suffix(fields)),
        Node::And(v) => join(v, " AND "),
        Node::Or(v) => join(v, " OR "),
        Node::Implicit(v) => join(v, " "),
        Node::Not(n) => format!("NOT {}", render(n)),
    }
}

/// Rewrites any text so that the query language reads it as plain free text: quotes, brackets,
/// parentheses, `:` (field tags) and `*` become spaces, a leading `-` is dropped, and upper-case
/// `AND`, `OR`, `NOT` become lower case. For text that is not typed by a searcher (evaluation
/// queries, a record's title for "similar records").
pub fn free_text(q: &str) -> String {
    let cleaned: String = q
        .chars()
        .map(|c| match c {
            '"' | '\u{201c}' | '\u{201d}' | '(' | ')' | '[' | ']' | ':' | '*' => ' ',
            c => c,
        })
        .collect();
    cleaned
        .split_whitespace()
        .map(|w| w.trim_start_matches('-'))
        .filter(|w| !w.is_empty() && !matches!(*w, "&&" | "||"))
        .map(|w| match w {
            "AND" | "OR" | "NOT" => w.to_lowercase(),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses and builds in one go: the tantivy query (or `None` when nothing searchable is left) and
/// how the query was understood.
pub fn compile(
    q: &str,
    fields: &Fields,
    params: &RankingParams,
) -> (Option<Box<dyn Query>>, Interpreted) {
    let c = compile_with(q, fields, params, None);
    let query = match (c.query, c.proximity) {
        (Some(q), Some(bonus)) => Some(with_bonus(q, bonus)),
        (q, _) => q,
    };
    (query, c.interpreted)
}

/// A compiled query with what the search path needs to know about it.
pub struct Compiled {
    /// The tantivy query, `None` when the query matches everything.
    pub query: Option<Box<dyn Query>>,
    /// The proximity bonus of a top-level group of words, kept apart from `query`: it changes
    /// no match, only the order, so the search adds it to its best-ranked records alone
    /// (`SearchIndex::search`) rather than testing word positions in every match.
    /// [`with_bonus`] joins the two into the full scoring query.
    pub proximity: Option<Proximity>,
    /// How the query was understood.
    pub interpreted: Interpreted,
    /// The analysed words of a plain free-text query (juxtaposed words with no operator, tag,
    /// phrase or prefix), in order; empty for any other query. Pseudo-relevance feedback only
    /// expands plain queries, so that it never bends a boolean or fielded search.
    pub plain_terms: Vec<String>,
}

/// Like [`compile`], with synonym expansion from `thesaurus` when given.
pub fn compile_with(
    q: &str,
    fields: &Fields,
    params: &RankingParams,
    thesaurus: Option<&Thesaurus>,
) -> Compiled {
    let (node, warnings) = parse(q);
    let mut builder = QueryBuilder::new(fields, params).with_thesaurus(thesaurus);
    // A top-level group of words keeps its proximity bonus apart (see `Compiled::proximity`).
    let (query, proximity) = match &node {
        Node::Implicit(items) => match builder.build_implicit(items) {
            Some((q, bonus)) => (Some(q), bonus),
            None => (None, None),
        },
        other => (builder.build(other), None),
    };
    let query = match query {
        Some(q) => Some(q),
        None if node != Node::All => Some(Box::new(EmptyQuery) as Box<dyn Query>),
        None => None,
    };
    let identifier = match &node {
        Node::Ident(id) => Some(IdentifierMatch {
            kind: id.kind(),
            value: id.value().to_string(),
        }),
        _ => None,
    };
    let plain_terms = plain_words(&node)
        .map(|words| single_tokens(&mut builder.bio, &words.join(" ")))
        .unwrap_or_default();
    let interpreted = Interpreted {
        original: q.to_string(),
        interpreted: render(&node),
        default_fields: builder
            .default_fields()
            .iter()
            .map(|(f, w)| format!("{}^{}", f.as_str(), w))
            .collect(),
        expansions: builder.expansions.into_iter().collect(),
        identifier,
        warnings,
    };
    Compiled {
        query,
        proximity,
        interpreted,
        plain_terms,
    }
}

/// The words of a plain free-text query: one default-field word, or juxtaposed ones.
fn plain_words(node: &Node) -> Option<Vec<&str>> {
    fn word(n: &Node) -> Option<&str> {
        match n {
            Node::Term {
                fields,
                text,
                prefix: false,
            } if fields.is_empty() => Some(text.as_str()),
            _ => None,
        }
    }
    match node {
        Node::Implicit(items) => items.iter().map(word).collect(),
        n => word(n).map(|w| vec![w]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str, expect: &str) {
        let (node, _) = parse(q);
        assert_eq!(render(&node), expect, "query {q:?}");
    }

    #[test]
    fn parses_the_language() {
        check("asthma", "asthma");
        check("asthma inhaler", "asthma inhaler");
        check("asthma AND inhaler", "asthma AND inhaler");
        check("asthma OR copd NOT smoking", "asthma OR (copd NOT smoking)");
        check("asthma -children", "asthma NOT children");
        check("\"heart failure\" diuretics", "\"heart failure\" diuretics");
        check("title:asthma", "asthma[title]");
        check("asthma[ti]", "asthma[title]");
        check(
            "\"heart failure\"[tiab]",
            "\"heart failure\"[title,abstract]",
        );
        check("smith j[au]", "smith j[author]");
        check("mesh:(asthma OR copd)", "asthma[mesh] OR copd[mesh]");
        check("diabet*", "diabet*");
        check("anaemia", "(anaemia OR anemia)");
        check("anemia", "(anemia OR anaemia)");
        check("*", "*");
        check("", "*");
        check("PMID: 90000001", "pmid:90000001");
        check("10.5555/sample.0001", "doi:10.5555/sample.0001");
        check("nct:NCT90000001", "nct:NCT90000001");
        check("COVID-19 vaccines", "COVID-19 vaccines");
        check(
            "(asthma OR copd) AND (steroid OR inhaler)",
            "(asthma OR copd) AND (steroid OR inhaler)",
        );
    }

    #[test]
    fn repairs_are_reported() {
        let (node, w) = parse("\"heart failure");
        assert_eq!(render(&node), "\"heart failure\"");
        assert!(w[0].contains("unclosed quote"), "{w:?}");
        let (node, w) = parse("(asthma OR copd");
        assert_eq!(render(&node), "asthma OR copd");
        assert!(w.iter().any(|w| w.contains("unclosed '('")));
        let (node, w) = parse("asthma) copd");
        assert_eq!(render(&node), "asthma copd");
        assert!(w.iter().any(|w| w.contains("unmatched ')'")));
        let (_, w) = parse("AND OR NOT");
        assert!(!w.is_empty());
        let (node, w) = parse("a*");
        assert_eq!(render(&node), "a");
        assert!(w[0].contains("too short"));
        let (_, w) = parse("asthma[xx]");
        assert!(w[0].contains("unknown tag"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let q = format!("{}asthma{}", "(".repeat(5000), ")".repeat(5000));
        let (node, _) = parse(&q);
        assert!(render(&node).contains("asthma"));
        let q = "NOT ".repeat(5000) + "x";
        let _ = parse(&q);
    }

    #[test]
    fn free_text_is_never_read_as_syntax() {
        let check = |q: &str, expect: &str| assert_eq!(free_text(q), expect, "{q:?}");
        check("asthma AND copd", "asthma and copd");
        check("\"heart failure\" (elderly)", "heart failure elderly");
        check(
            "-children title:asthma diabet*",
            "children title asthma diabet",
        );
        check(
            "why are cancer rates so low in india ?",
            "why are cancer rates so low in india ?",
        );
        check("NOT || &&", "not");
        let (node, w) = parse(&free_text("(asthma OR copd) -smoking [ti]"));
        assert!(w.is_empty(), "{w:?}");
        assert!(matches!(node, Node::Implicit(_)));
    }

    #[test]
    fn plain_queries_are_recognised_and_synonyms_expand() {
        let (_, fields) = crate::schema::build_schema();
        let params = RankingParams::default();
        let plain = |q: &str| compile_with(q, &fields, &params, None).plain_terms;
        assert_eq!(plain("Diabetic patients"), ["diabet", "patient"]);
        assert_eq!(plain("asthma"), ["asthma"]);
        assert!(plain("asthma AND copd").is_empty());
        assert!(plain("\"heart failure\"").is_empty());
        assert!(plain("title:asthma").is_empty());
        assert!(plain("diabet*").is_empty());
        assert!(plain("*").is_empty());
        let t = Thesaurus::from_groups([["Myocardial Infarction", "Heart Attack"]]);
        let c = compile_with("heart attack in women", &fields, &params, Some(&t));
        let syn = c
            .interpreted
            .expansions
            .iter()
            .find(|e| e.reason == "synonym");
        assert_eq!(
            syn.map(|e| e.variants.clone()),
            Some(vec!["Myocardial Infarction".to_string()])
        );
        let off = RankingParams {
            synonym_weight: 0.0,
            ..Default::default()
        };
        let c = compile_with("heart attack", &fields, &off, Some(&t));
        assert!(c.interpreted.expansions.is_empty());
    }
}
