//! The tantivy schema and the conversion of a [`Record`] into a document.

use model::{Audience, EvidenceLevel, Record};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::TantivyDocument;

use crate::analysis::{BIO, NAME};

/// Handles to every field of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Record id, raw; used for look-ups and deletes.
    pub id: Field,
    /// Source name, raw, fast (facets, filters).
    pub source: Field,
    /// Title, `bio` analysed.
    pub title: Field,
    /// Abstract, `bio` analysed.
    pub abstract_text: Field,
    /// MeSH descriptor names, `bio` analysed.
    pub mesh: Field,
    /// Keywords, `bio` analysed.
    pub keywords: Field,
    /// Publication types, `bio` analysed.
    pub pubtypes: Field,
    /// Author names, `name` analysed.
    pub authors: Field,
    /// Journal or publisher, `name` analysed.
    pub journal: Field,
    /// Identifiers as raw `kind:value` terms (`pmid:123`, `doi:10.1/x`, `nct:NCT...`, `pmcid:PMC...`).
    pub ids: Field,
    /// Evidence level ordinal (index in [`EvidenceLevel::ALL`]).
    pub evidence: Field,
    /// Publication year (0 when unknown).
    pub year: Field,
    /// Publication date in days since 1970 (i64::MIN when unknown).
    pub date: Field,
    /// Audience ordinal: 0 professional, 1 patient.
    pub audience: Field,
    /// Open access: 0 unknown, 1 yes, 2 no.
    pub open_access: Field,
    /// Trust flags: [`FLAG_RETRACTED`], [`FLAG_SUPERSEDED`], [`FLAG_SAMPLE`].
    pub flags: Field,
    /// Flesch-Kincaid grade of title and abstract, times ten (0 when not computable).
    pub reading_grade: Field,
    /// Evidence, audience, open access and year packed into one value ([`facet_key`]), so
    /// that counting facets reads one column per match instead of four.
    pub facet_key: Field,
    /// Dedup keys (`doi:..`, `pmid:..`, `fp:..`) of every record merged into this document, raw;
    /// lets an incremental update find the group a changed record belongs to.
    pub keys: Field,
    /// Ids of every record this document stands for (its own and `merged_from`), raw.
    pub members: Field,
    /// The whole record as JSON, stored only.
    pub record: Field,
    /// The record's sentence embedding ([`semantic::quantize`]d), when the index was built with
    /// a semantic model; absent otherwise.
    pub embedding: Field,
}

/// The text a record's sentence embedding is computed from: its title and abstract.
pub fn embedding_text(r: &Record) -> String {
    match r.abstract_text.as_deref() {
        Some(a) if !a.is_empty() => format!("{}. {}", r.title, a),
        _ => r.title.clone(),
    }
}

/// Flag bit: the record is retracted.
pub const FLAG_RETRACTED: u64 = 1;
/// Flag bit: a newer version supersedes the record.
pub const FLAG_SUPERSEDED: u64 = 2;
/// Flag bit: an invented sample record.
pub const FLAG_SAMPLE: u64 = 4;

/// Builds the schema and its field handles.
pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |analyzer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        source: b.add_text_field("source", STRING | FAST),
        title: b.add_text_field("title", text(BIO)),
        abstract_text: b.add_text_field("abstract", text(BIO)),
        mesh: b.add_text_field("mesh", text(BIO)),
        keywords: b.add_text_field("keywords", text(BIO)),
        pubtypes: b.add_text_field("pubtypes", text(BIO)),
        authors: b.add_text_field("authors", text(NAME)),
        journal: b.add_text_field("journal", text(NAME)),
        ids: b.add_text_field("ids", STRING),
        evidence: b.add_u64_field("evidence", INDEXED | FAST),
        year: b.add_u64_field("year", INDEXED | FAST),
        date: b.add_i64_field("date", FAST),
        audience: b.add_u64_field("audience", INDEXED | FAST),
        open_access: b.add_u64_field("open_access", INDEXED | FAST),
        flags: b.add_u64_field("flags", FAST),
        reading_grade: b.add_u64_field("reading_grade", INDEXED | FAST),
        facet_key: b.add_u64_field("facet_key", FAST),
        keys: b.add_text_field("keys", STRING),
        members: b.add_text_field("members", STRING),
        record: b.add_text_field("record", STORED),
        embedding: b.add_bytes_field("embedding", FAST),
    };
    (b.build(), fields)
}

/// Packs the facet values of a record: evidence ordinal (bits 0–3), audience (4–7), open
/// access (8–11), year (16 up). [`unpack_facet_key`] reverses it.
pub fn facet_key(evidence: u64, audience: u64, open_access: u64, year: u64) -> u64 {
    (evidence & 0xF) | (audience & 0xF) << 4 | (open_access & 0xF) << 8 | year << 16
}

/// (evidence ordinal, audience, open access, year) of a [`facet_key`].
pub fn unpack_facet_key(key: u64) -> (u64, u64, u64, u64) {
    (key & 0xF, (key >> 4) & 0xF, (key >> 8) & 0xF, key >> 16)
}

/// The ordinal of an evidence level in the index.
pub fn evidence_ord(level: EvidenceLevel) -> u64 {
    EvidenceLevel::ALL
        .iter()
        .position(|l| *l == level)
        .unwrap_or(EvidenceLevel::ALL.len() - 1) as u64
}

/// The evidence level of an ordinal read back from the index.
pub fn evidence_from_ord(ord: u64) -> EvidenceLevel {
    EvidenceLevel::ALL
        .get(ord as usize)
        .copied()
        .unwrap_or(EvidenceLevel::Other)
}

/// The ordinal of an audience in the index.
pub fn audience_ord(a: Audience) -> u64 {
    match a {
        Audience::Professional => 0,
        Audience::Patient => 1,
    }
}

/// Converts a record into a document. The record should already be normalised.
pub fn to_document(f: &Fields, r: &Record) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.id, &r.id);
    doc.add_text(f.source, &r.source);
    doc.add_text(f.title, &r.title);
    if let Some(a) = &r.abstract_text {
        doc.add_text(f.abstract_text, a);
    }
    for m in &r.mesh_terms {
        doc.add_text(f.mesh, m);
    }
    for k in &r.keywords {
        doc.add_text(f.keywords, k);
    }
    if let Some(t) = &r.trial {
        for c in t.conditions.iter().chain(&t.interventions) {
            doc.add_text(f.keywords, c);
        }
    }
    for p in &r.publication_types {
        doc.add_text(f.pubtypes, p);
    }
    for a in &r.authors {
        doc.add_text(f.authors, a);
    }
    if let Some(j) = r.journal.as_ref().or(r.publisher.as_ref()) {
        doc.add_text(f.journal, j);
    }
    for i in r.identifiers.iter() {
        doc.add_text(f.ids, format!("{}:{}", i.kind(), i.value().to_lowercase()));
    }
    doc.add_u64(f.evidence, evidence_ord(r.level()));
    doc.add_u64(
        f.year,
        r.published.map(|d| d.year.max(0) as u64).unwrap_or(0),
    );
    doc.add_i64(
        f.date,
        r.published
            .map(|d| d.days_since_epoch())
            .unwrap_or(i64::MIN),
    );
    let year = r.published.map(|d| d.year.max(0) as u64).unwrap_or(0);
    let open_access = match r.open_access {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    };
    doc.add_u64(f.audience, audience_ord(r.audience));
    doc.add_u64(f.open_access, open_access);
    doc.add_u64(
        f.facet_key,
        facet_key(
            evidence_ord(r.level()),
            audience_ord(r.audience),
            open_access,
            year,
        ),
    );
    let mut flags = 0;
    if r.retracted {
        flags |= FLAG_RETRACTED;
    }
    if r.superseded_by.is_some() {
        flags |= FLAG_SUPERSEDED;
    }
    if r.is_sample() {
        flags |= FLAG_SAMPLE;
    }
    doc.add_u64(f.flags, flags);
    let grade = crate::readability::flesch_kincaid_grade(
        &r.title,
        r.abstract_text.as_deref().unwrap_or(""),
    );
    // Tenths of a grade, 0 for "no grade".
    doc.add_u64(
        f.reading_grade,
        grade.map(crate::readability::grade_tenths).unwrap_or(0),
    );
    for k in model::dedup::keys(r) {
        doc.add_text(f.keys, k);
    }
    doc.add_text(f.members, &r.id);
    for m in &r.merged_from {
        doc.add_text(f.members, m);
    }
    // Serialising a record of plain data does not fail; an empty object would surface as a
    // corrupt-record error at read time rather than a panic here.
    doc.add_text(
        f.record,
        serde_json::to_string(r).unwrap_or_else(|_| "{}".into()),
    );
    doc
}
