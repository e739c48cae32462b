//! Fusion of local hits and remote answers into one ranking, with cross-source dedup. Pure: no IO,
//! no clock.
//!
//! # Fusion
//! [`Fusion::Rescore`] (the default, chosen by measurement, see `benches/FEDERATION.md`): each remote
//! record is scored by the local ranking model (`search::SearchIndex::score_external`: BM25 with
//! the local corpus statistics and field weights, times the evidence, recency and trust priors).
//! Local hits keep their own scores. The local score holds parts the external score cannot
//! reproduce (the proximity bonus, synonyms, relevance feedback), so remote scores are calibrated:
//! multiplied by the median ratio local score / external score over the first
//! [`CALIBRATION_HITS`] local hits. Then:
//! - a remote record the model cannot score (no text in the fields the query searches) is placed
//!   by reciprocal rank fusion: its rank in its source against the rank of every scored item in
//!   the score order;
//! - with a rank floor `m` ([`RANK_FLOOR`], 1), a remote record of rank `r` in its source (from 0)
//!   is never placed before position `r / m`. When each source is asked `m` times the depth of
//!   the page ([`remote_depth`]), the first `n` fused hits are built only from lists that every
//!   deeper request also holds, so asking for a later page never reorders an earlier one (paging is
//!   stable). On the NFCorpus dev split (`benches/FEDERATION.md`) a floor of 1 keeps
//!   99.8% of the single-index nDCG@10 (98.8% on a hash split), against 99.3% (98.8%) with no
//!   floor and 99.4% (98.7%) for a floor of 2 with depth 2×: the floor costs nothing, and a floor
//!   of 1 asks the sources for the fewest records. Two exceptions remain: a record
//!   first met on a deeper page that turns out to duplicate an earlier hit is merged into it (the
//!   earlier hit keeps its place, its sources grow), and the rank-fusion fallback for unscorable
//!   records depends on the depth.
//!
//! [`Fusion::Rrf`] (reciprocal rank fusion, `Σ 1 / (k + rank)`) and [`Fusion::RoundRobin`] are
//! kept for comparison.
//!
//! # Dedup
//! Candidates sharing a dedup key (`model::dedup::keys`: DOI, PMID, PMCID, NCT, title + year) are
//! one hit. A local member represents the group (its id is the one the record API knows); else the
//! richest remote member. The others are merged into it (`model::dedup::merge`), and the hit lists
//! every source that had it.

use std::collections::HashMap;

use model::dedup;
use model::Record;
use search::{Explanation, Hit, Sort};

use crate::federator::RemoteList;

/// How many local hits calibrate remote scores.
pub const CALIBRATION_HITS: usize = 10;

/// The `k` of reciprocal rank fusion (the usual 60).
pub const RRF_K: f32 = 60.0;

/// The default rank floor of [`Fusion::Rescore`] (see `benches/FEDERATION.md` for the measurement
/// behind it).
pub const RANK_FLOOR: usize = 1;

/// How many records to ask of each remote source so that the first `page_depth` fused hits are
/// stable under [`Fusion::default`]: [`RANK_FLOOR`] times the page depth.
pub fn remote_depth(page_depth: usize) -> usize {
    page_depth.saturating_mul(RANK_FLOOR.max(1))
}

/// How local and remote lists are fused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Take the first of each list in turn.
    RoundRobin,
    /// Reciprocal rank fusion, `Σ 1 / (k + rank)` over the lists a record is in.
    Rrf {
        /// The rank offset.
        k: f32,
    },
    /// Score remote records with the local model, calibrated; see the module docs.
    Rescore {
        /// The rank offset of the reciprocal-rank fallback for unscorable records.
        k: f32,
        /// The rank floor `m`: a remote record of rank `r` in its source (from 0) is never placed
        /// before position `r / m`; 0 turns the floor off. Paging is stable when each source is
        /// asked `m` times the depth of the page.
        rank_floor: usize,
    },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Rescore {
            k: RRF_K,
            rank_floor: RANK_FLOOR,
        }
    }
}

/// What to fuse.
#[derive(Debug, Clone, Default)]
pub struct MergeInput {
    /// Local hits, best first.
    pub local: Vec<Hit>,
    /// External scores (`score_external`) of the first local hits, for calibration; may be shorter
    /// than `local` or empty.
    pub local_external: Vec<Option<f32>>,
    /// Remote answers, each in its source's order.
    pub remote: Vec<RemoteList>,
    /// External scores of each remote list's records, parallel to `remote` (missing: unscored).
    pub remote_external: Vec<Vec<Option<f32>>>,
}

/// The parts of a local hit that only the index can make.
#[derive(Debug, Clone)]
pub struct LocalParts {
    /// Highlighted title.
    pub title_html: String,
    /// Highlighted snippet.
    pub snippet_html: String,
    /// Reading grade.
    pub reading_grade: Option<f32>,
    /// Score explanation.
    pub explain: Option<Explanation>,
    /// Found by meaning alone (see `search::Hit::by_meaning_only`).
    pub by_meaning_only: bool,
}

/// One fused hit.
#[derive(Debug, Clone)]
pub struct MergedHit {
    /// The record, with its duplicates merged in.
    pub record: Record,
    /// The fused score (for [`Fusion::Rescore`] on the local score scale).
    pub score: f32,
    /// Every source that had the record, the representative's first.
    pub sources: Vec<String>,
    /// The local hit's display parts, when a local record represents the hit.
    pub local: Option<LocalParts>,
}

impl MergedHit {
    /// Whether the hit came from the remote sources only.
    pub fn is_remote_only(&self) -> bool {
        self.local.is_none()
    }
}

/// The fused ranking.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Hits, best first.
    pub hits: Vec<MergedHit>,
    /// The factor remote scores were multiplied by ([`Fusion::Rescore`]).
    pub calibration: Option<f32>,
}

impl Merged {
    /// Hits that only remote sources had.
    pub fn remote_only(&self) -> impl Iterator<Item = &MergedHit> {
        self.hits.iter().filter(|h| h.is_remote_only())
    }
}

struct Candidate {
    record: Record,
    local: Option<LocalParts>,
    /// Local score, or the calibrated external score of a remote record.
    value: Option<f32>,
    /// 0 for the local list, 1 + i for remote list i.
    list: usize,
    /// Rank in its list, from 0.
    rank: usize,
}

/// Fuses local and remote lists into one ranking (see the module docs).
pub fn merge(input: MergeInput, fusion: Fusion, sort: Sort) -> Merged {
    let calibration = match fusion {
        Fusion::Rescore { .. } => Some(calibrate(&input.local, &input.local_external)),
        _ => None,
    };
    let c = calibration.unwrap_or(1.0);
    let mut cands: Vec<Candidate> = Vec::new();
    for (rank, h) in input.local.into_iter().enumerate() {
        cands.push(Candidate {
            value: Some(h.score),
            local: Some(LocalParts {
                title_html: h.title_html,
                snippet_html: h.snippet_html,
                reading_grade: h.reading_grade,
                explain: h.explain,
                by_meaning_only: h.by_meaning_only,
            }),
            record: h.record,
            list: 0,
            rank,
        });
    }
    for (i, list) in input.remote.into_iter().enumerate() {
        let scores = input.remote_external.get(i);
        for (rank, record) in list.records.into_iter().enumerate() {
            let ext = scores.and_then(|s| s.get(rank).copied().flatten());
            cands.push(Candidate {
                record,
                local: None,
                value: ext.filter(|e| e.is_finite()).map(|e| e * c),
                list: i + 1,
                rank,
            });
        }
    }
    let n_lists = 1 + input
        .remote_external
        .len()
        .max(cands.iter().map(|c| c.list).max().unwrap_or(0));

    // The fusion key of each candidate (higher is better), and how groups combine keys.
    let (keys, sum): (Vec<f64>, bool) = match fusion {
        Fusion::RoundRobin => (
            cands
                .iter()
                .map(|c| -((c.rank * n_lists + c.list) as f64))
                .collect(),
            false,
        ),
        Fusion::Rrf { k } => (
            cands
                .iter()
                .map(|c| 1.0 / (f64::from(k) + c.rank as f64 + 1.0))
                .collect(),
            true,
        ),
        Fusion::Rescore { k, .. } => {
            if cands.iter().all(|c| c.value.is_some()) {
                (
                    cands
                        .iter()
                        .map(|c| f64::from(c.value.unwrap_or(0.0)))
                        .collect(),
                    false,
                )
            } else {
                // Scored candidates by score; unscored ones by their rank in their source; then
                // reciprocal rank fusion of the two orders.
                let mut scored: Vec<usize> = (0..cands.len())
                    .filter(|&i| cands[i].value.is_some())
                    .collect();
                scored.sort_by(|&a, &b| {
                    cands[b]
                        .value
                        .unwrap_or(0.0)
                        .total_cmp(&cands[a].value.unwrap_or(0.0))
                        .then(cands[a].list.cmp(&cands[b].list))
                        .then(cands[a].rank.cmp(&cands[b].rank))
                });
                let mut keys = vec![0.0; cands.len()];
                for (pos, &i) in scored.iter().enumerate() {
                    keys[i] = 1.0 / (f64::from(k) + pos as f64 + 1.0);
                }
                for (i, c) in cands.iter().enumerate() {
                    if c.value.is_none() {
                        keys[i] = 1.0 / (f64::from(k) + c.rank as f64 + 1.0);
                    }
                }
                (keys, false)
            }
        }
    };
    let rank_floor = match fusion {
        Fusion::Rescore { rank_floor, .. } if sort == Sort::Relevance => rank_floor,
        _ => 0,
    };

    // Groups of duplicates.
    let groups = group_duplicates(&cands);
    struct Group {
        members: Vec<usize>,
        key: f64,
        earliest: usize,
        best: (usize, usize),
        has_local: bool,
        date: Option<i64>,
    }
    let mut gs: Vec<Group> = groups
        .into_iter()
        .map(|members| {
            let key = if sum {
                members.iter().map(|&m| keys[m]).sum()
            } else {
                members
                    .iter()
                    .map(|&m| keys[m])
                    .fold(f64::NEG_INFINITY, f64::max)
            };
            let earliest = members
                .iter()
                .map(|&m| {
                    if cands[m].list == 0 || rank_floor == 0 {
                        0
                    } else {
                        cands[m].rank / rank_floor
                    }
                })
                .min()
                .unwrap_or(0);
            let best = members
                .iter()
                .map(|&m| (cands[m].rank, cands[m].list))
                .min()
                .unwrap_or((0, 0));
            let has_local = members.iter().any(|&m| cands[m].list == 0);
            let date = members
                .iter()
                .filter_map(|&m| cands[m].record.published.map(|d| d.days_since_epoch()))
                .max();
            Group {
                members,
                key,
                earliest,
                best,
                has_local,
                date,
            }
        })
        .collect();

    let better = |a: &Group, b: &Group| -> std::cmp::Ordering {
        let by_key = b
            .key
            .total_cmp(&a.key)
            .then(b.has_local.cmp(&a.has_local))
            .then(a.best.cmp(&b.best));
        match sort {
            Sort::Relevance => by_key,
            Sort::Date => b
                .date
                .unwrap_or(i64::MIN)
                .cmp(&a.date.unwrap_or(i64::MIN))
                .then(by_key),
        }
    };
    gs.sort_by(|a, b| better(a, b));
    // Place groups: at each position the best group allowed there (its earliest position reached);
    // when none is, the one allowed soonest.
    let mut order: Vec<usize> = Vec::with_capacity(gs.len());
    if gs.iter().all(|g| g.earliest == 0) {
        order.extend(0..gs.len());
    } else {
        let mut placed = vec![false; gs.len()];
        for pos in 0..gs.len() {
            let pick = (0..gs.len())
                .find(|&i| !placed[i] && gs[i].earliest <= pos)
                .or_else(|| {
                    (0..gs.len())
                        .filter(|&i| !placed[i])
                        .min_by_key(|&i| gs[i].earliest)
                });
            if let Some(i) = pick {
                placed[i] = true;
                order.push(i);
            }
        }
    }

    let mut slots: Vec<Option<Candidate>> = cands.into_iter().map(Some).collect();
    let mut hits: Vec<MergedHit> = Vec::with_capacity(order.len());
    let mut scored: Vec<bool> = Vec::with_capacity(order.len());
    for gi in order {
        let g = &gs[gi];
        let mut members: Vec<Candidate> = g
            .members
            .iter()
            .filter_map(|&m| slots.get_mut(m).and_then(Option::take))
            .collect();
        // The representative: the best-ranked local member, else the richest remote one.
        let rep_idx = members
            .iter()
            .enumerate()
            .filter(|(_, c)| c.list == 0)
            .min_by_key(|(_, c)| c.rank)
            .map(|(i, _)| i)
            .or_else(|| {
                members
                    .iter()
                    .enumerate()
                    .max_by(|(_, a), (_, b)| {
                        dedup::richness(&a.record)
                            .cmp(&dedup::richness(&b.record))
                            .then(b.record.id.cmp(&a.record.id))
                    })
                    .map(|(i, _)| i)
            })
            .unwrap_or(0);
        if members.is_empty() {
            continue;
        }
        let rep = members.remove(rep_idx);
        let value = std::iter::once(&rep)
            .chain(members.iter())
            .filter_map(|c| c.value)
            .fold(None, |acc: Option<f32>, v| {
                Some(acc.map_or(v, |a| a.max(v)))
            });
        let mut record = rep.record;
        let mut sources = vec![record.source.clone()];
        for m in &members {
            dedup::merge(&mut record, &m.record);
            if !sources.contains(&m.record.source) {
                sources.push(m.record.source.clone());
            }
        }
        for id in &record.merged_from {
            if let Some((src, _)) = id.split_once(':') {
                if !sources.iter().any(|s| s == src) {
                    sources.push(src.to_string());
                }
            }
        }
        let score = match fusion {
            Fusion::Rescore { .. } => value.unwrap_or(0.0),
            _ => g.key as f32,
        };
        scored.push(value.is_some() || !matches!(fusion, Fusion::Rescore { .. }));
        hits.push(MergedHit {
            record,
            score,
            sources,
            local: rep.local,
        });
    }
    // A hit placed by rank rather than score shows the score of the hit above it (the first, the
    // one below), so scores never rise down the list.
    for i in 0..hits.len() {
        if !scored[i] {
            let neighbour = (0..i)
                .rev()
                .find(|&j| scored[j])
                .or_else(|| (i + 1..hits.len()).find(|&j| scored[j]));
            hits[i].score = neighbour.map_or(0.0, |j| hits[j].score);
        }
    }
    Merged { hits, calibration }
}

/// The median of local score / external score over the first [`CALIBRATION_HITS`] local hits with
/// both positive; 1 when there is none.
fn calibrate(local: &[Hit], external: &[Option<f32>]) -> f32 {
    let mut ratios: Vec<f32> = local
        .iter()
        .zip(external)
        .take(CALIBRATION_HITS)
        .filter_map(|(h, e)| match e {
            Some(e) if *e > 0.0 && h.score > 0.0 && h.score.is_finite() => Some(h.score / e),
            _ => None,
        })
        .collect();
    if ratios.is_empty() {
        return 1.0;
    }
    ratios.sort_by(f32::total_cmp);
    let mid = ratios.len() / 2;
    if ratios.len() % 2 == 1 {
        ratios[mid]
    } else {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    }
}

/// Groups candidate indices that share a dedup key (union-find), in candidate order.
fn group_duplicates(cands: &[Candidate]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..cands.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, c) in cands.iter().enumerate() {
        let mut keys = dedup::keys(&c.record);
        keys.push(format!("id:{}", c.record.id));
        for k in keys {
            match first.get(&k) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, j), find(&mut parent, i));
                    if a != b {
                        parent[b.max(a)] = a.min(b);
                    }
                }
                None => {
                    first.insert(k, i);
                }
            }
        }
    }
    let mut by_root: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for i in 0..cands.len() {
        let r = find(&mut parent, i);
        by_root
            .entry(r)
            .or_insert_with(|| {
                roots.push(r);
                Vec::new()
            })
            .push(i);
    }
    roots
        .into_iter()
        .filter_map(|r| by_root.remove(&r))
        .collect()
}

/// Adds remote-only hits to facet counts computed over the local matches, keeping each facet's
/// order (evidence levels strongest first, sources by count, years newest first).
pub fn add_to_facets<'a>(
    facets: &mut search::Facets,
    records: impl IntoIterator<Item = &'a Record>,
) {
    fn bump(list: &mut Vec<search::FacetCount>, value: &str) {
        match list.iter_mut().find(|f| f.value == value) {
            Some(f) => f.count += 1,
            None => list.push(search::FacetCount {
                value: value.to_string(),
                count: 1,
            }),
        }
    }
    let mut any = false;
    for r in records {
        any = true;
        bump(&mut facets.evidence_level, r.level().as_str());
        bump(&mut facets.source, &r.source);
        if let Some(d) = r.published.filter(|d| d.year > 0) {
            bump(&mut facets.year, &d.year.to_string());
        }
        bump(&mut facets.audience, r.audience.as_str());
        bump(
            &mut facets.open_access,
            match r.open_access {
                None => "unknown",
                Some(true) => "yes",
                Some(false) => "no",
            },
        );
    }
    if !any {
        return;
    }
    let level_pos = |v: &str| {
        model::EvidenceLevel::ALL
            .iter()
            .position(|l| l.as_str() == v)
            .unwrap_or(usize::MAX)
    };
    facets.evidence_level.sort_by_key(|f| level_pos(&f.value));
    facets
        .source
        .sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    facets.year.sort_by(|a, b| {
        b.value
            .parse::<i64>()
            .unwrap_or(0)
            .cmp(&a.value.parse::<i64>().unwrap_or(0))
    });
    let fixed = |order: &[&str], list: &mut Vec<search::FacetCount>| {
        list.sort_by_key(|f| {
            order
                .iter()
                .position(|o| *o == f.value)
                .unwrap_or(usize::MAX)
        });
    };
    fixed(&["professional", "patient"], &mut facets.audience);
    fixed(&["unknown", "yes", "no"], &mut facets.open_access);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(id: &str, score: f32) -> Hit {
        Hit {
            record: Record::new(
                "local",
                id,
                &format!("Local record number {id} about asthma"),
            ),
            score,
            title_html: format!("<mark>{id}</mark>"),
            snippet_html: String::new(),
            reading_grade: None,
            explain: None,
            by_meaning_only: false,
        }
    }

    fn remote(source: &str, ids: &[&str]) -> RemoteList {
        RemoteList {
            source: source.into(),
            records: ids
                .iter()
                .map(|id| {
                    Record::new(
                        source,
                        id,
                        &format!("Remote record {id} on wheeze in adults"),
                    )
                })
                .collect(),
        }
    }

    fn ids(m: &Merged) -> Vec<String> {
        m.hits.iter().map(|h| h.record.id.clone()).collect()
    }

    #[test]
    fn round_robin_and_rrf_interleave() {
        let input = MergeInput {
            local: vec![local("a", 3.0), local("b", 2.0)],
            remote: vec![remote("r", &["x", "y"])],
            ..Default::default()
        };
        let m = merge(input.clone(), Fusion::RoundRobin, Sort::Relevance);
        assert_eq!(ids(&m), ["local:a", "r:x", "local:b", "r:y"]);
        let m = merge(input, Fusion::Rrf { k: 60.0 }, Sort::Relevance);
        assert_eq!(ids(&m), ["local:a", "r:x", "local:b", "r:y"]);
    }

    #[test]
    fn rescoring_places_remote_hits_by_calibrated_score() {
        // Local scores are twice their external scores: remote scores are doubled too.
        let input = MergeInput {
            local: vec![local("a", 10.0), local("b", 6.0), local("c", 2.0)],
            local_external: vec![Some(5.0), Some(3.0), Some(1.0)],
            remote: vec![remote("r", &["x", "y", "z"])],
            remote_external: vec![vec![Some(4.0), Some(0.5), Some(4.5)]],
        };
        let free = Fusion::Rescore {
            k: 60.0,
            rank_floor: 0,
        };
        let m = merge(input.clone(), free, Sort::Relevance);
        assert_eq!(m.calibration, Some(2.0));
        assert_eq!(
            ids(&m),
            ["local:a", "r:z", "r:x", "local:b", "local:c", "r:y"]
        );
        assert_eq!(m.hits[1].score, 9.0);
        // With a rank floor of 1, z (third in its source) is not shown before third place.
        let floor = Fusion::Rescore {
            k: 60.0,
            rank_floor: 1,
        };
        let m = merge(input.clone(), floor, Sort::Relevance);
        assert_eq!(
            ids(&m),
            ["local:a", "r:x", "r:z", "local:b", "local:c", "r:y"]
        );
        let scores: Vec<f32> = m.hits.iter().map(|h| h.score).collect();
        assert_eq!(scores, [10.0, 8.0, 9.0, 6.0, 2.0, 1.0]);
        // A floor of 1 is the default.
        let m = merge(input.clone(), Fusion::default(), Sort::Relevance);
        assert_eq!(
            ids(&m),
            ["local:a", "r:x", "r:z", "local:b", "local:c", "r:y"]
        );
        // With a floor of 2, second place is allowed.
        let two = Fusion::Rescore {
            k: 60.0,
            rank_floor: 2,
        };
        let m = merge(input, two, Sort::Relevance);
        assert_eq!(
            ids(&m),
            ["local:a", "r:z", "r:x", "local:b", "local:c", "r:y"]
        );
    }

    #[test]
    fn unscored_remote_hits_fall_back_to_rank_fusion() {
        let input = MergeInput {
            local: vec![local("a", 10.0), local("b", 6.0), local("c", 2.0)],
            local_external: vec![Some(10.0), Some(6.0), Some(2.0)],
            remote: vec![remote("r", &["x", "y"])],
            remote_external: vec![vec![None, Some(7.0)]],
        };
        let m = merge(input, Fusion::default(), Sort::Relevance);
        // x: rank 0 in its source, against a (first by score): after a by the tie rule.
        assert_eq!(ids(&m), ["local:a", "r:x", "r:y", "local:b", "local:c"]);
        assert_eq!(
            m.hits[1].score, 10.0,
            "an unscored hit shows the score above it"
        );
    }

    #[test]
    fn duplicates_merge_into_the_local_hit_and_list_every_source() {
        let mut a = local("a", 5.0);
        a.record.identifiers.pmid = Some("123".into());
        let mut r1 = remote("pubmed", &["123"]);
        r1.records[0].identifiers.pmid = Some("123".into());
        r1.records[0].abstract_text = Some("A longer abstract from PubMed.".into());
        let mut r2 = remote("europepmc", &["MED:123", "other"]);
        r2.records[0].identifiers.pmid = Some("123".into());
        r2.records[0].identifiers.pmcid = Some("PMC9".into());
        let input = MergeInput {
            local: vec![a],
            local_external: vec![Some(5.0)],
            remote: vec![r1, r2],
            remote_external: vec![vec![Some(9.0)], vec![Some(1.0), Some(2.0)]],
        };
        let m = merge(input, Fusion::default(), Sort::Relevance);
        assert_eq!(ids(&m), ["local:a", "europepmc:other"]);
        let top = &m.hits[0];
        assert_eq!(top.sources, ["local", "pubmed", "europepmc"]);
        assert_eq!(top.score, 9.0, "the group scores as its best member");
        assert!(top.local.is_some());
        assert_eq!(top.record.identifiers.pmcid.as_deref(), Some("PMC9"));
        assert!(top.record.abstract_text.is_some());
        assert_eq!(m.remote_only().count(), 1);
    }

    #[test]
    fn remote_only_groups_keep_the_richest_record() {
        let mut r1 = remote("pubmed", &["1"]);
        r1.records[0].identifiers.doi = Some("10.1/x".into());
        let mut r2 = remote("europepmc", &["2"]);
        r2.records[0].identifiers.doi = Some("10.1/x".into());
        r2.records[0].abstract_text = Some("rich".into());
        r2.records[0].mesh_terms = vec!["Asthma".into()];
        let m = merge(
            MergeInput {
                remote: vec![r1, r2],
                ..Default::default()
            },
            Fusion::Rrf { k: 60.0 },
            Sort::Relevance,
        );
        assert_eq!(ids(&m), ["europepmc:2"]);
        assert_eq!(m.hits[0].sources, ["europepmc", "pubmed"]);
        // Both lists had it at rank 1: the fused key is the sum.
        assert!((m.hits[0].score - 2.0 / 61.0).abs() < 1e-6);
    }

    /// The first `n` hits do not change when deeper lists are merged (paging is stable).
    #[test]
    fn deeper_merges_keep_earlier_positions() {
        let local_all: Vec<Hit> = (0..30)
            .map(|i| local(&format!("l{i}"), 100.0 - 3.0 * i as f32))
            .collect();
        let ext: Vec<Option<f32>> = local_all.iter().map(|h| Some(h.score / 2.0)).collect();
        let remote_ids: Vec<String> = (0..60).map(|i| format!("r{i}")).collect();
        let remote_scores: Vec<Option<f32>> =
            (0..60).map(|i| Some(((i * 37) % 50) as f32)).collect();
        let run = |n: usize| {
            let remote_n = remote_depth(n);
            let ids_ref: Vec<&str> = remote_ids
                .iter()
                .take(remote_n)
                .map(String::as_str)
                .collect();
            merge(
                MergeInput {
                    local: local_all.iter().take(n.max(10)).cloned().collect(),
                    local_external: ext.iter().take(CALIBRATION_HITS).cloned().collect(),
                    remote: vec![remote("r", &ids_ref)],
                    remote_external: vec![remote_scores.iter().take(remote_n).cloned().collect()],
                },
                Fusion::default(),
                Sort::Relevance,
            )
        };
        let page1: Vec<String> = ids(&run(10)).into_iter().take(10).collect();
        let page2 = ids(&run(20));
        let page3 = ids(&run(30));
        assert_eq!(page1[..], page2[..10]);
        assert_eq!(page2[..20], page3[..20]);
    }

    #[test]
    fn date_sort_orders_by_publication() {
        let mut a = local("a", 10.0);
        a.record.published = Some(model::PartialDate::year(2001));
        let mut r = remote("r", &["x"]);
        r.records[0].published = Some(model::PartialDate::year(2020));
        let m = merge(
            MergeInput {
                local: vec![a],
                remote: vec![r],
                remote_external: vec![vec![Some(0.1)]],
                ..Default::default()
            },
            Fusion::default(),
            Sort::Date,
        );
        assert_eq!(ids(&m), ["r:x", "local:a"]);
    }

    #[test]
    fn facets_add_remote_only_records() {
        let mut f = search::Facets {
            source: vec![search::FacetCount {
                value: "local".into(),
                count: 1,
            }],
            evidence_level: vec![search::FacetCount {
                value: "other".into(),
                count: 1,
            }],
            year: vec![search::FacetCount {
                value: "2001".into(),
                count: 1,
            }],
            ..Default::default()
        };
        let mut r = Record::new("pubmed", "1", "t");
        r.published = Some(model::PartialDate::year(2020));
        r.evidence_level = Some(model::EvidenceLevel::Guideline);
        let mut r2 = r.clone();
        r2.id = "pubmed:2".into();
        add_to_facets(&mut f, [&r, &r2]);
        assert_eq!(f.source[0].value, "pubmed");
        assert_eq!(f.source[0].count, 2);
        assert_eq!(f.evidence_level[0].value, "guideline");
        assert_eq!(f.year[0].value, "2020");
        assert_eq!(f.open_access[0].value, "unknown");
        assert_eq!(f.audience[0].count, 2);
    }
}
