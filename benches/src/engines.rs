//! The engines compared, behind one small trait, and the closed-loop measurement that runs a
//! query set against any of them.
//!
//! The task every engine is given: the top 10 records by relevance for an OR query (id and title
//! read back), with the filters applied; for the `filtered_faceted` shape also counts by evidence
//! level over every match. What differs per engine is said on each adapter.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::{
    DocId, Index, IndexReader, ReloadPolicy, Score, SegmentReader, TantivyDocument, Term,
};

use crate::corpus::PeerDoc;
use crate::queries::{BenchQuery, Clause, Shape, TagField};
use crate::stats::{histogram, record, Summary};

/// An engine that can run a benchmark query.
pub trait Engine {
    /// Its name in the results.
    fn name(&self) -> &'static str;
    /// Runs one query; returns the number of hits read back (10 at most).
    fn run(&mut self, q: &BenchQuery) -> anyhow::Result<usize>;
}

/// The outcome of running a query set against one engine.
#[derive(Debug, Clone, Serialize)]
pub struct EngineRun {
    /// Over every query.
    pub all: Summary,
    /// Per query shape.
    pub per_shape: BTreeMap<&'static str, Summary>,
    /// Queries that returned no hit (a sanity check that translations match something).
    pub zero_hit: u64,
    /// Queries that failed.
    pub errors: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
}

/// Runs `queries` against `engine` in a closed loop on this thread: a warm-up pass (at most
/// `warmup`), then rounds over the set until `budget` is spent or `max_rounds` are done. The set is
/// interleaved by shape, so a run cut short still covers every shape.
pub fn measure(
    engine: &mut dyn Engine,
    queries: &[BenchQuery],
    warmup: Duration,
    budget: Duration,
    max_rounds: usize,
) -> EngineRun {
    let started = Instant::now();
    for q in queries {
        if started.elapsed() > warmup {
            break;
        }
        let _ = engine.run(q);
    }
    let mut all = histogram();
    let mut shapes: BTreeMap<Shape, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    let mut zero_hit = 0;
    let mut errors = 0;
    let mut first_error = None;
    let started = Instant::now();
    'rounds: for round in 0..max_rounds.max(1) {
        for q in queries {
            if started.elapsed() >= budget {
                break 'rounds;
            }
            let t = Instant::now();
            let res = engine.run(q);
            let d = t.elapsed();
            match res {
                Ok(n) => {
                    record(&mut all, d);
                    record(shapes.entry(q.shape).or_insert_with(histogram), d);
                    if n == 0 && round == 0 {
                        zero_hit += 1;
                    }
                }
                Err(e) => {
                    errors += 1;
                    if first_error.is_none() {
                        first_error = Some(format!("{e:#}"));
                    }
                }
            }
        }
    }
    let wall = started.elapsed();
    EngineRun {
        all: Summary::from_histogram(&all, wall),
        per_shape: shapes
            .iter()
            .map(|(s, h)| {
                // Per-shape QPS is not meaningful in an interleaved run; report the rate this
                // shape alone would reach back to back.
                let mut sum = Summary::from_histogram(h, wall);
                sum.qps = if sum.mean_ms > 0.0 {
                    1000.0 / sum.mean_ms
                } else {
                    0.0
                };
                (s.as_str(), sum)
            })
            .collect(),
        zero_hit,
        errors,
        first_error,
    }
}

/// This engine, in process, on an open index.
pub struct Evidence {
    /// The index.
    pub index: search::SearchIndex,
    /// Whether to highlight titles and build snippets.
    pub highlight: bool,
    /// Facets: `None` = when the query asks (the comparison task), `Some(b)` = always / never.
    pub facets: Option<bool>,
    /// Name in the results.
    pub label: &'static str,
}

impl Engine for Evidence {
    fn name(&self) -> &'static str {
        self.label
    }

    fn run(&mut self, q: &BenchQuery) -> anyhow::Result<usize> {
        let res = self.index.search(&q.request(self.highlight, self.facets))?;
        Ok(res.hits.len())
    }
}

/// Builds this engine's index of `records` in `dir` (a plain index, not a generation), on the
/// builder the indexer uses; returns the index and the seconds it took.
pub fn build_evidence_index(
    dir: Option<&Path>,
    records: Vec<model::Record>,
    memory_bytes: usize,
) -> anyhow::Result<(search::SearchIndex, f64)> {
    let t = Instant::now();
    let params = search::RankingParams::default();
    let index = match dir {
        Some(d) => search::SearchIndex::create(d, params)?,
        None => search::SearchIndex::create_in_ram(params)?,
    };
    let mut b = index.builder(memory_bytes)?;
    let mut it = records.into_iter();
    loop {
        let batch: Vec<model::Record> = it.by_ref().take(2000).collect();
        if batch.is_empty() {
            break;
        }
        b.add(batch, false)?;
    }
    b.finish()?;
    index.reload()?;
    Ok((index, t.elapsed().as_secs_f64()))
}

// ---------------------------------------------------------------------------------------------
// Raw tantivy: the floor.

/// Raw tantivy with its stock `en_stem` analyser (no stop words, no UK/US folding), BM25 over
/// title^2, abstract, mesh^1.5, keywords^1.2 through tantivy's `QueryParser`, the same filters, top
/// 10 with the title read back; facet counts by evidence level from a fast field. No priors, no
/// total count, no snippets, no record JSON: what this engine adds on top costs the difference.
pub struct TantivyRaw {
    index: Index,
    reader: IndexReader,
    f: RawFields,
    /// Also count every match (as this engine always does for its `total`), which turns off
    /// tantivy's block-max WAND pruning of the top-k: the diagnostic variant `tantivy-raw+count`.
    pub count: bool,
}

#[derive(Clone, Copy)]
struct RawFields {
    title: Field,
    abstract_text: Field,
    mesh: Field,
    keywords: Field,
    year: Field,
    evidence: Field,
    source: Field,
}

impl TantivyRaw {
    /// Builds the index in `dir` from `docs`; returns the engine and the build seconds.
    pub fn build(dir: &Path, docs: &[PeerDoc]) -> anyhow::Result<(Self, f64)> {
        let t = Instant::now();
        let mut sb = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let id = sb.add_text_field("id", STRING | STORED);
        let f = RawFields {
            title: sb.add_text_field("title", text.clone().set_stored()),
            abstract_text: sb.add_text_field("abstract", text.clone()),
            mesh: sb.add_text_field("mesh", text.clone()),
            keywords: sb.add_text_field("keywords", text),
            year: sb.add_u64_field("year", INDEXED | FAST),
            evidence: sb.add_u64_field("evidence", INDEXED | FAST),
            source: sb.add_text_field("source", STRING | FAST),
        };
        std::fs::create_dir_all(dir)?;
        let index = Index::create_in_dir(dir, sb.build())?;
        // The same writer budget as this engine's builds, so both end with as many segments.
        let mut w = index.writer_with_num_threads(2, indexer::config::default_memory_mb() << 20)?;
        for d in docs {
            let mut doc = TantivyDocument::default();
            doc.add_text(id, &d.id);
            doc.add_text(f.title, &d.title);
            doc.add_text(f.abstract_text, &d.abstract_text);
            doc.add_text(f.mesh, &d.mesh);
            doc.add_text(f.keywords, &d.keywords);
            doc.add_u64(f.year, u64::from(d.year));
            doc.add_u64(f.evidence, u64::from(d.evidence));
            doc.add_text(f.source, &d.source);
            w.add_document(doc)?;
        }
        w.commit()?;
        let seconds = t.elapsed().as_secs_f64();
        // Then merged into one segment, untimed, as this engine's generation is after its
        // build (`[index] compact_after_build`), so that both search one segment.
        let ids = index.searchable_segment_ids()?;
        if ids.len() > 1 {
            w.merge(&ids).wait()?;
        }
        w.wait_merging_threads()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok((
            TantivyRaw {
                index,
                reader,
                f,
                count: false,
            },
            seconds,
        ))
    }

    /// The query in `QueryParser` syntax.
    pub fn translate(q: &BenchQuery) -> String {
        let tag = |f: Option<TagField>| match f {
            Some(TagField::Title) => "title:",
            Some(TagField::Mesh) => "mesh:",
            None => "",
        };
        q.clauses
            .iter()
            .map(|c| match c {
                Clause::Word { field, word } => format!("{}{word}", tag(*field)),
                Clause::Phrase { field, words } => {
                    format!("{}\"{}\"", tag(*field), words.join(" "))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

struct EvidenceCounts;
struct EvidenceCountsSeg(Option<tantivy::columnar::Column<u64>>, [u64; 8]);

impl Collector for EvidenceCounts {
    type Fruit = [u64; 8];
    type Child = EvidenceCountsSeg;
    fn for_segment(&self, _: u32, seg: &SegmentReader) -> tantivy::Result<EvidenceCountsSeg> {
        Ok(EvidenceCountsSeg(
            seg.fast_fields().u64("evidence").ok(),
            [0; 8],
        ))
    }
    fn requires_scoring(&self) -> bool {
        false
    }
    fn merge_fruits(&self, fruits: Vec<[u64; 8]>) -> tantivy::Result<[u64; 8]> {
        let mut out = [0; 8];
        for f in fruits {
            for (o, v) in out.iter_mut().zip(f) {
                *o += v;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for EvidenceCountsSeg {
    type Fruit = [u64; 8];
    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(v) = self.0.as_ref().and_then(|c| c.first(doc)) {
            self.1[(v as usize) & 7] += 1;
        }
    }
    fn harvest(self) -> [u64; 8] {
        self.1
    }
}

impl Engine for TantivyRaw {
    fn name(&self) -> &'static str {
        if self.count {
            "tantivy-raw+count"
        } else {
            "tantivy-raw"
        }
    }

    fn run(&mut self, q: &BenchQuery) -> anyhow::Result<usize> {
        let f = self.f;
        let mut parser = QueryParser::for_index(
            &self.index,
            vec![f.title, f.abstract_text, f.mesh, f.keywords],
        );
        let w = search::RankingParams::default();
        parser.set_field_boost(f.title, w.title_weight);
        parser.set_field_boost(f.abstract_text, w.abstract_weight);
        parser.set_field_boost(f.mesh, w.mesh_weight);
        parser.set_field_boost(f.keywords, w.keywords_weight);
        let text = parser.parse_query(&Self::translate(q))?;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text)];
        if let Some(y) = q.filters.year_from {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    std::ops::Bound::Included(Term::from_field_u64(f.year, u64::from(y))),
                    std::ops::Bound::Included(Term::from_field_u64(f.year, 9999)),
                )),
            ));
        }
        if !q.filters.evidence.is_empty() {
            clauses.push((
                Occur::Must,
                Box::new(TermSetQuery::new(q.filters.evidence.iter().map(|l| {
                    Term::from_field_u64(f.evidence, search::schema::evidence_ord(*l))
                }))),
            ));
        }
        if !q.filters.sources.is_empty() {
            clauses.push((
                Occur::Must,
                Box::new(TermSetQuery::new(
                    q.filters
                        .sources
                        .iter()
                        .map(|s| Term::from_field_text(f.source, s)),
                )),
            ));
        }
        let query: Box<dyn Query> = if clauses.len() == 1 {
            clauses.remove(0).1
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let searcher = self.reader.searcher();
        let top = if q.facets {
            let (top, _counts) =
                searcher.search(&*query, &(TopDocs::with_limit(10), EvidenceCounts))?;
            top
        } else if self.count {
            let (top, _n) = searcher.search(
                &*query,
                &(TopDocs::with_limit(10), tantivy::collector::Count),
            )?;
            top
        } else {
            searcher.search(&*query, &TopDocs::with_limit(10))?
        };
        let mut n = 0;
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if doc.get_first(f.title).and_then(|v| v.as_str()).is_some() {
                n += 1;
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite FTS5.

/// SQLite FTS5 (rusqlite, bundled SQLite) with the `porter unicode61` tokenizer (stemming, no stop
/// words, no UK/US folding) and bm25 ranking with the engine's column weights (title, abstract,
/// mesh, keywords from `RankingParams::default()`), set as the table's `rank`. Filters are
/// UNINDEXED columns checked on each match; facet counts are a second `GROUP BY evidence` query
/// over the same match.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

fn sql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn sql_filters(q: &BenchQuery) -> String {
    let mut s = String::new();
    if let Some(y) = q.filters.year_from {
        s.push_str(&format!(" AND year >= {y}"));
    }
    if !q.filters.evidence.is_empty() {
        let v: Vec<String> = q
            .filters
            .evidence
            .iter()
            .map(|l| search::schema::evidence_ord(*l).to_string())
            .collect();
        s.push_str(&format!(" AND evidence IN ({})", v.join(",")));
    }
    if !q.filters.sources.is_empty() {
        let v: Vec<String> = q.filters.sources.iter().map(|x| sql_quote(x)).collect();
        s.push_str(&format!(" AND source IN ({})", v.join(",")));
    }
    s
}

impl Sqlite {
    /// Builds the database at `path` from `docs`; returns the engine and the build seconds.
    pub fn build(path: &Path, docs: &[PeerDoc]) -> anyhow::Result<(Self, f64)> {
        let t = Instant::now();
        let _ = std::fs::remove_file(path);
        let mut conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;
             CREATE VIRTUAL TABLE docs USING fts5(
                 title, abstract, mesh, keywords,
                 year UNINDEXED, evidence UNINDEXED, source UNINDEXED,
                 tokenize = 'porter unicode61 remove_diacritics 2');",
        )?;
        {
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare(
                    "INSERT INTO docs(rowid, title, abstract, mesh, keywords, year, evidence, source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for (i, d) in docs.iter().enumerate() {
                    st.execute(rusqlite::params![
                        i as i64 + 1,
                        d.title,
                        d.abstract_text,
                        d.mesh,
                        d.keywords,
                        d.year,
                        d.evidence,
                        d.source
                    ])?;
                }
            }
            tx.commit()?;
        }
        let w = search::RankingParams::default();
        conn.execute_batch(&format!(
            "INSERT INTO docs(docs) VALUES('optimize');
             INSERT INTO docs(docs, rank) VALUES('rank', 'bm25({:.2}, {:.2}, {:.2}, {:.2}, 0.0, 0.0, 0.0)');",
            w.title_weight, w.abstract_weight, w.mesh_weight, w.keywords_weight
        ))?;
        Ok((Sqlite { conn }, t.elapsed().as_secs_f64()))
    }

    /// The FTS5 MATCH expression.
    pub fn translate(q: &BenchQuery) -> String {
        let tag = |f: Option<TagField>| match f {
            Some(TagField::Title) => "title : ",
            Some(TagField::Mesh) => "mesh : ",
            None => "",
        };
        q.clauses
            .iter()
            .map(|c| match c {
                Clause::Word { field, word } => format!("{}\"{word}\"", tag(*field)),
                Clause::Phrase { field, words } => {
                    format!("{}\"{}\"", tag(*field), words.join(" "))
                }
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }
}

impl Engine for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite-fts5"
    }

    fn run(&mut self, q: &BenchQuery) -> anyhow::Result<usize> {
        let m = Self::translate(q);
        let filters = sql_filters(q);
        let sql = format!(
            "SELECT rowid, title FROM docs WHERE docs MATCH ?1{filters} ORDER BY rank LIMIT 10"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([&m])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let _title: String = row.get(1)?;
            n += 1;
        }
        if q.facets {
            let sql = format!(
                "SELECT evidence, count(*) FROM docs WHERE docs MATCH ?1{filters} GROUP BY evidence"
            );
            let mut st = self.conn.prepare_cached(&sql)?;
            let mut rows = st.query([&m])?;
            while let Some(row) = rows.next()? {
                let _count: i64 = row.get(1)?;
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL full-text search.

/// PostgreSQL full-text search: a stored `tsvector` column (english configuration: stemming and
/// stop words; title weight A, mesh B, keywords C, abstract D), a GIN index, `ts_rank` (not BM25:
/// PostgreSQL has none) over the matches, the same filters as plain columns, top 10. Facet
/// counts are a second `GROUP BY evidence` query. JIT is switched off for the session, since
/// compiling each query plan costs more than these queries take.
pub struct Postgres {
    client: postgres::Client,
}

impl Postgres {
    /// Connects to `url` and builds the table and its index from `docs`; returns the engine and
    /// the build seconds (load and index).
    pub fn build(url: &str, docs: &[PeerDoc]) -> anyhow::Result<(Self, f64)> {
        use std::io::Write;
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .with_context(|| format!("cannot connect to postgres at {url}"))?;
        client.batch_execute("SET jit = off; SET maintenance_work_mem = '512MB';")?;
        let t = Instant::now();
        client.batch_execute(
            "DROP TABLE IF EXISTS docs;
             CREATE UNLOGGED TABLE docs (
                 rid integer, id text, title text, abstract text, mesh text, keywords text,
                 year integer, evidence integer, source text,
                 tsv tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('english', title), 'A') ||
                     setweight(to_tsvector('english', mesh), 'B') ||
                     setweight(to_tsvector('english', keywords), 'C') ||
                     setweight(to_tsvector('english', abstract), 'D')) STORED);",
        )?;
        {
            let mut w = client.copy_in(
                "COPY docs (rid, id, title, abstract, mesh, keywords, year, evidence, source) FROM STDIN",
            )?;
            let esc = |s: &str| {
                s.replace('\\', "\\\\")
                    .replace('\t', "\\t")
                    .replace('\n', "\\n")
                    .replace('\r', "\\r")
            };
            let mut buf = String::with_capacity(1 << 20);
            for (i, d) in docs.iter().enumerate() {
                buf.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    i + 1,
                    esc(&d.id),
                    esc(&d.title),
                    esc(&d.abstract_text),
                    esc(&d.mesh),
                    esc(&d.keywords),
                    d.year,
                    d.evidence,
                    esc(&d.source)
                ));
                if buf.len() > 1 << 20 {
                    w.write_all(buf.as_bytes())?;
                    buf.clear();
                }
            }
            w.write_all(buf.as_bytes())?;
            w.finish()?;
        }
        client.batch_execute("CREATE INDEX docs_tsv ON docs USING gin (tsv); ANALYZE docs;")?;
        Ok((Postgres { client }, t.elapsed().as_secs_f64()))
    }

    /// The `to_tsquery` text.
    pub fn translate(q: &BenchQuery) -> String {
        let w = |f: Option<TagField>, word: &str| match f {
            Some(TagField::Title) => format!("{word}:A"),
            Some(TagField::Mesh) => format!("{word}:B"),
            None => word.to_string(),
        };
        q.clauses
            .iter()
            .map(|c| match c {
                Clause::Word { field, word } => w(*field, word),
                Clause::Phrase { field, words } => format!(
                    "({})",
                    words
                        .iter()
                        .map(|x| w(*field, x))
                        .collect::<Vec<_>>()
                        .join(" <-> ")
                ),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl Engine for Postgres {
    fn name(&self) -> &'static str {
        "postgres-fts"
    }

    fn run(&mut self, q: &BenchQuery) -> anyhow::Result<usize> {
        let tsq = Self::translate(q);
        let filters = sql_filters(q);
        let sql = format!(
            "SELECT rid, title FROM docs, to_tsquery('english', $1) q
             WHERE tsv @@ q{filters} ORDER BY ts_rank(tsv, q) DESC LIMIT 10"
        );
        let rows = self.client.query(sql.as_str(), &[&tsq])?;
        let n = rows
            .iter()
            .filter(|r| r.get::<_, Option<String>>(1).is_some())
            .count();
        if q.facets {
            let sql = format!(
                "SELECT evidence, count(*) FROM docs
                 WHERE tsv @@ to_tsquery('english', $1){filters} GROUP BY evidence"
            );
            self.client.query(sql.as_str(), &[&tsq])?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::QueryFilters;

    fn q(clauses: Vec<Clause>, filters: QueryFilters) -> BenchQuery {
        BenchQuery {
            shape: Shape::FewTerms,
            text: String::new(),
            clauses,
            filters,
            facets: false,
        }
    }

    #[test]
    fn translations() {
        let query = q(
            vec![
                Clause::Word {
                    field: Some(TagField::Title),
                    word: "asthma".into(),
                },
                Clause::Phrase {
                    field: None,
                    words: vec!["heart".into(), "failure".into()],
                },
                Clause::Phrase {
                    field: Some(TagField::Mesh),
                    words: vec!["atrial".into(), "fibrillation".into()],
                },
            ],
            QueryFilters {
                year_from: Some(2015),
                evidence: vec![model::EvidenceLevel::Rct],
                sources: vec!["o'neil".into()],
            },
        );
        assert_eq!(
            Sqlite::translate(&query),
            r#"title : "asthma" OR "heart failure" OR mesh : "atrial fibrillation""#
        );
        assert_eq!(
            Postgres::translate(&query),
            "asthma:A | (heart <-> failure) | (atrial:B <-> fibrillation:B)"
        );
        assert_eq!(
            TantivyRaw::translate(&query),
            r#"title:asthma "heart failure" mesh:"atrial fibrillation""#
        );
        assert_eq!(
            sql_filters(&query),
            " AND year >= 2015 AND evidence IN (2) AND source IN ('o''neil')"
        );
    }

    #[test]
    fn engines_agree_on_a_tiny_corpus() {
        let g = crate::corpus::Generator::new(11, crate::vocab::Vocab::builtin());
        let records = g.records(0..300);
        let docs: Vec<PeerDoc> = records.iter().map(PeerDoc::from_record).collect();
        let queries = crate::queries::query_set(&g, 3, 3);
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = build_evidence_index(None, records, 32 << 20).unwrap();
        let mut ours = Evidence {
            index,
            highlight: true,
            facets: None,
            label: "evidence",
        };
        let (mut raw, _) = TantivyRaw::build(&dir.path().join("raw"), &docs).unwrap();
        let (mut lite, _) = Sqlite::build(&dir.path().join("fts.sqlite"), &docs).unwrap();
        for query in &queries {
            let a = ours.run(query).unwrap();
            let b = raw.run(query).unwrap();
            let c = lite.run(query).unwrap();
            assert!(a <= 10 && b <= 10 && c <= 10);
        }
        let run = measure(
            &mut lite,
            &queries,
            Duration::ZERO,
            Duration::from_secs(5),
            1,
        );
        assert_eq!(run.errors, 0, "{:?}", run.first_error);
        assert_eq!(run.all.count as usize, queries.len());
    }
}
