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
        for raw in text.split_whitespace() {
            let w: String = raw.chars().filter(|c| c.is_alphabetic()).collect();
            if !w.is_empty() {
                words += 1;
                syllables += count_syllables(&w);
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

/// Counts vowel groups, with the usual silent-e correction; at least one per word.
fn count_syllables(word: &str) -> usize {
    let w = word.to_lowercase();
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
    count.max(1)
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
}
