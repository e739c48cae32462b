//! Incremental index updates: apply the records changed or deleted in the store since the last
//! build to the live generation, keeping cross-source duplicates merged, and commit. Searches see
//! the commit when the reader reloads; they never see a half-applied batch.
//!
//! For each batch of changes, the documents touched are those whose members include a changed id
//! or whose dedup keys include a key of a changed record. Those documents are deleted, their member
//! records are read again from the store, regrouped with the same rule as a full build
//! ([`crate::store_build::DedupPlan`]), merged, and added back.

use std::collections::BTreeSet;

use model::{dedup, Record};
use search::SearchIndex;
use serde::Serialize;
use store::{Change, Store};

use crate::build::BuildError;
use crate::progress::Progress;
use crate::store_build::{DedupPlan, META_INDEXED_SEQ};

/// What an incremental update did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IncrementalReport {
    /// Changes read from the store.
    pub changes: u64,
    /// Documents written (new or rewritten groups).
    pub upserted: u64,
    /// Documents removed.
    pub deleted: u64,
    /// The store sequence now reflected in the index.
    pub seq: i64,
}

fn source_err(e: impl std::fmt::Display) -> BuildError {
    BuildError::Source(e.to_string())
}

/// The store sequence the live index reflects, if it was built from the store.
pub fn indexed_seq(store: &Store) -> Result<Option<i64>, BuildError> {
    Ok(store
        .get_meta(META_INDEXED_SEQ)
        .map_err(source_err)?
        .and_then(|s| s.parse().ok()))
}

/// Applies every change after the indexed sequence to `index` and records the new sequence.
pub fn apply_changes(
    index: &SearchIndex,
    store: &Store,
    memory_bytes: usize,
    batch: usize,
    progress: &Progress,
) -> Result<IncrementalReport, BuildError> {
    let since = indexed_seq(store)?.unwrap_or(0);
    let mut report = IncrementalReport {
        seq: since,
        ..Default::default()
    };
    progress.phase("index changes", 0);
    let mut builder = index.builder(memory_bytes)?;
    let mut failure: Option<BuildError> = None;
    let last = store.changes_since(
        since,
        batch,
        |changes: Vec<Change>| -> Result<(), store::StoreError> {
            if progress.is_cancelled() {
                failure = Some(BuildError::Cancelled);
                return Err(store::StoreError::Corrupt {
                    what: "incremental".into(),
                    message: "cancelled".into(),
                });
            }
            match apply_batch(index, store, &mut builder, &changes) {
                Ok((up, del)) => {
                    report.changes += changes.len() as u64;
                    report.upserted += up;
                    report.deleted += del;
                    progress.advance(changes.len() as u64);
                    Ok(())
                }
                Err(e) => {
                    let msg = e.to_string();
                    failure = Some(e);
                    Err(store::StoreError::Corrupt {
                        what: "incremental".into(),
                        message: msg,
                    })
                }
            }
        },
    );
    if let Some(e) = failure {
        builder.rollback()?;
        return Err(e);
    }
    let last = last.map_err(source_err)?;
    builder.commit()?;
    index.reload()?;
    store
        .set_meta(META_INDEXED_SEQ, &last.max(since).to_string())
        .map_err(source_err)?;
    report.seq = last.max(since);
    Ok(report)
}

fn apply_batch(
    index: &SearchIndex,
    store: &Store,
    builder: &mut search::IndexBuilder,
    changes: &[Change],
) -> Result<(u64, u64), BuildError> {
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for c in changes {
        ids.insert(c.id().to_string());
        if let Change::Upsert { record, .. } = c {
            let mut r = record.clone();
            r.normalise();
            keys.extend(dedup::keys(&r));
        }
    }
    let ids_v: Vec<String> = ids.iter().cloned().collect();
    let keys_v: Vec<String> = keys.into_iter().collect();
    let touched = index.find_groups(&ids_v, &keys_v)?;
    // Every record id whose document must be rebuilt.
    let mut members: BTreeSet<String> = ids;
    let mut deleted = 0u64;
    for doc in &touched {
        builder.delete(&doc.id);
        deleted += 1;
        members.insert(doc.id.clone());
        members.extend(doc.merged_from.iter().cloned());
    }
    for id in &members {
        builder.delete(id);
    }
    // Re-read the live members from the store and regroup them.
    let mut live: Vec<Record> = Vec::new();
    for id in &members {
        if let Some(mut r) = store.get(id).map_err(source_err)? {
            r.normalise();
            live.push(r);
        }
    }
    let plan = DedupPlan::from_keys(
        live.iter()
            .map(|r| (r.id.clone(), dedup::keys(r), dedup::richness(r)))
            .collect(),
    );
    let by_id: std::collections::HashMap<&str, &Record> =
        live.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = Vec::new();
    for r in &live {
        if plan.merged_into.contains_key(&r.id) {
            continue;
        }
        let mut rep = r.clone();
        if let Some(others) = plan.groups.get(&r.id) {
            for o in others {
                if let Some(dup) = by_id.get(o.as_str()) {
                    dedup::merge(&mut rep, dup);
                }
            }
        }
        out.push(rep);
    }
    let (added, _rejected) = builder.add(out, false)?;
    Ok((added, deleted))
}
