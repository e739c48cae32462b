//! Reading level: the Flesch-Kincaid grade of a record's title and abstract, computed at index time
//! so that plain-language material can be shown and filtered.

/// A grade as the index stores it: in tenths, clamped to 0..=30 grades, and at least 1, because
/// the index stores 0 for "no grade"; the easiest texts (grade 0 or below, which short sentences
/// of short words reach) are kept as 0.1 rather than lost from reading-level filters. Remote
/// results are graded and filtered by the same rule.
pub fn grade_tenths(grade: f64) -> u64 {
    ((grade.clamp(0.0, 30.0) * 10.0).round() as u64).max(1)
}

/// The Flesch-Kincaid grade level of the text, or `None` when there are too few words to judge
/// (fewer than 20).
///
/// Words are split as `str::split_whitespace` splits them; a word counts when it holds an
/// alphabetic character, and a sentence ends at a counted word's trailing `.`, `!`, `?` or `:`
/// (and at the end of each text). It runs over every record at indexing time, so ASCII words
/// (nearly all) are counted in the one pass over the bytes that finds them; a test holds it to
/// the straightforward version.
pub fn flesch_kincaid_grade(title: &str, body: &str) -> Option<f64> {
    let mut counts = Counts::default();
    for text in [title, body] {
        counts.text(text);
    }
    let Counts {
        words,
        syllables,
        sentences,
        ..
    } = counts;
    if words < 20 || sentences == 0 {
        return None;
    }
    Some(0.39 * words as f64 / sentences as f64 + 11.8 * syllables as f64 / words as f64 - 15.59)
}

/// Running totals of [`flesch_kincaid_grade`].
#[derive(Default)]
struct Counts {
    words: usize,
    syllables: usize,
    sentences: usize,
    /// Whether a counted word has come since the last sentence end.
    in_sentence: bool,
}

impl Counts {
    /// Counts the words of one text, which ends a sentence if one is open.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        // The run being read: where it starts, its syllables so far (used only when the run is
        // all ASCII), and whether it is.
        let mut start = 0;
        let mut word = AsciiWord::default();
        let mut ascii = true;
        for (i, &b) in bytes.iter().enumerate() {
            // ASCII whitespace as `char::is_whitespace` has it (vertical tab included, unlike
            // `split_ascii_whitespace`); other whitespace is non-ASCII and handled below.
            if matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
                if i > start {
                    self.piece(&text[start..i], ascii, &word);
                }
                start = i + 1;
                word = AsciiWord::default();
                ascii = true;
            } else if b.is_ascii() {
                word.byte(b);
            } else {
                ascii = false;
            }
        }
        if start < bytes.len() {
            self.piece(&text[start..], ascii, &word);
        }
        if self.in_sentence {
            self.sentences += 1;
            self.in_sentence = false;
        }
    }

    /// A run of text between ASCII whitespace, with `word` its count when the run is all ASCII;
    /// a run with other characters may hold Unicode whitespace, and is split and counted by
    /// `char`.
    fn piece(&mut self, piece: &str, ascii: bool, word: &AsciiWord) {
        if ascii {
            self.word(piece, word.syllables());
        } else {
            for raw in piece.split_whitespace() {
                self.word(raw, syllables_of(raw));
            }
        }
    }

    fn word(&mut self, raw: &str, syllables: Option<usize>) {
        if let Some(n) = syllables {
            self.words += 1;
            self.syllables += n;
            self.in_sentence = true;
        }
        if raw.ends_with(['.', '!', '?', ':']) && self.in_sentence {
            self.sentences += 1;
            self.in_sentence = false;
        }
    }
}

/// The syllable count of an ASCII word as its bytes come (see [`syllables_of`]).
#[derive(Default)]
struct AsciiWord {
    count: usize,
    prev_vowel: bool,
    /// The last two letters, lower-cased; 0 before any.
    last: u8,
    before_last: u8,
}

impl AsciiWord {
    #[inline]
    fn byte(&mut self, b: u8) {
        if !b.is_ascii_alphabetic() {
            return;
        }
        let c = b.to_ascii_lowercase();
        let vowel = matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
        if vowel && !self.prev_vowel {
            self.count += 1;
        }
        self.prev_vowel = vowel;
        self.before_last = self.last;
        self.last = c;
    }

    /// The count, `None` when the word had no letter.
    fn syllables(&self) -> Option<usize> {
        if self.last == 0 {
            return None;
        }
        let mut count = self.count;
        if self.last == b'e' && self.before_last != b'l' && count > 1 {
            count -= 1;
        }
        Some(count.max(1))
    }
}

/// Counts vowel groups of the alphabetic characters of `raw`, lower-cased, with the usual
/// silent-e correction; at least one per word. `None` when `raw` has no alphabetic character.
/// Allocates nothing: it runs over every word of every record at indexing time.
fn syllables_of(raw: &str) -> Option<usize> {
    if raw.is_ascii() {
        // Nearly every word: bytes, no Unicode case tables (the char path below made this
        // function a tenth of a full build).
        return syllables_of_ascii(raw.as_bytes());
    }
    let mut count = 0;
    let mut prev_vowel = false;
    let (mut last, mut before_last) = (None, None);
    for c in raw
        .chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
    {
        let vowel = matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
        if vowel && !prev_vowel {
            count += 1;
        }
        prev_vowel = vowel;
        before_last = last;
        last = Some(c);
    }
    last?;
    if last == Some('e') && before_last != Some('l') && count > 1 {
        count -= 1;
    }
    Some(count.max(1))
}

/// [`syllables_of`] for ASCII text.
fn syllables_of_ascii(raw: &[u8]) -> Option<usize> {
    let mut word = AsciiWord::default();
    for &b in raw {
        word.byte(b);
    }
    word.syllables()
}

/// Counts the syllables of one word (see [`syllables_of`]).
#[cfg(test)]
fn count_syllables(word: &str) -> usize {
    syllables_of(word).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_reads_easier_than_technical() {
        let plain = flesch_kincaid_grade(
            "Asthma and your inhaler",
            "Asthma makes it hard to breathe. Your inhaler helps. Use it every day. Ask your nurse to check how you use it. Keep it with you.",
        )
        .unwrap();
        let technical = flesch_kincaid_grade(
            "Pharmacokinetic heterogeneity of inhaled corticosteroids",
            "Interindividual pharmacokinetic variability substantially complicates glucocorticoid dose optimisation in moderate-to-severe eosinophilic asthma characterised by persistent airflow limitation.",
        )
        .unwrap();
        assert!(plain < 6.0, "{plain}");
        assert!(technical > 14.0, "{technical}");
        assert_eq!(flesch_kincaid_grade("short", "too short"), None);
        assert_eq!(count_syllables("table"), 2);
        assert_eq!(count_syllables("care"), 1);
    }

    /// The first, allocating version, kept as the reference the counting must agree with.
    fn reference_syllables(raw: &str) -> Option<usize> {
        let w: String = raw.chars().filter(|c| c.is_alphabetic()).collect();
        if w.is_empty() {
            return None;
        }
        let w = w.to_lowercase();
        let mut count = 0;
        let mut prev_vowel = false;
        for c in w.chars() {
            let vowel = matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
            if vowel && !prev_vowel {
                count += 1;
            }
            prev_vowel = vowel;
        }
        if w.ends_with('e') && !w.ends_with("le") && count > 1 {
            count -= 1;
        }
        Some(count.max(1))
    }

    /// The straightforward grade: `split_whitespace` words, [`reference_syllables`].
    fn reference_grade(title: &str, body: &str) -> Option<f64> {
        let (mut words, mut syllables, mut sentences) = (0usize, 0usize, 0usize);
        for text in [title, body] {
            let mut in_sentence = false;
            for raw in text.split_whitespace() {
                if let Some(n) = reference_syllables(raw) {
                    words += 1;
                    syllables += n;
                    in_sentence = true;
                }
                if raw.ends_with(['.', '!', '?', ':']) && in_sentence {
                    sentences += 1;
                    in_sentence = false;
                }
            }
            if in_sentence {
                sentences += 1;
            }
        }
        if words < 20 || sentences == 0 {
            return None;
        }
        Some(
            0.39 * words as f64 / sentences as f64 + 11.8 * syllables as f64 / words as f64 - 15.59,
        )
    }

    /// What separates the words of the generated texts: mostly a space, sometimes other
    /// whitespace (ASCII, the vertical tab `split_ascii_whitespace` does not split on, Unicode)
    /// or nothing.
    const SEPARATOR: &str = "( | |  |\t|\n|\r\n|\x0B|\x0C|\u{a0}|\u{2009}|\u{3000}|\u{85}|)";

    proptest::proptest! {
        /// Texts of 15–40 words (so that most have a grade), with ASCII, vertical-tab and
        /// Unicode whitespace between words and inside them, punctuation, digits and accents.
        #[test]
        fn grade_agrees_with_the_reference(
            title in proptest::collection::vec(("[a-zA-Zé7.-]{0,8}", SEPARATOR), 0..6),
            body in proptest::collection::vec(("[a-zA-Z0-9éÉß,.:!?-]{0,10}", SEPARATOR), 15..40),
        ) {
            let join = |parts: &[(String, String)]| -> String {
                parts.iter().map(|(w, sep)| format!("{w}{sep}")).collect()
            };
            let (title, body) = (join(&title), join(&body));
            let grade = flesch_kincaid_grade(&title, &body);
            proptest::prop_assert_eq!(grade, reference_grade(&title, &body));
        }

        #[test]
        fn counting_agrees_with_the_reference(raw in "[a-zA-Z0-9éÉİß'.-]{0,16}|[ -~]{0,16}") {
            proptest::prop_assert_eq!(syllables_of(&raw), reference_syllables(&raw));
        }
    }
}
