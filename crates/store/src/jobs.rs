//! The history of admin jobs (harvest, build, import, eval), for the jobs API.

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::{timestamp, to_i64, Store};

/// The message appended to a job's errors by [`Store::mark_interrupted`].
pub const INTERRUPTED_MESSAGE: &str = "interrupted: the server stopped before the job finished";

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for the runner.
    Queued,
    /// Being worked on.
    Running,
    /// Finished without error.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped at an admin's request.
    Cancelled,
    /// Queued or running when the server stopped; found so at the next start.
    Interrupted,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
    ];

    /// The stable snake_case name used in the API and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    /// Whether the job is over (it will not change state again).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        JobState::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| StoreError::UnknownJobState(s.to_string()))
    }
}

/// One admin job as stored. The JSON fields are owned by the job runner; the store keeps them as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id, chosen by the runner.
    pub id: String,
    /// What it does, e.g. `harvest`, `build`, `import`, `eval`.
    pub kind: String,
    /// Its state.
    pub state: JobState,
    /// The parameters it was started with.
    pub params: Value,
    /// The latest progress report.
    pub progress: Value,
    /// Result counts (records added, documents indexed, ...).
    pub counts: Value,
    /// Errors met, oldest first.
    pub errors: Vec<Value>,
    /// When it was accepted (RFC 3339 UTC).
    pub created_at: String,
    /// When it started running.
    pub started_at: Option<String>,
    /// When it reached a terminal state.
    pub finished_at: Option<String>,
}

impl JobRecord {
    /// A queued job created now, with empty progress, counts and errors.
    pub fn new(id: impl Into<String>, kind: impl Into<String>, params: Value) -> JobRecord {
        JobRecord {
            id: id.into(),
            kind: kind.into(),
            state: JobState::Queued,
            params,
            progress: Value::Null,
            counts: Value::Null,
            errors: Vec::new(),
            created_at: timestamp::now(),
            started_at: None,
            finished_at: None,
        }
    }
}

impl Store {
    /// Stores a new job. Fails (with [`StoreError::Sqlite`]) if its id is taken.
    pub fn insert_job(&self, job: &JobRecord) -> Result<()> {
        let row = JobRow::encode(job)?;
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO jobs (id, kind, state, params, progress, counts, errors,
                     created_at, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute((
                &job.id,
                &job.kind,
                job.state.as_str(),
                &row.params,
                &row.progress,
                &row.counts,
                &row.errors,
                &job.created_at,
                &job.started_at,
                &job.finished_at,
            ))?;
            Ok(())
        })
    }

    /// Overwrites a stored job with `job` (matched by id). [`StoreError::NotFound`] if there is none.
    pub fn update_job(&self, job: &JobRecord) -> Result<()> {
        let row = JobRow::encode(job)?;
        let n = self.write(|tx| {
            Ok(tx
                .prepare_cached(
                    "UPDATE jobs SET kind = ?2, state = ?3, params = ?4, progress = ?5, counts = ?6,
                         errors = ?7, created_at = ?8, started_at = ?9, finished_at = ?10
                     WHERE id = ?1",
                )?
                .execute((
                    &job.id,
                    &job.kind,
                    job.state.as_str(),
                    &row.params,
                    &row.progress,
                    &row.counts,
                    &row.errors,
                    &job.created_at,
                    &job.started_at,
                    &job.finished_at,
                ))?)
        })?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "job",
                id: job.id.clone(),
            });
        }
        Ok(())
    }

    /// The job with this id.
    pub fn get_job(&self, id: &str) -> Result<Option<JobRecord>> {
        let row = self.read(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?
                    .query_row([id], JobRow::from_row)
                    .optional()?,
            )
        })?;
        row.map(JobRow::decode).transpose()
    }

    /// The latest `limit` jobs, newest first.
    pub fn list_jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let rows: Vec<JobRow> = self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1"
            ))?;
            let rows = st.query_map([to_i64(limit as u64)], JobRow::from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        rows.into_iter().map(JobRow::decode).collect()
    }

    /// Turns every queued or running job into `interrupted`, sets its `finished_at` and appends
    /// [`INTERRUPTED_MESSAGE`] to its errors; returns their ids, oldest first. The server calls it at
    /// start, before it runs any job, since no job survives a restart.
    pub fn mark_interrupted(&self) -> Result<Vec<String>> {
        let now = timestamp::now();
        self.write(|tx| {
            let open: Vec<(String, String)> = tx
                .prepare_cached(
                    "SELECT id, errors FROM jobs WHERE state IN ('queued', 'running')
                     ORDER BY created_at, rowid",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = tx.prepare_cached(
                "UPDATE jobs SET state = 'interrupted', errors = ?2,
                     finished_at = COALESCE(finished_at, ?3)
                 WHERE id = ?1",
            )?;
            let mut ids = Vec::with_capacity(open.len());
            for (id, errors) in open {
                // A corrupt error list must not stop the server from starting: start it afresh.
                let mut list: Vec<Value> = serde_json::from_str(&errors).unwrap_or_default();
                list.push(Value::String(INTERRUPTED_MESSAGE.into()));
                let errors = encode(&id, "errors", &list)?;
                st.execute((&id, &errors, &now))?;
                ids.push(id);
            }
            Ok(ids)
        })
    }
}

const JOB_COLUMNS: &str =
    "id, kind, state, params, progress, counts, errors, created_at, started_at, finished_at";

/// A job as its columns hold it, JSON still as text.
struct JobRow {
    id: String,
    kind: String,
    state: String,
    params: String,
    progress: String,
    counts: String,
    errors: String,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl JobRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
        Ok(JobRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            state: r.get(2)?,
            params: r.get(3)?,
            progress: r.get(4)?,
            counts: r.get(5)?,
            errors: r.get(6)?,
            created_at: r.get(7)?,
            started_at: r.get(8)?,
            finished_at: r.get(9)?,
        })
    }

    fn encode(job: &JobRecord) -> Result<JobRow> {
        Ok(JobRow {
            id: job.id.clone(),
            kind: job.kind.clone(),
            state: job.state.as_str().to_string(),
            params: encode(&job.id, "params", &job.params)?,
            progress: encode(&job.id, "progress", &job.progress)?,
            counts: encode(&job.id, "counts", &job.counts)?,
            errors: encode(&job.id, "errors", &job.errors)?,
            created_at: job.created_at.clone(),
            started_at: job.started_at.clone(),
            finished_at: job.finished_at.clone(),
        })
    }

    fn decode(self) -> Result<JobRecord> {
        let id = self.id;
        let corrupt = |field: &str, message: String| StoreError::Corrupt {
            what: format!("job {id} {field}"),
            message,
        };
        let state = self
            .state
            .parse()
            .map_err(|e: StoreError| corrupt("state", e.to_string()))?;
        let params =
            serde_json::from_str(&self.params).map_err(|e| corrupt("params", e.to_string()))?;
        let progress =
            serde_json::from_str(&self.progress).map_err(|e| corrupt("progress", e.to_string()))?;
        let counts =
            serde_json::from_str(&self.counts).map_err(|e| corrupt("counts", e.to_string()))?;
        let errors =
            serde_json::from_str(&self.errors).map_err(|e| corrupt("errors", e.to_string()))?;
        Ok(JobRecord {
            id,
            kind: self.kind,
            state,
            params,
            progress,
            counts,
            errors,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

fn encode<T: Serialize + ?Sized>(id: &str, field: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Serialise {
        what: format!("job {id} {field}"),
        source: e,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_names_roundtrip() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                Value::String(s.as_str().into())
            );
        }
        assert!("done".parse::<JobState>().is_err());
        assert!(!JobState::Running.is_terminal());
        assert!(JobState::Interrupted.is_terminal());
    }

    #[test]
    fn lifecycle_in_memory() {
        let s = Store::open_in_memory().unwrap();
        let mut job = JobRecord::new("j1", "harvest", json!({"sources": ["pubmed"]}));
        s.insert_job(&job).unwrap();
        assert!(s.insert_job(&job).is_err(), "duplicate id");
        job.state = JobState::Running;
        job.started_at = Some(timestamp::now());
        job.progress = json!({"pages": 3});
        job.errors
            .push(json!({"source": "pubmed", "message": "http 503"}));
        s.update_job(&job).unwrap();
        assert_eq!(s.get_job("j1").unwrap().unwrap(), job);
        assert_eq!(s.get_job("nope").unwrap(), None);
        let ghost = JobRecord::new("ghost", "build", Value::Null);
        assert!(matches!(
            s.update_job(&ghost),
            Err(StoreError::NotFound { what: "job", .. })
        ));
    }

    #[test]
    fn corrupt_job_is_reported() {
        let s = Store::open_in_memory().unwrap();
        s.insert_job(&JobRecord::new("j1", "build", Value::Null))
            .unwrap();
        s.write(|tx| {
            tx.execute("UPDATE jobs SET progress = '{oops' WHERE id = 'j1'", [])?;
            Ok(())
        })
        .unwrap();
        let err = s.get_job("j1").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        // Interrupting still works, and keeps the rest of the row.
        assert_eq!(s.mark_interrupted().unwrap(), vec!["j1".to_string()]);
    }
}
