//! Per-source checkpoints and the history of harvest runs.

use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::records::PageStats;
use crate::{timestamp, to_i64, to_u64, Store};

/// One harvest run of one source, for `GET /admin/sources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarvestRecord {
    /// Its id, from [`Store::start_harvest`].
    pub id: i64,
    /// The source harvested.
    pub source: String,
    /// When it started (RFC 3339 UTC).
    pub started_at: String,
    /// When it finished; `None` while running, or if the process died first.
    pub finished_at: Option<String>,
    /// What it stored, as last reported.
    pub stats: PageStats,
    /// Items the parsers rejected.
    pub rejected: u64,
    /// Why it failed; `None` if it succeeded or has not finished.
    pub error: Option<String>,
}

impl HarvestRecord {
    /// Whether it finished without an error.
    pub fn succeeded(&self) -> bool {
        self.finished_at.is_some() && self.error.is_none()
    }
}

impl Store {
    /// The checkpoint stored for `source` by its last stored page; `None` if it has none (never
    /// harvested, or reset).
    pub fn checkpoint(&self, source: &str) -> Result<Option<serde_json::Value>> {
        let text: Option<Option<String>> = self.read(|c| {
            Ok(
                c.prepare_cached("SELECT checkpoint FROM sources WHERE name = ?1")?
                    .query_row([source], |r| r.get(0))
                    .optional()?,
            )
        })?;
        match text.flatten() {
            None => Ok(None),
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    what: format!("checkpoint of {source}"),
                    message: e.to_string(),
                }),
        }
    }

    /// Sets `source`'s checkpoint on its own (`Value::Null` clears it). Harvests should use
    /// [`Store::apply_page`], which stores the checkpoint together with the page.
    pub fn set_checkpoint(&self, source: &str, checkpoint: &serde_json::Value) -> Result<()> {
        let text = encode_checkpoint(source, checkpoint)?;
        let now = timestamp::now();
        self.write(|tx| put_checkpoint(tx, source, text.as_deref(), &now))
    }

    /// Clears `source`'s checkpoint so the next harvest starts from the beginning (`harvest --full`).
    /// Its records stay; the full harvest then finds them unchanged or updates them.
    pub fn reset_source(&self, source: &str) -> Result<()> {
        self.set_checkpoint(source, &serde_json::Value::Null)
    }

    /// Records the start of a harvest of `source` and returns its id.
    pub fn start_harvest(&self, source: &str) -> Result<i64> {
        let now = timestamp::now();
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO harvests (source, started_at) VALUES (?1, ?2)")?
                .execute((source, &now))?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Updates a running harvest's counts (after each page, say), so that a harvest that dies
    /// still shows how far it got.
    pub fn update_harvest(&self, id: i64, stats: &PageStats, rejected: u64) -> Result<()> {
        self.write_harvest(id, stats, rejected, None, false)
    }

    /// Records the end of a harvest: its totals, rejected items, and the error that stopped it.
    pub fn finish_harvest(
        &self,
        id: i64,
        stats: &PageStats,
        rejected: u64,
        error: Option<&str>,
    ) -> Result<()> {
        self.write_harvest(id, stats, rejected, error, true)
    }

    fn write_harvest(
        &self,
        id: i64,
        stats: &PageStats,
        rejected: u64,
        error: Option<&str>,
        finish: bool,
    ) -> Result<()> {
        let now = timestamp::now();
        let finished_at = finish.then_some(now.as_str());
        let n = self.write(|tx| {
            Ok(tx
                .prepare_cached(
                    "UPDATE harvests SET added = ?2, updated = ?3, unchanged = ?4, deleted = ?5,
                         rejected = ?6, error = COALESCE(?7, error),
                         finished_at = COALESCE(?8, finished_at)
                     WHERE id = ?1",
                )?
                .execute((
                    id,
                    to_i64(stats.added),
                    to_i64(stats.updated),
                    to_i64(stats.unchanged),
                    to_i64(stats.deleted),
                    to_i64(rejected),
                    error,
                    finished_at,
                ))?)
        })?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "harvest",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// The latest harvest of `source`, finished or not.
    pub fn last_harvest(&self, source: &str) -> Result<Option<HarvestRecord>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {HARVEST_COLUMNS} FROM harvests WHERE source = ?1 ORDER BY id DESC LIMIT 1"
            ))?
            .query_row([source], harvest_from_row)
            .optional()?)
        })
    }

    /// The latest `limit` harvests of all sources, newest first.
    pub fn harvests(&self, limit: usize) -> Result<Vec<HarvestRecord>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {HARVEST_COLUMNS} FROM harvests ORDER BY id DESC LIMIT ?1"
            ))?;
            let rows = st.query_map([to_i64(limit as u64)], harvest_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

const HARVEST_COLUMNS: &str =
    "id, source, started_at, finished_at, added, updated, unchanged, deleted, rejected, error";

fn harvest_from_row(r: &Row<'_>) -> rusqlite::Result<HarvestRecord> {
    Ok(HarvestRecord {
        id: r.get(0)?,
        source: r.get(1)?,
        started_at: r.get(2)?,
        finished_at: r.get(3)?,
        stats: PageStats {
            added: to_u64(r.get(4)?),
            updated: to_u64(r.get(5)?),
            unchanged: to_u64(r.get(6)?),
            deleted: to_u64(r.get(7)?),
        },
        rejected: to_u64(r.get(8)?),
        error: r.get(9)?,
    })
}

/// The checkpoint as stored text; `None` for `Value::Null`.
pub(crate) fn encode_checkpoint(
    source: &str,
    checkpoint: &serde_json::Value,
) -> Result<Option<String>> {
    if checkpoint.is_null() {
        return Ok(None);
    }
    serde_json::to_string(checkpoint)
        .map(Some)
        .map_err(|e| StoreError::Serialise {
            what: format!("checkpoint of {source}"),
            source: e,
        })
}

/// Writes a checkpoint inside the caller's transaction.
pub(crate) fn put_checkpoint(
    tx: &Connection,
    source: &str,
    checkpoint: Option<&str>,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO sources (name, checkpoint, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint,
             updated_at = excluded.updated_at",
    )?
    .execute((source, checkpoint, now))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checkpoint_set_reset_and_null() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.checkpoint("pubmed").unwrap(), None);
        s.set_checkpoint("pubmed", &json!({"retstart": 200}))
            .unwrap();
        assert_eq!(
            s.checkpoint("pubmed").unwrap(),
            Some(json!({"retstart": 200}))
        );
        s.reset_source("pubmed").unwrap();
        assert_eq!(s.checkpoint("pubmed").unwrap(), None);
        // Resetting a source never seen is not an error.
        s.reset_source("never").unwrap();
    }

    #[test]
    fn harvest_lifecycle() {
        let s = Store::open_in_memory().unwrap();
        let a = s.start_harvest("pubmed").unwrap();
        let b = s.start_harvest("oai").unwrap();
        let running = s.last_harvest("pubmed").unwrap().unwrap();
        assert_eq!(running.finished_at, None);
        assert!(!running.succeeded());

        let stats = PageStats {
            added: 3,
            updated: 1,
            unchanged: 2,
            deleted: 1,
        };
        s.update_harvest(a, &stats, 0).unwrap();
        assert_eq!(s.last_harvest("pubmed").unwrap().unwrap().stats, stats);
        s.finish_harvest(a, &stats, 4, None).unwrap();
        s.finish_harvest(b, &PageStats::default(), 0, Some("http 503"))
            .unwrap();

        let done = s.last_harvest("pubmed").unwrap().unwrap();
        assert!(done.succeeded());
        assert_eq!(done.rejected, 4);
        let failed = s.last_harvest("oai").unwrap().unwrap();
        assert_eq!(failed.error.as_deref(), Some("http 503"));
        assert!(!failed.succeeded());

        let all = s.harvests(10).unwrap();
        assert_eq!(all.iter().map(|h| h.id).collect::<Vec<_>>(), vec![b, a]);
        assert_eq!(s.harvests(1).unwrap().len(), 1);
        assert!(matches!(
            s.finish_harvest(999, &stats, 0, None),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.last_harvest("nothing").unwrap(), None);
    }
}
