//! Text analysis: the biomedical tokenizer, UK/US spelling folding, and the analyzer chains that the
//! index and the query path share (so a query term is analysed exactly as the text it must match).
//!
//! `bio` (title, abstract, MeSH, keywords, publication types):
//! [`BioTokenizer`] → lower-case → ASCII folding → [`SpellingFilter`] (UK → US) → English stop
//! words → Snowball English stemmer.
//! `name` (authors, journal): simple tokenizer → lower-case → ASCII folding.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};

/// Name under which the biomedical analyzer is registered.
pub const BIO: &str = "bio";
/// Name under which the personal/journal name analyzer is registered.
pub const NAME: &str = "name";
/// Name of the analyzer used for prefix queries and suggestions: like `bio` without stemming and
/// stop words.
pub const BIO_UNSTEMMED: &str = "bio_unstemmed";

/// Builds the biomedical analyzer.
pub fn bio_analyzer() -> TextAnalyzer {
    TextAnalyzer::from(BioTokenizer::normalising(stemmed_chain(), true))
}

/// Builds the analyzer for prefix terms: tokenised, folded and spelling-normalised, not stemmed.
pub fn bio_unstemmed_analyzer() -> TextAnalyzer {
    TextAnalyzer::from(BioTokenizer::normalising(unstemmed_chain(), false))
}

/// The per-word chain of `bio`: lower-case → ASCII folding → UK → US spelling → English stop
/// words → Snowball English stemmer, over one whole token.
fn stemmed_chain() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(SpellingFilter)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The per-word chain of `bio_unstemmed`: lower-case → ASCII folding → UK → US spelling.
fn unstemmed_chain() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(SpellingFilter)
        .build()
}

/// Words remembered per thread and per chain before the memo is emptied (a table of up to about
/// 13 MiB each, which emptying keeps allocated). A biomedical corpus has well over 30,000
/// distinct words: at 30,000 the memo emptied every few thousand records and the misses (the
/// full chain, stemming included) cost a tenth of a build; 120,000 built 100k and 1M records 11%
/// faster with the same peak memory, and 250,000 was slower again (benches/RESULTS.md).
const MEMO_WORDS: usize = 120_000;

/// Token texts a tokenizer keeps for reuse between calls (more than most abstracts hold).
const SPARE_TEXTS: usize = 1024;

/// Word as tokenised → its normalised term, `None` for a stop word. Both are kept inline (up to
/// 24 bytes, nearly every word) so a look-up reads the table alone, not two more heap blocks:
/// snippets look up every word of ten abstracts per search, and the table is larger than a
/// core's cache.
type Memo = foldhash::HashMap<compact_str::CompactString, Option<compact_str::CompactString>>;

thread_local! {
    /// The memos of this thread: `[stemmed, unstemmed]`. Per thread, not per analyser: tantivy
    /// clones the analyser for every query and snippet, while the threads that run them (the
    /// indexing threads, the blocking pool) live long, so the memo stays warm across queries.
    static MEMOS: std::cell::RefCell<[Memo; 2]> = std::cell::RefCell::new(Default::default());
}

/// The normalisation of single words (the per-word filter chain), memoised. Word frequencies in
/// text are Zipfian, so nearly every token is a word seen before: the chain (case and accent
/// folding, spelling rules, stop words, stemming) then runs once per distinct word per thread
/// rather than once per token.
#[derive(Clone)]
struct Normaliser {
    chain: TextAnalyzer,
    /// Which memo: 0 for the stemmed chain, 1 for the unstemmed one.
    memo: usize,
}

impl Normaliser {
    /// Normalises `word` into `out` (its buffer reused); `false` for a stop word (to be dropped).
    fn normalise_into(&mut self, memo: &mut Memo, word: &str, out: &mut String) -> bool {
        out.clear();
        if let Some(hit) = memo.get(word) {
            return match hit {
                Some(term) => {
                    out.push_str(term);
                    true
                }
                None => false,
            };
        }
        let mut stream = self.chain.token_stream(word);
        let term = stream
            .advance()
            .then(|| compact_str::CompactString::from(stream.token().text.as_str()));
        drop(stream);
        if memo.len() >= MEMO_WORDS {
            memo.clear();
        }
        let keep = term.is_some();
        if let Some(t) = &term {
            out.push_str(t);
        }
        memo.insert(compact_str::CompactString::from(word), term);
        keep
    }
}

/// Builds the analyzer for author and journal names.
pub fn name_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Registers every analyzer on an index.
pub fn register(index: &tantivy::Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(BIO, bio_analyzer());
    tokenizers.register(BIO_UNSTEMMED, bio_unstemmed_analyzer());
    tokenizers.register(NAME, name_analyzer());
}

/// Runs an analyzer over `text` and returns `(position, term)` pairs.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        out.push((t.position, t.text.clone()));
    }
    out
}

/// Splits text into alphanumeric runs. Runs joined by hyphens or slashes where one part holds a
/// digit or is at most two characters long ("COVID-19", "IL-6", "SARS-CoV-2", "X-ray") are also
/// emitted joined ("covid19", "il6", "sarscov2", "xray") at the position of the first part, so that
/// "COVID-19", "COVID 19" and "COVID19" all match one another. Alphanumeric runs such as "HbA1c"
/// and "SGLT2" stay whole.
///
/// A `normalising` tokenizer also applies the per-word filter chain of its analyser to each token
/// (dropping stop words, keeping the positions of the others, as tantivy's filters do), memoised.
#[derive(Clone, Default)]
pub struct BioTokenizer {
    tokens: Vec<Token>,
    normaliser: Option<Normaliser>,
    /// Buffers kept between calls: the alphanumeric runs, and token texts to reuse, so that a
    /// text is tokenised without an allocation per token.
    runs: Vec<(usize, usize)>,
    spare: Vec<String>,
    /// When set, words the filter rules out are not normalised: their tokens keep their
    /// offsets and positions but carry an empty text (see [`WordFilter`]).
    only: Option<WordFilter>,
}

impl BioTokenizer {
    /// A tokenizer that normalises each token with `chain` (a one-token analyser), memoised.
    fn normalising(chain: TextAnalyzer, stemmed: bool) -> Self {
        BioTokenizer {
            normaliser: Some(Normaliser {
                chain,
                memo: if stemmed { 0 } else { 1 },
            }),
            ..Default::default()
        }
    }
}

/// The stream of a [`BioTokenizer`].
pub struct BioTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    index: usize,
}

impl Tokenizer for BioTokenizer {
    type TokenStream<'a> = BioTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BioTokenStream<'a> {
        self.spare.extend(self.tokens.drain(..).map(|t| t.text));
        self.spare.truncate(SPARE_TEXTS);
        collect_runs(text, &mut self.runs);
        let (spare, out) = (&mut self.spare, &mut self.tokens);
        match self.normaliser.as_mut() {
            Some(n) => MEMOS.with_borrow_mut(|memos| {
                let memo = &mut memos[n.memo];
                let only = self.only.as_ref();
                let mut word = |word: &str, out: &mut String| match only.map(|f| f.classify(word)) {
                    None | Some(Skim::Normalise) => n.normalise_into(memo, word, out),
                    Some(Skim::Skip) => {
                        out.clear();
                        true
                    }
                    Some(Skim::Stop) => false,
                };
                emit_tokens(text, &self.runs, |raw, from, to, position, length| {
                    let t = (from, to, position, length);
                    push_token(spare, out, raw, t, &mut word)
                })
            }),
            None => {
                let mut word = |word: &str, out: &mut String| {
                    out.clear();
                    out.push_str(word);
                    true
                };
                emit_tokens(text, &self.runs, |raw, from, to, position, length| {
                    let t = (from, to, position, length);
                    push_token(spare, out, raw, t, &mut word)
                })
            }
        }
        BioTokenStream {
            tokens: &mut self.tokens,
            index: usize::MAX,
        }
    }
}

/// Pushes the token of `raw` at `(offset_from, offset_to, position, position_length)` onto
/// `out` when `word(raw, text)`, which writes the token's text into `text` (a buffer from
/// `spare`, returned there for a dropped token), says to keep it.
fn push_token(
    spare: &mut Vec<String>,
    out: &mut Vec<Token>,
    raw: &str,
    (offset_from, offset_to, position, position_length): (usize, usize, usize, usize),
    word: &mut impl FnMut(&str, &mut String) -> bool,
) {
    let mut buf = spare.pop().unwrap_or_default();
    if word(raw, &mut buf) {
        out.push(Token {
            offset_from,
            offset_to,
            position,
            text: buf,
            position_length,
        });
    } else {
        spare.push(buf);
    }
}

impl BioTokenizer {
    /// The tokens of `text` as a filtered tokenizer ([`filtered_bio_tokenizer`]) makes them, passed
    /// to `sink(offset_from, offset_to, term)` without building them: `term` is `None` for words
    /// the filter rules out (a token that can match no term), and dropped tokens (stop words)
    /// are not passed. What a snippet needs of ten abstracts per search, without a token's
    /// text buffer and record per word.
    pub(crate) fn scan(&mut self, text: &str, mut sink: impl FnMut(usize, usize, Option<&str>)) {
        collect_runs(text, &mut self.runs);
        let mut buf = self.spare.pop().unwrap_or_default();
        match self.normaliser.as_mut() {
            Some(n) => MEMOS.with_borrow_mut(|memos| {
                let memo = &mut memos[n.memo];
                let only = self.only.as_ref();
                emit_tokens(text, &self.runs, |raw, from, to, _, _| {
                    match only.map(|f| f.classify(raw)) {
                        None | Some(Skim::Normalise) => {
                            if n.normalise_into(memo, raw, &mut buf) {
                                sink(from, to, Some(&buf));
                            }
                        }
                        Some(Skim::Skip) => sink(from, to, None),
                        Some(Skim::Stop) => {}
                    }
                })
            }),
            None => emit_tokens(text, &self.runs, |raw, from, to, _, _| {
                sink(from, to, Some(raw))
            }),
        }
        self.spare.push(buf);
    }
}

impl TokenStream for BioTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.index = self.index.wrapping_add(1);
        self.index < self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index]
    }
}

/// The alphanumeric runs of `text`, as byte ranges, into `runs`. ASCII text (nearly all) is
/// walked as bytes, without decoding characters or Unicode tables.
fn collect_runs(text: &str, runs: &mut Vec<(usize, usize)>) {
    if text.is_ascii() {
        push_runs(
            text.bytes().map(|b| b.is_ascii_alphanumeric()).enumerate(),
            text.len(),
            runs,
        );
    } else {
        push_runs(
            text.char_indices().map(|(i, c)| (i, c.is_alphanumeric())),
            text.len(),
            runs,
        );
    }
}

/// The runs of `true` in `(offset, alphanumeric)` pairs of a text `len` bytes long, into `runs`.
fn push_runs(
    chars: impl Iterator<Item = (usize, bool)>,
    len: usize,
    runs: &mut Vec<(usize, usize)>,
) {
    runs.clear();
    let mut start: Option<usize> = None;
    for (i, alnum) in chars {
        if alnum {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            runs.push((s, i));
        }
    }
    if let Some(s) = start {
        runs.push((s, len));
    }
}

/// Emits the tokens of `runs`: each run, and compounds joined as [`BioTokenizer`] says, as
/// `emit(raw text, offset_from, offset_to, position, position_length)`.
fn emit_tokens(
    text: &str,
    runs: &[(usize, usize)],
    mut emit: impl FnMut(&str, usize, usize, usize, usize),
) {
    let mut joined = String::new();
    let mut position = 0usize;
    let mut i = 0;
    while i < runs.len() {
        // Extend a compound while runs are joined by exactly one '-' or '/'.
        let mut j = i;
        while j + 1 < runs.len() {
            let gap = &text.as_bytes()[runs[j].1..runs[j + 1].0];
            if gap == b"-" || gap == b"/" {
                j += 1;
            } else {
                break;
            }
        }
        let parts = &runs[i..=j];
        let joinable = parts.len() > 1
            && parts.len() <= 4
            && parts.iter().any(|&(s, e)| {
                let p = &text[s..e];
                p.chars().any(|c| c.is_ascii_digit()) || p.chars().count() <= 2
            });
        if joinable {
            joined.clear();
            for &(s, e) in parts {
                joined.push_str(&text[s..e]);
            }
            emit(
                &joined,
                parts[0].0,
                parts[parts.len() - 1].1,
                position,
                parts.len(),
            );
        }
        for &(s, e) in parts {
            emit(&text[s..e], s, e, position, 1);
            position += 1;
        }
        i = j + 1;
    }
}

/// The English stop words of the `bio` chain: Lucene's list, the one tantivy gives for
/// `Language::English`. The chain and [`WordFilter`] both read it from here.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Which words a tokenizer must normalise when only some terms matter (a snippet looks for the
/// query's terms in ten abstracts per search; normalising every word was a tenth of a served
/// search). A word is skipped only when it can neither normalise to one of the terms nor be
/// dropped as a stop word, so the skipped words' tokens are exactly the ones the full chain
/// would emit, with an empty text instead of a term that matches nothing.
///
/// Why a first letter decides: the chain keeps a word's first character (lower-cased), except
/// that UK spellings starting "ae"/"oe" fold to "e" (aetiology, oedema, oestrogen); stemming
/// only rewrites endings. Words with a non-ASCII character always go through the chain.
#[derive(Clone, Debug)]
pub(crate) struct WordFilter {
    /// Lower-case ASCII first characters of words that may normalise to one of the terms.
    first: [bool; 128],
    /// Whether the chain drops stop words (`bio` does, `bio_unstemmed` does not).
    stops: bool,
    /// Lower-case ASCII first characters of the stop words.
    stop_first: [bool; 128],
}

impl WordFilter {
    /// A filter for words that may normalise to one of `terms` (normalised terms).
    pub(crate) fn for_terms<'a>(terms: impl IntoIterator<Item = &'a str>) -> WordFilter {
        let mut first = [false; 128];
        for t in terms {
            match t.as_bytes().first() {
                Some(&c) if c.is_ascii() => {
                    first[c.to_ascii_lowercase() as usize] = true;
                    if c.eq_ignore_ascii_case(&b'e') {
                        first[b'a' as usize] = true;
                        first[b'o' as usize] = true;
                    }
                }
                // Only words starting with a non-ASCII character can give such a term, and
                // those always go through the chain.
                _ => {}
            }
        }
        let mut stop_first = [false; 128];
        for w in STOP_WORDS {
            if let Some(&c) = w.as_bytes().first() {
                stop_first[c as usize] = true;
            }
        }
        WordFilter {
            first,
            stops: true,
            stop_first,
        }
    }

    /// What to do with `word` (a token's text before normalisation): normalise it (it may
    /// become one of the terms, or the rules below cannot tell), drop it (a stop word), or keep
    /// its token with an empty text (it can become none of the terms).
    pub(crate) fn classify(&self, word: &str) -> Skim {
        let b = word.as_bytes();
        let Some(&c) = b.first() else {
            return Skim::Normalise;
        };
        if !word.is_ascii() {
            return Skim::Normalise;
        }
        let c = c.to_ascii_lowercase();
        if self.first[c as usize] {
            return Skim::Normalise;
        }
        if !self.stops || b.len() > 10 || !self.stop_first[c as usize] {
            return Skim::Skip;
        }
        // Stop words are at most five letters. "ae" → "e" shortens a word by one letter per
        // "ae", so a longer word holding "ae" could still fold to one: the chain decides. No
        // other spelling rule turns a word into a stop word, so for the rest a stop word is
        // one of the list in any case.
        if b.windows(2).any(|p| p.eq_ignore_ascii_case(b"ae")) {
            return Skim::Normalise;
        }
        if is_stop_word(b) {
            Skim::Stop
        } else {
            Skim::Skip
        }
    }
}

/// Whether ASCII `word` is one of [`STOP_WORDS`], in any case: lower-cased into a fixed buffer
/// and matched in one go (a scan of the list per short word was 1.5% of a served search).
fn is_stop_word(word: &[u8]) -> bool {
    const LONGEST: usize = 5;
    if word.len() > LONGEST {
        return false;
    }
    let mut lower = [0u8; LONGEST];
    for (l, b) in lower.iter_mut().zip(word) {
        *l = b.to_ascii_lowercase();
    }
    matches!(
        &lower[..word.len()],
        b"a" | b"an"
            | b"and"
            | b"are"
            | b"as"
            | b"at"
            | b"be"
            | b"but"
            | b"by"
            | b"for"
            | b"if"
            | b"in"
            | b"into"
            | b"is"
            | b"it"
            | b"no"
            | b"not"
            | b"of"
            | b"on"
            | b"or"
            | b"such"
            | b"that"
            | b"the"
            | b"their"
            | b"then"
            | b"there"
            | b"these"
            | b"they"
            | b"this"
            | b"to"
            | b"was"
            | b"will"
            | b"with"
    )
}

/// See [`WordFilter::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skim {
    Normalise,
    Stop,
    Skip,
}

/// A `bio` or `bio_unstemmed` tokenizer (by analyser name) that normalises only the words
/// `filter` lets through; `None` for other analysers.
pub(crate) fn filtered_bio_tokenizer(name: &str, filter: WordFilter) -> Option<BioTokenizer> {
    static PROTOTYPES: std::sync::OnceLock<[BioTokenizer; 2]> = std::sync::OnceLock::new();
    let [stemmed, unstemmed] = PROTOTYPES.get_or_init(|| {
        [
            BioTokenizer::normalising(stemmed_chain(), true),
            BioTokenizer::normalising(unstemmed_chain(), false),
        ]
    });
    let (mut t, stops) = match name {
        BIO => (stemmed.clone(), true),
        BIO_UNSTEMMED => (unstemmed.clone(), false),
        _ => return None,
    };
    t.only = Some(WordFilter { stops, ..filter });
    Some(t)
}

/// Rewrites British spellings to American ones, so that both match each other: anaemia → anemia,
/// paediatric → pediatric, oesophagus → esophagus, tumour → tumor, randomised → randomized...
/// Applied after lower-casing and ASCII folding, before stemming.
#[derive(Clone, Copy, Default)]
pub struct SpellingFilter;

impl TokenFilter for SpellingFilter {
    type Tokenizer<T: Tokenizer> = SpellingFilterWrapper<T>;
    fn transform<T: Tokenizer>(self, tokenizer: T) -> SpellingFilterWrapper<T> {
        SpellingFilterWrapper(tokenizer)
    }
}

/// The tokenizer wrapped by a [`SpellingFilter`].
#[derive(Clone)]
pub struct SpellingFilterWrapper<T>(T);

impl<T: Tokenizer> Tokenizer for SpellingFilterWrapper<T> {
    type TokenStream<'a> = SpellingStream<T::TokenStream<'a>>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        SpellingStream(self.0.token_stream(text))
    }
}

/// The stream of a [`SpellingFilter`].
pub struct SpellingStream<S>(S);

impl<S: TokenStream> TokenStream for SpellingStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        if let Cow::Owned(us) = us_spelling(&self.0.token().text) {
            self.0.token_mut().text = us;
        }
        true
    }
    fn token(&self) -> &Token {
        self.0.token()
    }
    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// Whole-word British → American pairs that no rule covers.
const WORDS: &[(&str, &str)] = &[
    ("ageing", "aging"),
    ("grey", "gray"),
    ("programme", "program"),
    ("programmes", "programs"),
    ("aluminium", "aluminum"),
    ("mould", "mold"),
    ("plough", "plow"),
    ("catalogue", "catalog"),
    ("dialogue", "dialog"),
    ("cheque", "check"),
    ("practise", "practice"),
    ("licence", "license"),
    ("defence", "defense"),
    ("offence", "offense"),
];

/// Infix replacements, applied anywhere in a word.
const INFIXES: &[(&str, &str)] = &[
    ("rrhoea", "rrhea"),
    ("pnoea", "pnea"),
    ("foet", "fet"),
    ("coeliac", "celiac"),
    ("homoeo", "homeo"),
    ("manoeuv", "maneuv"),
    ("amoeb", "ameb"),
    ("oestr", "estr"),
    ("tumour", "tumor"),
    ("behaviour", "behavior"),
    ("labour", "labor"),
    ("colour", "color"),
    ("odour", "odor"),
    ("vapour", "vapor"),
    ("favour", "favor"),
    ("humour", "humor"),
    ("honour", "honor"),
    ("rumour", "rumor"),
    ("sulph", "sulf"),
    ("centre", "center"),
    ("fibre", "fiber"),
    ("litre", "liter"),
    ("metre", "meter"),
    ("calibre", "caliber"),
];

/// Suffix rewrites (-ise → -ize, -yse → -yze), for words of at least six letters.
const SUFFIXES: &[(&str, &str)] = &[
    ("isations", "izations"),
    ("isation", "ization"),
    ("ising", "izing"),
    ("ised", "ized"),
    ("ises", "izes"),
    ("iser", "izer"),
    ("isers", "izers"),
    ("ise", "ize"),
    ("ysing", "yzing"),
    ("ysed", "yzed"),
    ("yse", "yze"),
];

/// The American spelling of a lower-case, ASCII-folded word, borrowed when nothing changes.
pub fn us_spelling(word: &str) -> Cow<'_, str> {
    if word.len() < 4 || !word.is_ascii() {
        return Cow::Borrowed(word);
    }
    if let Some((_, us)) = WORDS.iter().find(|(uk, _)| *uk == word) {
        return Cow::Owned((*us).to_string());
    }
    let mut w: Cow<'_, str> = Cow::Borrowed(word);
    // "ae" → "e": anaemia, haemorrhage, paediatric, leukaemia, caesarean, aetiology, ischaemia.
    if w.len() >= 5 && w.contains("ae") {
        w = Cow::Owned(w.replace("ae", "e"));
    }
    // "oe" at the start: oedema, oesophagus, oestrogen.
    if w.starts_with("oe") && w.len() >= 5 {
        w = Cow::Owned(format!("e{}", &w[2..]));
    }
    if may_hold(infixes(), &w) {
        for (uk, us) in INFIXES {
            if w.contains(uk) {
                w = Cow::Owned(w.replace(uk, us));
            }
        }
    }
    if w.len() >= 6 {
        for (uk, us) in SUFFIXES {
            if let Some(stem) = w.strip_suffix(uk) {
                w = Cow::Owned(format!("{stem}{us}"));
                break;
            }
        }
    }
    if w == word {
        Cow::Borrowed(word)
    } else {
        w
    }
}

/// A British spelling of an American word, for showing how a query was expanded (`anemia` →
/// `anaemia`). Returns `None` when no rule gives a British form that folds back to `word`.
pub fn uk_variant(word: &str) -> Option<String> {
    let w = word.to_ascii_lowercase();
    if !may_hold(us_patterns(), &w) {
        return None;
    }
    let candidates: Vec<String> = US_TO_UK
        .iter()
        .filter(|(us, _)| w.contains(us))
        .map(|(us, uk)| w.replacen(us, uk, 1))
        .collect();
    candidates
        .into_iter()
        .find(|c| c != &w && us_spelling(c) == w.as_str())
}

/// An automaton finding any of `INFIXES`' British forms: most words hold none, and one pass
/// over the word tells so (a search analyses each query word twice, and indexing every word).
fn infixes() -> &'static Option<AhoCorasick> {
    static AUTOMATON: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AUTOMATON.get_or_init(|| AhoCorasick::new(INFIXES.iter().map(|p| p.0)).ok())
}

/// An automaton finding any of `US_TO_UK`'s American forms.
fn us_patterns() -> &'static Option<AhoCorasick> {
    static AUTOMATON: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AUTOMATON.get_or_init(|| AhoCorasick::new(US_TO_UK.iter().map(|p| p.0)).ok())
}

/// Whether `word` may hold one of the automaton's words (always, if it could not be built:
/// then every rule is tried, as without it).
fn may_hold(automaton: &Option<AhoCorasick>, word: &str) -> bool {
    automaton.as_ref().is_none_or(|a| a.is_match(word))
}

/// American → British rewrites that [`uk_variant`] tries (the first occurrence of each).
const US_TO_UK: &[(&str, &str)] = &[
    ("anem", "anaem"),
    ("hem", "haem"),
    ("pedia", "paedia"),
    ("esoph", "oesoph"),
    ("edem", "oedem"),
    ("estr", "oestr"),
    ("ischem", "ischaem"),
    ("leukem", "leukaem"),
    ("glycem", "glycaem"),
    ("cesar", "caesar"),
    ("anesth", "anaesth"),
    ("etiol", "aetiol"),
    ("rrhea", "rrhoea"),
    ("pnea", "pnoea"),
    ("fet", "foet"),
    ("celiac", "coeliac"),
    ("tumor", "tumour"),
    ("behavior", "behaviour"),
    ("labor", "labour"),
    ("ize", "ise"),
    ("izing", "ising"),
    ("ized", "ised"),
    ("ization", "isation"),
    ("yze", "yse"),
    ("center", "centre"),
    ("fiber", "fibre"),
    ("orthoped", "orthopaed"),
    ("gynec", "gynaec"),
    ("aging", "ageing"),
];

/// Groups of interchangeable terms (synonyms) for query expansion, such as the entry terms of a
/// MeSH descriptor: a query that names one term of a group also searches the others.
///
/// Terms are matched on their analysed form (`bio`: folded, UK/US normalised, stop words dropped,
/// stemmed), so "Heart Attacks" matches the entry "heart attack". Cloning is cheap.
#[derive(Clone, Default)]
pub struct Thesaurus {
    inner: std::sync::Arc<ThesaurusInner>,
}

#[derive(Clone, Default)]
struct ThesaurusInner {
    /// Each group's terms, as given.
    groups: Vec<Vec<String>>,
    /// Each group's terms, analysed (one token sequence per term).
    analysed: Vec<Vec<Vec<String>>>,
    /// Analysed term (tokens joined by a space) → the groups holding it.
    lookup: std::collections::HashMap<String, Vec<u32>>,
    /// The longest term, in tokens.
    max_tokens: usize,
}

impl std::fmt::Debug for Thesaurus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thesaurus")
            .field("groups", &self.inner.groups.len())
            .finish_non_exhaustive()
    }
}

/// One synonym match in a query.
#[derive(Debug, Clone, PartialEq)]
pub struct SynonymMatch {
    /// Index of the first matched token in the analysed query.
    pub start: usize,
    /// Index one past the last matched token.
    pub end: usize,
    /// The matched term, as written in the thesaurus.
    pub term: String,
    /// The other terms of its groups, as written in the thesaurus, analysed.
    pub alternatives: Vec<(String, Vec<String>)>,
}

/// Terms longer than this many tokens are not used for expansion.
const MAX_SYNONYM_TOKENS: usize = 6;

impl Thesaurus {
    /// An empty thesaurus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A thesaurus from groups of interchangeable terms.
    pub fn from_groups<G, T>(groups: G) -> Self
    where
        G: IntoIterator<Item = T>,
        T: IntoIterator,
        T::Item: AsRef<str>,
    {
        let mut t = Thesaurus::new();
        for g in groups {
            t.add_group(g);
        }
        t
    }

    /// Adds a group of interchangeable terms. Terms that analyse to nothing (stop words only) or
    /// to more than six tokens are skipped; a group left with fewer than two distinct terms is
    /// ignored.
    pub fn add_group<T>(&mut self, terms: T)
    where
        T: IntoIterator,
        T::Item: AsRef<str>,
    {
        let mut bio = bio_analyzer();
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<(String, Vec<String>)> = Vec::new();
        for term in terms {
            let term = term.as_ref().trim();
            let toks = single_tokens(&mut bio, term);
            if toks.is_empty() || toks.len() > MAX_SYNONYM_TOKENS {
                continue;
            }
            if seen.insert(toks.join(" ")) {
                kept.push((term.to_string(), toks));
            }
        }
        if kept.len() < 2 {
            return;
        }
        let inner = std::sync::Arc::make_mut(&mut self.inner);
        let id = inner.groups.len() as u32;
        for (_, toks) in &kept {
            inner.max_tokens = inner.max_tokens.max(toks.len());
            inner.lookup.entry(toks.join(" ")).or_default().push(id);
        }
        let (names, analysed): (Vec<String>, Vec<Vec<String>>) = kept.into_iter().unzip();
        inner.groups.push(names);
        inner.analysed.push(analysed);
    }

    /// Groups held.
    pub fn len(&self) -> usize {
        self.inner.groups.len()
    }

    /// Whether no group is held.
    pub fn is_empty(&self) -> bool {
        self.inner.groups.is_empty()
    }

    /// Every term of every group, as written (for suggestions).
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.inner.groups.iter().flatten().map(|s| s.as_str())
    }

    /// Finds thesaurus terms in an analysed query (`bio` tokens in order), longest match first,
    /// left to right, without overlaps.
    pub fn matches(&self, tokens: &[String]) -> Vec<SynonymMatch> {
        let inner = &self.inner;
        let mut out = Vec::new();
        if inner.groups.is_empty() {
            return out;
        }
        let mut i = 0;
        while i < tokens.len() {
            let longest = inner.max_tokens.min(tokens.len() - i);
            let mut found = None;
            for n in (1..=longest).rev() {
                let key = tokens[i..i + n].join(" ");
                if let Some(groups) = inner.lookup.get(&key) {
                    found = Some((n, key, groups));
                    break;
                }
            }
            match found {
                Some((n, key, groups)) => {
                    let mut term = String::new();
                    let mut alternatives: Vec<(String, Vec<String>)> = Vec::new();
                    for &g in groups {
                        let g = g as usize;
                        for (name, toks) in inner.groups[g].iter().zip(&inner.analysed[g]) {
                            if toks.join(" ") == key {
                                if term.is_empty() {
                                    term = name.clone();
                                }
                            } else if !alternatives.iter().any(|(_, t)| t == toks) {
                                alternatives.push((name.clone(), toks.clone()));
                            }
                        }
                    }
                    out.push(SynonymMatch {
                        start: i,
                        end: i + n,
                        term,
                        alternatives,
                    });
                    i += n;
                }
                None => i += 1,
            }
        }
        out
    }
}

/// The single-word tokens of `text` (joined compounds such as "covid19" left out), in order.
pub fn single_tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        if t.position_length <= 1 {
            out.push(t.text.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        analyze(&mut bio_analyzer(), text)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// The memoised analysers give exactly what the plain filter chains give, token for token
    /// and position for position, on first sight of a word and from the memo.
    #[test]
    fn memoised_normalisation_matches_the_filter_chain() {
        let text = "The Paediatric Anaemia trial: COVID-19 and IL-6 in the oedematous \
            Ærø cohort; randomised, RANDOMISED and randomized — of the the of HbA1c type 2 \
            diabetes, tumour-associated haemorrhage, naïve café patients (n = 12) were analysed.";
        let plain_stemmed = TextAnalyzer::builder(BioTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(SpellingFilter)
            .filter(StopWordFilter::new(Language::English).expect("english stop words"))
            .filter(Stemmer::new(Language::English))
            .build();
        let plain_unstemmed = TextAnalyzer::builder(BioTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(SpellingFilter)
            .build();
        for (mut plain, mut memo) in [
            (plain_stemmed, bio_analyzer()),
            (plain_unstemmed, bio_unstemmed_analyzer()),
        ] {
            let expected = analyze(&mut plain, text);
            assert!(expected.len() > 20, "{expected:?}");
            // Twice: the second pass is served from the memo.
            assert_eq!(analyze(&mut memo, text), expected);
            assert_eq!(analyze(&mut memo, text), expected);
            // A clone starts empty and agrees too.
            assert_eq!(analyze(&mut memo.clone(), text), expected);
        }
        assert!(!terms("the of and").iter().any(|t| t == "the"));
    }

    /// Every token of a stream: offsets, position and text.
    fn tokens(mut stream: impl TokenStream) -> Vec<(usize, usize, usize, String)> {
        let mut out = Vec::new();
        while stream.advance() {
            let k = stream.token();
            out.push((k.offset_from, k.offset_to, k.position, k.text.clone()));
        }
        out
    }

    /// The filtered tokenizer for `terms` emits exactly the full analyser's tokens (offsets and
    /// positions), with the same text wherever that text is one of `terms`, and otherwise the
    /// same text or an empty one.
    fn check_filter(text: &str, terms: &[String]) {
        for (name, mut full) in [
            (BIO, bio_analyzer()),
            (BIO_UNSTEMMED, bio_unstemmed_analyzer()),
        ] {
            let filter = WordFilter::for_terms(terms.iter().map(String::as_str));
            let mut filtered = filtered_bio_tokenizer(name, filter).expect("a bio analyser");
            let expected = tokens(full.token_stream(text));
            let got = tokens(filtered.token_stream(text));
            assert_eq!(got.len(), expected.len(), "{name}: {text:?} {terms:?}");
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!((g.0, g.1, g.2), (e.0, e.1, e.2), "{name}: {text:?}");
                if terms.contains(&e.3) {
                    assert_eq!(g.3, e.3, "{name}: {text:?} {terms:?}");
                } else {
                    assert!(g.3 == e.3 || g.3.is_empty(), "{name}: {g:?} {e:?}");
                }
            }
            // The scan without tokens passes the same offsets and texts (none for an empty one).
            let mut scanned = Vec::new();
            filtered.scan(text, |from, to, term| {
                scanned.push((from, to, term.unwrap_or("").to_string()))
            });
            let streamed: Vec<_> = got.into_iter().map(|(f, t, _, w)| (f, t, w)).collect();
            assert_eq!(scanned, streamed, "{name}: {text:?} {terms:?}");
        }
    }

    /// The stop-word test of the filter is the list the chain drops, in any case.
    #[test]
    fn stop_word_test_is_the_list() {
        for w in STOP_WORDS {
            assert!(is_stop_word(w.as_bytes()), "{w}");
            assert!(is_stop_word(w.to_uppercase().as_bytes()), "{w}");
        }
        // Words the chain keeps are not stop words, whatever their first letters.
        let mut chain = stemmed_chain();
        for w in [
            "x", "ab", "andy", "thee", "these1", "theirs", "Wills", "asthma",
        ] {
            assert!(chain.token_stream(w).advance(), "{w}");
            assert!(!is_stop_word(w.as_bytes()), "{w}");
        }
        assert!(!is_stop_word(b""));
    }

    /// On real text (the starter corpus and the MeSH fixture), for groups of the terms each
    /// text holds, the filtered tokenizer finds every occurrence and keeps every token.
    #[test]
    fn word_filter_keeps_every_token_and_every_match_on_real_text() {
        let starter = include_str!("../../../fixtures/starter/records.jsonl");
        let mesh = include_str!("../../../fixtures/mesh/descriptors.xml");
        let mut texts: Vec<String> = starter
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                format!(
                    "{} {}",
                    v["title"].as_str().unwrap_or(""),
                    v["abstract"].as_str().unwrap_or("")
                )
            })
            .collect();
        texts.push(mesh.to_string());
        assert!(texts.len() > 300, "starter corpus: {}", texts.len());
        let mut skipped = 0usize;
        let mut all = 0usize;
        for text in &texts {
            let mut distinct = terms(text);
            distinct.sort();
            distinct.dedup();
            for group in distinct.chunks(4) {
                check_filter(text, group);
                let filter = WordFilter::for_terms(group.iter().map(String::as_str));
                let mut runs = Vec::new();
                collect_runs(text, &mut runs);
                all += runs.len();
                skipped += runs
                    .iter()
                    .filter(|&&(a, b)| filter.classify(&text[a..b]) != Skim::Normalise)
                    .count();
            }
        }
        // The point of the filter: most words are never normalised.
        assert!(skipped * 2 > all, "skipped {skipped} of {all}");
    }

    proptest::proptest! {
        #[test]
        fn ascii_runs_are_the_character_runs(text in "[ -~\t\n]{0,80}") {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            collect_runs(&text, &mut a);
            push_runs(text.char_indices().map(|(i, c)| (i, c.is_alphanumeric())), text.len(), &mut b);
            proptest::prop_assert_eq!(a, b);
        }

        /// Texts built from words that test each rule (UK spellings that change the first
        /// letter, stop words in any case, words that fold to stop words, accents, compounds).
        #[test]
        fn word_filter_keeps_every_token_and_every_match(
            words in proptest::collection::vec(0usize..44, 1..24),
            seps in proptest::collection::vec(0usize..5, 24),
            picks in proptest::collection::vec(0usize..64, 0..4),
        ) {
            const WORDS: [&str; 44] = [
                "Aetiology", "aetiology", "OEDEMA", "oestrogen", "Oesophagus", "thaen", "THE",
                "The", "then", "Ærø", "café", "naïve", "thé", "i", "s", "a", "1", "COVID", "19",
                "IL", "6", "skies", "dying", "yes", "y", "ageing", "grey", "sulphate", "centre",
                "e", "ae", "AN", "Into", "x", "ray", "b12", "haemorrhage", "anaemia", "Tumour",
                "thaeaese", "waes", "Ischaemic", "thaeir", "THAESE",
            ];
            const SEPS: [&str; 5] = [" ", "-", "/", ", ", " the "];
            let mut text = String::new();
            for (i, &w) in words.iter().enumerate() {
                if i > 0 {
                    text.push_str(SEPS[seps[i] % SEPS.len()]);
                }
                text.push_str(WORDS[w]);
            }
            let mut pool = terms(&text);
            pool.extend(["e", "etiolog", "the", "then", "edema", "estrogen", "a", "6"].map(String::from));
            let chosen: Vec<String> = picks.iter().map(|&i| pool[i % pool.len()].clone()).collect();
            check_filter(&text, &chosen);
        }
    }

    #[test]
    fn uk_and_us_spellings_fold_together() {
        let pairs = [
            ("anaemia", "anemia"),
            ("paediatric", "pediatric"),
            ("oesophagus", "esophagus"),
            ("haemorrhage", "hemorrhage"),
            ("tumour", "tumor"),
            ("randomised", "randomized"),
            ("oedema", "edema"),
            ("haemoglobin", "hemoglobin"),
            ("ischaemic", "ischemic"),
            ("diarrhoea", "diarrhea"),
            ("leukaemia", "leukemia"),
            ("coeliac", "celiac"),
            ("foetal", "fetal"),
            ("anaesthesia", "anesthesia"),
            ("hospitalisation", "hospitalization"),
            ("analysed", "analyzed"),
            ("behaviour", "behavior"),
            ("centre", "center"),
            ("ageing", "aging"),
            ("dyspnoea", "dyspnea"),
            ("caesarean", "cesarean"),
            ("paediatrics", "pediatrics"),
        ];
        for (uk, us) in pairs {
            assert_eq!(terms(uk), terms(us), "{uk} vs {us}");
            assert!(!terms(uk).is_empty(), "{uk}");
        }
        assert_ne!(terms("anaemia"), terms("asthma"));
    }

    #[test]
    fn variants_for_display() {
        assert_eq!(uk_variant("anemia").as_deref(), Some("anaemia"));
        assert_eq!(uk_variant("pediatric").as_deref(), Some("paediatric"));
        assert_eq!(uk_variant("tumor").as_deref(), Some("tumour"));
        assert_eq!(uk_variant("randomized").as_deref(), Some("randomised"));
        assert_eq!(uk_variant("asthma"), None);
    }

    #[test]
    fn hyphenated_and_alphanumeric_terms() {
        let t = analyze(&mut bio_analyzer(), "COVID-19 and IL-6, HbA1c in type 2");
        let texts: Vec<&str> = t.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            texts,
            ["covid19", "covid", "19", "il6", "il", "6", "hba1c", "type", "2"]
        );
        // The joined form shares the position of its first part, so phrases still line up.
        assert_eq!(t[0].0, t[1].0);
        assert_eq!(t[2].0, t[1].0 + 1);
        assert_eq!(terms("covid19"), ["covid19"]);
        assert_eq!(terms("SARS-CoV-2"), ["sarscov2", "sar", "cov", "2"]);
        assert_eq!(terms("beta-blockers"), ["beta", "blocker"]);
    }

    #[test]
    fn stems_and_drops_stop_words() {
        assert_eq!(terms("The diabetic patients"), ["diabet", "patient"]);
        assert_eq!(terms("diabetes"), ["diabet"]);
        assert!(terms("").is_empty());
        assert!(terms("!!! ---").is_empty());
    }

    #[test]
    fn names_fold_accents() {
        let t: Vec<String> = analyze(&mut name_analyzer(), "Müller-Lindqvist Å")
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(t, ["muller", "lindqvist", "a"]);
    }

    #[test]
    fn thesaurus_matches_analysed_terms_longest_first() {
        let t = Thesaurus::from_groups([
            vec!["Myocardial Infarction", "Heart Attack", "Heart Attacks"],
            vec!["Heart", "Cardiac"],
            vec!["Lonely"],
        ]);
        assert_eq!(t.len(), 2, "a group of one term is dropped");
        let toks = single_tokens(&mut bio_analyzer(), "the heart attacks in a heart");
        let m = t.matches(&toks);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].start, m[0].end), (0, 2));
        assert_eq!(m[0].term, "Heart Attack");
        let alts: Vec<&str> = m[0].alternatives.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(alts, ["Myocardial Infarction"]);
        assert_eq!(m[1].term, "Heart");
        assert!(t
            .matches(&single_tokens(&mut bio_analyzer(), "asthma"))
            .is_empty());
        assert!(Thesaurus::new().matches(&toks).is_empty());
    }
}
