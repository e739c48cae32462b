//! Facet counts over every matching record (not only the page shown), from fast fields.

use std::collections::BTreeMap;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::schema::evidence_from_ord;

/// Counts of matching records by facet value.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Facets {
    /// By evidence level, strongest first; levels with no hits are omitted.
    pub evidence_level: Vec<FacetCount>,
    /// By source, largest first.
    pub source: Vec<FacetCount>,
    /// By publication year, newest first.
    pub year: Vec<FacetCount>,
    /// By audience.
    pub audience: Vec<FacetCount>,
    /// By open access (`yes`, `no`, `unknown`).
    pub open_access: Vec<FacetCount>,
}

/// One facet value and how many matching records have it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FacetCount {
    /// The value.
    pub value: String,
    /// Matching records.
    pub count: u64,
}

/// Raw per-segment counts, merged into [`Facets`].
#[derive(Default)]
pub struct Counts {
    evidence: [u64; 8],
    audience: [u64; 2],
    open_access: [u64; 3],
    year: BTreeMap<u64, u64>,
    source: BTreeMap<String, u64>,
}

/// Collects [`Facets`].
pub struct FacetCollector;

/// Per-segment state of a [`FacetCollector`].
pub struct FacetSegment {
    /// The packed facet values ([`crate::schema::facet_key`]); absent in indexes built before
    /// it, which count from the four columns below instead.
    packed: Option<Column<u64>>,
    evidence: Column<u64>,
    audience: Column<u64>,
    open_access: Column<u64>,
    year: Column<u64>,
    source: Option<StrColumn>,
    source_ords: Vec<u64>,
    /// Matches not yet counted: counted a block at a time, so each column decodes its values in
    /// one batched call rather than once per document.
    pending: Vec<DocId>,
    /// Scratch for one column's values of a block.
    values: Vec<Option<u64>>,
    /// Count per year in the table (see [`year_slot`]); other years go to `counts.year`.
    years: Vec<u64>,
    counts: Counts,
}

/// Documents counted per batch.
const BLOCK: usize = 128;

/// Years from `YEAR_BASE` counted in a flat table of `YEAR_SLOTS`; any other value goes to a
/// map. The table is zeroed for every segment of every faceted search, so it covers the years
/// records have rather than every value from 0 (2,200 slots were 2.5% of a served search).
const YEAR_BASE: u64 = 1800;
const YEAR_SLOTS: usize = 320;

/// Reads `col`'s first value for each of `docs` in one batch (into the scratch `values`) and
/// passes each present one to `count`. Generic rather than a boxed closure, so that counting
/// inlines into the loop.
fn count_column(
    col: &Column<u64>,
    docs: &[DocId],
    values: &mut Vec<Option<u64>>,
    mut count: impl FnMut(u64),
) {
    values.clear();
    values.resize(docs.len(), None);
    col.first_vals(docs, values);
    for v in values.iter().flatten() {
        count(*v);
    }
}

/// Counts value `v` in `slots`; values without a slot (not a known ordinal) are not counted.
fn bump(slots: &mut [u64], v: u64) {
    if let Some(slot) = slots.get_mut(v as usize) {
        *slot += 1;
    }
}

/// Counts year `y`: in the table when it has a slot there, else in `others`.
fn count_year(table: &mut [u64], others: &mut BTreeMap<u64, u64>, y: u64) {
    match year_slot(y).and_then(|i| table.get_mut(i)) {
        Some(slot) => *slot += 1,
        None => *others.entry(y).or_default() += 1,
    }
}

/// The table slot of year `y`, if it has one.
fn year_slot(y: u64) -> Option<usize> {
    y.checked_sub(YEAR_BASE)
        .map(|d| d as usize)
        .filter(|&d| d < YEAR_SLOTS)
}

impl FacetSegment {
    /// Counts the pending documents.
    fn flush(&mut self) {
        let n = self.pending.len();
        if n == 0 {
            return;
        }
        let docs = &self.pending[..];
        let values = &mut self.values;
        let c = &mut self.counts;
        let years = &mut self.years;
        if let Some(packed) = &self.packed {
            count_column(packed, docs, values, |key| {
                let (e, a, o, y) = crate::schema::unpack_facet_key(key);
                bump(&mut c.evidence, e);
                bump(&mut c.audience, a);
                bump(&mut c.open_access, o);
                count_year(years, &mut c.year, y);
            });
        } else {
            count_column(&self.evidence, docs, values, |e| bump(&mut c.evidence, e));
            count_column(&self.audience, docs, values, |a| bump(&mut c.audience, a));
            count_column(&self.open_access, docs, values, |o| {
                bump(&mut c.open_access, o)
            });
            count_column(&self.year, docs, values, |y| {
                count_year(years, &mut c.year, y)
            });
        }
        if let Some(src) = &self.source {
            // One source per record: the first ordinal, read in a batch like the other columns.
            let ords = &mut self.source_ords;
            count_column(src.ords(), docs, values, |o| bump(ords, o));
        }
        self.pending.clear();
    }
}

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegment;

    fn for_segment(
        &self,
        _ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<FacetSegment> {
        let ff = reader.fast_fields();
        let source = ff.str("source")?;
        let n_sources = source.as_ref().map(|s| s.num_terms()).unwrap_or(0);
        Ok(FacetSegment {
            packed: ff.u64("facet_key").ok(),
            evidence: ff.u64("evidence")?,
            audience: ff.u64("audience")?,
            open_access: ff.u64("open_access")?,
            year: ff.u64("year")?,
            source,
            source_ords: vec![0; n_sources],
            pending: Vec::with_capacity(BLOCK),
            values: Vec::with_capacity(BLOCK),
            years: vec![0; YEAR_SLOTS],
            counts: Counts::default(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Facets> {
        let mut total = Counts::default();
        for c in fruits {
            for i in 0..8 {
                total.evidence[i] += c.evidence[i];
            }
            for i in 0..2 {
                total.audience[i] += c.audience[i];
            }
            for i in 0..3 {
                total.open_access[i] += c.open_access[i];
            }
            for (k, v) in c.year {
                *total.year.entry(k).or_default() += v;
            }
            for (k, v) in c.source {
                *total.source.entry(k).or_default() += v;
            }
        }
        let fc = |value: String, count: u64| FacetCount { value, count };
        let mut source: Vec<FacetCount> = total.source.into_iter().map(|(k, v)| fc(k, v)).collect();
        source.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        Ok(Facets {
            evidence_level: (0..8)
                .filter(|&i| total.evidence[i] > 0)
                .map(|i| {
                    fc(
                        evidence_from_ord(i as u64).as_str().to_string(),
                        total.evidence[i],
                    )
                })
                .collect(),
            source,
            year: total
                .year
                .into_iter()
                .rev()
                .filter(|(y, _)| *y > 0)
                .map(|(y, c)| fc(y.to_string(), c))
                .collect(),
            audience: ["professional", "patient"]
                .iter()
                .enumerate()
                .filter(|(i, _)| total.audience[*i] > 0)
                .map(|(i, n)| fc((*n).to_string(), total.audience[i]))
                .collect(),
            open_access: ["unknown", "yes", "no"]
                .iter()
                .enumerate()
                .filter(|(i, _)| total.open_access[*i] > 0)
                .map(|(i, n)| fc((*n).to_string(), total.open_access[i]))
                .collect(),
        })
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.pending.push(doc);
        if self.pending.len() >= BLOCK {
            self.flush();
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for chunk in docs.chunks(BLOCK) {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() >= BLOCK {
                self.flush();
            }
        }
    }

    fn harvest(mut self) -> Counts {
        self.flush();
        for (i, count) in self.years.iter().enumerate() {
            if *count > 0 {
                *self.counts.year.entry(YEAR_BASE + i as u64).or_default() += count;
            }
        }
        if let Some(src) = &self.source {
            let mut name = String::new();
            for (ord, count) in self.source_ords.iter().enumerate() {
                if *count > 0 && src.ord_to_str(ord as u64, &mut name).unwrap_or(false) {
                    *self.counts.source.entry(name.clone()).or_default() += count;
                }
            }
        }
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use model::{EvidenceLevel, PartialDate, Record};

    use crate::{RankingParams, SearchIndex, SearchRequest};

    /// Block-wise counting agrees with counting the records one by one, over several blocks,
    /// records without a year or open-access state, and several sources.
    #[test]
    fn facet_counts_match_a_naive_count() {
        let levels = [
            EvidenceLevel::Guideline,
            EvidenceLevel::SystematicReview,
            EvidenceLevel::Rct,
            EvidenceLevel::CaseReport,
        ];
        let records: Vec<Record> = (0..700)
            .map(|i| {
                let source = ["pubmed", "europepmc", "nice"][i % 3];
                let mut r = Record::new(source, &i.to_string(), &format!("Asthma study {i}"));
                r.evidence_level = Some(levels[i % levels.len()]);
                // Years inside the table and on both sides of it.
                r.published = (i % 7 != 0).then(|| match i % 11 {
                    0 => PartialDate::year(1750 + (i % 3) as i32),
                    1 => PartialDate::year(1799 + (i % 2) as i32),
                    2 => PartialDate::year(2119 + (i % 2) as i32),
                    _ => PartialDate::year(1990 + (i % 35) as i32),
                });
                r.open_access = match i % 5 {
                    0 => None,
                    1 | 2 => Some(true),
                    _ => Some(false),
                };
                r
            })
            .collect();
        let index = SearchIndex::create_in_ram(RankingParams::default()).unwrap();
        let mut b = index.builder(32 << 20).unwrap();
        b.add(records.clone(), false).unwrap();
        b.finish().unwrap();
        index.reload().unwrap();
        let res = index
            .search(&SearchRequest {
                q: "asthma".into(),
                facets: true,
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(res.total, 700);
        let facets = res.facets.unwrap();
        let got = |list: &[crate::FacetCount]| -> BTreeMap<String, u64> {
            list.iter().map(|f| (f.value.clone(), f.count)).collect()
        };
        let mut years = BTreeMap::new();
        let mut sources = BTreeMap::new();
        let mut oa = BTreeMap::new();
        let mut ev = BTreeMap::new();
        for r in &records {
            if let Some(d) = r.published {
                *years.entry(d.year.to_string()).or_insert(0u64) += 1;
            }
            *sources.entry(r.source.clone()).or_insert(0u64) += 1;
            let o = match r.open_access {
                None => "unknown",
                Some(true) => "yes",
                Some(false) => "no",
            };
            *oa.entry(o.to_string()).or_insert(0u64) += 1;
            *ev.entry(r.level().as_str().to_string()).or_insert(0u64) += 1;
        }
        assert_eq!(got(&facets.year), years);
        assert_eq!(got(&facets.source), sources);
        assert_eq!(got(&facets.open_access), oa);
        assert_eq!(got(&facets.evidence_level), ev);
        assert_eq!(got(&facets.audience).values().sum::<u64>(), 700);
        // Indexes built before the packed column count from the four columns: the same counts.
        let (packed, columns) = index
            .searcher()
            .search(&tantivy::query::AllQuery, &(FacetCollector, FromColumns))
            .unwrap();
        assert_eq!(packed, facets);
        assert_eq!(columns, facets);
    }

    /// A [`FacetCollector`] that ignores the packed column, as with an index built before it.
    struct FromColumns;

    impl Collector for FromColumns {
        type Fruit = Facets;
        type Child = FacetSegment;

        fn for_segment(
            &self,
            ord: SegmentOrdinal,
            reader: &SegmentReader,
        ) -> tantivy::Result<FacetSegment> {
            let mut seg = FacetCollector.for_segment(ord, reader)?;
            assert!(seg.packed.is_some());
            seg.packed = None;
            Ok(seg)
        }

        fn requires_scoring(&self) -> bool {
            false
        }

        fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Facets> {
            FacetCollector.merge_fruits(fruits)
        }
    }
}
