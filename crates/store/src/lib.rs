//! The durable record store on SQLite: every harvest writes into it and every index build reads
//! from it.
//!
//! - **Records** are keyed by id and stored as `Record` JSON with their content hash. Every insert,
//!   real change or deletion takes the next value of one change sequence `seq`; re-storing a record
//!   with the same content hash changes nothing. Deletions leave a tombstone, so an incremental index
//!   build that reads [`Store::changes_since`] learns about them.
//! - **Pages** of a harvest are applied with [`Store::apply_page`]: the records, the deletions and the
//!   source's checkpoint are written in one transaction, so a killed harvest resumes right after the
//!   last stored page and never skips or duplicates a record.
//! - **History**: harvest runs, admin jobs, index-build metadata and an anonymous query log.
//!
//! A [`Store`] is `Send + Sync` and every method takes `&self`: one writer connection behind a mutex,
//! and for a database file a small pool of reader connections, so that (in WAL mode) the HTTP server
//! reads job history and the query log while a harvest is writing. Every method blocks on SQLite:
//! async callers run them in `spawn_blocking`.
//!
//! ```
//! use model::Record;
//! use serde_json::json;
//!
//! let store = store::Store::open_in_memory()?;
//! let page = vec![Record::new("pubmed", "1", "Asthma in adults: a systematic review")];
//! let stats = store.apply_page("pubmed", &page, &[], &json!({"retstart": 1}))?;
//! assert_eq!(stats.added, 1);
//! assert_eq!(store.checkpoint("pubmed")?, Some(json!({"retstart": 1})));
//!
//! // The same page again changes nothing: same content hash, same change sequence.
//! let seq = store.max_seq()?;
//! assert_eq!(store.apply_page("pubmed", &page, &[], &json!({"retstart": 1}))?.unchanged, 1);
//! assert_eq!(store.max_seq()?, seq);
//!
//! let stored = store.get("pubmed:1")?.expect("stored");
//! assert!(stored.content_hash.is_some());
//! # Ok::<(), store::StoreError>(())
//! ```
#![warn(missing_docs)]

mod error;
mod jobs;
mod querylog;
mod records;
mod schema;
mod sources;
pub mod timestamp;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

pub use error::{Result, StoreError};
pub use jobs::{JobRecord, JobState, INTERRUPTED_MESSAGE};
pub use querylog::{normalise_query, MAX_QUERY_CHARS};
pub use records::{Change, PageStats};
pub use schema::SCHEMA_VERSION;
pub use sources::HarvestRecord;

/// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reader connections kept open between reads.
const MAX_IDLE_READERS: usize = 4;

/// The record store. See the crate documentation.
pub struct Store {
    /// The one connection that writes; every write is a `BEGIN IMMEDIATE` transaction on it.
    writer: Mutex<Connection>,
    /// Idle reader connections (file databases only).
    readers: Mutex<Vec<Connection>>,
    /// The database file, or `None` for an in-memory store, whose reads use the writer.
    path: Option<PathBuf>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating it and its directory if needed) the database file at `path`, and brings its
    /// schema up to date.
    ///
    /// The database is put in WAL mode with `synchronous = NORMAL`: a crashed process loses no
    /// committed transaction, and a power cut may lose the last few but never splits one, so a page
    /// and its checkpoint are always stored or lost together.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        // WAL lets readers run beside the writer. Some file systems cannot do it; SQLite then keeps
        // its rollback journal, which is slower but just as safe, so the answer is not checked.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: Some(path.to_path_buf()),
        })
    }

    /// A private, empty in-memory store, for tests. Reads and writes share one connection.
    pub fn open_in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path: None,
        })
    }

    /// The database file, `None` when in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open database (`PRAGMA user_version`), [`SCHEMA_VERSION`] once open.
    pub fn schema_version(&self) -> Result<i64> {
        self.read(schema::version)
    }

    /// Sets an index-build or other bookkeeping value, e.g. the `seq` the live index was built from.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute((key, value))?;
            Ok(())
        })
    }

    /// A value set by [`Store::set_meta`].
    pub fn get_meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()?)
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer, committing if it succeeds and
    /// rolling back if it fails. Immediate, so that values read inside (such as the sequence counter)
    /// cannot be changed by another process before the commit.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a reader connection: from the pool for a file, the writer when in memory. Each
    /// statement sees the latest committed state.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let Some(path) = &self.path else {
            return f(&lock(&self.writer));
        };
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => open_reader(path)?,
        };
        let out = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }
}

/// Settings every connection needs.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Locks a mutex, carrying on after a panic in another holder: SQLite rolled back whatever that
/// holder's transaction had begun when it was dropped, so the connection is still sound.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A count or limit for SQLite, saturating.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count from SQLite, negative values (which a count never has) read as zero.
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }

    #[test]
    fn meta_roundtrip_and_overwrite() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.get_meta("built_seq").unwrap(), None);
        s.set_meta("built_seq", "7").unwrap();
        s.set_meta("built_seq", "9").unwrap();
        assert_eq!(s.get_meta("built_seq").unwrap().as_deref(), Some("9"));
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn failed_write_rolls_back() {
        let s = Store::open_in_memory().unwrap();
        let err = s
            .write(|tx| {
                tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", [])?;
                Err::<(), _>(StoreError::InvalidTimestamp("injected".into()))
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidTimestamp(_)));
        assert_eq!(s.get_meta("k").unwrap(), None);
    }

    #[test]
    fn conversions_saturate() {
        assert_eq!(to_i64(u64::MAX), i64::MAX);
        assert_eq!(to_u64(-1), 0);
        assert_eq!(to_u64(5), 5);
    }
}
