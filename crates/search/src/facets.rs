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
    evidence: Column<u64>,
    audience: Column<u64>,
    open_access: Column<u64>,
    year: Column<u64>,
    source: Option<StrColumn>,
    source_ords: Vec<u64>,
    counts: Counts,
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
            evidence: ff.u64("evidence")?,
            audience: ff.u64("audience")?,
            open_access: ff.u64("open_access")?,
            year: ff.u64("year")?,
            source,
            source_ords: vec![0; n_sources],
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
        if let Some(e) = self.evidence.first(doc) {
            if let Some(slot) = self.counts.evidence.get_mut(e as usize) {
                *slot += 1;
            }
        }
        if let Some(a) = self.audience.first(doc) {
            if let Some(slot) = self.counts.audience.get_mut(a as usize) {
                *slot += 1;
            }
        }
        if let Some(o) = self.open_access.first(doc) {
            if let Some(slot) = self.counts.open_access.get_mut(o as usize) {
                *slot += 1;
            }
        }
        if let Some(y) = self.year.first(doc) {
            *self.counts.year.entry(y).or_default() += 1;
        }
        if let Some(src) = &self.source {
            for ord in src.term_ords(doc) {
                if let Some(slot) = self.source_ords.get_mut(ord as usize) {
                    *slot += 1;
                }
            }
        }
    }

    fn harvest(mut self) -> Counts {
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
