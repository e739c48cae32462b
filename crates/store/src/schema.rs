//! The schema and its migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied. A migration is appended to
//! [`MIGRATIONS`], never edited once released: a database written by an older build is brought up
//! to date by running the ones it lacks, each in its own transaction together with the version bump.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// Every migration, oldest first. The schema version is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: records, sequence counter, sources (checkpoints), harvests, jobs, meta, query log.
    r#"
    CREATE TABLE records (
        id TEXT PRIMARY KEY NOT NULL,
        source TEXT NOT NULL,
        json TEXT,
        content_hash TEXT,
        evidence_level TEXT,
        deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
        seq INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        CHECK (deleted = 1 OR json IS NOT NULL)
    );
    CREATE UNIQUE INDEX records_by_seq ON records (seq);
    CREATE INDEX records_by_source ON records (deleted, source);
    CREATE INDEX records_by_level ON records (deleted, evidence_level);

    CREATE TABLE counters (
        name TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('seq', 0);

    CREATE TABLE sources (
        name TEXT PRIMARY KEY NOT NULL,
        checkpoint TEXT,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE harvests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        added INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );
    CREATE INDEX harvests_by_source ON harvests (source, id);

    CREATE TABLE jobs (
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        params TEXT NOT NULL,
        progress TEXT NOT NULL,
        counts TEXT NOT NULL,
        errors TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    CREATE INDEX jobs_by_state ON jobs (state);
    CREATE INDEX jobs_by_created ON jobs (created_at);

    CREATE TABLE meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE query_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        q TEXT NOT NULL,
        filters TEXT NOT NULL,
        total_hits INTEGER NOT NULL,
        took_ms INTEGER NOT NULL
    );
    CREATE INDEX query_log_by_at ON query_log (at);

    CREATE TABLE clicks (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        q TEXT NOT NULL,
        record_id TEXT NOT NULL
    );
    CREATE INDEX clicks_by_at ON clicks (at);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`SCHEMA_VERSION`]. Safe against another process migrating at the same
/// time: the version is read again under the write lock.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// Reads the schema version of an open database.
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn migrates_from_empty_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let seq: i64 = conn
            .query_row("SELECT value FROM counters WHERE name = 'seq'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(seq, 0);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    }

    #[test]
    fn live_row_needs_json() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let bad = conn.execute(
            "INSERT INTO records (id, source, deleted, seq, updated_at) VALUES ('a:1', 'a', 0, 1, 'x')",
            [],
        );
        assert!(bad.is_err());
    }
}
