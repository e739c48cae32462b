//! OAI-PMH 2.0: pure parsers for `Identify` and `ListRecords`/`GetRecord` responses, and the
//! [`OaiPmhHarvester`] that walks a repository with resumption tokens.
//!
//! # Parsing
//! [`parse_list_records`] maps each `<record>` of a `ListRecords` (or `GetRecord`) response to a
//! record, whatever its metadata format, recognised by the element under `<metadata>`:
//! - `oai_dc` (`<oai_dc:dc>`): `dc:title`; `dc:creator` → authors; `dc:subject` → keywords (split on
//!   `;`); `dc:description` → abstract (HTML, even double-escaped as Zenodo sends it, flattened to
//!   text); the first parseable `dc:date` → published; `dc:identifier` → DOI (`10.…`, `doi:`,
//!   `info:doi/`, resolver URLs), PMID (`info:pmid/`, `pmid:`), PMCID and the landing page URL;
//!   `dc:type` → publication types (the `info:eu-repo/semantics/` prefix dropped); `dc:language`;
//!   `dc:rights` → licence (Creative Commons URLs as `CC BY 4.0`) and open access
//!   (`info:eu-repo/semantics/openAccess`); `dc:publisher`; `dc:source` → journal;
//! - `oai_doaj` (`<oai_doaj:doajArticle>`, DOAJ): title, author names, abstract, publication date,
//!   DOI, full-text URL, keywords, journal title, publisher; open access by definition;
//! - DataCite kernel 4 (`<resource>`, Zenodo's `datacite`): titles, creator names, subjects, the
//!   `Abstract` description, the `Issued` date (else `publicationYear`), DOI and alternate
//!   identifiers, resource type, language, rights (licence and access), publisher.
//!
//! The record id is `"<source>:<local id>"`, where the local id is the part of an `oai:<namespace>:…`
//! identifier after the namespace (`oai:zenodo.org:8435696` → `8435696`) and the whole identifier
//! otherwise. A `<header status="deleted">` becomes a deletion of that id. A record without an
//! identifier, a title or known metadata becomes a [`Rejected`].
//!
//! An OAI-PMH `<error>` is returned in [`OaiPage::error`]; an HTML page (an error page with status
//! 200) is [`ParseError::Unexpected`]; malformed or truncated XML is [`ParseError::Xml`] with the
//! byte position.
//!
//! # Harvesting
//! See [`OaiPmhHarvester`].

use model::ids::{normalise_doi, normalise_pmcid, normalise_pmid};
use model::{PartialDate, Record};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::connector::{config_error, display_url, parse_off_thread};
use crate::feed::html_to_text;
use crate::fetch::Fetcher;
use crate::{HarvestError, Page, ParseError, Parsed, Rejected, SourceConfig};

use xml::Element;

/// The datestamp granularity a repository supports (`Identify/granularity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Granularity {
    /// `YYYY-MM-DD`.
    #[serde(rename = "YYYY-MM-DD")]
    Day,
    /// `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(rename = "YYYY-MM-DDThh:mm:ssZ")]
    Second,
}

impl Granularity {
    /// Reads the `granularity` value of an Identify response.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "YYYY-MM-DD" => Some(Granularity::Day),
            "YYYY-MM-DDThh:mm:ssZ" => Some(Granularity::Second),
            _ => None,
        }
    }

    /// The value as the protocol writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Granularity::Day => "YYYY-MM-DD",
            Granularity::Second => "YYYY-MM-DDThh:mm:ssZ",
        }
    }

    /// Formats a date (`YYYY-MM-DD`) or UTC datestamp (`YYYY-MM-DDThh:mm:ssZ`) as a `from` argument
    /// of this granularity: a datestamp is cut to its day for a day-granular repository, a day gets
    /// `T00:00:00Z` for a second-granular one. `None` when the value is not such a date.
    ///
    /// ```
    /// use harvest::oai_pmh::Granularity;
    /// assert_eq!(Granularity::Day.format("2023-10-12T14:26:07Z").as_deref(), Some("2023-10-12"));
    /// assert_eq!(Granularity::Second.format("2023-10-12").as_deref(), Some("2023-10-12T00:00:00Z"));
    /// assert_eq!(Granularity::Second.format("12/10/2023"), None);
    /// ```
    pub fn format(&self, date: &str) -> Option<String> {
        let date = date.trim();
        let day = date.get(..10)?;
        time::Date::parse(
            day,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()?;
        let rest = &date[10..];
        let time_part = if rest.is_empty() {
            "00:00:00".to_string()
        } else {
            let t = rest.strip_prefix('T')?;
            let t = t.strip_suffix('Z').unwrap_or(t);
            let hms = t.get(..8)?;
            time::Time::parse(
                hms,
                time::macros::format_description!("[hour]:[minute]:[second]"),
            )
            .ok()?;
            hms.to_string()
        };
        Some(match self {
            Granularity::Day => day.to_string(),
            Granularity::Second => format!("{day}T{time_part}Z"),
        })
    }
}

/// What an `Identify` response says about the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identify {
    /// `repositoryName`.
    pub repository_name: Option<String>,
    /// `baseURL`.
    pub base_url: Option<String>,
    /// `granularity`; `Day` when absent or unknown (every repository must accept days).
    pub granularity: Granularity,
    /// `earliestDatestamp`.
    pub earliest_datestamp: Option<String>,
    /// `deletedRecord`: `no`, `transient` or `persistent`.
    pub deleted_record: Option<String>,
}

/// An OAI-PMH `<error>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiError {
    /// The `code` attribute, e.g. `noRecordsMatch`, `badResumptionToken`.
    pub code: String,
    /// The element's text.
    pub message: String,
}

/// One parsed `ListRecords` (or `GetRecord`) response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OaiPage {
    /// Records (normalised), deletions and rejects.
    pub parsed: Parsed,
    /// The resumption token, `None` when absent or empty (the list is complete).
    pub resumption_token: Option<String>,
    /// The token's `completeListSize`.
    pub complete_list_size: Option<u64>,
    /// The token's `cursor`.
    pub cursor: Option<u64>,
    /// The latest header datestamp on the page, deletions included.
    pub max_datestamp: Option<String>,
    /// Every header datestamp, in document order.
    pub datestamps: Vec<String>,
    /// `responseDate`: the repository's clock when it answered.
    pub response_date: Option<String>,
    /// The protocol error the repository answered instead of records.
    pub error: Option<OaiError>,
}

/// Parses an `Identify` response.
///
/// ```
/// let xml = br#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><Identify>
///   <repositoryName>R</repositoryName><earliestDatestamp>2001-01-01</earliestDatestamp>
///   <granularity>YYYY-MM-DD</granularity></Identify></OAI-PMH>"#;
/// let id = harvest::oai_pmh::parse_identify(xml).unwrap();
/// assert_eq!(id.granularity, harvest::oai_pmh::Granularity::Day);
/// ```
///
/// Errors: an OAI-PMH `<error>` is [`ParseError::Unexpected`] naming its code.
pub fn parse_identify(bytes: &[u8]) -> Result<Identify, ParseError> {
    match parse_identify_inner(bytes)? {
        Ok(id) => Ok(id),
        Err(e) => Err(ParseError::Unexpected(format!(
            "oai-pmh error {}: {}",
            e.code, e.message
        ))),
    }
}

fn parse_identify_inner(bytes: &[u8]) -> Result<Result<Identify, OaiError>, ParseError> {
    let root = xml::parse_document(bytes, "an OAI-PMH response")?;
    expect_oai_root(&root)?;
    if let Some(e) = first_error(&root) {
        return Ok(Err(e));
    }
    let id = root
        .child("Identify")
        .ok_or_else(|| ParseError::Unexpected("no Identify element in the response".to_string()))?;
    Ok(Ok(Identify {
        repository_name: id.child_text("repositoryName"),
        base_url: id.child_text("baseURL"),
        granularity: id
            .child_text("granularity")
            .and_then(|g| Granularity::parse(&g))
            .unwrap_or(Granularity::Day),
        earliest_datestamp: id.child_text("earliestDatestamp"),
        deleted_record: id.child_text("deletedRecord"),
    }))
}

fn expect_oai_root(root: &Element) -> Result<(), ParseError> {
    if root.name == "OAI-PMH" {
        Ok(())
    } else {
        Err(ParseError::Unexpected(format!(
            "expected <OAI-PMH>, found <{}>",
            root.name
        )))
    }
}

fn first_error(root: &Element) -> Option<OaiError> {
    let mut errors = root.children("error");
    let first = errors.next()?;
    let mut message = first.text_trimmed();
    for more in errors {
        let code = more.attr("code").unwrap_or("");
        message.push_str(&format!("; {code}: {}", more.text_trimmed()));
    }
    Some(OaiError {
        code: first.attr("code").unwrap_or("unknown").to_string(),
        message,
    })
}

/// Parses a `ListRecords` or `GetRecord` response into records, deletions and rejects, with the
/// resumption token and the datestamps seen.
///
/// ```
/// let xml = br#"<OAI-PMH><responseDate>2024-01-02T00:00:00Z</responseDate><ListRecords>
///   <record><header><identifier>oai:example.org:7</identifier><datestamp>2024-01-01</datestamp></header>
///   <metadata><oai_dc:dc xmlns:oai_dc="x" xmlns:dc="y"><dc:title>Asthma care</dc:title>
///   <dc:identifier>https://doi.org/10.5555/ABC</dc:identifier></oai_dc:dc></metadata></record>
///   <record><header status="deleted"><identifier>oai:example.org:8</identifier>
///   <datestamp>2024-01-02</datestamp></header></record>
///   <resumptionToken completeListSize="2" cursor="0"/></ListRecords></OAI-PMH>"#;
/// let page = harvest::oai_pmh::parse_list_records(xml, "repo").unwrap();
/// assert_eq!(page.parsed.records[0].id, "repo:7");
/// assert_eq!(page.parsed.records[0].identifiers.doi.as_deref(), Some("10.5555/abc"));
/// assert_eq!(page.parsed.deleted, ["repo:8"]);
/// assert_eq!(page.resumption_token, None);
/// assert_eq!(page.max_datestamp.as_deref(), Some("2024-01-02"));
/// ```
pub fn parse_list_records(bytes: &[u8], source: &str) -> Result<OaiPage, ParseError> {
    let root = xml::parse_document(bytes, "an OAI-PMH response")?;
    expect_oai_root(&root)?;
    let mut page = OaiPage {
        response_date: root.child_text("responseDate"),
        ..OaiPage::default()
    };
    if let Some(e) = first_error(&root) {
        page.error = Some(e);
        return Ok(page);
    }
    let list = root
        .child("ListRecords")
        .or_else(|| root.child("GetRecord"))
        .ok_or_else(|| {
            let found = root
                .elements()
                .map(|e| e.name.as_str())
                .find(|n| *n != "responseDate" && *n != "request");
            ParseError::Unexpected(match found {
                Some(n) => format!("expected ListRecords or GetRecord, found <{n}>"),
                None => "no ListRecords or GetRecord element in the response".to_string(),
            })
        })?;
    for rec in list.children("record") {
        let header = rec.child("header");
        if let Some(ds) = header.and_then(|h| h.child_text("datestamp")) {
            if page
                .max_datestamp
                .as_deref()
                .is_none_or(|m| ds.as_str() > m)
            {
                page.max_datestamp = Some(ds.clone());
            }
            page.datestamps.push(ds);
        }
        match map_record(rec, source) {
            Item::Record(r) => page.parsed.records.push(*r),
            Item::Deleted(id) => page.parsed.deleted.push(id),
            Item::Rejected(r) => page.parsed.rejected.push(r),
        }
    }
    if let Some(tok) = list.child("resumptionToken") {
        let t = tok.text_trimmed();
        page.resumption_token = (!t.is_empty()).then_some(t);
        page.complete_list_size = tok
            .attr("completeListSize")
            .and_then(|v| v.trim().parse().ok());
        page.cursor = tok.attr("cursor").and_then(|v| v.trim().parse().ok());
    }
    Ok(page)
}

enum Item {
    Record(Box<Record>),
    Deleted(String),
    Rejected(Rejected),
}

/// The local part of an `oai:<namespace>:<local>` identifier; other identifiers whole.
pub fn local_id(identifier: &str) -> &str {
    let t = identifier.trim();
    let mut parts = t.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(scheme), Some(_), Some(local))
            if scheme.eq_ignore_ascii_case("oai") && !local.is_empty() =>
        {
            local
        }
        _ => t,
    }
}

fn map_record(rec: &Element, source: &str) -> Item {
    let header = rec.child("header");
    let Some(identifier) = header.and_then(|h| h.child_text("identifier")) else {
        return Item::Rejected(Rejected {
            source_id: None,
            reason: "missing identifier".to_string(),
        });
    };
    let sid = local_id(&identifier).to_string();
    if header
        .and_then(|h| h.attr("status"))
        .is_some_and(|s| s.trim() == "deleted")
    {
        return Item::Deleted(format!("{source}:{sid}"));
    }
    let Some(meta) = rec.child("metadata").and_then(|m| m.elements().next()) else {
        return Item::Rejected(Rejected {
            source_id: Some(sid),
            reason: "no metadata".to_string(),
        });
    };
    let mut record = Record::new(source, &sid, "");
    match meta.name.as_str() {
        "dc" => map_dc(meta, &mut record),
        "doajArticle" => map_doaj(meta, &mut record),
        "resource" => map_datacite(meta, &mut record),
        "oai_datacite" if meta.find("resource").is_some() => {
            if let Some(r) = meta.find("resource") {
                map_datacite(r, &mut record)
            }
        }
        other => {
            return Item::Rejected(Rejected {
                source_id: Some(sid),
                reason: format!("unsupported metadata format <{other}>"),
            })
        }
    }
    if record.title.trim().is_empty() {
        return Item::Rejected(Rejected {
            source_id: Some(sid),
            reason: "missing title".to_string(),
        });
    }
    dedup(&mut record.keywords);
    dedup(&mut record.authors);
    dedup(&mut record.publication_types);
    record.normalise();
    Item::Record(Box::new(record))
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.to_lowercase()));
}

fn set_if_none(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value.filter(|v| !v.is_empty());
    }
}

/// Splits a subject or keyword field on `;` and trims stray separators.
fn push_keywords(out: &mut Vec<String>, raw: &str) {
    for k in raw.split(';') {
        let k = collapse(k.trim_matches(|c: char| c.is_whitespace() || c == ',' || c == ';'));
        if !k.is_empty() {
            out.push(k);
        }
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a `dc:identifier` (or another identifier field) holds.
enum Ident {
    Doi(String),
    Pmid(String),
    Pmcid(String),
    Url(String),
    Other,
}

fn classify_identifier(raw: &str) -> Ident {
    let t = raw.trim();
    let lower = t.to_ascii_lowercase();
    for prefix in ["info:doi/", "urn:doi:"] {
        if lower.starts_with(prefix) {
            return normalise_doi(&t[prefix.len()..]).map_or(Ident::Other, Ident::Doi);
        }
    }
    for prefix in ["info:pmid/", "pmid:"] {
        if lower.starts_with(prefix) {
            return normalise_pmid(t[prefix.len()..].trim()).map_or(Ident::Other, Ident::Pmid);
        }
    }
    if lower.starts_with("pmc") {
        if let Some(p) = normalise_pmcid(t) {
            return Ident::Pmcid(p);
        }
    }
    if lower.starts_with("10.") || lower.starts_with("doi:") || lower.contains("doi.org/10.") {
        if let Some(d) = normalise_doi(t) {
            return Ident::Doi(d);
        }
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        if let Some(rest) = lower.split("pubmed.ncbi.nlm.nih.gov/").nth(1) {
            if let Some(p) = normalise_pmid(rest.trim_end_matches('/')) {
                return Ident::Pmid(p);
            }
        }
        return Ident::Url(t.to_string());
    }
    Ident::Other
}

/// Reads an access right or licence statement into `open_access` and `licence`.
fn apply_rights(record: &mut Record, candidates: &mut Vec<String>, raw: &str) {
    let t = raw.trim();
    if t.is_empty() {
        return;
    }
    let lower = t.to_ascii_lowercase();
    if let Some(access) = lower.strip_prefix("info:eu-repo/semantics/") {
        match access {
            "openaccess" => record.open_access = Some(true),
            "closedaccess" | "restrictedaccess" | "embargoedaccess" => {
                record.open_access.get_or_insert(false);
            }
            _ => {}
        }
        return;
    }
    candidates.push(t.to_string());
}

fn choose_licence(candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .find_map(|c| cc_from_url(c))
        .or_else(|| candidates.first().map(|c| normalise_licence(c)))
}

/// `https://creativecommons.org/licenses/by-nc/4.0/legalcode` → `CC BY-NC 4.0`;
/// `…/publicdomain/zero/1.0/` → `CC0 1.0`.
fn cc_from_url(s: &str) -> Option<String> {
    let lower = s.trim().to_ascii_lowercase();
    let idx = lower.find("creativecommons.org/")?;
    let path = &lower[idx + "creativecommons.org/".len()..];
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["licenses", kind, version, ..] => {
            Some(format!("CC {} {version}", kind.to_ascii_uppercase()))
        }
        ["licenses", kind] => Some(format!("CC {}", kind.to_ascii_uppercase())),
        ["publicdomain", "zero", version, ..] => Some(format!("CC0 {version}")),
        ["publicdomain", "mark", ..] => Some("Public Domain Mark".to_string()),
        _ => None,
    }
}

/// Licence names as sources write them, tidied: `cc by-nc-nd` → `CC BY-NC-ND`,
/// `cc-by-4.0` → `CC BY 4.0`, a Creative Commons URL → its short name; others unchanged.
pub fn normalise_licence(s: &str) -> String {
    let t = collapse(s);
    if let Some(cc) = cc_from_url(&t) {
        return cc;
    }
    let lower = t.to_ascii_lowercase();
    if lower == "cc0" || lower.starts_with("cc0 ") || lower.starts_with("cc0-") {
        return t.to_ascii_uppercase().replacen("CC0-", "CC0 ", 1);
    }
    if let Some(rest) = lower
        .strip_prefix("cc ")
        .or_else(|| lower.strip_prefix("cc-"))
    {
        // `cc-by-4.0` (SPDX-like) → `BY 4.0`; `by-nc-nd` stays hyphenated.
        let (kind, version) = match rest.rfind(['-', ' ']) {
            Some(i)
                if rest[i + 1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit()) =>
            {
                (&rest[..i], Some(&rest[i + 1..]))
            }
            _ => (rest, None),
        };
        if !kind.is_empty()
            && kind
                .split('-')
                .all(|p| matches!(p, "by" | "nc" | "nd" | "sa"))
        {
            let kind = kind.to_ascii_uppercase();
            return match version {
                Some(v) => format!("CC {kind} {v}"),
                None => format!("CC {kind}"),
            };
        }
    }
    t
}

fn map_dc(dc: &Element, record: &mut Record) {
    let mut rights = Vec::new();
    let mut urls = Vec::new();
    let mut descriptions = Vec::new();
    for el in dc.elements() {
        let text = el.text_trimmed();
        if text.is_empty() {
            continue;
        }
        match el.name.as_str() {
            "title" if record.title.is_empty() => record.title = html_to_text(&text),
            "creator" => record.authors.push(collapse(&text)),
            "subject" => push_keywords(&mut record.keywords, &text),
            "description" => descriptions.push(html_to_text(&text)),
            "date" if record.published.is_none() => {
                record.published = PartialDate::parse_loose(&text).ok();
            }
            "identifier" => match classify_identifier(&text) {
                Ident::Doi(d) => set_if_none(&mut record.identifiers.doi, Some(d)),
                Ident::Pmid(p) => set_if_none(&mut record.identifiers.pmid, Some(p)),
                Ident::Pmcid(p) => set_if_none(&mut record.identifiers.pmcid, Some(p)),
                Ident::Url(u) => urls.push(u),
                Ident::Other => {}
            },
            "type" => {
                let t = text
                    .strip_prefix("info:eu-repo/semantics/")
                    .unwrap_or(&text);
                record.publication_types.push(collapse(t));
            }
            "language" => set_if_none(&mut record.language, Some(collapse(&text))),
            "rights" => apply_rights(record, &mut rights, &text),
            "publisher" => set_if_none(&mut record.publisher, Some(collapse(&text))),
            "source" => set_if_none(&mut record.journal, Some(collapse(&text))),
            _ => {}
        }
    }
    let abstract_text = descriptions
        .into_iter()
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    record.abstract_text = (!abstract_text.is_empty()).then_some(abstract_text);
    record.licence = choose_licence(&rights);
    record.url = urls.into_iter().next().or_else(|| doi_url(record));
}

fn doi_url(record: &Record) -> Option<String> {
    record
        .identifiers
        .doi
        .as_deref()
        .and_then(normalise_doi)
        .map(|d| format!("https://doi.org/{d}"))
}

fn map_doaj(a: &Element, record: &mut Record) {
    record.title = a
        .child_text("title")
        .map(|t| html_to_text(&t))
        .unwrap_or_default();
    if let Some(authors) = a.child("authors") {
        for au in authors.children("author") {
            if let Some(n) = au.child_text("name") {
                record.authors.push(collapse(&n));
            }
        }
    }
    record.abstract_text = a
        .child_text("abstract")
        .map(|t| html_to_text(&t))
        .filter(|t| !t.is_empty());
    record.published = a
        .child_text("publicationDate")
        .and_then(|d| PartialDate::parse_loose(&d).ok());
    record.identifiers.doi = a.child_text("doi");
    record.journal = a.child_text("journalTitle").map(|t| collapse(&t));
    record.publisher = a.child_text("publisher").map(|t| collapse(&t));
    record.language = a.child_text("language");
    if let Some(kw) = a.child("keywords") {
        for k in kw.children("keyword") {
            push_keywords(&mut record.keywords, &k.text_trimmed());
        }
    }
    record.open_access = Some(true);
    record.url = a.child_text("fullTextUrl").or_else(|| doi_url(record));
}

fn map_datacite(r: &Element, record: &mut Record) {
    if let Some(titles) = r.child("titles") {
        let mut all: Vec<&Element> = titles.children("title").collect();
        all.sort_by_key(|t| t.attr("titleType").is_some());
        record.title = all
            .first()
            .map(|t| html_to_text(&t.text_trimmed()))
            .unwrap_or_default();
    }
    if let Some(creators) = r.child("creators") {
        for c in creators.children("creator") {
            if let Some(n) = c.child_text("creatorName") {
                record.authors.push(collapse(&n));
            }
        }
    }
    if let Some(subjects) = r.child("subjects") {
        for s in subjects.children("subject") {
            push_keywords(&mut record.keywords, &s.text_trimmed());
        }
    }
    if let Some(descs) = r.child("descriptions") {
        let all: Vec<&Element> = descs.children("description").collect();
        let chosen = all
            .iter()
            .find(|d| {
                d.attr("descriptionType")
                    .is_some_and(|t| t.eq_ignore_ascii_case("Abstract"))
            })
            .or_else(|| all.first());
        record.abstract_text = chosen
            .map(|d| html_to_text(&d.text_trimmed()))
            .filter(|t| !t.is_empty());
    }
    let issued = r.child("dates").and_then(|ds| {
        ds.children("date")
            .find(|d| {
                d.attr("dateType")
                    .is_some_and(|t| t.eq_ignore_ascii_case("Issued"))
            })
            .and_then(|d| PartialDate::parse_loose(&d.text_trimmed()).ok())
    });
    record.published = issued.or_else(|| {
        r.child_text("publicationYear")
            .and_then(|y| PartialDate::parse_loose(&y).ok())
    });
    if let Some(id) = r.child("identifier") {
        let kind = id.attr("identifierType").unwrap_or("");
        let value = id.text_trimmed();
        match kind.to_ascii_uppercase().as_str() {
            "DOI" => record.identifiers.doi = Some(value),
            "URL" => record.url = Some(value),
            _ => {}
        }
    }
    if let Some(alts) = r.child("alternateIdentifiers") {
        for alt in alts.children("alternateIdentifier") {
            let value = alt.text_trimmed();
            match alt
                .attr("alternateIdentifierType")
                .unwrap_or("")
                .to_ascii_uppercase()
                .as_str()
            {
                "DOI" => set_if_none(&mut record.identifiers.doi, Some(value)),
                "PMID" => set_if_none(&mut record.identifiers.pmid, Some(value)),
                "PMCID" => set_if_none(&mut record.identifiers.pmcid, Some(value)),
                "URL" => set_if_none(&mut record.url, Some(value)),
                _ => {}
            }
        }
    }
    if let Some(rt) = r.child("resourceType") {
        let text = rt.text_trimmed();
        let t = if text.is_empty() {
            rt.attr("resourceTypeGeneral").unwrap_or("").to_string()
        } else {
            text
        };
        if !t.is_empty() {
            record.publication_types.push(collapse(&t));
        }
    }
    record.language = r.child_text("language");
    record.publisher = r.child_text("publisher").map(|p| collapse(&p));
    let mut rights = Vec::new();
    if let Some(list) = r.child("rightsList") {
        // The licence's name first, then its identifier and URI (a Creative Commons URI wins anyway).
        for rt in list.children("rights") {
            apply_rights(record, &mut rights, &rt.text_trimmed());
            if let Some(id) = rt.attr("rightsIdentifier") {
                rights.push(id.to_string());
            }
            if let Some(uri) = rt.attr("rightsURI") {
                apply_rights(record, &mut rights, uri);
            }
        }
    }
    record.licence = choose_licence(&rights);
    if record.url.is_none() {
        record.url = doi_url(record);
    }
}

// ---------------------------------------------------------------------------------------------
// Harvesting
// ---------------------------------------------------------------------------------------------

/// How many times in a row a harvest re-lists after `badResumptionToken` before it gives up.
const MAX_RECOVERIES: u32 = 3;

/// The checkpoint, in progress (`token` set) or complete (`completed`, with the `from` of the next
/// run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    completed: bool,
    /// Complete: the `from` of the next run. In progress: the `from` this run started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// The repository's `responseDate` of the run's first list response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    /// The datestamp of the last record seen in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_datestamp: Option<String>,
    /// The latest datestamp seen in this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_datestamp: Option<String>,
    /// Whether the datestamps seen so far came in ascending order.
    #[serde(default = "yes")]
    ascending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    granularity: Option<Granularity>,
    #[serde(default)]
    metadata_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// A new list request, with this `from` (a date or datestamp, formatted when sent).
    List(Option<String>),
    /// The next page of the current list.
    Token(String),
    Done,
}

/// Harvests an OAI-PMH repository, page by page.
///
/// 1. `Identify` first, to learn the datestamp granularity (so `from` is sent as the repository
///    expects it).
/// 2. `ListRecords` with `metadataPrefix` (`metadata_prefix`, default `oai_dc`), `set` when
///    configured, and `from`: the previous complete harvest's `from` (an incremental run; `full`
///    ignores it), else the source's `from`.
/// 3. `ListRecords` with each `resumptionToken` until the token is empty or absent.
/// 4. The checkpoint after each page holds the token, so a rebuilt harvester continues with the
///    next page (without `Identify` when the granularity is known). After the last page it is
///    `{"completed": true, "from": <the first response's responseDate>, ...}`: the next run asks
///    for everything changed since this one started.
/// 5. `noRecordsMatch` is an empty, complete result. `badResumptionToken` (an expired token)
///    starts the list again: from the last datestamp seen when the repository returns records in
///    datestamp order, else from this run's `from` (records are upserted, so fetching some twice is
///    harmless; skipping some would not be). Other OAI errors are [`HarvestError::Protocol`].
///
/// A changed metadata prefix or set starts over.
#[derive(Debug)]
pub struct OaiPmhHarvester {
    cfg: SourceConfig,
    endpoint: String,
    prefix: String,
    set: Option<String>,
    granularity: Option<Granularity>,
    next: Next,
    /// The `from` of the current run.
    run_from: Option<String>,
    started: Option<String>,
    last_datestamp: Option<String>,
    max_datestamp: Option<String>,
    ascending: bool,
    total: Option<u64>,
    recoveries: u32,
}

impl OaiPmhHarvester {
    /// Prepares a harvest, resuming from `checkpoint` unless `full` is set.
    pub fn new(
        cfg: &SourceConfig,
        checkpoint: Option<&serde_json::Value>,
        full: bool,
    ) -> Result<Self, HarvestError> {
        let prefix = cfg
            .metadata_prefix
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or("oai_dc")
            .to_string();
        let set = cfg
            .set
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(f) = cfg.from.as_deref() {
            Granularity::Second
                .format(f)
                .ok_or_else(|| config_error(cfg, format!("invalid from date {f:?}")))?;
        }
        let mut h = OaiPmhHarvester {
            cfg: cfg.clone(),
            endpoint: cfg.endpoint(""),
            prefix,
            set,
            granularity: None,
            next: Next::List(cfg.from.clone()),
            run_from: cfg.from.clone(),
            started: None,
            last_datestamp: None,
            max_datestamp: None,
            ascending: true,
            total: None,
            recoveries: 0,
        };
        let checkpoint = if full {
            None
        } else {
            checkpoint.filter(|c| !c.is_null())
        };
        let Some(c) = checkpoint else { return Ok(h) };
        let cp: Checkpoint = serde_json::from_value(c.clone())
            .map_err(|e| config_error(cfg, format!("unrecognised checkpoint {c}: {e}")))?;
        if cp.metadata_prefix != h.prefix || cp.set != h.set {
            warn!(source = %cfg.name, "metadata prefix or set changed since the checkpoint; starting over");
            return Ok(h);
        }
        if cp.completed {
            h.next = Next::List(cp.from.clone().or(h.run_from.clone()));
            h.run_from = cp.from;
        } else if let Some(token) = cp.token {
            h.next = Next::Token(token);
            h.run_from = cp.from;
            h.started = cp.started;
            h.last_datestamp = cp.last_datestamp;
            h.max_datestamp = cp.max_datestamp;
            h.ascending = cp.ascending;
            h.granularity = cp.granularity;
            h.total = cp.total;
        } else {
            return Err(config_error(cfg, format!("unrecognised checkpoint {c}")));
        }
        Ok(h)
    }

    /// The checkpoint describing the current state.
    pub fn checkpoint(&self) -> serde_json::Value {
        let base = Checkpoint {
            metadata_prefix: self.prefix.clone(),
            set: self.set.clone(),
            granularity: self.granularity,
            ascending: true,
            ..Checkpoint::default()
        };
        let cp = match &self.next {
            Next::Done => Checkpoint {
                completed: true,
                from: self.next_from(),
                ..base
            },
            Next::Token(t) => Checkpoint {
                from: self.run_from.clone(),
                token: Some(t.clone()),
                started: self.started.clone(),
                last_datestamp: self.last_datestamp.clone(),
                max_datestamp: self.max_datestamp.clone(),
                ascending: self.ascending,
                total: self.total,
                ..base
            },
            // Nothing fetched yet in this run: the state it would start from.
            // Nothing fetched yet: as if the previous harvest had ended at this `from`.
            Next::List(from) => Checkpoint {
                completed: true,
                from: from.clone(),
                ..base
            },
        };
        serde_json::to_value(cp).unwrap_or(serde_json::Value::Null)
    }

    /// The `from` of the run after this one: when this run started, by the repository's clock.
    fn next_from(&self) -> Option<String> {
        let g = self.granularity.unwrap_or(Granularity::Day);
        self.started
            .as_deref()
            .or(self.max_datestamp.as_deref())
            .and_then(|d| g.format(d))
            .or_else(|| self.run_from.clone())
    }

    fn params_list(&self, from: Option<&str>) -> Result<Vec<(&'static str, String)>, HarvestError> {
        let mut p = vec![
            ("verb", "ListRecords".to_string()),
            ("metadataPrefix", self.prefix.clone()),
        ];
        if let Some(set) = &self.set {
            p.push(("set", set.clone()));
        }
        if let Some(f) = from {
            let g = self.granularity.unwrap_or(Granularity::Day);
            let formatted = g
                .format(f)
                .ok_or_else(|| config_error(&self.cfg, format!("invalid from date {f:?}")))?;
            p.push(("from", formatted));
        }
        Ok(p)
    }

    async fn identify(&mut self, fetcher: &Fetcher) -> Result<(), HarvestError> {
        if self.granularity.is_some() {
            return Ok(());
        }
        let params = vec![("verb", "Identify".to_string())];
        let url = display_url(&self.endpoint, &params);
        let body = fetcher.get(&self.endpoint, &params).await?;
        let result = parse_off_thread(&self.cfg.name, &url, body, parse_identify_inner).await?;
        match result {
            Ok(id) => {
                info!(source = %self.cfg.name, granularity = id.granularity.as_str(), earliest = ?id.earliest_datestamp, "identified repository");
                self.granularity = Some(id.granularity);
                Ok(())
            }
            Err(e) => Err(HarvestError::Protocol {
                source_name: self.cfg.name.clone(),
                url,
                code: e.code,
                message: e.message,
            }),
        }
    }

    /// Fetches the next page of the harvest, or `None` when it is complete.
    pub async fn next_page(&mut self, fetcher: &Fetcher) -> Result<Option<Page>, HarvestError> {
        let mut params = match self.next.clone() {
            Next::Done => return Ok(None),
            Next::List(from) => {
                self.identify(fetcher).await?;
                self.params_list(from.as_deref())?
            }
            Next::Token(t) => vec![("verb", "ListRecords".to_string()), ("resumptionToken", t)],
        };
        // Whether this call listed again after a rejected token (its page is no progress past it).
        let mut relisted = false;
        loop {
            let url = display_url(&self.endpoint, &params);
            let body = fetcher.get(&self.endpoint, &params).await?;
            let source = self.cfg.name.clone();
            let mut page = parse_off_thread(&self.cfg.name, &url, body, move |b| {
                parse_list_records(b, &source)
            })
            .await?;
            if let Some(err) = page.error.take() {
                match err.code.as_str() {
                    "noRecordsMatch" => {
                        if self.started.is_none() {
                            self.started = page.response_date.clone();
                        }
                        self.total.get_or_insert(0);
                        self.next = Next::Done;
                        return Ok(Some(Page {
                            parsed: Parsed::default(),
                            checkpoint: self.checkpoint(),
                            url,
                            total: self.total,
                        }));
                    }
                    "badResumptionToken"
                        if matches!(self.next, Next::Token(_))
                            && self.recoveries < MAX_RECOVERIES =>
                    {
                        self.recoveries += 1;
                        relisted = true;
                        let from = if self.ascending && self.last_datestamp.is_some() {
                            self.last_datestamp.clone()
                        } else {
                            // Records came in no datestamp order: only the run's own start is safe.
                            self.last_datestamp = None;
                            self.ascending = true;
                            self.run_from.clone()
                        };
                        warn!(source = %self.cfg.name, from = ?from, message = %err.message, "resumption token rejected; listing again");
                        self.identify(fetcher).await?;
                        params = self.params_list(from.as_deref())?;
                        continue;
                    }
                    _ => {
                        return Err(HarvestError::Protocol {
                            source_name: self.cfg.name.clone(),
                            url,
                            code: err.code,
                            message: err.message,
                        })
                    }
                }
            }
            return self.accept(page, url, relisted).map(Some);
        }
    }

    fn accept(
        &mut self,
        mut page: OaiPage,
        url: String,
        relisted: bool,
    ) -> Result<Page, HarvestError> {
        if self.started.is_none() {
            self.started = page.response_date.clone();
        }
        for ds in &page.datestamps {
            if self
                .last_datestamp
                .as_deref()
                .is_some_and(|last| ds.as_str() < last)
            {
                self.ascending = false;
            }
            self.last_datestamp = Some(ds.clone());
        }
        if let Some(m) = page.max_datestamp.take() {
            if self
                .max_datestamp
                .as_deref()
                .is_none_or(|cur| m.as_str() > cur)
            {
                self.max_datestamp = Some(m);
            }
        }
        if page.complete_list_size.is_some()
            && (self.total.is_none() || matches!(self.next, Next::List(_)))
        {
            self.total = page.complete_list_size;
        }
        if !relisted && matches!(self.next, Next::Token(_)) {
            // A token was accepted: the harvest got past the point where one was rejected.
            self.recoveries = 0;
        }
        self.next = match page.resumption_token.take() {
            Some(t) => {
                if !relisted && self.next == Next::Token(t.clone()) {
                    return Err(HarvestError::Protocol {
                        source_name: self.cfg.name.clone(),
                        url,
                        code: "repeatedResumptionToken".to_string(),
                        message: "the repository returned the same resumption token again"
                            .to_string(),
                    });
                }
                Next::Token(t)
            }
            None => Next::Done,
        };
        for r in &mut page.parsed.records {
            self.cfg.apply_defaults(r);
        }
        Ok(Page {
            parsed: page.parsed,
            checkpoint: self.checkpoint(),
            url,
            total: self.total,
        })
    }
}

/// A small XML tree, for responses that fit in memory (one page of a source). Element and
/// attribute names are local names (prefixes dropped, kept apart in `prefix`); text is decoded
/// leniently (XML and HTML entities; unknown entities kept as written).
pub(crate) mod xml {
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::Reader;

    use crate::feed::decode_entities;
    use crate::ParseError;

    /// Deeper nesting is refused, so hostile input cannot exhaust memory or the stack.
    const MAX_DEPTH: usize = 256;

    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub(crate) struct Element {
        pub name: String,
        pub prefix: Option<String>,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Node>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Node {
        Element(Element),
        Text(String),
    }

    impl Element {
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        pub fn elements(&self) -> impl Iterator<Item = &Element> {
            self.children.iter().filter_map(|n| match n {
                Node::Element(e) => Some(e),
                Node::Text(_) => None,
            })
        }

        pub fn child(&self, name: &str) -> Option<&Element> {
            self.elements().find(|e| e.name == name)
        }

        pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
            self.elements().filter(move |e| e.name == name)
        }

        /// The first descendant (depth first) with this name.
        pub fn find(&self, name: &str) -> Option<&Element> {
            let mut stack: Vec<&Element> = self.elements().collect();
            stack.reverse();
            while let Some(e) = stack.pop() {
                if e.name == name {
                    return Some(e);
                }
                let mut kids: Vec<&Element> = e.elements().collect();
                kids.reverse();
                stack.extend(kids);
            }
            None
        }

        /// All descendant text, in document order.
        pub fn text(&self) -> String {
            let mut out = String::new();
            let mut stack: Vec<std::slice::Iter<'_, Node>> = vec![self.children.iter()];
            while let Some(top) = stack.last_mut() {
                match top.next() {
                    Some(Node::Text(t)) => out.push_str(t),
                    Some(Node::Element(e)) => stack.push(e.children.iter()),
                    None => {
                        stack.pop();
                    }
                }
            }
            out
        }

        pub fn text_trimmed(&self) -> String {
            self.text().trim().to_string()
        }

        /// The trimmed text of the first child with this name, when not empty.
        pub fn child_text(&self, name: &str) -> Option<String> {
            self.children(name)
                .map(|e| e.text_trimmed())
                .find(|t| !t.is_empty())
        }
    }

    /// Whether a body looks like an HTML page rather than the XML or JSON asked for.
    pub(crate) fn looks_like_html(bytes: &[u8]) -> bool {
        let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let start = &start[start
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(start.len())..];
        let head = String::from_utf8_lossy(&start[..start.len().min(1024)]).to_ascii_lowercase();
        head.starts_with("<!doctype html")
            || head.starts_with("<html")
            || (head.starts_with("<?xml")
                && (head.contains("<!doctype html") || head.contains("<html")))
    }

    fn element(e: &BytesStart<'_>) -> Element {
        let qname = e.name();
        let prefix = qname
            .prefix()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let attrs = e
            .attributes()
            .with_checks(false)
            .flatten()
            .map(|a| {
                let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                let value = decode_entities(&String::from_utf8_lossy(&a.value));
                (key, value)
            })
            .collect();
        Element {
            name,
            prefix,
            attrs,
            children: Vec::new(),
        }
    }

    /// Parses a whole document. `expected` names the document for the error about an HTML page
    /// ("an html page instead of {expected}").
    pub(crate) fn parse_document(bytes: &[u8], expected: &str) -> Result<Element, ParseError> {
        if looks_like_html(bytes) {
            return Err(ParseError::Unexpected(format!(
                "an html page instead of {expected}"
            )));
        }
        let mut reader = Reader::from_reader(bytes);
        reader.config_mut().trim_text(false);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let mut stray = String::new();
        loop {
            let event = reader.read_event().map_err(|e| ParseError::Xml {
                position: reader.error_position(),
                message: e.to_string(),
            })?;
            match event {
                Event::Start(e) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(ParseError::Xml {
                            position: reader.buffer_position(),
                            message: format!("elements nested deeper than {MAX_DEPTH}"),
                        });
                    }
                    let el = element(&e);
                    if stack.is_empty() && root.is_none() && el.name.eq_ignore_ascii_case("html") {
                        return Err(ParseError::Unexpected(format!(
                            "an html page instead of {expected}"
                        )));
                    }
                    stack.push(el);
                }
                Event::Empty(e) => {
                    let el = element(&e);
                    attach(&mut stack, &mut root, el);
                }
                Event::End(_) => {
                    if let Some(el) = stack.pop() {
                        attach(&mut stack, &mut root, el);
                    }
                }
                Event::Text(t) => {
                    let text = decode_entities(&String::from_utf8_lossy(&t));
                    match stack.last_mut() {
                        Some(top) => top.children.push(Node::Text(text)),
                        None if stray.len() < 200 => stray.push_str(text.trim()),
                        None => {}
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.children
                            .push(Node::Text(String::from_utf8_lossy(&t).into_owned()));
                    }
                }
                Event::DocType(d)
                    if String::from_utf8_lossy(&d)
                        .trim()
                        .to_ascii_lowercase()
                        .starts_with("html") =>
                {
                    return Err(ParseError::Unexpected(format!(
                        "an html page instead of {expected}"
                    )));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if let Some(open) = stack.last() {
            return Err(ParseError::Xml {
                position: reader.buffer_position(),
                message: format!(
                    "unexpected end of document, {} elements still open (innermost <{}>)",
                    stack.len(),
                    open.name
                ),
            });
        }
        root.ok_or_else(|| {
            let s: String = stray.chars().take(100).collect();
            ParseError::Unexpected(if s.is_empty() {
                format!("an empty document instead of {expected}")
            } else {
                format!("text instead of {expected}: {s:?}")
            })
        })
    }

    fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
        match stack.last_mut() {
            Some(parent) => parent.children.push(Node::Element(el)),
            None => {
                if root.is_none() {
                    *root = Some(el);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ids() {
        assert_eq!(local_id("oai:zenodo.org:8435696"), "8435696");
        assert_eq!(local_id("oai:doaj.org/article:84d1"), "84d1");
        assert_eq!(
            local_id("oai:arXiv.org:hep-th/9901001:v2"),
            "hep-th/9901001:v2"
        );
        assert_eq!(local_id("hdl:1765/315"), "hdl:1765/315");
        assert_eq!(local_id("oai:x:"), "oai:x:");
    }

    #[test]
    fn granularity_formats() {
        let cases = [
            (Granularity::Day, "2023-10-12", Some("2023-10-12")),
            (Granularity::Day, "2023-10-12T14:26:07Z", Some("2023-10-12")),
            (
                Granularity::Second,
                "2023-10-12",
                Some("2023-10-12T00:00:00Z"),
            ),
            (
                Granularity::Second,
                "2023-10-12T14:26:07Z",
                Some("2023-10-12T14:26:07Z"),
            ),
            (Granularity::Second, "2023-02-30", None),
            (Granularity::Day, "2023-10-12X", None),
            (Granularity::Day, "", None),
            (Granularity::Day, "2023-10-12T25:00:00Z", None),
        ];
        for (g, input, expect) in cases {
            assert_eq!(g.format(input).as_deref(), expect, "{g:?} {input}");
        }
    }

    #[test]
    fn identifiers() {
        let doi = |s| matches!(classify_identifier(s), Ident::Doi(_));
        assert!(doi("https://doi.org/10.5281/zenodo.8435696"));
        assert!(doi("info:doi/10.1000/xyz"));
        assert!(doi("doi:10.1000/xyz"));
        assert!(doi("10.1000/xyz"));
        assert!(matches!(classify_identifier("info:pmid/123"), Ident::Pmid(p) if p == "123"));
        assert!(
            matches!(classify_identifier("https://pubmed.ncbi.nlm.nih.gov/456/"), Ident::Pmid(p) if p == "456")
        );
        assert!(matches!(classify_identifier("PMC77"), Ident::Pmcid(p) if p == "PMC77"));
        assert!(matches!(
            classify_identifier("http://hdl.handle.net/1765/315"),
            Ident::Url(_)
        ));
        assert!(matches!(classify_identifier("90-9014980-5"), Ident::Other));
        assert!(matches!(
            classify_identifier("oai:zenodo.org:1"),
            Ident::Other
        ));
    }

    #[test]
    fn licences() {
        let cases = [
            (
                "https://creativecommons.org/licenses/by/4.0/legalcode",
                "CC BY 4.0",
            ),
            (
                "http://creativecommons.org/licenses/by-nc-nd/3.0/",
                "CC BY-NC-ND 3.0",
            ),
            (
                "https://creativecommons.org/publicdomain/zero/1.0/",
                "CC0 1.0",
            ),
            ("cc by", "CC BY"),
            ("cc by-nc-nd", "CC BY-NC-ND"),
            ("cc-by-4.0", "CC BY 4.0"),
            ("cc0", "CC0"),
            (
                "Creative Commons Attribution 4.0 International",
                "Creative Commons Attribution 4.0 International",
            ),
        ];
        for (input, expect) in cases {
            assert_eq!(normalise_licence(input), expect, "{input}");
        }
        let rights = vec![
            "Creative Commons Attribution 4.0 International".to_string(),
            "https://creativecommons.org/licenses/by/4.0/legalcode".to_string(),
        ];
        assert_eq!(choose_licence(&rights).as_deref(), Some("CC BY 4.0"));
    }

    #[test]
    fn dom_basics_and_errors() {
        let root = xml::parse_document(b"<a x='1&amp;2'><b>one &nbsp;<c>two</c></b><b/></a>", "a")
            .unwrap();
        assert_eq!(root.attr("x"), Some("1&2"));
        assert_eq!(root.children("b").count(), 2);
        assert_eq!(root.child("b").unwrap().text(), "one  two");
        assert_eq!(root.find("c").unwrap().text(), "two");
        let err = xml::parse_document(b"<a><b>text", "a doc").unwrap_err();
        assert!(
            matches!(err, ParseError::Xml { position: 10, .. }),
            "{err:?}"
        );
        let err = xml::parse_document(b"<a><b></c></a>", "a doc").unwrap_err();
        assert!(matches!(err, ParseError::Xml { .. }), "{err:?}");
        let err = xml::parse_document(
            b"  <!DOCTYPE html><html><body><p>Oops<br></body></html>",
            "a doc",
        )
        .unwrap_err();
        assert!(
            matches!(err, ParseError::Unexpected(ref m) if m.contains("html page")),
            "{err:?}"
        );
        let err = xml::parse_document(b"", "a doc").unwrap_err();
        assert!(matches!(err, ParseError::Unexpected(_)), "{err:?}");
        let deep = "<a>".repeat(1000);
        assert!(xml::parse_document(deep.as_bytes(), "a doc").is_err());
    }

    #[test]
    fn oai_error_and_rejects() {
        let xml = br#"<OAI-PMH><responseDate>2024-01-01T00:00:00Z</responseDate><error code="noRecordsMatch">none</error></OAI-PMH>"#;
        let page = parse_list_records(xml, "s").unwrap();
        assert_eq!(page.error.unwrap().code, "noRecordsMatch");
        let xml = br#"<OAI-PMH><ListRecords>
            <record><header><datestamp>2024-01-01</datestamp></header><metadata><dc><title>x</title></dc></metadata></record>
            <record><header><identifier>oai:r:2</identifier></header><metadata><dc><creator>A</creator></dc></metadata></record>
            <record><header><identifier>oai:r:3</identifier></header><metadata><mods><title>x</title></mods></metadata></record>
            <record><header><identifier>oai:r:4</identifier></header></record>
            <resumptionToken cursor="0">  </resumptionToken></ListRecords></OAI-PMH>"#;
        let page = parse_list_records(xml, "s").unwrap();
        assert!(page.parsed.records.is_empty());
        let reasons: Vec<_> = page
            .parsed
            .rejected
            .iter()
            .map(|r| (r.source_id.as_deref(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (None, "missing identifier"),
                (Some("2"), "missing title"),
                (Some("3"), "unsupported metadata format <mods>"),
                (Some("4"), "no metadata")
            ]
        );
        assert_eq!(page.resumption_token, None);
        assert_eq!(page.cursor, Some(0));
        let err = parse_list_records(b"<rss><channel/></rss>", "s").unwrap_err();
        assert!(err.to_string().contains("expected <OAI-PMH>"), "{err}");
    }
}
