//! An anonymous query log: what people search for and what finds nothing.
//!
//! Architecture Invariant: no personal data is stored. There is no user, session, address or agent
//! column, and [`normalise_query`] masks what looks like an NHS number, a phone number or an email
//! address typed into the search box, so that a clinician's slip does not end up in the admin report.

use rusqlite::Connection;

use crate::error::Result;
use crate::{timestamp, to_i64, to_u64, Store};

/// Longest query kept, in characters; the rest is cut.
pub const MAX_QUERY_CHARS: usize = 200;

/// What a masked number or address is replaced with.
const MASK_NUMBER: &str = "[number]";
const MASK_EMAIL: &str = "[email]";

/// The form in which queries are logged and counted: trimmed, lower-cased, inner whitespace
/// collapsed, personal identifiers masked, and cut to [`MAX_QUERY_CHARS`].
///
/// Masked: a token of ten or more digits (NHS numbers, phone numbers), two or three short digit
/// groups adding up to ten or eleven digits (`943 476 5919`, `07700 900123`), and email addresses.
/// PMIDs (at most 8 digits), NCT numbers, years and DOIs are kept.
pub fn normalise_query(q: &str) -> String {
    let lower = q.to_lowercase();
    let tokens: Vec<&str> = lower.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        if is_email(t) {
            out.push(MASK_EMAIL);
            i += 1;
            continue;
        }
        if digits_only(t).is_some_and(|n| n >= 10) {
            out.push(MASK_NUMBER);
            i += 1;
            continue;
        }
        if let Some(k) = grouped_number_len(&tokens[i..]) {
            out.push(MASK_NUMBER);
            i += k;
            continue;
        }
        out.push(t);
        i += 1;
    }
    let joined = out.join(" ");
    match joined.char_indices().nth(MAX_QUERY_CHARS) {
        Some((cut, _)) => joined[..cut].trim_end().to_string(),
        None => joined,
    }
}

/// The number of digits in a token made only of digits and phone punctuation (`+-().`), if it is one.
fn digits_only(t: &str) -> Option<usize> {
    let mut digits = 0;
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if !matches!(c, '+' | '-' | '(' | ')' | '.') {
            return None;
        }
    }
    (digits > 0).then_some(digits)
}

/// If the tokens start with two or three groups of 3 to 6 digits totalling 10 or 11 digits, how
/// many tokens they are.
fn grouped_number_len(tokens: &[&str]) -> Option<usize> {
    for k in [3, 2] {
        let Some(group) = tokens.get(..k) else {
            continue;
        };
        let mut total = 0;
        let mut ok = true;
        for t in group {
            match digits_only(t) {
                Some(n) if (3..=6).contains(&n) => total += n,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && (10..=11).contains(&total) {
            return Some(k);
        }
    }
    None
}

fn is_email(t: &str) -> bool {
    match t.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }
        None => false,
    }
}

impl Store {
    /// Logs a search: the query (normalised), its filters, hit count and time taken.
    pub fn log_query(
        &self,
        q: &str,
        filters: &serde_json::Value,
        total_hits: u64,
        took_ms: u64,
    ) -> Result<()> {
        self.log_queries(&[(q, filters, total_hits, took_ms)])
    }

    /// Logs several searches in one transaction, as [`Store::log_query`] logs one: the server
    /// writes its query log in batches, and a transaction per search cost more than the insert.
    pub fn log_queries(&self, entries: &[(&str, &serde_json::Value, u64, u64)]) -> Result<()> {
        let at = timestamp::now();
        self.write(|tx| {
            for &(q, filters, total_hits, took_ms) in entries {
                insert_query(tx, &at, q, filters, total_hits, took_ms)?;
            }
            Ok(())
        })
    }

    /// Logs that a result of query `q` was opened.
    pub fn log_click(&self, q: &str, record_id: &str) -> Result<()> {
        let q = normalise_query(q);
        let now = timestamp::now();
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO clicks (at, q, record_id) VALUES (?1, ?2, ?3)")?
                .execute((&now, &q, record_id))?;
            Ok(())
        })
    }

    /// The most frequent non-empty queries since `since` (RFC 3339 or `YYYY-MM-DD`), most frequent
    /// first, ties alphabetical.
    pub fn top_queries(&self, since: &str, limit: usize) -> Result<Vec<(String, u64)>> {
        self.grouped(
            "SELECT q, COUNT(*) AS n FROM query_log WHERE at >= ?1 AND q <> ''
             GROUP BY q ORDER BY n DESC, q LIMIT ?2",
            since,
            limit,
        )
    }

    /// The most frequent non-empty queries since `since` that found nothing.
    pub fn zero_result_queries(&self, since: &str, limit: usize) -> Result<Vec<(String, u64)>> {
        self.grouped(
            "SELECT q, COUNT(*) AS n FROM query_log WHERE at >= ?1 AND q <> '' AND total_hits = 0
             GROUP BY q ORDER BY n DESC, q LIMIT ?2",
            since,
            limit,
        )
    }

    /// The most opened record ids since `since`.
    pub fn top_clicked(&self, since: &str, limit: usize) -> Result<Vec<(String, u64)>> {
        self.grouped(
            "SELECT record_id, COUNT(*) AS n FROM clicks WHERE at >= ?1
             GROUP BY record_id ORDER BY n DESC, record_id LIMIT ?2",
            since,
            limit,
        )
    }

    /// Deletes query-log and click entries older than `before`; returns how many. For a retention
    /// policy.
    pub fn prune_query_log(&self, before: &str) -> Result<u64> {
        let before = timestamp::normalise(before)?;
        self.write(|tx| {
            let a = tx.execute("DELETE FROM query_log WHERE at < ?1", [&before])?;
            let b = tx.execute("DELETE FROM clicks WHERE at < ?1", [&before])?;
            Ok((a + b) as u64)
        })
    }

    fn grouped(&self, sql: &str, since: &str, limit: usize) -> Result<Vec<(String, u64)>> {
        let since = timestamp::normalise(since)?;
        self.read(|c: &Connection| {
            let mut st = c.prepare_cached(sql)?;
            let rows = st.query_map((&since, to_i64(limit as u64)), |r| {
                Ok((r.get::<_, String>(0)?, to_u64(r.get(1)?)))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

fn insert_query(
    tx: &rusqlite::Transaction<'_>,
    at: &str,
    q: &str,
    filters: &serde_json::Value,
    total_hits: u64,
    took_ms: u64,
) -> Result<()> {
    let q = normalise_query(q);
    let filters = filters.to_string();
    tx.prepare_cached(
        "INSERT INTO query_log (at, q, filters, total_hits, took_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((at, &q, &filters, to_i64(total_hits), to_i64(took_ms)))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: &str, expect: &str) {
        assert_eq!(normalise_query(input), expect, "{input:?}");
    }

    #[test]
    fn normalises() {
        check("  Asthma  IN\tChildren ", "asthma in children");
        check("ANAEMIA", "anaemia");
        check("", "");
        check("   ", "");
    }

    #[test]
    fn keeps_identifiers_and_years() {
        check("PMID 12345678", "pmid 12345678");
        check("NCT01234567", "nct01234567");
        check("10.1002/14651858.CD001234", "10.1002/14651858.cd001234");
        check("sepsis 2019 2020 2021", "sepsis 2019 2020 2021");
        check("metformin 500 mg", "metformin 500 mg");
    }

    #[test]
    fn masks_personal_identifiers() {
        check("results for 9434765919", "results for [number]");
        check("943 476 5919 asthma", "[number] asthma");
        check("943-476-5919", "[number]");
        check("call 07700 900123", "call [number]");
        check("+44 7700 900123", "+44 [number]");
        check("jane.doe@nhs.net referral", "[email] referral");
        check("@mention", "@mention");
    }

    #[test]
    fn cuts_long_queries_on_a_char_boundary() {
        let long = "é".repeat(MAX_QUERY_CHARS + 50);
        assert_eq!(normalise_query(&long).chars().count(), MAX_QUERY_CHARS);
    }

    #[test]
    fn aggregation_respects_since() {
        let s = Store::open_in_memory().unwrap();
        let f = json!({});
        s.write(|tx| insert_query(tx, "2025-01-01T00:00:00.000Z", "old", &f, 0, 1))
            .unwrap();
        s.write(|tx| insert_query(tx, "2026-01-02T00:00:00.000Z", "new", &f, 0, 1))
            .unwrap();
        s.write(|tx| insert_query(tx, "2026-01-02T00:00:00.000Z", "New ", &f, 3, 1))
            .unwrap();
        assert_eq!(
            s.top_queries("2026-01-01", 10).unwrap(),
            vec![("new".to_string(), 2)]
        );
        assert_eq!(
            s.zero_result_queries("2024-01-01T00:00:00Z", 10).unwrap(),
            vec![("new".to_string(), 1), ("old".to_string(), 1)]
        );
        assert_eq!(s.prune_query_log("2026-01-01").unwrap(), 1);
        assert_eq!(s.top_queries("2000-01-01", 10).unwrap().len(), 1);
        assert!(s.top_queries("last week", 10).is_err());
    }
}
