//! Suggestions from the index's own vocabulary: "did you mean" for misspelt words, and
//! autocomplete from titles, MeSH terms and keywords.
//!
//! Both read a [`Suggester`]: an in-memory vocabulary built from the stored records of one index
//! commit (words with their document frequency; title phrases of one to three words, MeSH terms,
//! keywords and thesaurus terms with their counts, sorted for prefix look-up). Building it reads
//! every stored record once, so it is built on first use and cached by the index until the next
//! commit is loaded; call [`SearchIndex::suggester`] after a reload (on a blocking thread) to warm
//! it. Look-ups are then in-memory: a table for the one- and two-character keys of the first
//! keystrokes, a binary search for longer prefixes, and a Levenshtein automaton over the words
//! for spelling.
//!
//! ```
//! use search::{suggest, RankingParams, SearchIndex};
//! let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
//! let mut b = index.builder(32 << 20).unwrap();
//! let mut r = model::Record::new("demo", "1", "Asthma in children");
//! r.abstract_text = Some("Inhaled steroids for asthma.".into());
//! b.add(vec![r], false).unwrap();
//! b.finish().unwrap();
//! index.reload().unwrap();
//! assert_eq!(suggest::did_you_mean(&index, "asthmaa").as_deref(), Some("asthma"));
//! assert_eq!(suggest::autocomplete(&index, "ast", 5)[0].text, "asthma");
//! ```

use std::collections::HashMap;

use serde::Serialize;
use tantivy::schema::Value;
use tantivy::TantivyDocument;

use crate::analysis::{bio_unstemmed_analyzer, single_tokens};
use crate::{SearchError, SearchIndex};

/// Words shorter than this are never corrected.
const MIN_CORRECTABLE_CHARS: usize = 4;
/// A word found in at most this many records may be corrected to a much more frequent one.
const RARE_DF: u32 = 2;
/// How much more frequent a correction of a rare (but present) word must be.
const RARE_FACTOR: u32 = 100;
/// Corpora at least this large keep only the title phrases that occur in two records or more.
const PRUNE_FROM_DOCS: u64 = 1_000;
/// Longest title phrase offered, in words.
const MAX_PHRASE_WORDS: usize = 3;
/// Keys of at most this many characters (the first keystrokes) are answered from a table built
/// with the vocabulary: scanning every phrase under a one-letter key took 8.8 ms at 1M records,
/// two letters 1.1 ms, three 0.24 ms (benches/RESULTS.md, "Autocomplete").
const SHORT_KEY_CHARS: usize = 2;
/// Completions kept per short key: the largest `limit` the API accepts.
pub const MAX_COMPLETIONS: usize = 20;

/// Words that neither start nor end a suggested title phrase.
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "if", "in", "into",
    "is", "it", "its", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then",
    "there", "these", "they", "this", "to", "vs", "was", "were", "will", "with", "versus",
];

/// Where a suggestion comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// A MeSH heading of indexed records, or a term of the configured MeSH thesaurus.
    Mesh,
    /// An author keyword (or a trial condition or intervention).
    Keyword,
    /// A phrase of one to three words from titles.
    Title,
}

impl SuggestionKind {
    fn weight(self) -> f64 {
        match self {
            SuggestionKind::Mesh => 2.0,
            SuggestionKind::Keyword => 1.5,
            SuggestionKind::Title => 1.0,
        }
    }
}

/// One autocomplete suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The text to offer.
    pub text: String,
    /// Where it comes from.
    pub kind: SuggestionKind,
    /// Records holding it (0 for a thesaurus term no record carries).
    pub count: u64,
}

#[derive(Debug, Clone)]
struct Phrase {
    /// The normalised form matched against the typed prefix.
    key: String,
    /// The form shown.
    text: String,
    kind: SuggestionKind,
    count: u32,
}

/// The vocabulary of one index commit, for spelling and autocomplete.
#[derive(Debug, Default)]
pub struct Suggester {
    generation: u64,
    docs: u64,
    /// Word → records holding it (lower-case, folded, US spelling, not stemmed).
    words: HashMap<String, u32>,
    /// The same words as an FST, searched with a Levenshtein automaton for spelling.
    spelling: Spelling,
    /// Sorted by key.
    phrases: Vec<Phrase>,
    /// The best [`MAX_COMPLETIONS`] completions of every key of up to [`SHORT_KEY_CHARS`]
    /// characters that some phrase starts with, as [`Suggester::complete`] would rank them.
    short: HashMap<String, Vec<Suggestion>>,
    /// Corrections already worked out, by (word, `max_df`): the automaton's walk of the
    /// vocabulary is the costly part of a correction (a question's "what" or "does", absent from
    /// a collection, was a twentieth of a search), and the same words recur across queries.
    /// Cleared when full.
    corrections: std::sync::Mutex<HashMap<(String, u32), Option<String>>>,
}

/// Corrections [`Suggester`] remembers before it starts again.
const MEMO_CORRECTIONS: usize = 10_000;

/// The fields of a stored record that suggestions read.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Parts {
    title: String,
    #[serde(rename = "abstract")]
    abstract_text: Option<String>,
    mesh_terms: Vec<String>,
    keywords: Vec<String>,
}

/// Normalises text for matching: the unstemmed analyser's single words joined by a space.
fn normalise(analyzer: &mut tantivy::tokenizer::TextAnalyzer, text: &str) -> String {
    single_tokens(analyzer, text).join(" ")
}

fn is_word(w: &str) -> bool {
    w.chars().count() >= 2 && w.chars().any(|c| c.is_alphabetic())
}

/// A segment's stored records for one pass over all of them: read with plain file reads when the
/// index is on disk, else through the segment's memory map. The vocabulary reads every record
/// once; through the map, every page of the store would stay in the server's resident memory
/// (1.9 GB at a million records) although nothing reads most of them again. Read this way they
/// are only in the kernel's page cache, which the kernel reclaims.
fn read_store(
    dir: Option<&std::path::Path>,
    seg: &tantivy::SegmentReader,
) -> std::io::Result<tantivy::store::StoreReader> {
    use tantivy::directory::footer::Footer;
    use tantivy::directory::FileSlice;
    let path = dir.map(|d| d.join(format!("{}.store", seg.segment_id().uuid_string())));
    match path.map(std::fs::File::open) {
        Some(Ok(file)) => {
            let file = FileSlice::new(std::sync::Arc::new(ReadFile::new(file)?));
            // Segment files end with tantivy's footer, which its directory strips on reading.
            let (_, store) = Footer::extract_footer(file)?;
            tantivy::store::StoreReader::open(store, 64)
        }
        _ => seg.get_store_reader(64),
    }
}

/// A file read with positioned reads (a [`tantivy::directory::FileHandle`] that maps nothing).
#[derive(Debug)]
struct ReadFile {
    file: std::fs::File,
    len: usize,
}

impl ReadFile {
    fn new(file: std::fs::File) -> std::io::Result<Self> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("file too large to address"))?;
        Ok(ReadFile { file, len })
    }
}

impl tantivy::HasLen for ReadFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl tantivy::directory::FileHandle for ReadFile {
    fn read_bytes(
        &self,
        range: std::ops::Range<usize>,
    ) -> std::io::Result<tantivy::directory::OwnedBytes> {
        use std::os::unix::fs::FileExt;
        if range.start > range.end || range.end > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("read of {range:?} past the end of a {} byte file", self.len),
            ));
        }
        let mut buf = vec![0u8; range.len()];
        self.file.read_exact_at(&mut buf, range.start as u64)?;
        Ok(tantivy::directory::OwnedBytes::new(buf))
    }
}

impl Suggester {
    /// Builds the vocabulary of the index's loaded commit from its stored records.
    pub fn build(index: &SearchIndex) -> Result<Suggester, SearchError> {
        let searcher = index.searcher();
        let record_field = index.fields().record;
        let mut analyzer = bio_unstemmed_analyzer();
        let mut words: HashMap<String, u32> = HashMap::new();
        // key → (display text, kind, count)
        let mut phrases: HashMap<(String, SuggestionKind), (String, u32)> = HashMap::new();
        let mut docs = 0u64;
        let mut seen_words = std::collections::HashSet::new();
        let mut seen_phrases = std::collections::HashSet::new();
        for seg in searcher.segment_readers() {
            let store = read_store(index.path(), seg)
                .map_err(|e| SearchError::Io("document store".into(), e))?;
            for doc in store.iter::<TantivyDocument>(seg.alive_bitset()) {
                let doc = doc?;
                let Some(json) = doc.get_first(record_field).and_then(|v| v.as_str()) else {
                    continue;
                };
                let Ok(parts) = serde_json::from_str::<Parts>(json) else {
                    continue;
                };
                docs += 1;
                seen_words.clear();
                seen_phrases.clear();
                let title = single_tokens(&mut analyzer, &parts.title);
                let abs = parts
                    .abstract_text
                    .as_deref()
                    .map(|a| single_tokens(&mut analyzer, a))
                    .unwrap_or_default();
                for w in title.iter().chain(&abs) {
                    if is_word(w) && seen_words.insert(w.clone()) {
                        *words.entry(w.clone()).or_default() += 1;
                    }
                }
                for n in 1..=MAX_PHRASE_WORDS {
                    for gram in title.windows(n) {
                        let (Some(first), Some(last)) = (gram.first(), gram.last()) else {
                            continue;
                        };
                        if STOP.contains(&first.as_str())
                            || STOP.contains(&last.as_str())
                            || !gram.iter().all(|w| is_word(w))
                        {
                            continue;
                        }
                        let key = gram.join(" ");
                        if seen_phrases.insert((key.clone(), SuggestionKind::Title)) {
                            phrases
                                .entry((key.clone(), SuggestionKind::Title))
                                .or_insert_with(|| (key, 0))
                                .1 += 1;
                        }
                    }
                }
                let tagged = parts
                    .mesh_terms
                    .iter()
                    .map(|t| (t, SuggestionKind::Mesh))
                    .chain(parts.keywords.iter().map(|t| (t, SuggestionKind::Keyword)));
                for (term, kind) in tagged {
                    let key = normalise(&mut analyzer, term);
                    if key.is_empty() || !seen_phrases.insert((key.clone(), kind)) {
                        continue;
                    }
                    phrases
                        .entry((key, kind))
                        .or_insert_with(|| (term.trim().to_string(), 0))
                        .1 += 1;
                }
            }
        }
        if let Some(thesaurus) = index.thesaurus() {
            for term in thesaurus.terms() {
                let key = normalise(&mut analyzer, term);
                if !key.is_empty() {
                    phrases
                        .entry((key, SuggestionKind::Mesh))
                        .or_insert_with(|| (term.to_string(), 0));
                }
            }
        }
        let prune = docs >= PRUNE_FROM_DOCS;
        let mut phrases: Vec<Phrase> = phrases
            .into_iter()
            .filter(|((key, kind), (_, count))| {
                !(prune && *kind == SuggestionKind::Title && *count < 2 && key.contains(' '))
            })
            .map(|((key, kind), (text, count))| Phrase {
                key,
                text,
                kind,
                count,
            })
            .collect();
        phrases.sort_by(|a, b| a.key.cmp(&b.key).then(a.kind.cmp(&b.kind)));
        let spelling = Spelling::new(&words)?;
        let short = short_keys(&phrases);
        Ok(Suggester {
            generation: crate::index::commit_key(&searcher),
            docs,
            words,
            spelling,
            phrases,
            short,
            corrections: Default::default(),
        })
    }

    /// A key of the index commit this vocabulary was built from: its segments and deletions,
    /// so that reloading the same commit keeps the vocabulary.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Records read.
    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Forgets the corrections worked out so far (benchmarks measure the work itself).
    pub fn forget_corrections(&self) {
        self.corrections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Records holding `word` (already normalised: lower case, folded, US spelling).
    pub fn doc_freq(&self, word: &str) -> u32 {
        self.words.get(word).copied().unwrap_or(0)
    }

    /// The best correction of one normalised word, if it looks misspelt: a word absent from the
    /// vocabulary gets the closest word within an edit distance of 1 (words up to five letters) or
    /// 2 (longer words), the most frequent among equally close ones; a word in at most
    /// two records gets a word one edit away that is at least a hundred times more frequent.
    pub fn correct_word(&self, word: &str) -> Option<String> {
        self.correct_word_upto(word, RARE_DF)
    }

    /// [`Suggester::correct_word`], correcting only words in at most `max_df` records (0: only
    /// words absent from the vocabulary).
    fn correct_word_upto(&self, word: &str, max_df: u32) -> Option<String> {
        let len = word.chars().count();
        if len < MIN_CORRECTABLE_CHARS || !word.chars().all(|c| c.is_alphabetic()) {
            return None;
        }
        let df = self.doc_freq(word);
        if df > max_df.min(RARE_DF) {
            return None;
        }
        // A poisoned memo (a panic elsewhere while it was held) still holds whole entries.
        let memo =
            |m: std::sync::LockResult<_>| m.unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (word.to_string(), max_df);
        if let Some(hit) = memo(self.corrections.lock()).get(&key) {
            return hit.clone();
        }
        let fixed = self.search_correction(word, df, len);
        let mut m = memo(self.corrections.lock());
        if m.len() >= MEMO_CORRECTIONS {
            m.clear();
        }
        m.insert(key, fixed.clone());
        fixed
    }

    /// The closest frequent-enough word to `word` (in `df` records, `len` characters), by a walk
    /// of the vocabulary's automaton.
    fn search_correction(&self, word: &str, df: u32, len: usize) -> Option<String> {
        let max_dist = if df > 0 || len <= 5 { 1 } else { 2 };
        let target: Vec<char> = word.chars().collect();
        let mut best: Option<(usize, u32, String)> = None;
        // The automaton yields every word within `max_dist` edits (a superset of the words
        // within that optimal-string-alignment distance); each is measured exactly below.
        self.spelling.within(word, max_dist, |cand, cdf| {
            if cand == word {
                return;
            }
            if df > 0 && cdf < df.saturating_mul(RARE_FACTOR) {
                return;
            }
            let Some(d) = bounded_distance(&target, cand, max_dist) else {
                return;
            };
            let better = match &best {
                None => true,
                Some((bd, bdf, bw)) => {
                    d < *bd || (d == *bd && (cdf > *bdf || (cdf == *bdf && cand < bw.as_str())))
                }
            };
            if better {
                best = Some((d, cdf, cand.to_string()));
            }
        });
        best.map(|(_, _, w)| w)
    }

    /// Up to `limit` completions of `prefix`, best first: phrases whose normalised form starts
    /// with the normalised prefix, ranked by record count weighted by kind (MeSH above keywords
    /// above title phrases), shorter first on ties. One suggestion per text. Keys of one or two
    /// characters are answered from a table built with the vocabulary, with the same answers.
    pub fn complete(&self, prefix: &str, limit: usize) -> Vec<Suggestion> {
        let Some(key) = completion_key(prefix) else {
            return Vec::new();
        };
        if limit == 0 {
            return Vec::new();
        }
        if limit <= MAX_COMPLETIONS && key.chars().count() <= SHORT_KEY_CHARS {
            let mut out = self.short.get(&key).cloned().unwrap_or_default();
            out.truncate(limit);
            return out;
        }
        self.scan(&key, limit)
    }

    /// [`Suggester::complete`] by scanning every phrase under the key.
    fn scan(&self, key: &str, limit: usize) -> Vec<Suggestion> {
        let start = self.phrases.partition_point(|p| p.key.as_str() < key);
        let end = start
            + self.phrases[start..]
                .iter()
                .take_while(|p| p.key.starts_with(key))
                .count();
        rank_completions(&self.phrases[start..end], limit)
    }

    /// The query with each misspelt word corrected, or `None` when nothing needs correcting.
    /// Operators, field tags, identifiers, prefixes (`diabet*`) and words with digits are left
    /// alone; a corrected word keeps an initial capital.
    pub fn correct_query(&self, q: &str) -> Option<String> {
        self.correct_query_upto(q, RARE_DF)
    }

    /// [`Suggester::correct_query`] correcting only words absent from the vocabulary: for a query
    /// that already finds plenty, where a rare but real word is more likely meant than a typo
    /// (and the search for a commoner neighbour costs a scan of the vocabulary per word).
    pub fn correct_unknown_words(&self, q: &str) -> Option<String> {
        self.correct_query_upto(q, 0)
    }

    fn correct_query_upto(&self, q: &str, max_df: u32) -> Option<String> {
        let mut out = String::with_capacity(q.len());
        let mut changed = false;
        let mut analyzer = bio_unstemmed_analyzer();
        let mut rest = q;
        while !rest.is_empty() {
            let ws = rest.len() - rest.trim_start().len();
            out.push_str(&rest[..ws]);
            rest = &rest[ws..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let token = &rest[..end];
            rest = &rest[end..];
            match self.correct_token(&mut analyzer, token, max_df) {
                Some(fixed) => {
                    out.push_str(&fixed);
                    changed = true;
                }
                None => out.push_str(token),
            }
        }
        changed.then_some(out)
    }

    fn correct_token(
        &self,
        analyzer: &mut tantivy::tokenizer::TextAnalyzer,
        token: &str,
        max_df: u32,
    ) -> Option<String> {
        if matches!(token, "AND" | "OR" | "NOT") || token.contains(':') || token.ends_with('*') {
            return None;
        }
        // The word inside any leading or trailing punctuation: `(asthmaa)`, `-asthmaa`.
        let start = token.find(|c: char| c.is_alphanumeric())?;
        let end = token
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric())
            .map(|(i, c)| i + c.len_utf8())?;
        let word = &token[start..end];
        if !word.chars().all(|c| c.is_alphabetic()) {
            return None;
        }
        let norm = normalise(analyzer, word);
        if norm.contains(' ') {
            return None;
        }
        let fixed = self.correct_word_upto(&norm, max_df)?;
        let fixed = if word.chars().next().is_some_and(|c| c.is_uppercase()) {
            let mut c = fixed.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => fixed,
            }
        } else {
            fixed
        };
        Some(format!("{}{}{}", &token[..start], fixed, &token[end..]))
    }
}

/// The vocabulary as an FST (word → record count), for finding the words a few edits from a
/// misspelt one without scanning the vocabulary: a Levenshtein automaton of the word walks only
/// the branches of the FST that can still match.
struct Spelling(tantivy_fst::Map<Vec<u8>>);

impl Spelling {
    fn new(words: &HashMap<String, u32>) -> Result<Self, SearchError> {
        let mut sorted: Vec<(&str, u64)> = words
            .iter()
            .map(|(w, df)| (w.as_str(), u64::from(*df)))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // Made once per process, here rather than on the first misspelt query (the vocabulary
        // is built off the request path).
        automaton_builder(1);
        automaton_builder(2);
        tantivy_fst::Map::from_iter(sorted)
            .map(Spelling)
            .map_err(|e| SearchError::Corrupt(format!("spelling vocabulary: {e}")))
    }

    /// Calls `f(word, records)` for the words within `max_dist` edits (1 or 2) of `word`,
    /// a transposition of neighbours counting as one.
    fn within(&self, word: &str, max_dist: usize, mut f: impl FnMut(&str, u32)) {
        use tantivy_fst::{IntoStreamer, Streamer};
        let dfa = automaton_builder(max_dist).build_dfa(word);
        let mut stream = self.0.search(Lev(&dfa)).into_stream();
        while let Some((key, df)) = stream.next() {
            if let Ok(w) = std::str::from_utf8(key) {
                f(w, u32::try_from(df).unwrap_or(u32::MAX));
            }
        }
    }
}

impl Default for Spelling {
    fn default() -> Self {
        Spelling::new(&HashMap::new()).expect("an empty FST always builds")
    }
}

impl std::fmt::Debug for Spelling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spelling({} words)", self.0.len())
    }
}

/// The builder of Levenshtein automata for `max_dist` edits (1 or 2; transpositions cost one).
fn automaton_builder(
    max_dist: usize,
) -> &'static levenshtein_automata::LevenshteinAutomatonBuilder {
    static BUILDERS: [std::sync::OnceLock<levenshtein_automata::LevenshteinAutomatonBuilder>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let d = max_dist.clamp(1, 2);
    BUILDERS[d - 1]
        .get_or_init(|| levenshtein_automata::LevenshteinAutomatonBuilder::new(d as u8, true))
}

/// A Levenshtein DFA as an FST automaton.
struct Lev<'a>(&'a levenshtein_automata::DFA);

impl tantivy_fst::Automaton for Lev<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(
            self.0.distance(*state),
            levenshtein_automata::Distance::Exact(_)
        )
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// The optimal-string-alignment distance between `a` and `b` (insertions, deletions,
/// substitutions and transpositions of neighbours cost 1), or `None` when it exceeds `max`.
fn bounded_distance(a: &[char], b: &str, max: usize) -> Option<usize> {
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// The normalised key a typed prefix is matched with (a trailing space kept, so that "heart "
/// completes whole words after "heart"), or `None` when nothing is left to match.
fn completion_key(prefix: &str) -> Option<String> {
    let mut analyzer = bio_unstemmed_analyzer();
    let mut key = normalise(&mut analyzer, prefix);
    if key.is_empty() {
        return None;
    }
    if prefix.ends_with(char::is_whitespace) {
        key.push(' ');
    }
    Some(key)
}

/// The best `limit` completions among phrases (all under one key): one per normalised text, its
/// best-scoring kind, by record count × kind weight, then shorter, then alphabetical.
fn rank_completions(phrases: &[Phrase], limit: usize) -> Vec<Suggestion> {
    let mut best: HashMap<&str, (f64, &Phrase)> = HashMap::new();
    for p in phrases {
        let score = (p.count.max(1) as f64) * p.kind.weight();
        let slot = best.entry(p.key.as_str()).or_insert((score, p));
        if score > slot.0 || (score == slot.0 && p.kind < slot.1.kind) {
            *slot = (score, p);
        }
    }
    let mut ranked: Vec<(f64, &Phrase)> = best.into_values().collect();
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.key.len().cmp(&b.1.key.len()))
            .then(a.1.key.cmp(&b.1.key))
    });
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, p)| Suggestion {
            text: p.text.clone(),
            kind: p.kind,
            count: u64::from(p.count),
        })
        .collect()
}

/// The answers for every key of 1 to [`SHORT_KEY_CHARS`] characters that starts some phrase.
/// The phrases are sorted by key, so the phrases under one short key are one contiguous run.
fn short_keys(phrases: &[Phrase]) -> HashMap<String, Vec<Suggestion>> {
    let mut out = HashMap::new();
    for chars in 1..=SHORT_KEY_CHARS {
        // The byte length of the key's first `chars` characters, if it has that many.
        let head = |p: &Phrase| {
            p.key
                .char_indices()
                .nth(chars - 1)
                .map(|(i, c)| i + c.len_utf8())
        };
        let mut start = 0;
        while start < phrases.len() {
            let Some(end_byte) = head(&phrases[start]) else {
                start += 1;
                continue;
            };
            let key = &phrases[start].key[..end_byte];
            let run = phrases[start..]
                .iter()
                .take_while(|p| p.key.starts_with(key))
                .count();
            out.insert(
                key.to_string(),
                rank_completions(&phrases[start..start + run], MAX_COMPLETIONS),
            );
            start += run;
        }
    }
    out
}

/// A corrected query when some word of `q` looks misspelt against the index's vocabulary (absent,
/// or very rare beside a much more frequent word one edit away), else `None`. Builds the
/// vocabulary on first use (see [`SearchIndex::suggester`]); `None` if that fails.
pub fn did_you_mean(index: &SearchIndex, q: &str) -> Option<String> {
    let s = index.suggester().ok()?;
    s.correct_query(q)
}

/// Up to `limit` completions of `prefix` from titles, MeSH terms and keywords of the index (and
/// the configured thesaurus), best first. Builds the vocabulary on first use.
pub fn autocomplete(index: &SearchIndex, prefix: &str, limit: usize) -> Vec<Suggestion> {
    match index.suggester() {
        Ok(s) => s.complete(prefix, limit),
        Err(e) => {
            tracing::warn!(error = %e, "suggestion vocabulary could not be built");
            Vec::new()
        }
    }
}

/// Records that make a small index for the suggestion tests; kept beside the code for reuse.
#[cfg(test)]
fn sample_records() -> Vec<model::Record> {
    let rec = |id: &str, title: &str, abs: &str, mesh: &[&str]| {
        let mut r = model::Record::new("t", id, title);
        r.abstract_text = Some(abs.into());
        r.mesh_terms = mesh.iter().map(|s| s.to_string()).collect();
        r
    };
    vec![
        rec(
            "1",
            "Heart failure in older adults",
            "Diabetes and asthma are common in people with heart failure.",
            &["Heart Failure", "Aged"],
        ),
        rec(
            "2",
            "Diuretics for heart failure",
            "Loop diuretics relieve breathlessness in heart failure; diabetes was frequent.",
            &["Heart Failure", "Diuretics"],
        ),
        rec(
            "3",
            "Inhaled steroids for asthma in children",
            "Asthma control improved; diabetes did not change.",
            &["Asthma", "Child"],
        ),
        rec(
            "4",
            "Health literacy and diabetes self-management",
            "Diabetes education for adults with diabetes; one diabetic had asthma.",
            &["Diabetes Mellitus", "Health Literacy"],
        ),
        rec(
            "5",
            "Asthma action plans",
            "Written asthma plans reduce emergency visits.",
            &["Asthma"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RankingParams;

    fn index() -> SearchIndex {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let mut b = index.builder(16 << 20).unwrap();
        b.add(sample_records(), false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        index
    }

    /// An index on disk reads its stored records with file reads, not through the memory map:
    /// the same vocabulary as the same records in memory, deleted records left out.
    #[test]
    fn an_index_on_disk_reads_its_records_without_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = SearchIndex::create(dir.path(), RankingParams::default()).unwrap();
        let mut b = on_disk.builder(16 << 20).unwrap();
        b.add(sample_records(), false).unwrap();
        b.finish().unwrap();
        on_disk.reload().unwrap();
        let searcher = on_disk.searcher();
        let seg = &searcher.segment_readers()[0];
        // The file the reads go to (were it missing, the map would serve and this test not
        // tell the two apart).
        let store = format!("{}.store", seg.segment_id().uuid_string());
        assert!(dir.path().join(store).is_file());
        let mut by_file = Vec::new();
        for doc in read_store(on_disk.path(), seg)
            .unwrap()
            .iter::<TantivyDocument>(None)
        {
            by_file.push(doc.unwrap());
        }
        let mut by_map = Vec::new();
        for doc in seg
            .get_store_reader(8)
            .unwrap()
            .iter::<TantivyDocument>(None)
        {
            by_map.push(doc.unwrap());
        }
        assert_eq!(by_file.len(), sample_records().len());
        assert_eq!(by_file, by_map);
        let in_ram = index();
        let (a, b) = (on_disk.suggester().unwrap(), in_ram.suggester().unwrap());
        assert_eq!(a.docs(), b.docs());
        assert_eq!(a.doc_freq("asthma"), b.doc_freq("asthma"));
        assert!(a.doc_freq("asthma") > 0);
        assert_eq!(a.complete("ast", 8), b.complete("ast", 8));
        // Reads past the end are errors, not panics.
        use tantivy::directory::FileHandle;
        let path = dir.path().join("five");
        std::fs::write(&path, b"12345").unwrap();
        let five = ReadFile::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(five.read_bytes(1..4).unwrap().as_slice(), b"234");
        assert!(five.read_bytes(3..9).is_err());
    }

    #[test]
    fn a_reload_of_the_same_commit_keeps_the_vocabulary() {
        let index = index();
        let first = index.suggester().unwrap();
        // tantivy's reader reloads once just after opening; nothing changed, so no rebuild.
        index.reload().unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &index.suggester().unwrap()));
        // A commit that changes the content does rebuild it.
        let mut b = index.builder(16 << 20).unwrap();
        b.add(
            vec![model::Record::new("t", "new", "Bronchiolitis in infants")],
            false,
        )
        .unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let second = index.suggester().unwrap();
        assert!(!std::sync::Arc::ptr_eq(&first, &second));
        assert!(second.doc_freq("bronchiolitis") > 0);
    }

    #[test]
    fn corrects_misspelt_clinical_terms() {
        let index = index();
        let check = |q: &str, expect: Option<&str>| {
            assert_eq!(did_you_mean(&index, q).as_deref(), expect, "query {q:?}");
        };
        check("asthmaa", Some("asthma"));
        check("diabetis", Some("diabetes"));
        check("Diabetis in adults", Some("Diabetes in adults"));
        check("hart failure", Some("heart failure"));
        check("(asthmaa OR diabetis)", Some("(asthma OR diabetes)"));
        check("asthma", None);
        check("heart failure", None);
        check("title:asthmaa", None);
        check("diabet*", None);
        check("xyzzyq", None);
        check("", None);
        // Absent words are corrected in either mode.
        let s = index.suggester().unwrap();
        assert_eq!(
            s.correct_unknown_words("Diabetis in adults").as_deref(),
            Some("Diabetes in adults")
        );
        assert_eq!(s.correct_unknown_words("diabetic asthma"), None);
    }

    /// Corrections are remembered per word and mode: asked again, in either order, each mode
    /// answers as it did the first time (a rare real word is corrected only when rare words are).
    #[test]
    fn remembered_corrections_keep_each_mode_apart() {
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let mut b = index.builder(16 << 20).unwrap();
        let mut records: Vec<_> = (0..120)
            .map(|i| model::Record::new("t", &format!("a{i}"), "Asthma in adults"))
            .collect();
        records.push(model::Record::new("t", "rare", "Asthmo in adults"));
        b.add(records, false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let s = index.suggester().unwrap();
        for _ in 0..2 {
            assert_eq!(s.correct_unknown_words("asthmo"), None);
            assert_eq!(s.correct_query("asthmo").as_deref(), Some("asthma"));
            assert_eq!(s.correct_unknown_words("asthmq").as_deref(), Some("asthma"));
        }
        // A word too frequent for the mode is answered before the memo: two entries.
        assert_eq!(s.corrections.lock().unwrap().len(), 2);
    }

    #[test]
    fn autocompletes_from_titles_and_mesh() {
        let index = index();
        let texts = |p: &str| -> Vec<String> {
            autocomplete(&index, p, 10)
                .into_iter()
                .map(|s| s.text)
                .collect()
        };
        let hea = texts("hea");
        assert!(hea.iter().any(|t| t == "Heart Failure"), "{hea:?}");
        assert!(hea
            .iter()
            .any(|t| t == "health literacy" || t == "Health Literacy"));
        let first = &autocomplete(&index, "hea", 1)[0];
        assert_eq!(first.kind, SuggestionKind::Mesh);
        assert_eq!(first.count, 2);
        assert_eq!(texts("heart f"), ["Heart Failure"]);
        assert!(texts("Asth").contains(&"Asthma".to_string()));
        assert!(texts("zzz").is_empty());
        assert!(texts("").is_empty());
        assert!(autocomplete(&index, "hea", 0).is_empty());
    }

    #[test]
    fn short_keys_answer_as_the_scan_does() {
        let index = index();
        let s = index.suggester().unwrap();
        let mut keys: Vec<String> = s
            .phrases
            .iter()
            .flat_map(|p| {
                let chars: Vec<char> = p.key.chars().collect();
                (1..=SHORT_KEY_CHARS.min(chars.len()))
                    .map(move |n| chars[..n].iter().collect::<String>())
            })
            .collect();
        keys.sort();
        keys.dedup();
        assert!(keys.len() > 20, "{keys:?}");
        keys.extend(["q", "zz", "é", "h "].map(String::from));
        for key in &keys {
            for limit in [1, 8, MAX_COMPLETIONS] {
                assert_eq!(
                    s.complete(key, limit),
                    s.scan(key, limit),
                    "{key:?} {limit}"
                );
            }
        }
    }

    #[test]
    fn distance_is_bounded_damerau() {
        let d = |a: &str, b: &str| bounded_distance(&a.chars().collect::<Vec<_>>(), b, 2);
        assert_eq!(d("asthma", "asthma"), Some(0));
        assert_eq!(d("asthmaa", "asthma"), Some(1));
        assert_eq!(d("diabtees", "diabetes"), Some(1));
        assert_eq!(d("diabetis", "diabetes"), Some(1));
        assert_eq!(d("abc", "xyz"), None);
        assert_eq!(d("asthma", "as"), None);
    }

    proptest::proptest! {
        /// The table built from sorted phrases holds, for every key of one or two characters,
        /// exactly what scanning the phrases under that key answers, whatever the keys (multi-byte
        /// characters, spaces, keys shorter than the table's).
        #[test]
        fn the_short_key_table_equals_the_scan(
            raw in proptest::collection::vec(("[ab é]{1,4}", 0u8..3, 0u32..5), 0..40),
        ) {
            let kinds = [SuggestionKind::Mesh, SuggestionKind::Keyword, SuggestionKind::Title];
            let mut phrases: Vec<Phrase> = raw
                .into_iter()
                .map(|(key, kind, count)| Phrase {
                    text: key.to_uppercase(),
                    key,
                    kind: kinds[kind as usize],
                    count,
                })
                .collect();
            phrases.sort_by(|a, b| a.key.cmp(&b.key).then(a.kind.cmp(&b.kind)));
            let s = Suggester { short: short_keys(&phrases), phrases, ..Default::default() };
            for a in ["a", "b", " ", "é"] {
                let one = s.short.get(a).cloned().unwrap_or_default();
                proptest::prop_assert_eq!(one, s.scan(a, MAX_COMPLETIONS), "{:?}", a);
                for b in ["a", "b", " ", "é"] {
                    let key = format!("{a}{b}");
                    let two = s.short.get(&key).cloned().unwrap_or_default();
                    proptest::prop_assert_eq!(two, s.scan(&key, MAX_COMPLETIONS), "{:?}", key);
                }
            }
        }

        /// The automaton finds every vocabulary word within the distance (the set the old scan of
        /// the whole vocabulary found), whatever the words.
        #[test]
        fn the_automaton_finds_every_word_the_scan_finds(
            vocab in proptest::collection::vec("[abcdeé]{1,8}", 1..60),
            word in "[abcdeé]{1,8}",
            dist in 1usize..=2,
        ) {
            let words: HashMap<String, u32> =
                vocab.iter().enumerate().map(|(i, w)| (w.clone(), i as u32 + 1)).collect();
            let target: Vec<char> = word.chars().collect();
            let mut scan: Vec<&str> = words
                .keys()
                .map(String::as_str)
                .filter(|w| bounded_distance(&target, w, dist).is_some())
                .collect();
            scan.sort_unstable();
            let mut found = Vec::new();
            Spelling::new(&words).unwrap().within(&word, dist, |w, df| {
                found.push((w.to_string(), df));
            });
            for (w, df) in &found {
                proptest::prop_assert_eq!(words.get(w), Some(df));
            }
            let mut exact: Vec<&str> = found
                .iter()
                .map(|(w, _)| w.as_str())
                .filter(|w| bounded_distance(&target, w, dist).is_some())
                .collect();
            exact.sort_unstable();
            proptest::prop_assert_eq!(exact, scan);
        }
    }
}
