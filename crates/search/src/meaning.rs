//! Ranking by meaning: the records' sentence embeddings (the `embedding` fast field, written when
//! the index is built with a [`semantic::Encoder`]), read once per segment into a table, searched
//! exhaustively for a query's nearest records, and fused with the text score.
//!
//! A plain free-text search with a model configured
//! 1. finds the [`RankingParams::semantic_neighbours`] records closest in meaning to the query
//!    ([`nearest`]) and adds them to the records its words match ([`DocsQuery`]): the total and
//!    the facets count both, and such a record has a text score of 0;
//! 2. re-ranks the best [`RankingParams::semantic_window`] text matches, with those neighbours
//!    that pass the filters, by `((1 − w) × text + w × cosine × best text) × priors`
//!    ([`rerank`]).
//!
//! The scan costs one dot product of 384 bytes per record (32 ms per 100k records on one
//! core, and the query's embedding about 13 ms), which is why the model is opt-in; embedding a
//! record at indexing (about 0.1 s of CPU) limits it to some tens of thousands of records.
//!
//! [`RankingParams::semantic_neighbours`]: crate::RankingParams::semantic_neighbours
//! [`RankingParams::semantic_window`]: crate::RankingParams::semantic_window

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use tantivy::index::SegmentId;
use tantivy::query::{ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, TantivyError};
use tantivy::{DocSet, TERMINATED};

use crate::index::SemanticPart;

/// Every record's packed vector in one segment, by document id (empty where a record has none).
#[derive(Default)]
pub(crate) struct SegmentVectors {
    /// Packed vectors ([`semantic::quantize`]), `stride` bytes each.
    data: Vec<u8>,
    stride: usize,
    /// Whether the document has a vector.
    present: Vec<bool>,
}

impl SegmentVectors {
    /// Reads the `embedding` column of `seg`: its dictionary once, then each document's ordinal.
    pub(crate) fn read(seg: &SegmentReader) -> Self {
        let Ok(Some(col)) = seg.fast_fields().bytes("embedding") else {
            return SegmentVectors::default();
        };
        let mut by_ord: Vec<Vec<u8>> = Vec::new();
        if let Ok(mut stream) = col.dictionary().stream() {
            while stream.advance() {
                by_ord.push(stream.key().to_vec());
            }
        }
        let stride = by_ord.iter().map(Vec::len).max().unwrap_or(0);
        let max_doc = seg.max_doc() as usize;
        let mut data = vec![0u8; max_doc * stride];
        let mut present = vec![false; max_doc];
        for doc in 0..seg.max_doc() {
            let Some(ord) = col.term_ords(doc).next() else {
                continue;
            };
            if let Some(v) = by_ord.get(ord as usize).filter(|v| v.len() == stride) {
                let at = doc as usize * stride;
                data[at..at + stride].copy_from_slice(v);
                present[doc as usize] = true;
            }
        }
        SegmentVectors {
            data,
            stride,
            present,
        }
    }

    /// The packed vector of `doc`, if it has one.
    fn get(&self, doc: DocId) -> Option<&[u8]> {
        let d = doc as usize;
        if !*self.present.get(d)? {
            return None;
        }
        self.data.get(d * self.stride..(d + 1) * self.stride)
    }
}

/// Per segment, its vectors, built on first use and dropped with the segment.
pub(crate) type VectorTables = HashMap<SegmentId, Arc<SegmentVectors>>;

/// The `k` live records closest to `query` (cosine, best first) with a cosine of at least
/// `min`, over every segment.
pub(crate) fn nearest(
    searcher: &Searcher,
    tables: &VectorTables,
    query: &[f32],
    k: usize,
    min: f32,
) -> Vec<(DocAddress, f32)> {
    // The worst kept entry is on top.
    use crate::union::Ranked;
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Ranked<DocAddress>> = BinaryHeap::with_capacity(k + 1);
    for (ord, seg) in searcher.segment_readers().iter().enumerate() {
        let Some(vectors) = tables.get(&seg.segment_id()) else {
            continue;
        };
        let alive = seg.alive_bitset();
        for doc in 0..seg.max_doc() {
            if alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            let Some(cos) = vectors.get(doc).and_then(|v| semantic::dot(query, v)) else {
                continue;
            };
            if cos < min {
                continue;
            }
            if heap.len() == k {
                match heap.peek() {
                    Some(worst) if f64::from(cos) <= worst.score => continue,
                    _ => {}
                }
            }
            heap.push(Ranked {
                score: f64::from(cos),
                doc: DocAddress::new(ord as u32, doc),
            });
            if heap.len() > k {
                heap.pop();
            }
        }
    }
    let mut out: Vec<(DocAddress, f32)> =
        heap.into_iter().map(|e| (e.doc, e.score as f32)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// A sorted list of documents as a [`DocSet`].
struct ListDocSet {
    docs: Vec<DocId>,
    at: usize,
}

impl DocSet for ListDocSet {
    fn advance(&mut self) -> DocId {
        self.at = (self.at + 1).min(self.docs.len());
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        self.docs.len() as u32
    }
}

/// Matches a fixed set of documents, with a score of 0: the neighbours by meaning, or'ed into
/// the text query so that the total, the facets and the filters treat them as matches.
#[derive(Clone, Debug)]
pub(crate) struct DocsQuery {
    docs: Arc<HashMap<SegmentId, Vec<DocId>>>,
}

impl DocsQuery {
    pub(crate) fn new(searcher: &Searcher, addrs: &[(DocAddress, f32)]) -> Self {
        let mut docs: HashMap<SegmentId, Vec<DocId>> = HashMap::new();
        for (addr, _) in addrs {
            let id = searcher.segment_reader(addr.segment_ord).segment_id();
            docs.entry(id).or_default().push(addr.doc_id);
        }
        for v in docs.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        DocsQuery {
            docs: Arc::new(docs),
        }
    }
}

impl Query for DocsQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for DocsQuery {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let docs = self
            .docs
            .get(&reader.segment_id())
            .cloned()
            .unwrap_or_default();
        Ok(Box::new(ConstScorer::new(ListDocSet { docs, at: 0 }, 0.0)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let found = self
            .docs
            .get(&reader.segment_id())
            .is_some_and(|d| d.binary_search(&doc).is_ok());
        if found {
            Ok(Explanation::new("close in meaning to the query", 0.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} is not among the records close in meaning"
            )))
        }
    }
}

/// Re-ranks `hits` (scores already times their priors) by meaning: a hit whose record has a
/// vector scores `((1 − weight) × text + weight × cosine × best text) × prior`, where `text` is
/// its score over its prior; a hit without one keeps its score. Returns each re-scored hit's
/// [`SemanticPart`].
pub(crate) fn rerank(
    searcher: &Searcher,
    vectors: &VectorTables,
    priors: &HashMap<SegmentId, Arc<[f32]>>,
    query: &[f32],
    weight: f32,
    hits: &mut [(f64, DocAddress)],
) -> HashMap<DocAddress, SemanticPart> {
    let prior = |addr: DocAddress| -> f64 {
        let seg = searcher.segment_reader(addr.segment_ord).segment_id();
        let p = priors
            .get(&seg)
            .and_then(|t| t.get(addr.doc_id as usize))
            .copied()
            .unwrap_or(1.0);
        f64::from(p)
    };
    // Each hit's prior and text score (its score over its prior).
    let parted: Vec<(f64, f64)> = hits
        .iter()
        .map(|&(score, addr)| {
            let p = prior(addr);
            (p, if p > 0.0 { score / p } else { 0.0 })
        })
        .collect();
    // With no word matched anywhere (a query only meaning finds), the cosine stands alone.
    let best = match parted.iter().map(|&(_, t)| t).fold(0.0f64, f64::max) {
        b if b > 0.0 => b,
        _ => 1.0,
    };
    let w = f64::from(weight.clamp(0.0, 1.0));
    let mut parts = HashMap::with_capacity(hits.len());
    for ((score, addr), &(p, t)) in hits.iter_mut().zip(&parted) {
        let seg = searcher.segment_reader(addr.segment_ord).segment_id();
        let cosine = vectors
            .get(&seg)
            .and_then(|v| v.get(addr.doc_id))
            .and_then(|v| semantic::dot(query, v));
        let Some(cosine) = cosine else { continue };
        *score = ((1.0 - w) * t + w * f64::from(cosine) * best) * p;
        parts.insert(
            *addr,
            SemanticPart {
                cosine,
                scale: best as f32,
                weight: w as f32,
                words_matched: t > 0.0,
            },
        );
    }
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    parts
}

/// Visits `sorted` (document addresses in order) segment by segment with `weight`'s scorers,
/// which only move forward, and calls `f(i, score × prior)` for each `sorted[i]` that matches.
pub(crate) fn score_sorted(
    searcher: &Searcher,
    weight: &dyn Weight,
    priors: &HashMap<SegmentId, Arc<[f32]>>,
    sorted: &[DocAddress],
    f: impl FnMut(usize, f64),
) -> tantivy::Result<()> {
    visit_sorted(
        searcher,
        priors,
        sorted,
        |reader| weight.scorer(reader, 1.0),
        |scorer, doc| {
            if scorer.doc() < doc {
                scorer.seek(doc);
            }
            (scorer.doc() == doc).then(|| scorer.score())
        },
        f,
    )
}

/// Visits `sorted` (document addresses in order) segment by segment: `open` makes a segment's
/// scorer, `score` gives the score of a document (each greater than the one before in that
/// segment) or `None` if it does not match, and `f(i, score × prior)` is called for each
/// `sorted[i]` that matches.
pub(crate) fn visit_sorted<S>(
    searcher: &Searcher,
    priors: &HashMap<SegmentId, Arc<[f32]>>,
    sorted: &[DocAddress],
    mut open: impl FnMut(&SegmentReader) -> tantivy::Result<S>,
    mut score: impl FnMut(&mut S, DocId) -> Option<f32>,
    mut f: impl FnMut(usize, f64),
) -> tantivy::Result<()> {
    let mut start = 0;
    while start < sorted.len() {
        let ord = sorted[start].segment_ord;
        let end = start + sorted[start..].partition_point(|a| a.segment_ord == ord);
        let reader = searcher.segment_reader(ord);
        let prior = priors.get(&reader.segment_id());
        let mut scorer = open(reader)?;
        for (i, addr) in sorted.iter().enumerate().take(end).skip(start) {
            if let Some(s) = score(&mut scorer, addr.doc_id) {
                let p = prior
                    .and_then(|t| t.get(addr.doc_id as usize))
                    .copied()
                    .unwrap_or(1.0);
                f(i, f64::from(s * p));
            }
        }
        start = end;
    }
    Ok(())
}

/// The scores (times their priors) of the documents of `addrs` that match `query`, in the order
/// of `addrs`; the others are left out.
pub(crate) fn score_matching(
    searcher: &Searcher,
    query: &dyn Query,
    priors: &HashMap<SegmentId, Arc<[f32]>>,
    addrs: &[DocAddress],
) -> tantivy::Result<Vec<(f64, DocAddress)>> {
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let mut sorted: Vec<DocAddress> = addrs.to_vec();
    sorted.sort_unstable();
    let mut out = Vec::with_capacity(sorted.len());
    score_sorted(searcher, &*weight, priors, &sorted, |i, s| {
        out.push((s, sorted[i]))
    })?;
    let rank: HashMap<DocAddress, usize> = addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    out.sort_by_key(|(_, a)| rank.get(a).copied().unwrap_or(usize::MAX));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::to_document;
    use crate::{RankingParams, SearchIndex};
    use tantivy::collector::Count;
    use tantivy::Term;

    /// An index of records `a`…`e` with hand-made vectors (`d` has none) in which `e` is deleted.
    fn index() -> SearchIndex {
        let index = SearchIndex::create_in_ram(RankingParams::default()).expect("index");
        let fields = *index.fields();
        let mut writer: tantivy::IndexWriter = index.tantivy().writer(15_000_000).expect("writer");
        let vectors: [(&str, Option<[f32; 3]>); 5] = [
            ("a", Some([1.0, 0.0, 0.0])),
            ("b", Some([0.8, 0.6, 0.0])),
            ("c", Some([0.0, 1.0, 0.0])),
            ("d", None),
            ("e", Some([1.0, 0.0, 0.0])),
        ];
        for (id, v) in vectors {
            let mut r = model::Record::new("t", id, &format!("Record {id}"));
            r.id = id.into();
            let mut doc = to_document(&fields, &r);
            if let Some(v) = v {
                doc.add_bytes(fields.embedding, &semantic::quantize(&v));
            }
            writer.add_document(doc).expect("add");
        }
        writer.commit().expect("commit");
        writer.delete_term(Term::from_field_text(fields.id, "e"));
        writer.commit().expect("commit");
        index.reload().expect("reload");
        index
    }

    fn tables(searcher: &Searcher) -> VectorTables {
        searcher
            .segment_readers()
            .iter()
            .map(|s| (s.segment_id(), Arc::new(SegmentVectors::read(s))))
            .collect()
    }

    fn id_of(index: &SearchIndex, searcher: &Searcher, addr: DocAddress) -> String {
        let doc: tantivy::TantivyDocument = searcher.doc(addr).expect("doc");
        use tantivy::schema::Value;
        doc.get_first(index.fields().id)
            .and_then(|v| v.as_str())
            .expect("id")
            .to_string()
    }

    #[test]
    fn nearest_finds_the_closest_live_records_above_the_floor() {
        let index = index();
        let searcher = index.searcher();
        let t = tables(&searcher);
        let q = [1.0, 0.0, 0.0];
        let ids = |k, min| -> Vec<String> {
            nearest(&searcher, &t, &q, k, min)
                .into_iter()
                .map(|(a, _)| id_of(&index, &searcher, a))
                .collect()
        };
        // `e` is as close as `a` but deleted; `d` has no vector.
        assert_eq!(ids(2, -1.0), ["a", "b"]);
        assert_eq!(ids(10, -1.0), ["a", "b", "c"]);
        assert_eq!(ids(10, 0.5), ["a", "b"]);
        assert!(ids(0, -1.0).is_empty());
        let scores: Vec<f32> = nearest(&searcher, &t, &q, 3, -1.0)
            .iter()
            .map(|p| p.1)
            .collect();
        assert!((scores[0] - 1.0).abs() < 0.01 && (scores[1] - 0.8).abs() < 0.01);
    }

    #[test]
    fn docs_query_matches_exactly_its_documents_with_score_zero() {
        let index = index();
        let searcher = index.searcher();
        let near = nearest(&searcher, &tables(&searcher), &[1.0, 0.0, 0.0], 2, -1.0);
        let q = DocsQuery::new(&searcher, &near);
        assert_eq!(searcher.search(&q, &Count).expect("count"), 2);
        let (a, _) = near[0];
        let ex = Query::explain(&q, &searcher, a).expect("a member explains");
        assert_eq!(ex.value(), 0.0);
        let c = nearest(&searcher, &tables(&searcher), &[0.0, 1.0, 0.0], 1, -1.0)[0].0;
        assert!(Query::explain(&q, &searcher, c).is_err(), "not a member");
        let scored = score_matching(&searcher, &q, &HashMap::new(), &[c, a]).expect("scores");
        assert_eq!(
            scored,
            vec![(0.0, a)],
            "only members match, in the order asked"
        );
    }

    #[test]
    fn rerank_fuses_text_and_meaning_and_orders_by_meaning_alone_without_words() {
        let index = index();
        let searcher = index.searcher();
        let t = tables(&searcher);
        let near = nearest(&searcher, &t, &[0.0, 1.0, 0.0], 3, -1.0);
        let addr = |id: &str| {
            near.iter()
                .map(|p| p.0)
                .find(|a| id_of(&index, &searcher, *a) == id)
                .expect("found")
        };
        let (a, b, c) = (addr("a"), addr("b"), addr("c"));
        // No word matched anywhere: the cosine alone orders them.
        let mut hits = vec![(0.0, a), (0.0, b), (0.0, c)];
        let parts = rerank(
            &searcher,
            &t,
            &HashMap::new(),
            &[0.0, 1.0, 0.0],
            0.5,
            &mut hits,
        );
        let order: Vec<DocAddress> = hits.iter().map(|h| h.1).collect();
        assert_eq!(order, [c, b, a]);
        assert!(parts.values().all(|p| !p.words_matched));
        // `a` has the best text (1) and no meaning; `b` half the text and cosine 0.6:
        // 0.5 × 1 = 0.5 against 0.5 × 0.5 + 0.5 × 0.6 × 1 = 0.55.
        let fuse = |hits: &mut Vec<(f64, DocAddress)>, w| {
            rerank(&searcher, &t, &HashMap::new(), &[0.0, 1.0, 0.0], w, hits)
        };
        let mut hits = vec![(1.0, a), (0.5, b)];
        let parts = fuse(&mut hits, 0.5);
        assert_eq!(hits[0].1, b);
        assert!((hits[0].0 - 0.55).abs() < 0.01, "{hits:?}");
        assert!(parts[&a].words_matched && (parts[&a].scale - 1.0).abs() < 1e-6);
        // Weight 0 leaves the text order.
        let mut hits = vec![(1.0, a), (0.5, b)];
        fuse(&mut hits, 0.0);
        assert_eq!(hits[0].1, a);
    }
}
