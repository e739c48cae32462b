//! Building index generations from the record store, with cross-source dedup.
//!
//! Dedup rule (see `model::dedup`): records that share a DOI, PMID, PMCID or NCT id, or (lacking a
//! shared identifier) a normalised title + year fingerprint, are one article. The group is
//! represented by its richest record (most metadata; ties go to the smallest id, so builds are
//! deterministic), into which the others are merged: it lists every source id in `merged_from`,
//! and a retraction in any copy marks it retracted.

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;

use model::{dedup, Record};
use search::{Generations, RankingParams};
use store::Store;

use crate::build::{build_generation, BuildError, BuildOptions, BuildReport};
use crate::progress::Progress;

/// Meta key under which the store's change sequence of the live build is kept.
pub const META_INDEXED_SEQ: &str = "index.seq";
/// Meta key under which the generation built from the store is kept.
pub const META_INDEXED_GENERATION: &str = "index.generation";

/// Which record stands for which: `id → representative id` for every record in a duplicate group
/// other than its representative, and `representative → members`.
#[derive(Debug, Default)]
pub struct DedupPlan {
    /// Members merged away, mapped to their representative.
    pub merged_into: HashMap<String, String>,
    /// Representatives and the ids merged into them.
    pub groups: HashMap<String, Vec<String>>,
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[rb] = ra;
        }
    }
}

impl DedupPlan {
    /// Plans the groups from `(id, keys, richness)` of every live record.
    pub fn from_keys(items: Vec<(String, Vec<String>, u32)>) -> DedupPlan {
        let mut uf = UnionFind {
            parent: (0..items.len()).collect(),
        };
        let mut first_with_key: HashMap<&str, usize> = HashMap::new();
        for (i, (_, keys, _)) in items.iter().enumerate() {
            for k in keys {
                match first_with_key.get(k.as_str()) {
                    Some(&j) => uf.union(j, i),
                    None => {
                        first_with_key.insert(k.as_str(), i);
                    }
                }
            }
        }
        let mut by_root: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..items.len() {
            let r = uf.find(i);
            by_root.entry(r).or_default().push(i);
        }
        let mut plan = DedupPlan::default();
        for members in by_root.into_values().filter(|m| m.len() > 1) {
            let rep = members
                .iter()
                .copied()
                .max_by(|&a, &b| {
                    items[a]
                        .2
                        .cmp(&items[b].2)
                        .then(items[b].0.cmp(&items[a].0))
                })
                .unwrap_or(members[0]);
            let rep_id = items[rep].0.clone();
            let others: Vec<String> = members
                .iter()
                .filter(|&&m| m != rep)
                .map(|&m| items[m].0.clone())
                .collect();
            for o in &others {
                plan.merged_into.insert(o.clone(), rep_id.clone());
            }
            plan.groups.insert(rep_id, others);
        }
        plan
    }
}

/// Plans dedup over the store's live records (one streaming pass, ids and keys only in memory).
pub fn plan_dedup(store: &Store, batch: usize) -> Result<DedupPlan, store::StoreError> {
    let mut items = Vec::new();
    store.for_each_live(
        batch,
        |records: Vec<Record>| -> Result<(), store::StoreError> {
            for mut r in records {
                r.normalise();
                let keys = dedup::keys(&r);
                let rich = dedup::richness(&r);
                items.push((r.id, keys, rich));
            }
            Ok(())
        },
    )?;
    Ok(DedupPlan::from_keys(items))
}

/// Full build of a new generation from the store's live records, deduplicated, then made live.
pub fn build_from_store(
    store: &Store,
    gens: &Generations,
    params: &RankingParams,
    opts: &BuildOptions,
    batch: usize,
    progress: &Progress,
) -> Result<BuildReport, BuildError> {
    progress.phase("dedup", 0);
    let seq = store
        .max_seq()
        .map_err(|e| BuildError::Source(e.to_string()))?;
    let plan = plan_dedup(store, batch).map_err(|e| BuildError::Source(e.to_string()))?;
    let live = store
        .count_live()
        .map_err(|e| BuildError::Source(e.to_string()))?;
    let expected = live - plan.merged_into.len() as u64;
    tracing::info!(
        records = live,
        merged = plan.merged_into.len(),
        "dedup planned"
    );

    // Stream batches from the store on a producer thread through a bounded channel, so memory
    // stays flat however large the store is.
    let (tx, rx) = sync_channel::<Result<Vec<Record>, String>>(2);
    let report = std::thread::scope(|scope| {
        let plan = &plan;
        scope.spawn(move || {
            let res = store.for_each_live(
                batch,
                |records: Vec<Record>| -> Result<(), store::StoreError> {
                    let mut out = Vec::with_capacity(records.len());
                    for mut r in records {
                        if plan.merged_into.contains_key(&r.id) {
                            continue;
                        }
                        if let Some(members) = plan.groups.get(&r.id) {
                            r.normalise();
                            for m in members {
                                if let Some(mut dup) = store.get(m)? {
                                    dup.normalise();
                                    dedup::merge(&mut r, &dup);
                                }
                            }
                        }
                        out.push(r);
                    }
                    // A closed receiver means the build stopped; stop streaming too.
                    tx.send(Ok(out)).map_err(|_| store::StoreError::Corrupt {
                        what: "build".into(),
                        message: "build stopped".into(),
                    })
                },
            );
            if let Err(e) = res {
                let _ = tx.send(Err(e.to_string()));
            }
        });
        build_generation(gens, params, opts, rx, Some(expected), progress)
    })?;
    store
        .set_meta(META_INDEXED_SEQ, &seq.to_string())
        .and_then(|_| store.set_meta(META_INDEXED_GENERATION, &report.generation.to_string()))
        .map_err(|e| BuildError::Source(e.to_string()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_shared_keys_transitively() {
        let plan = DedupPlan::from_keys(vec![
            (
                "pubmed:1".into(),
                vec!["pmid:1".into(), "doi:10.1/a".into()],
                20,
            ),
            (
                "europepmc:MED:1".into(),
                vec!["pmid:1".into(), "pmcid:PMC9".into()],
                30,
            ),
            ("repo:x".into(), vec!["pmcid:PMC9".into()], 5),
            ("other:2".into(), vec!["pmid:2".into()], 50),
        ]);
        assert_eq!(plan.groups.len(), 1);
        let members = &plan.groups["europepmc:MED:1"];
        assert_eq!(members.len(), 2);
        assert_eq!(plan.merged_into["repo:x"], "europepmc:MED:1");
        assert!(!plan.merged_into.contains_key("other:2"));
    }
}
