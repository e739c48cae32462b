//! The proximity bonus of the best-ranked records, computed for those records only.
//!
//! The bonus is a sloppy phrase query per field ([`Proximity`]). Scored through tantivy, each
//! phrase scorer is built by finding the segment's first record where the words stand within the
//! slop, and every seek to one of the page's records goes on to the next such record: with
//! common words, most of the records that hold all of them do not hold them close together, so
//! each re-ranked record cost a scan of the postings and positions in between. With a window of
//! 100 that was 12% of a 2-4 word search at 1M records, one core, all of it outside the part a
//! split search shares between cores.
//!
//! Here each word's postings only move to the records asked for. Where a record holds every word
//! of a field's phrase, the phrase's occurrences in that record are counted as tantivy's
//! `PhraseScorer` counts them ([`phrase_count`], ported from tantivy 0.24.2, which does not
//! export its scorer), taking the words in the order tantivy takes them (by document frequency),
//! and scored by tantivy's `Bm25Weight`. The bonus is tantivy's to the bit:
//! `index::tests::proximity_bonus_is_tantivys` compares the two on every record of a test index.

use std::collections::HashMap;
use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::SegmentId;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::Bm25Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, DocSet, Searcher};

use crate::query::Proximity;

/// Calls `f(i, bonus × prior)` for each record `sorted[i]` (addresses in order) that gets a
/// bonus: the same calls, with the same scores, as [`crate::meaning::score_sorted`] makes with
/// `proximity`'s weight.
pub(crate) fn score_sorted(
    searcher: &Searcher,
    proximity: &Proximity,
    priors: &HashMap<SegmentId, Arc<[f32]>>,
    sorted: &[DocAddress],
    f: impl FnMut(usize, f64),
) -> tantivy::Result<()> {
    // As `PhraseWeight` builds it: BM25 with the phrase's summed idf, times the boost that the
    // `BoostQuery` passes down to the phrase scorers.
    let weights: Vec<Bm25Weight> = proximity
        .phrases
        .iter()
        .map(|terms| {
            let terms: Vec<_> = terms.iter().map(|(_, t)| t.clone()).collect();
            Ok(Bm25Weight::for_terms(searcher, &terms)?.boost_by(proximity.boost))
        })
        .collect::<tantivy::Result<_>>()?;
    crate::meaning::visit_sorted(
        searcher,
        priors,
        sorted,
        |reader| {
            let mut phrases = Vec::with_capacity(weights.len());
            for (terms, weight) in proximity.phrases.iter().zip(&weights) {
                if let Some(p) = SegmentPhrase::open(reader, terms, weight)? {
                    phrases.push(p);
                }
            }
            Ok(phrases)
        },
        |phrases, doc| {
            // As tantivy's union of the phrase scorers sums them (`SumCombiner`, from 0).
            let mut bonus: Option<f32> = None;
            for phrase in phrases {
                if let Some(s) = phrase.score(doc, proximity.slop) {
                    bonus = Some(bonus.unwrap_or(0.0) + s);
                }
            }
            bonus
        },
        f,
    )
}

/// One field's phrase in one segment: each word's postings, moving forward.
struct SegmentPhrase {
    /// (offset in the phrase, postings with positions), in the phrase's order.
    words: Vec<(usize, SegmentPostings)>,
    /// The order in which tantivy intersects the words' positions: by document frequency in
    /// the segment (a stable sort of the phrase's order).
    order: Vec<usize>,
    /// Added to each word's positions so that the phrase's words line up: the largest offset
    /// less the word's, as tantivy's `PostingsWithOffset` adds it.
    shift: Vec<u32>,
    weight: Bm25Weight,
    norms: FieldNormReader,
    scratch: Scratch,
}

impl SegmentPhrase {
    /// `None` if a word of the phrase is not in the segment (no record can hold the phrase), or
    /// if it has fewer than two words (tantivy's phrase queries refuse those).
    fn open(
        reader: &tantivy::SegmentReader,
        terms: &[(usize, tantivy::Term)],
        weight: &Bm25Weight,
    ) -> tantivy::Result<Option<SegmentPhrase>> {
        let (Some((_, first)), true) = (terms.first(), terms.len() >= 2) else {
            return Ok(None);
        };
        let mut words = Vec::with_capacity(terms.len());
        for (offset, term) in terms {
            match reader
                .inverted_index(term.field())?
                .read_postings(term, IndexRecordOption::WithFreqsAndPositions)?
            {
                Some(p) => words.push((*offset, p)),
                None => return Ok(None),
            }
        }
        let mut order: Vec<usize> = (0..words.len()).collect();
        order.sort_by_key(|&i| words[i].1.size_hint());
        let max = words.iter().map(|(o, _)| *o).max().unwrap_or(0);
        let shift = words.iter().map(|(o, _)| (max - o) as u32).collect();
        // As `PhraseWeight` picks them: the first word's field.
        let norms = reader
            .fieldnorms_readers()
            .get_field(first.field())?
            .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
        Ok(Some(SegmentPhrase {
            words,
            order,
            shift,
            weight: weight.clone(),
            norms,
            scratch: Scratch::default(),
        }))
    }

    /// The phrase's score in `doc` (greater than every doc asked before), or `None` if `doc`
    /// does not hold the words within `slop`.
    fn score(&mut self, doc: DocId, slop: u32) -> Option<f32> {
        let mut all = true;
        for (_, p) in &mut self.words {
            if p.doc() < doc {
                p.seek(doc);
            }
            all &= p.doc() == doc;
        }
        if !all {
            return None;
        }
        let s = &mut self.scratch;
        s.positions.resize_with(self.words.len(), Vec::new);
        for (rank, &i) in self.order.iter().enumerate() {
            self.words[i]
                .1
                .positions_with_offset(self.shift[i], &mut s.positions[rank]);
        }
        let count = phrase_count(s, self.words.len(), slop);
        (count > 0).then(|| self.weight.score(self.norms.fieldnorm_id(doc), count))
    }
}

/// Buffers of [`phrase_count`], kept between records.
#[derive(Default)]
struct Scratch {
    /// Each word's positions (shifted), in intersection order.
    positions: Vec<Vec<u32>>,
    left: Vec<u32>,
    left_slops: Vec<u8>,
    positions_buffer: Vec<u32>,
    slops_buffer: Vec<u8>,
}

// What follows is tantivy 0.24.2's phrase counting (src/query/phrase_query/phrase_scorer.rs,
// MIT licence, Copyright (c) 2018 by the project authors, as listed in the AUTHORS file), kept
// as close to the original as a port allows, so that a record's count is the one tantivy's
// `PhraseScorer` gives it.

/// The phrase's occurrences in one record: `PhraseScorer::compute_phrase_count` with scoring on,
/// over `s.positions` (`n >= 2` words, in intersection order).
fn phrase_count(s: &mut Scratch, n: usize, slop: u32) -> u32 {
    let has_slop = slop > 0;
    // compute_phrase_match
    s.left.clear();
    s.left.extend_from_slice(&s.positions[0]);
    if has_slop {
        s.left_slops.clear();
    }
    for i in 1..n - 1 {
        let right = &s.positions[i];
        if has_slop {
            intersection_count_with_carrying_slop(
                &mut s.left,
                &mut s.left_slops,
                right,
                slop,
                true,
                &mut s.positions_buffer,
                &mut s.slops_buffer,
            );
        } else {
            // tantivy's exact intersection, which this is at slop 0 (positions are increasing).
            intersection_count_with_slop(&mut s.left, right, 0, true);
        }
        if s.left.is_empty() {
            return 0;
        }
    }
    let right = &s.positions[n - 1];
    // compute_phrase_count
    if has_slop && n > 2 {
        intersection_count_with_carrying_slop(
            &mut s.left,
            &mut s.left_slops,
            right,
            slop,
            false,
            &mut s.positions_buffer,
            &mut s.slops_buffer,
        )
    } else {
        intersection_count_with_slop(&mut s.left, right, slop, false) as u32
    }
}

/// The matches of two sorted arrays where `left` and `right` are at most `slop` apart (left in
/// `left_positions` if `update_left`).
fn intersection_count_with_slop(
    left_positions: &mut Vec<u32>,
    right_positions: &[u32],
    slop: u32,
    update_left: bool,
) -> usize {
    let mut left_index = 0;
    let mut right_index = 0;
    let mut count = 0;
    let left_len = left_positions.len();
    let right_len = right_positions.len();
    while left_index < left_len && right_index < right_len {
        let left_val = left_positions[left_index];
        let right_val = right_positions[right_index];

        let distance = left_val.abs_diff(right_val);
        if distance <= slop {
            while left_index + 1 < left_len {
                // There could be a better match.
                let next_left_val = left_positions[left_index + 1];
                if next_left_val > right_val {
                    // The next value is outside the range, so the current one is the best.
                    break;
                }
                left_index += 1;
            }
            if update_left {
                left_positions[count] = right_val;
            }
            count += 1;
            left_index += 1;
            right_index += 1;
        } else if left_val < right_val {
            left_index += 1;
        } else {
            right_index += 1;
        }
    }
    if update_left {
        left_positions.truncate(count);
    }
    count
}

/// The intersection for phrases of more than two words, which carries the slop spent so far
/// (`left_slops`, empty for none); see tantivy's comment on its own caveats.
fn intersection_count_with_carrying_slop(
    left_positions: &mut Vec<u32>,
    left_slops: &mut Vec<u8>,
    right_positions: &[u32],
    max_slop: u32,
    update_left: bool,
    positions_buffer: &mut Vec<u32>,
    slops_buffer: &mut Vec<u8>,
) -> u32 {
    let mut left_index = 0;
    let mut right_index = 0;
    let mut count = 0;

    if left_positions.is_empty() || right_positions.is_empty() {
        if update_left {
            left_positions.clear();
            left_slops.clear();
        }
        return 0;
    }

    let add_val = |val: (u8, u32), new_left: &mut Vec<u32>, new_slops: &mut Vec<u8>| {
        if update_left {
            match (new_left.last(), new_slops.last_mut()) {
                (Some(&last), Some(last_slop)) if last == val.1 => {
                    *last_slop = (*last_slop).min(val.0);
                }
                _ => {
                    new_left.push(val.1);
                    new_slops.push(val.0);
                }
            }
        }
    };
    loop {
        let left_val = left_positions[left_index];
        let slop_so_far = left_slops.get(left_index).cloned().unwrap_or(0);
        let right_val = right_positions[right_index];

        let distance = slop_so_far as u32 + left_val.abs_diff(right_val);
        if distance <= max_slop {
            let (smaller_val, larger_val, mut smaller_val_idx, smaller_val_positions) =
                if left_val < right_val {
                    (left_val, right_val, left_index, left_positions.as_slice())
                } else {
                    (right_val, left_val, right_index, right_positions)
                };

            let mut new_slop = distance;
            add_val(
                (new_slop as u8, smaller_val),
                positions_buffer,
                slops_buffer,
            );
            while smaller_val_idx + 1 < smaller_val_positions.len() {
                // There could be a better match.
                let next_val = smaller_val_positions[smaller_val_idx + 1];
                if next_val > larger_val {
                    // The next value is outside the range, so the current one is the best.
                    break;
                }
                let distance = next_val.abs_diff(larger_val);
                smaller_val_idx += 1;
                new_slop = slop_so_far as u32 + distance;
                add_val((new_slop as u8, next_val), positions_buffer, slops_buffer);
            }

            add_val((new_slop as u8, larger_val), positions_buffer, slops_buffer);
            count += 1;
            left_index += 1;
            right_index += 1;
        } else if left_val < right_val {
            left_index += 1;
        } else {
            right_index += 1;
        }

        if left_index >= left_positions.len() || right_index >= right_positions.len() {
            // Finish the rest.
            if left_index >= left_positions.len() {
                let left_val = left_positions.last().copied().unwrap_or(0);
                let slop_so_far: u8 = *left_slops.last().unwrap_or(&0);
                for right_val in &right_positions[right_index..] {
                    let new_slop = left_val.abs_diff(*right_val) + slop_so_far as u32;
                    if new_slop <= max_slop {
                        add_val((new_slop as u8, *right_val), positions_buffer, slops_buffer);
                    }
                }
            } else {
                let right_val = right_positions.last().copied().unwrap_or(0);
                for (left_idx, &left_val) in left_positions.iter().enumerate().skip(left_index) {
                    let slop_so_far = *left_slops.get(left_idx).unwrap_or(&0);
                    let new_slop = left_val.abs_diff(right_val) + slop_so_far as u32;
                    if new_slop <= max_slop {
                        add_val((new_slop as u8, left_val), positions_buffer, slops_buffer);
                    }
                }
            };

            break;
        }
    }
    if update_left {
        std::mem::swap(left_positions, positions_buffer);
        std::mem::swap(left_slops, slops_buffer);
        positions_buffer.clear();
        slops_buffer.clear();
    }

    count
}
