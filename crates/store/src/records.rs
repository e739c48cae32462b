//! Records: upserts by content hash, tombstones, the change sequence, and streaming reads.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use model::{EvidenceLevel, Record};
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::{sources, timestamp, to_i64, to_u64, Store};

/// Records per transaction in [`Store::upsert_records`].
const IMPORT_BATCH: usize = 1000;

/// What applying a page (or a batch of records) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStats {
    /// Records stored for the first time, or brought back after a deletion.
    pub added: u64,
    /// Live records whose content changed.
    pub updated: u64,
    /// Records whose content hash matched the stored one: nothing was written.
    pub unchanged: u64,
    /// Ids newly tombstoned, including ids never seen before. Ids already tombstoned are not counted.
    pub deleted: u64,
}

impl PageStats {
    /// Records and deletions that took a new change sequence number: `added + updated + deleted`.
    pub fn changed(&self) -> u64 {
        self.added + self.updated + self.deleted
    }
}

impl AddAssign for PageStats {
    fn add_assign(&mut self, o: PageStats) {
        self.added += o.added;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
    }
}

/// One entry of the change feed read by [`Store::changes_since`].
// Most changes are upserts, so boxing the record would only add an allocation to each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A record added, changed or brought back: index it, replacing any older version.
    Upsert {
        /// Its change sequence number.
        seq: i64,
        /// The record as stored now.
        record: Record,
    },
    /// A record deleted at the source: remove it from the index (it may never have been there).
    Delete {
        /// Its change sequence number.
        seq: i64,
        /// The deleted record's id.
        id: String,
    },
}

impl Change {
    /// The change sequence number.
    pub fn seq(&self) -> i64 {
        match self {
            Change::Upsert { seq, .. } | Change::Delete { seq, .. } => *seq,
        }
    }

    /// The id of the record concerned.
    pub fn id(&self) -> &str {
        match self {
            Change::Upsert { record, .. } => &record.id,
            Change::Delete { id, .. } => id,
        }
    }
}

impl Store {
    /// Stores one harvest page in one transaction: upserts `records`, tombstones the `deleted` ids,
    /// and sets `source`'s checkpoint (`Value::Null` stores "no checkpoint"). Either all of it is
    /// stored or, on any error, none of it.
    ///
    /// Records are written before deletions, so an id both listed and deleted ends up deleted.
    /// Each record's content hash is computed afresh (a stale `content_hash` field cannot hide a real
    /// change); a record whose hash matches the stored one is not rewritten and keeps its `seq`.
    /// A record with an empty `source` is stored under `source`. A record with an empty id fails the
    /// whole page with [`StoreError::InvalidRecord`].
    pub fn apply_page(
        &self,
        source: &str,
        records: &[Record],
        deleted: &[String],
        checkpoint: &serde_json::Value,
    ) -> Result<PageStats> {
        let checkpoint = sources::encode_checkpoint(source, checkpoint)?;
        let now = timestamp::now();
        self.write(|tx| {
            let stats = write_page(tx, Some(source), records, deleted, &now)?;
            sources::put_checkpoint(tx, source, checkpoint.as_deref(), &now)?;
            Ok(stats)
        })
    }

    /// Upserts records outside a harvest (for `indexer import`), in transactions of 1000 records.
    /// On error the batches before the failing one stay stored; running the import again is safe,
    /// since unchanged records are skipped.
    pub fn upsert_records(&self, records: &[Record]) -> Result<PageStats> {
        let mut total = PageStats::default();
        for chunk in records.chunks(IMPORT_BATCH) {
            let now = timestamp::now();
            total += self.write(|tx| write_page(tx, None, chunk, &[], &now))?;
        }
        Ok(total)
    }

    /// Tombstones records by id outside a harvest (the `DeleteCitation`s of a PubMed update file),
    /// without touching any checkpoint. Returns the counts.
    pub fn apply_deletions(&self, ids: &[String]) -> Result<PageStats> {
        let mut total = PageStats::default();
        for chunk in ids.chunks(IMPORT_BATCH) {
            let now = timestamp::now();
            total += self.write(|tx| write_page(tx, None, &[], chunk, &now))?;
        }
        Ok(total)
    }

    /// Tombstones every live record of `source` (for a source taken out of service), in one
    /// transaction. Returns how many were deleted.
    pub fn tombstone_source(&self, source: &str) -> Result<u64> {
        let now = timestamp::now();
        self.write(|tx| {
            let ids: Vec<String> = tx
                .prepare_cached("SELECT id FROM records WHERE deleted = 0 AND source = ?1")?
                .query_map([source], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(write_page(tx, Some(source), &[], &ids, &now)?.deleted)
        })
    }

    /// The live record with this id; `None` if it was never stored or is deleted.
    pub fn get(&self, id: &str) -> Result<Option<Record>> {
        let json: Option<Option<String>> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT json FROM records WHERE id = ?1 AND deleted = 0")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })?;
        json.map(|j| decode(id, j)).transpose()
    }

    /// Whether `id` is a tombstone: `Some(true)` deleted, `Some(false)` live, `None` never seen.
    pub fn is_deleted(&self, id: &str) -> Result<Option<bool>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT deleted FROM records WHERE id = ?1")?
                    .query_row([id], |r| r.get::<_, i64>(0))
                    .optional()?
                    .map(|d| d != 0),
            )
        })
    }

    /// The number of live records.
    pub fn count_live(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM records WHERE deleted = 0")?
                .query_row([], |r| r.get(0))?;
            Ok(to_u64(n))
        })
    }

    /// Live records per source.
    pub fn count_by_source(&self) -> Result<BTreeMap<String, u64>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT source, COUNT(*) FROM records WHERE deleted = 0 GROUP BY source",
            )?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (source, n) = row?;
                out.insert(source, to_u64(n));
            }
            Ok(out)
        })
    }

    /// Live records per evidence level (unclassified records count as `other`), strongest first.
    pub fn count_by_evidence_level(&self) -> Result<BTreeMap<EvidenceLevel, u64>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT evidence_level, COUNT(*) FROM records WHERE deleted = 0
                 GROUP BY evidence_level",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (name, n) = row?;
                let level = match name {
                    None => EvidenceLevel::Other,
                    Some(name) => name.parse().map_err(|e| StoreError::Corrupt {
                        what: "evidence level column".into(),
                        message: format!("{e}"),
                    })?,
                };
                *out.entry(level).or_insert(0) += to_u64(n);
            }
            Ok(out)
        })
    }

    /// The latest change sequence number; 0 for an empty store. Read it before a full index build
    /// and give it to [`Store::changes_since`] afterwards to catch up with writes made meanwhile.
    pub fn max_seq(&self) -> Result<i64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM counters WHERE name = 'seq'")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    /// Streams every live record in batches of at most `batch`, in storage order, never holding more
    /// than one batch in memory. No lock is held while `f` runs, so `f` may call the store.
    ///
    /// The stream is not a snapshot: a record changed or deleted during it may be seen in either
    /// state, and one added during it may or may not be seen. Every record live and unchanged
    /// throughout is seen exactly once. So a full build reads [`Store::max_seq`] first, streams, then
    /// applies [`Store::changes_since`] that value, which ends in the right state.
    ///
    /// Stops at the first error from `f`, or at the first corrupt row
    /// ([`StoreError::CorruptRecord`]). Returns the number of records passed to `f`.
    pub fn for_each_live<E: From<StoreError>>(
        &self,
        batch: usize,
        mut f: impl FnMut(Vec<Record>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let batch = batch.max(1);
        let limit = to_i64(batch as u64);
        let mut after = i64::MIN;
        let mut total = 0u64;
        loop {
            let rows: Vec<(i64, String, Option<String>)> = self.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT rowid, id, json FROM records
                     WHERE deleted = 0 AND rowid > ?1 ORDER BY rowid LIMIT ?2",
                )?;
                let rows =
                    st.query_map((after, limit), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            let full = rows.len() == batch;
            let records = rows
                .into_iter()
                .map(|(_, id, json)| decode(&id, json))
                .collect::<Result<Vec<_>>>()?;
            total += records.len() as u64;
            after = last;
            f(records)?;
            if !full {
                break;
            }
        }
        Ok(total)
    }

    /// Streams every change with a sequence number above `seq`, in sequence order and in batches of
    /// at most `batch`: live records as [`Change::Upsert`], tombstones as [`Change::Delete`]. A record
    /// appears once, at its latest change. No lock is held while `f` runs.
    ///
    /// Returns the highest sequence number passed to `f` (or `seq` when there was nothing new): store
    /// it (e.g. with [`Store::set_meta`]) as the point the index has reached.
    pub fn changes_since<E: From<StoreError>>(
        &self,
        seq: i64,
        batch: usize,
        mut f: impl FnMut(Vec<Change>) -> Result<(), E>,
    ) -> Result<i64, E> {
        let batch = batch.max(1);
        let limit = to_i64(batch as u64);
        let mut after = seq;
        loop {
            let rows: Vec<(i64, String, bool, Option<String>)> = self.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT seq, id, deleted, json FROM records
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = st.query_map((after, limit), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0, r.get(3)?))
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })?;
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            let full = rows.len() == batch;
            let changes = rows
                .into_iter()
                .map(|(seq, id, deleted, json)| {
                    if deleted {
                        Ok(Change::Delete { seq, id })
                    } else {
                        decode(&id, json).map(|record| Change::Upsert { seq, record })
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            after = last;
            f(changes)?;
            if !full {
                break;
            }
        }
        Ok(after)
    }
}

/// Reads a stored record's JSON.
fn decode(id: &str, json: Option<String>) -> Result<Record> {
    let json = json.ok_or_else(|| StoreError::CorruptRecord {
        id: id.to_string(),
        message: "live record without json".into(),
    })?;
    serde_json::from_str(&json).map_err(|e| StoreError::CorruptRecord {
        id: id.to_string(),
        message: e.to_string(),
    })
}

/// The sequence counter, read once per transaction and written back at its end.
struct SeqCounter {
    start: i64,
    next: i64,
}

impl SeqCounter {
    fn read(tx: &Connection) -> Result<SeqCounter> {
        let v: i64 = tx
            .prepare_cached("SELECT value FROM counters WHERE name = 'seq'")?
            .query_row([], |r| r.get(0))?;
        Ok(SeqCounter { start: v, next: v })
    }

    fn bump(&mut self) -> i64 {
        self.next += 1;
        self.next
    }

    fn write(self, tx: &Connection) -> Result<()> {
        if self.next != self.start {
            tx.prepare_cached("UPDATE counters SET value = ?1 WHERE name = 'seq'")?
                .execute([self.next])?;
        }
        Ok(())
    }
}

/// Upserts `records` and tombstones `deleted` inside `tx`. `page_source` names the source for
/// records without one and for tombstones of ids never seen; without it, the id's prefix is used.
pub(crate) fn write_page(
    tx: &Transaction<'_>,
    page_source: Option<&str>,
    records: &[Record],
    deleted: &[String],
    now: &str,
) -> Result<PageStats> {
    let mut seq = SeqCounter::read(tx)?;
    let mut stats = PageStats::default();
    for r in records {
        upsert_one(tx, &mut seq, page_source, r, now, &mut stats)?;
    }
    for id in deleted {
        tombstone_one(tx, &mut seq, page_source, id, now, &mut stats)?;
    }
    seq.write(tx)?;
    Ok(stats)
}

fn source_for<'a>(own: &'a str, page_source: Option<&'a str>, id: &'a str) -> &'a str {
    if !own.is_empty() {
        own
    } else if let Some(s) = page_source {
        s
    } else {
        id.split_once(':').map_or("", |(s, _)| s)
    }
}

fn upsert_one(
    tx: &Transaction<'_>,
    seq: &mut SeqCounter,
    page_source: Option<&str>,
    r: &Record,
    now: &str,
    stats: &mut PageStats,
) -> Result<()> {
    if r.id.trim().is_empty() {
        return Err(StoreError::InvalidRecord {
            id: r.id.clone(),
            message: "empty id".into(),
        });
    }
    let source = source_for(&r.source, page_source, &r.id);
    let mut stored = r.clone();
    stored.source = source.to_string();
    let hash = stored.compute_hash();
    let existing: Option<(Option<String>, bool)> = tx
        .prepare_cached("SELECT content_hash, deleted FROM records WHERE id = ?1")?
        .query_row([&r.id], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? != 0)))
        .optional()?;
    match existing {
        Some((Some(h), false)) if h == hash => {
            stats.unchanged += 1;
            return Ok(());
        }
        Some((_, false)) => stats.updated += 1,
        Some((_, true)) | None => stats.added += 1,
    }
    stored.content_hash = Some(hash);
    if stored.updated.is_none() {
        stored.updated = Some(now.to_string());
    }
    let json = serde_json::to_string(&stored).map_err(|e| StoreError::Serialise {
        what: format!("record {}", r.id),
        source: e,
    })?;
    tx.prepare_cached(
        "INSERT INTO records (id, source, json, content_hash, evidence_level, deleted, seq, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET
             source = excluded.source, json = excluded.json,
             content_hash = excluded.content_hash, evidence_level = excluded.evidence_level,
             deleted = 0, seq = excluded.seq, updated_at = excluded.updated_at",
    )?
    .execute((
        &stored.id,
        &stored.source,
        &json,
        &stored.content_hash,
        stored.level().as_str(),
        seq.bump(),
        now,
    ))?;
    Ok(())
}

fn tombstone_one(
    tx: &Transaction<'_>,
    seq: &mut SeqCounter,
    page_source: Option<&str>,
    id: &str,
    now: &str,
    stats: &mut PageStats,
) -> Result<()> {
    if id.trim().is_empty() {
        return Err(StoreError::InvalidRecord {
            id: id.to_string(),
            message: "empty id in deletions".into(),
        });
    }
    let existing: Option<bool> = tx
        .prepare_cached("SELECT deleted FROM records WHERE id = ?1")?
        .query_row([id], |row| row.get::<_, i64>(0))
        .optional()?
        .map(|d| d != 0);
    match existing {
        Some(true) => return Ok(()),
        Some(false) => {
            tx.prepare_cached(
                "UPDATE records SET deleted = 1, json = NULL, content_hash = NULL,
                     evidence_level = NULL, seq = ?2, updated_at = ?3
                 WHERE id = ?1",
            )?
            .execute((id, seq.bump(), now))?;
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO records (id, source, deleted, seq, updated_at)
                 VALUES (?1, ?2, 1, ?3, ?4)",
            )?
            .execute((id, source_for("", page_source, id), seq.bump(), now))?;
        }
    }
    stats.deleted += 1;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(n: u32, title: &str) -> Record {
        Record::new("t", &n.to_string(), title)
    }

    #[test]
    fn injected_failure_after_page_stores_nothing() {
        let s = Store::open_in_memory().unwrap();
        s.apply_page("t", &[rec(1, "one")], &[], &json!({"page": 1}))
            .unwrap();
        let seq = s.max_seq().unwrap();
        let err = s
            .write(|tx| {
                write_page(tx, Some("t"), &[rec(2, "two"), rec(1, "uno")], &[], "now")?;
                sources::put_checkpoint(tx, "t", Some(r#"{"page":2}"#), "now")?;
                // The process "dies" after every statement of the page but before the commit.
                Err::<(), _>(StoreError::InvalidTimestamp("injected".into()))
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidTimestamp(_)));
        assert_eq!(s.get("t:2").unwrap(), None);
        assert_eq!(s.get("t:1").unwrap().unwrap().title, "one");
        assert_eq!(s.checkpoint("t").unwrap(), Some(json!({"page": 1})));
        assert_eq!(s.max_seq().unwrap(), seq);
    }

    #[test]
    fn corrupt_json_is_reported_not_panicked() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_records(&[rec(1, "one"), rec(2, "two")]).unwrap();
        s.write(|tx| {
            tx.execute("UPDATE records SET json = '{not json' WHERE id = 't:2'", [])?;
            Ok(())
        })
        .unwrap();
        let err = s.get("t:2").unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptRecord { id, .. } if id == "t:2"),
            "{err}"
        );
        let err = s
            .for_each_live(10, |_| Ok::<(), StoreError>(()))
            .unwrap_err();
        assert!(matches!(err, StoreError::CorruptRecord { .. }), "{err}");
        let err = s
            .changes_since(0, 10, |_| Ok::<(), StoreError>(()))
            .unwrap_err();
        assert!(matches!(err, StoreError::CorruptRecord { .. }), "{err}");
    }

    #[test]
    fn source_falls_back_to_page_then_id_prefix() {
        assert_eq!(source_for("own", Some("page"), "x:1"), "own");
        assert_eq!(source_for("", Some("page"), "x:1"), "page");
        assert_eq!(source_for("", None, "x:1"), "x");
        assert_eq!(source_for("", None, "bare"), "");
    }

    #[test]
    fn stale_content_hash_does_not_hide_a_change() {
        let s = Store::open_in_memory().unwrap();
        let mut r = rec(1, "one");
        r.content_hash = Some(r.compute_hash());
        s.upsert_records(std::slice::from_ref(&r)).unwrap();
        r.title = "one, corrected".into(); // hash field left stale
        let stats = s.upsert_records(&[r]).unwrap();
        assert_eq!(stats.updated, 1);
        assert_eq!(s.get("t:1").unwrap().unwrap().title, "one, corrected");
    }

    #[test]
    fn page_stats_add_up() {
        let mut a = PageStats {
            added: 1,
            updated: 2,
            unchanged: 3,
            deleted: 4,
        };
        a += a;
        assert_eq!(a.changed(), 14);
        assert_eq!(a.unchanged, 6);
    }
}
