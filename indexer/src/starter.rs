//! The starter corpus: invented demonstration records (source `sample`) that the server indexes on
//! an empty data directory, so a newcomer has something to search. They are not evidence, and every
//! answer that includes them says so.

use model::Record;

/// The corpus, embedded so the binary serves it from anywhere.
pub const STARTER_JSONL: &str = include_str!("../../fixtures/starter/records.jsonl");

/// The starter records, or the line that failed to parse.
pub fn records() -> Result<Vec<Record>, String> {
    STARTER_JSONL
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Record>(l)
                .map_err(|e| format!("starter corpus line {}: {e}", i + 1))
        })
        .collect()
}
