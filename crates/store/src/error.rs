//! The one error type of the store.

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed: the file cannot be opened, the disk is full, the database is locked too long.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database directory could not be created.
    #[error("failed to create store directory: {0}")]
    Io(#[from] std::io::Error),
    /// A value could not be serialised to JSON for storage.
    #[error("failed to serialise {what}: {source}")]
    Serialise {
        /// What was being serialised, e.g. "record pubmed:1" or "checkpoint".
        what: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A stored record's JSON no longer parses as a `Record`.
    #[error("corrupt record {id:?}: {message}")]
    CorruptRecord {
        /// The record id.
        id: String,
        /// What is wrong with it.
        message: String,
    },
    /// Some other stored value (a checkpoint, a job, a timestamp) cannot be read back.
    #[error("corrupt {what}: {message}")]
    Corrupt {
        /// Which value, e.g. "checkpoint of pubmed" or "job 42".
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A record that cannot be stored, e.g. one with an empty id.
    #[error("invalid record {id:?}: {message}")]
    InvalidRecord {
        /// The record id as given (possibly empty).
        id: String,
        /// Why it cannot be stored.
        message: String,
    },
    /// A job or harvest that an update names does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// What kind of row: "job" or "harvest".
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A timestamp argument that is neither RFC 3339 nor `YYYY-MM-DD`.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// A job state name that is not one of the known states.
    #[error("unknown job state {0:?}")]
    UnknownJobState(String),
    /// The database was written by a newer version of this program, whose schema this one does not know.
    #[error("database schema version {found} is newer than the supported version {supported}")]
    SchemaTooNew {
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
