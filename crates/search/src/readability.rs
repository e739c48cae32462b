//! Reading level: the Flesch-Kincaid grade of a record's title and abstract, computed at index time
//! so that plain-language material can be shown and filtered.

/// The Flesch-Kincaid grade level of the text, or `None` when there are too few words to judge
/// (fewer than 20).
pub fn flesch_kincaid_grade(title: &str, body: &str) -> Option<f64> {
    let mut words = 0usize;
    let mut syllables = 0usize;
    let mut sentences = 0usize;
    for text in [title, body] {
        let mut in_sentence = false;
        for raw in words_of(text) {
            // The word is the alphabetic characters of `raw`; counted without building it.
            if let Some(n) = syllables_of(raw) {
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
    Some(0.39 * words as f64 / sentences as f64 + 11.8 * syllables as f64 / words as f64 - 15.59)
}

/// The words of `text`, split exactly as `str::split_whitespace` splits them, without its Unicode
/// look-up per character: split on ASCII whitespace (a subset of Unicode's), then split again
/// only the rare pieces that could hold other whitespace (non-ASCII, or a vertical tab).
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split_ascii_whitespace().flat_map(|piece| {
        let plain = piece.is_ascii() && !piece.contains('\x0B');
        let (one, rest) = if plain {
            (Some(piece), None)
        } else {
            (None, Some(piece.split_whitespace()))
        };
        one.into_iter().chain(rest.into_iter().flatten())
    })
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
    let mut count = 0;
    let mut prev_vowel = false;
    let (mut last, mut before_last) = (0u8, 0u8);
    for &b in raw {
        if !b.is_ascii_alphabetic() {
            continue;
        }
        let c = b.to_ascii_lowercase();
        let vowel = matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
        if vowel && !prev_vowel {
            count += 1;
        }
        prev_vowel = vowel;
        before_last = last;
        last = c;
    }
    if last == 0 {
        return None;
    }
    if last == b'e' && before_last != b'l' && count > 1 {
        count -= 1;
    }
    Some(count.max(1))
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

    proptest::proptest! {
        #[test]
        fn words_split_as_split_whitespace_does(text in "([a-z\\.]{0,6}|[ \t\n\r\x0B\x0C]|\u{a0}|\u{2009}|\u{3000}|\u{85}|é){0,12}") {
            let ours: Vec<&str> = words_of(&text).collect();
            let std: Vec<&str> = text.split_whitespace().collect();
            proptest::prop_assert_eq!(ours, std);
        }

        #[test]
        fn counting_agrees_with_the_reference(raw in "[a-zA-Z0-9éÉİß'.-]{0,16}|[ -~]{0,16}") {
            proptest::prop_assert_eq!(syllables_of(&raw), reference_syllables(&raw));
        }
    }
}
