//! Exports and alerts: `GET /api/v1/export?format=ris|bibtex|csv` writes the matching records for
//! reference managers and spreadsheets, and `GET /api/v1/feed` is an Atom 1.0 feed of the newest
//! matching records, for feed readers and current-awareness alerts.
//!
//! Both take the same query parameters as `GET /api/v1/search` and validate them with
//! [`SearchParams::parse`], so they answer the same errors. An export starts at the first matching
//! record whatever `page` says, and holds at most `limit` records (default and ceiling:
//! `config.server.max_export`, itself capped at the search window). The feed holds the 50 newest.
//!
//! Every writer here is a pure function from records to text, so the escaping rules are tested
//! without a server: RIS values are kept on one line, BibTeX values have their special characters
//! escaped and braces balanced, CSV cells are quoted per RFC 4180 and cells that a spreadsheet
//! would run as a formula are defused, and XML text drops the characters XML 1.0 forbids.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use model::{EvidenceLevel, Record};
use search::{Sort, MAX_RESULT_WINDOW};

use crate::api::pairs;
use crate::error::ApiError;
use crate::params::SearchParams;
use crate::AppState;

/// Records fetched per search while collecting an export.
const FETCH_PAGE: usize = 200;
/// Entries in a feed.
pub const FEED_ENTRIES: usize = 50;
/// The note every invented starter-corpus record carries in an export.
pub const SAMPLE_NOTE: &str = "Invented sample record, not evidence";
/// The note every retracted record carries in an export.
pub const RETRACTED_NOTE: &str = "Retracted by its publisher: do not rely on it";
/// Abstract characters kept in a feed entry's summary.
const SUMMARY_CHARS: usize = 600;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/export", get(export))
        .route("/api/v1/feed", get(feed))
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RIS, for EndNote, Zotero, Mendeley, RefWorks.
    Ris,
    /// BibTeX.
    Bibtex,
    /// Comma-separated values (RFC 4180), for spreadsheets.
    Csv,
}

impl Format {
    fn parse(v: &str) -> Result<Format, ApiError> {
        match v.trim().to_ascii_lowercase().as_str() {
            "ris" => Ok(Format::Ris),
            "bibtex" | "bib" => Ok(Format::Bibtex),
            "csv" => Ok(Format::Csv),
            _ => Err(ApiError::param(format!(
                "format must be ris, bibtex or csv, not {v:?}"
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Ris => "application/x-research-info-systems; charset=utf-8",
            Format::Bibtex => "application/x-bibtex; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8; header=present",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Ris => "ris",
            Format::Bibtex => "bib",
            Format::Csv => "csv",
        }
    }

    /// Writes records in this format.
    pub fn write(self, records: &[Record]) -> String {
        match self {
            Format::Ris => to_ris(records),
            Format::Bibtex => to_bibtex(records),
            Format::Csv => to_csv(records),
        }
    }
}

/// The most records one export may hold under this configuration.
pub fn max_export(state: &AppState) -> usize {
    state.config().server.max_export.clamp(1, MAX_RESULT_WINDOW)
}

fn last_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The matching records from the first, up to `limit`, fetched page by page on a blocking thread;
/// and the number of matching records.
async fn collect(
    state: &AppState,
    p: &SearchParams,
    limit: usize,
) -> Result<(u64, Vec<Record>), ApiError> {
    let live = state.live()?;
    let base = search::SearchRequest {
        q: p.q.clone(),
        filters: p.filters.clone(),
        sort: p.sort,
        offset: 0,
        limit: FETCH_PAGE,
        facets: false,
        highlight: false,
        explain: false,
    };
    let limit = limit.min(MAX_RESULT_WINDOW);
    state
        .run_blocking(move || -> Result<(u64, Vec<Record>), search::SearchError> {
            let mut out: Vec<Record> = Vec::with_capacity(limit.min(FETCH_PAGE));
            let mut total = 0;
            while out.len() < limit {
                let req = search::SearchRequest {
                    offset: out.len(),
                    limit: FETCH_PAGE.min(limit - out.len()),
                    ..base.clone()
                };
                let res = live.index.search(&req)?;
                total = res.total;
                let got = res.hits.len();
                out.extend(res.hits.into_iter().map(|h| {
                    let mut r = h.record;
                    r.classify();
                    r
                }));
                if got < req.limit || out.len() as u64 >= total {
                    break;
                }
            }
            Ok((total, out))
        })
        .await?
        .map_err(ApiError::from)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Export the matching records as RIS, BibTeX or CSV.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    params(
        ("format" = String, Query, description = "ris, bibtex or csv"),
        ("limit" = Option<usize>, Query, description = "Most records to export, from 1 to the server's max_export (default 1000, which is also the default limit). The export starts at the first matching record; page and per_page are ignored."),
        ("q" = Option<String>, Query, description = "Query, as for /api/v1/search; so are evidence_level, year_from, year_to, source, audience, open_access, reading_grade_max and sort"),
    ),
    responses(
        (status = 200, description = "The records as a file to download; X-Total-Count says how many matched and X-Export-Count how many the file holds"),
        (status = 400, description = "A parameter is invalid", body = crate::error::ErrorBody),
        (status = 503, description = "The index is being prepared", body = crate::error::ErrorBody),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let pairs = pairs(q)?;
    let p = SearchParams::parse(&pairs)?;
    let format = match last_value(&pairs, "format") {
        Some(v) => Format::parse(v)?,
        None => return Err(ApiError::param("format is required: ris, bibtex or csv")),
    };
    let max = max_export(&state);
    let limit = match last_value(&pairs, "limit") {
        None => max,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(ApiError::param(format!(
                    "limit must be a whole number from 1 to {max} (this server's max_export), not {v:?}"
                )))
            }
        },
    };
    let (total, records) = collect(&state, &p, limit).await?;
    let body = format.write(&records);
    let filename = format!(
        "evidence-search-{}.{}",
        today_string(now_secs()),
        format.extension()
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        ),
        (
            header::CONTENT_DISPOSITION,
            header_value(&format!("attachment; filename=\"{filename}\"")),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            HeaderName::from_static("x-total-count"),
            header_value(&total.to_string()),
        ),
        (
            HeaderName::from_static("x-export-count"),
            header_value(&records.len().to_string()),
        ),
    ];
    Ok((StatusCode::OK, headers, body).into_response())
}

/// An Atom 1.0 feed of the newest matching records.
#[utoipa::path(
    get,
    path = "/api/v1/feed",
    params(
        ("q" = Option<String>, Query, description = "Query and filters, as for /api/v1/search; the feed is always sorted newest first and holds the 50 newest matches"),
    ),
    responses(
        (status = 200, description = "An Atom 1.0 feed (application/atom+xml)"),
        (status = 400, description = "A parameter is invalid", body = crate::error::ErrorBody),
        (status = 503, description = "The index is being prepared", body = crate::error::ErrorBody),
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let pairs = pairs(q)?;
    let mut p = SearchParams::parse(&pairs)?;
    p.sort = Sort::Date;
    let (_, records) = collect(&state, &p, FEED_ENTRIES).await?;
    let query = canonical_query(&pairs);
    let base = base_url(&headers);
    let xml = to_atom(&records, &query, base.as_deref(), now_secs());
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/atom+xml; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        xml,
    )
        .into_response())
}

// ----------------------------------------------------------------------------------------------
// Shared helpers.

/// Text on one line: control characters and runs of whitespace become one space.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn journal(r: &Record) -> Option<&str> {
    r.journal.as_deref().filter(|s| !s.trim().is_empty())
}

fn publisher(r: &Record) -> Option<&str> {
    r.publisher.as_deref().filter(|s| !s.trim().is_empty())
}

/// The notes an exported record carries: sample, retraction, supersession, evidence level.
fn notes(r: &Record) -> Vec<String> {
    let mut out = Vec::new();
    if r.is_sample() {
        out.push(SAMPLE_NOTE.to_string());
    }
    if r.retracted {
        out.push(RETRACTED_NOTE.to_string());
    }
    if let Some(s) = &r.superseded_by {
        out.push(format!("Superseded by {}", one_line(s)));
    }
    out.push(format!("Evidence level: {}", r.level().label()));
    out
}

/// The best link to the record: its own URL, else its DOI, else PubMed.
fn best_link(r: &Record) -> Option<String> {
    r.url
        .as_deref()
        .map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(one_line)
        .or_else(|| {
            r.identifiers
                .doi
                .as_deref()
                .map(|d| format!("https://doi.org/{}", one_line(d)))
        })
        .or_else(|| {
            r.identifiers
                .pmid
                .as_deref()
                .map(|p| format!("https://pubmed.ncbi.nlm.nih.gov/{}/", one_line(p)))
        })
}

fn is_trial_registration(r: &Record) -> bool {
    r.identifiers.nct.is_some() && journal(r).is_none()
}

// ----------------------------------------------------------------------------------------------
// RIS.

/// The RIS reference type: `JOUR` for anything published in a journal, `RPRT` for guidelines and
/// other reports from an issuing body (RIS has no guideline type; `RPRT` is what reference managers
/// import as a report), `ELEC` for web pages (patient information, trial registrations) and `GEN`
/// otherwise.
pub fn ris_type(r: &Record) -> &'static str {
    if journal(r).is_some() {
        "JOUR"
    } else if r.level() == EvidenceLevel::Guideline || publisher(r).is_some() {
        "RPRT"
    } else if is_trial_registration(r)
        || r.level() == EvidenceLevel::PatientInformation
        || r.url.is_some()
    {
        "ELEC"
    } else {
        "GEN"
    }
}

fn ris_line(out: &mut String, tag: &str, value: &str) {
    let v = one_line(value);
    if !v.is_empty() {
        let _ = write!(out, "{tag}  - {v}\r\n");
    }
}

/// Writes records as RIS: one `TY`…`ER` block per record, lines ending CRLF, every value on one line.
pub fn to_ris(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records {
        ris_line(&mut out, "TY", ris_type(r));
        ris_line(&mut out, "TI", &r.title);
        for a in &r.authors {
            ris_line(&mut out, "AU", a);
        }
        if let Some(d) = &r.published {
            ris_line(&mut out, "PY", &format!("{:04}", d.year));
            let mut da = format!("{:04}/", d.year);
            if let Some(m) = d.month {
                let _ = write!(da, "{m:02}/");
                if let Some(day) = d.day {
                    let _ = write!(da, "{day:02}/");
                }
            }
            ris_line(&mut out, "DA", &da);
        }
        if let Some(j) = journal(r) {
            ris_line(&mut out, "JO", j);
            ris_line(&mut out, "T2", j);
        }
        if let Some(p) = publisher(r) {
            ris_line(&mut out, "PB", p);
        }
        if let Some(a) = &r.abstract_text {
            ris_line(&mut out, "AB", a);
        }
        if let Some(d) = &r.identifiers.doi {
            ris_line(&mut out, "DO", d);
        }
        if let Some(p) = &r.identifiers.pmid {
            ris_line(&mut out, "AN", &format!("PMID:{p}"));
        }
        if let Some(p) = &r.identifiers.pmcid {
            ris_line(&mut out, "C2", p);
        }
        if let Some(n) = &r.identifiers.nct {
            ris_line(&mut out, "C3", n);
        }
        if let Some(u) = best_link(r) {
            ris_line(&mut out, "UR", &u);
        }
        for k in r.mesh_terms.iter().chain(&r.keywords) {
            ris_line(&mut out, "KW", k);
        }
        if let Some(l) = &r.language {
            ris_line(&mut out, "LA", l);
        }
        ris_line(&mut out, "M3", r.level().label());
        for n in notes(r) {
            ris_line(&mut out, "N1", &n);
        }
        ris_line(&mut out, "DB", &r.source);
        ris_line(&mut out, "ID", &r.id);
        out.push_str("ER  - \r\n\r\n");
    }
    out
}

// ----------------------------------------------------------------------------------------------
// BibTeX.

/// Escapes text for a braced BibTeX value: LaTeX specials are escaped, so every brace in the
/// output is balanced and no `\` command or `$` math can come from the data.
pub fn bibtex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in one_line(s).chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '$' | '&' | '%' | '#' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '^' => out.push_str("\\^{}"),
            '~' => out.push_str("\\~{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            _ => out.push(c),
        }
    }
    out
}

/// A title for BibTeX: escaped, with words that carry capitals after their first letter (acronyms
/// such as NICE, COVID-19, mRNA) braced so that bibliography styles keep their case.
fn bibtex_title(s: &str) -> String {
    one_line(s)
        .split(' ')
        .map(|w| {
            let e = bibtex_escape(w);
            if w.chars().skip(1).any(char::is_uppercase) {
                format!("{{{e}}}")
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One author for BibTeX: `Family AB` becomes `Family, A. B.`; anything else (an organisation) is
/// braced so that BibTeX neither splits it nor reads its "and" as a separator.
fn bibtex_author(a: &str) -> String {
    let a = one_line(a);
    let parts: Vec<&str> = a.split(' ').collect();
    if parts.len() >= 2 {
        let initials = parts[parts.len() - 1];
        let family = parts[..parts.len() - 1].join(" ");
        let is_initials = !initials.is_empty()
            && initials.chars().count() <= 3
            && initials.chars().all(char::is_uppercase);
        if is_initials && !family.eq_ignore_ascii_case("and") {
            let given: Vec<String> = initials.chars().map(|c| format!("{c}.")).collect();
            return format!("{}, {}", bibtex_escape(&family), given.join(" "));
        }
    }
    format!("{{{}}}", bibtex_escape(&a))
}

/// The ASCII letters and digits of `s`, lower-cased, at most `max` of them.
fn key_part(s: &str, max: usize) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(max)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn bibtex_key(r: &Record) -> String {
    let first_author = r
        .authors
        .first()
        .and_then(|a| a.split_whitespace().next())
        .map(|w| key_part(w, 20))
        .unwrap_or_default();
    let year = r.published.map(|d| d.year.to_string()).unwrap_or_default();
    let word = r
        .title
        .split_whitespace()
        .map(|w| key_part(w, 20))
        .find(|w| w.len() > 3)
        .unwrap_or_default();
    let key = format!("{first_author}{year}{word}");
    if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
        format!("ref{key}")
    } else {
        key
    }
}

/// Unique keys for records: `authorYEARword`, suffixed `a`, `b`, … (then numbers) on collision.
fn bibtex_keys(records: &[Record]) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::new();
    records
        .iter()
        .map(|r| {
            let base = bibtex_key(r);
            let mut key = base.clone();
            let mut n = 0usize;
            while used.contains(&key) {
                key = if n < 26 {
                    format!("{base}{}", (b'a' + n as u8) as char)
                } else {
                    format!("{base}-{n}")
                };
                n += 1;
            }
            used.insert(key.clone());
            key
        })
        .collect()
}

fn bib_field(out: &mut String, name: &str, escaped: &str) {
    if !escaped.trim().is_empty() {
        let _ = writeln!(out, "  {name} = {{{escaped}}},");
    }
}

/// Writes records as BibTeX: `@article` for journal papers, `@techreport` for guidelines and
/// reports, `@misc` for the rest.
pub fn to_bibtex(records: &[Record]) -> String {
    let mut out = String::new();
    for (r, key) in records.iter().zip(bibtex_keys(records)) {
        let kind = match ris_type(r) {
            "JOUR" => "article",
            "RPRT" if publisher(r).is_some() => "techreport",
            _ => "misc",
        };
        let _ = writeln!(out, "@{kind}{{{key},");
        bib_field(&mut out, "title", &bibtex_title(&r.title));
        let authors: Vec<String> = r.authors.iter().map(|a| bibtex_author(a)).collect();
        bib_field(&mut out, "author", &authors.join(" and "));
        if let Some(j) = journal(r) {
            bib_field(&mut out, "journal", &bibtex_escape(j));
        }
        if let Some(p) = publisher(r) {
            let name = if kind == "techreport" {
                "institution"
            } else {
                "publisher"
            };
            bib_field(&mut out, name, &bibtex_escape(p));
        }
        if kind == "techreport" {
            bib_field(&mut out, "type", &bibtex_escape(r.level().label()));
        }
        if let Some(d) = &r.published {
            bib_field(&mut out, "year", &d.year.to_string());
            if let Some(m) = d.month {
                bib_field(&mut out, "month", &m.to_string());
            }
        }
        if let Some(d) = &r.identifiers.doi {
            bib_field(&mut out, "doi", &bibtex_escape(d));
        }
        if let Some(p) = &r.identifiers.pmid {
            bib_field(&mut out, "pmid", &bibtex_escape(p));
            bib_field(&mut out, "eprint", &bibtex_escape(p));
            bib_field(&mut out, "eprinttype", "pubmed");
        }
        if let Some(p) = &r.identifiers.pmcid {
            bib_field(&mut out, "pmcid", &bibtex_escape(p));
        }
        if let Some(u) = best_link(r) {
            bib_field(&mut out, "url", &bibtex_escape(&u));
        }
        if let Some(a) = &r.abstract_text {
            bib_field(&mut out, "abstract", &bibtex_escape(a));
        }
        let kw: Vec<String> = r
            .mesh_terms
            .iter()
            .chain(&r.keywords)
            .map(|k| bibtex_escape(k))
            .collect();
        bib_field(&mut out, "keywords", &kw.join(", "));
        if let Some(l) = &r.language {
            bib_field(&mut out, "language", &bibtex_escape(l));
        }
        let notes: Vec<String> = notes(r).iter().map(|n| bibtex_escape(n)).collect();
        bib_field(&mut out, "note", &notes.join(". "));
        let _ = writeln!(out, "}}\n");
    }
    out
}

// ----------------------------------------------------------------------------------------------
// CSV.

/// The CSV header.
pub const CSV_COLUMNS: [&str; 21] = [
    "id",
    "title",
    "authors",
    "journal",
    "publisher",
    "year",
    "published",
    "evidence_level",
    "evidence_label",
    "source",
    "audience",
    "doi",
    "pmid",
    "pmcid",
    "nct",
    "url",
    "open_access",
    "retracted",
    "superseded_by",
    "note",
    "abstract",
];

/// One CSV cell: defused if a spreadsheet would read it as a formula (it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return: it gets a leading `'`), then quoted per RFC 4180 if it
/// holds a quote, comma or line break.
pub fn csv_cell(s: &str) -> String {
    let defused;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{s}");
        defused.as_str()
    } else {
        s
    };
    if s.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt_bool(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    }
}

/// Writes records as CSV (RFC 4180: CRLF line ends, a header row), after a UTF-8 byte order mark
/// so that spreadsheet programs read non-ASCII text correctly.
pub fn to_csv(records: &[Record]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&CSV_COLUMNS.join(","));
    out.push_str("\r\n");
    for r in records {
        let ids = &r.identifiers;
        let cells: [String; 21] = [
            r.id.clone(),
            r.title.clone(),
            r.authors.join("; "),
            journal(r).unwrap_or_default().to_string(),
            publisher(r).unwrap_or_default().to_string(),
            r.published.map(|d| d.year.to_string()).unwrap_or_default(),
            r.published.map(|d| d.to_string()).unwrap_or_default(),
            r.level().as_str().to_string(),
            r.level().label().to_string(),
            r.source.clone(),
            r.audience.as_str().to_string(),
            ids.doi.clone().unwrap_or_default(),
            ids.pmid.clone().unwrap_or_default(),
            ids.pmcid.clone().unwrap_or_default(),
            ids.nct.clone().unwrap_or_default(),
            best_link(r).unwrap_or_default(),
            opt_bool(r.open_access).to_string(),
            if r.retracted { "yes" } else { "no" }.to_string(),
            r.superseded_by.clone().unwrap_or_default(),
            notes(r).join("; "),
            r.abstract_text.clone().unwrap_or_default(),
        ];
        let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

// ----------------------------------------------------------------------------------------------
// Atom.

/// Escapes XML text or attribute values, dropping the characters XML 1.0 does not allow.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes everything but unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The search parameters of a request in a stable order, for the feed's id and links (paging,
/// sorting and format parameters are left out: the feed is always the newest first).
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    const KEEP: [&str; 9] = [
        "q",
        "evidence_level",
        "year_from",
        "year_to",
        "source",
        "audience",
        "open_access",
        "reading_grade_max",
        "federate",
    ];
    let mut kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, v)| KEEP.contains(&k.as_str()) && !v.trim().is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    kept.sort();
    kept.iter()
        .map(|(k, v)| format!("{k}={}", pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `scheme://host` from the request's `Host` (and `X-Forwarded-Proto`), when the host is a plain
/// host name or address; used as the feed's `xml:base`.
fn base_url(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !plain {
        return None;
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    Some(format!("{}://{host}", if https { "https" } else { "http" }))
}

/// Seconds since the Unix epoch.
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An RFC 3339 UTC timestamp.
pub fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

fn today_string(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether `s` is an RFC 3339 date-time (`2024-05-01T10:00:00Z`, with optional fraction and
/// offset), as Atom requires.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', ..] => {
            let rest = &b[i..];
            rest.len() == 6
                && rest[1..3].iter().all(u8::is_ascii_digit)
                && rest[3] == b':'
                && rest[4..6].iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// The publication date as an RFC 3339 timestamp (missing month and day count as the first).
fn published_stamp(r: &Record) -> Option<String> {
    r.published.map(|d| {
        format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            d.year.clamp(0, 9999),
            d.month.unwrap_or(1).clamp(1, 12),
            d.day.unwrap_or(1).clamp(1, 31)
        )
    })
}

/// When an entry last changed: the harvest time if it is a valid timestamp, else the publication
/// date, else `fallback`.
fn entry_updated(r: &Record, fallback: &str) -> String {
    r.updated
        .as_deref()
        .map(str::trim)
        .filter(|u| is_rfc3339(u))
        .map(str::to_string)
        .or_else(|| published_stamp(r))
        .unwrap_or_else(|| fallback.to_string())
}

fn summary(r: &Record) -> String {
    let mut parts: Vec<String> = Vec::new();
    if r.is_sample() {
        parts.push(format!("{SAMPLE_NOTE}."));
    }
    if r.retracted {
        parts.push(format!("RETRACTED: {RETRACTED_NOTE}."));
    }
    if let Some(s) = &r.superseded_by {
        parts.push(format!("Superseded by {}.", one_line(s)));
    }
    let mut head = vec![r.level().label().to_string()];
    if let Some(j) = journal(r).or(publisher(r)) {
        head.push(one_line(j));
    }
    if let Some(d) = r.published {
        head.push(d.to_string());
    }
    parts.push(format!("{}.", head.join(", ")));
    if let Some(a) = &r.abstract_text {
        let a = one_line(a);
        if a.chars().count() > SUMMARY_CHARS {
            let cut: String = a.chars().take(SUMMARY_CHARS).collect();
            parts.push(format!("{}…", cut.trim_end()));
        } else if !a.is_empty() {
            parts.push(a);
        }
    }
    parts.join(" ")
}

/// A stable, absolute IRI for a record: `urn:evidence-search:record:<id>` (percent-encoded).
pub fn entry_id(r: &Record) -> String {
    format!("urn:evidence-search:record:{}", pct(&r.id))
}

/// Writes an Atom 1.0 feed (RFC 4287) of `records` for the search `query` (a canonical query
/// string). Relative links resolve against `base` (`xml:base`) when given.
pub fn to_atom(records: &[Record], query: &str, base: Option<&str>, now: i64) -> String {
    let now = rfc3339(now);
    let updated: Vec<String> = records.iter().map(|r| entry_updated(r, &now)).collect();
    let feed_updated = updated.iter().max().cloned().unwrap_or_else(|| now.clone());
    let title = match query
        .split('&')
        .find_map(|kv| kv.strip_prefix("q="))
        .map(pct_decode)
    {
        Some(q) if !q.trim().is_empty() => format!("Evidence search: {}", one_line(&q)),
        _ => "Evidence search: newest records".to_string(),
    };
    let qs = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let mut x = String::with_capacity(1024 + records.len() * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\"");
    if let Some(b) = base {
        let _ = write!(x, " xml:base=\"{}/\"", xml_escape(b));
    }
    x.push_str(">\n");
    let _ = writeln!(
        x,
        "  <id>urn:evidence-search:feed:{}</id>",
        xml_escape(&pct(query))
    );
    let _ = writeln!(x, "  <title type=\"text\">{}</title>", xml_escape(&title));
    let _ = writeln!(
        x,
        "  <subtitle type=\"text\">The {FEED_ENTRIES} newest records matching this search, newest first.</subtitle>"
    );
    let _ = writeln!(x, "  <updated>{feed_updated}</updated>");
    let _ = writeln!(
        x,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        xml_escape(&format!("/api/v1/feed{qs}"))
    );
    let _ = writeln!(
        x,
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        xml_escape(&format!("/{qs}"))
    );
    x.push_str("  <author><name>Evidence search</name></author>\n");
    x.push_str("  <generator>evidence-search query-api</generator>\n");
    for (r, upd) in records.iter().zip(&updated) {
        x.push_str("  <entry>\n");
        let _ = writeln!(x, "    <id>{}</id>", xml_escape(&entry_id(r)));
        let mut title = one_line(&r.title);
        if r.is_sample() {
            title.push_str(" [sample, not evidence]");
        }
        if r.retracted {
            title = format!("[RETRACTED] {title}");
        }
        let _ = writeln!(x, "    <title type=\"text\">{}</title>", xml_escape(&title));
        let _ = writeln!(x, "    <updated>{upd}</updated>");
        if let Some(p) = published_stamp(r) {
            let _ = writeln!(x, "    <published>{p}</published>");
        }
        let link = best_link(r).unwrap_or_else(|| format!("/api/v1/records/{}", pct(&r.id)));
        let _ = writeln!(
            x,
            "    <link rel=\"alternate\" href=\"{}\"/>",
            xml_escape(&link)
        );
        for a in r.authors.iter().take(10) {
            let a = one_line(a);
            if !a.is_empty() {
                let _ = writeln!(x, "    <author><name>{}</name></author>", xml_escape(&a));
            }
        }
        let level = r.level();
        let _ = writeln!(
            x,
            "    <category term=\"{}\" label=\"{}\"/>",
            level.as_str(),
            xml_escape(level.label())
        );
        let _ = writeln!(
            x,
            "    <summary type=\"text\">{}</summary>",
            xml_escape(&summary(r))
        );
        x.push_str("  </entry>\n");
    }
    x.push_str("</feed>\n");
    x
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Identifiers, PartialDate};

    fn rec(title: &str) -> Record {
        let mut r = Record::new("test", "1", title);
        r.authors = vec![
            "Smith AB".into(),
            "National Institute for Health and Care Excellence".into(),
        ];
        r.journal = Some("BMJ".into());
        r.published = Some(PartialDate::from_parts(2021, Some(3), None).unwrap());
        r.identifiers = Identifiers {
            doi: Some("10.5555/x".into()),
            pmid: Some("90000001".into()),
            ..Default::default()
        };
        r
    }

    #[test]
    fn csv_cells() {
        let check = |input: &str, expect: &str| assert_eq!(csv_cell(input), expect, "{input:?}");
        check("plain", "plain");
        check("a,b", "\"a,b\"");
        check("say \"hi\"", "\"say \"\"hi\"\"\"");
        check("two\nlines", "\"two\nlines\"");
        check("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0");
        check("+1", "'+1");
        check("-1", "'-1");
        check("@SUM(A1)", "'@SUM(A1)");
        check(
            "=HYPERLINK(\"x\",\"y\")",
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"",
        );
        check("café", "café");
        check("", "");
    }

    #[test]
    fn bibtex_escaping() {
        let check =
            |input: &str, expect: &str| assert_eq!(bibtex_escape(input), expect, "{input:?}");
        check("a {b} c", "a \\{b\\} c");
        check("50% & $5 #1 a_b", "50\\% \\& \\$5 \\#1 a\\_b");
        check(
            "\\input{/etc/passwd}",
            "\\textbackslash{}input\\{/etc/passwd\\}",
        );
        check("x^2 ~ y", "x\\^{}2 \\~{} y");
        check("line\nbreak", "line break");
        check("Ærø — naïve", "Ærø — naïve");
        assert_eq!(
            bibtex_title("NICE guidance on COVID-19"),
            "{NICE} guidance on {COVID-19}"
        );
        assert_eq!(bibtex_author("Smith AB"), "Smith, A. B.");
        assert_eq!(bibtex_author("van der Berg J"), "van der Berg, J.");
        assert_eq!(
            bibtex_author("National Institute for Health and Care Excellence"),
            "{National Institute for Health and Care Excellence}"
        );
    }

    #[test]
    fn bibtex_keys_are_unique() {
        let rs = vec![rec("Asthma care"), rec("Asthma care"), rec("Asthma care")];
        let keys = bibtex_keys(&rs);
        assert_eq!(
            keys,
            vec!["smith2021asthma", "smith2021asthmaa", "smith2021asthmab"]
        );
        let mut anon = Record::new("t", "2", "On it");
        anon.published = Some(PartialDate::year(1999));
        assert_eq!(bibtex_key(&anon), "ref1999");
    }

    #[test]
    fn ris_types_and_lines() {
        let mut r = rec("Title\r\nwith break");
        assert_eq!(ris_type(&r), "JOUR");
        let text = to_ris(std::slice::from_ref(&r));
        assert!(
            text.starts_with("TY  - JOUR\r\nTI  - Title with break\r\n"),
            "{text}"
        );
        assert!(text.contains("PY  - 2021\r\nDA  - 2021/03/\r\n"), "{text}");
        assert!(text.contains("DO  - 10.5555/x\r\n"));
        assert!(text.ends_with("ER  - \r\n\r\n"));
        r.journal = None;
        r.publisher = Some("NICE".into());
        r.evidence_level = Some(EvidenceLevel::Guideline);
        assert_eq!(ris_type(&r), "RPRT");
        r.publisher = None;
        r.identifiers.nct = Some("NCT90000001".into());
        r.evidence_level = Some(EvidenceLevel::Rct);
        assert_eq!(ris_type(&r), "ELEC");
        let mut s = Record::new("sample", "1", "x");
        s.classify();
        assert!(to_ris(&[s]).contains("N1  - Invented sample record, not evidence\r\n"));
    }

    #[test]
    fn xml_text() {
        assert_eq!(
            xml_escape("a<b>&\"c'\u{0}\u{1b}d\u{ffff}"),
            "a&lt;b&gt;&amp;&quot;c&apos;d"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_962_896), "2026-11-29T14:34:56Z");
        assert_eq!(today_string(1_795_962_896), "2026-11-29");
        for ok in [
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00.123+01:00",
            "2024-05-01t10:00:00z",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2024-05-01",
            "2024-05-01 10:00:00Z",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00+0100",
            "2024-05-01T10:00:00.Z",
            "x",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn canonical_queries_are_stable() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let a = canonical_query(&p(&[
            ("q", "asthma & copd"),
            ("page", "2"),
            ("evidence_level", "guideline"),
        ]));
        let b = canonical_query(&p(&[
            ("evidence_level", "guideline"),
            ("q", "asthma & copd"),
            ("sort", "relevance"),
        ]));
        assert_eq!(a, b);
        assert_eq!(a, "evidence_level=guideline&q=asthma%20%26%20copd");
        assert_eq!(pct_decode("asthma%20%26%20copd"), "asthma & copd");
    }
}
