//! Europe PMC REST: the pure [`parse_search`] for `search` responses (JSON, `resultType` `core`, `lite`
//! or `idlist`), and the [`EuropePmcHarvester`] that walks a query with `cursorMark`.
//!
//! # Parsing
//! Each `resultList.result` becomes a record:
//! - source id: the PMID when there is one, else `<source>:<id>` (`PPR:PPR123456`, `PMC:PMC77`), so a
//!   MEDLINE article has the same local id here as in PubMed;
//! - title and `abstractText` flattened to text (`<h4>` section headings kept as `Label:`), authors
//!   from `authorList` (`fullName`, or a collective name) else `authorString`;
//! - journal from `journalInfo.journal.title` (`journalTitle` in `lite`), else a book's publisher;
//! - published from `firstPublicationDate`, else `journalInfo.printPublicationDate`, else `pubYear`;
//! - publication types, MeSH descriptors (`mesh_major` when the descriptor or a qualifier is
//!   `majorTopic_YN = Y`), keywords, DOI, PMID, PMCID, `isOpenAccess`, `license` (`cc by` →
//!   `CC BY`), language, and the Europe PMC page `https://europepmc.org/article/<source>/<id>`.
//!
//! A result without an id or a title (an `idlist` result) is a [`Rejected`]. An HTML page, an XML
//! document or JSON without `resultList` is [`ParseError::Unexpected`]; malformed JSON is
//! [`ParseError::Json`] with line and column.
//!
//! # Harvesting
//! See [`EuropePmcHarvester`].

use model::{PartialDate, Record};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use crate::connector::{
    config_error, config_from, display_url, parse_date, parse_json, parse_off_thread, today,
};
use crate::feed::html_to_text;
use crate::fetch::Fetcher;
use crate::oai_pmh::normalise_licence;
use crate::{HarvestError, Page, ParseError, Parsed, Rejected, SourceConfig};

/// Records per request unless `page_size` says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 200;
/// Europe PMC's largest page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One parsed `search` response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchPage {
    /// Records (normalised) and rejects.
    pub parsed: Parsed,
    /// `hitCount`: every result of the query.
    pub hit_count: Option<u64>,
    /// `nextCursorMark`, the cursor of the following page.
    pub next_cursor_mark: Option<String>,
    /// How many results the page held (records and rejects).
    pub result_count: usize,
}

/// A string field, or a number written as one.
fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A list that Europe PMC writes as an array, or as a single value when there is one.
fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    list(v)
        .into_iter()
        .filter_map(|x| x.as_str().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect()
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |cur, k| cur.get(k))
}

fn yes(v: &Value, key: &str) -> Option<bool> {
    match s(v, key)?.to_ascii_uppercase().as_str() {
        "Y" | "YES" | "TRUE" => Some(true),
        "N" | "NO" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Parses a `search` response (`format=json`).
///
/// ```
/// let json = br#"{"hitCount":1,"nextCursorMark":"AoE","resultList":{"result":[
///   {"id":"PPR1","source":"PPR","title":"Sepsis <i>bundles</i>","firstPublicationDate":"2024-03-01",
///    "isOpenAccess":"Y","license":"cc by"}]}}"#;
/// let page = harvest::europe_pmc::parse_search(json, "europepmc").unwrap();
/// let r = &page.parsed.records[0];
/// assert_eq!(r.id, "europepmc:PPR:PPR1");
/// assert_eq!(r.title, "Sepsis bundles");
/// assert_eq!(r.licence.as_deref(), Some("CC BY"));
/// assert_eq!(page.next_cursor_mark.as_deref(), Some("AoE"));
/// ```
pub fn parse_search(bytes: &[u8], source: &str) -> Result<SearchPage, ParseError> {
    let doc = parse_json(bytes, "a Europe PMC search response")?;
    let results = path(&doc, &["resultList", "result"]).ok_or_else(|| {
        let message = s(&doc, "errMsg").or_else(|| s(&doc, "message"));
        ParseError::Unexpected(match message {
            Some(m) => format!("europe pmc answered an error: {m}"),
            None => "no resultList in the response".to_string(),
        })
    })?;
    let results = list(Some(results));
    let mut page = SearchPage {
        hit_count: doc.get("hitCount").and_then(Value::as_u64),
        next_cursor_mark: s(&doc, "nextCursorMark"),
        result_count: results.len(),
        ..SearchPage::default()
    };
    for r in results {
        match map_result(r, source) {
            Ok(rec) => page.parsed.records.push(rec),
            Err(rej) => page.parsed.rejected.push(rej),
        }
    }
    Ok(page)
}

fn map_result(v: &Value, source: &str) -> Result<Record, Rejected> {
    let pmid = s(v, "pmid");
    let sid = match (&pmid, s(v, "source"), s(v, "id")) {
        (Some(p), _, _) => p.clone(),
        (None, Some(src), Some(id)) => format!("{src}:{id}"),
        (None, None, Some(id)) => id,
        (None, _, None) => {
            return Err(Rejected {
                source_id: None,
                reason: "missing id".to_string(),
            })
        }
    };
    let title = s(v, "title").map(|t| html_to_text(&t)).unwrap_or_default();
    if title.is_empty() {
        return Err(Rejected {
            source_id: Some(sid),
            reason: "missing title".to_string(),
        });
    }
    let mut r = Record::new(source, &sid, &title);
    r.abstract_text = s(v, "abstractText")
        .map(|a| html_to_text(&a))
        .filter(|a| !a.is_empty());
    let authors: Vec<String> = list(path(v, &["authorList", "author"]))
        .into_iter()
        .filter_map(|a| {
            s(a, "fullName")
                .or_else(|| s(a, "collectiveName"))
                .or_else(|| match (s(a, "lastName"), s(a, "initials")) {
                    (Some(l), Some(i)) => Some(format!("{l} {i}")),
                    (Some(l), None) => Some(l),
                    _ => None,
                })
        })
        .collect();
    r.authors = if authors.is_empty() {
        s(v, "authorString")
            .map(|a| {
                a.trim_end_matches('.')
                    .split(", ")
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        authors
    };
    r.journal = path(v, &["journalInfo", "journal"])
        .and_then(|j| s(j, "title"))
        .or_else(|| s(v, "journalTitle"));
    if r.journal.is_none() {
        r.publisher = path(v, &["bookOrReportDetails"]).and_then(|b| s(b, "publisher"));
    }
    r.published = s(v, "firstPublicationDate")
        .or_else(|| path(v, &["journalInfo"]).and_then(|j| s(j, "printPublicationDate")))
        .and_then(|d| PartialDate::parse_loose(&d).ok())
        .or_else(|| s(v, "pubYear").and_then(|y| PartialDate::parse_loose(&y).ok()));
    r.publication_types = strings(path(v, &["pubTypeList", "pubType"]));
    for m in list(path(v, &["meshHeadingList", "meshHeading"])) {
        let Some(name) = s(m, "descriptorName") else {
            continue;
        };
        let major = s(m, "majorTopic_YN").is_some_and(|y| y == "Y")
            || list(path(m, &["meshQualifierList", "meshQualifier"]))
                .into_iter()
                .any(|q| s(q, "majorTopic_YN").is_some_and(|y| y == "Y"));
        if major {
            r.mesh_major.push(name.clone());
        }
        r.mesh_terms.push(name);
    }
    r.keywords = strings(path(v, &["keywordList", "keyword"]));
    let mut seen = std::collections::HashSet::new();
    r.keywords.retain(|k| seen.insert(k.to_lowercase()));
    r.identifiers.doi = s(v, "doi");
    r.identifiers.pmid = pmid;
    r.identifiers.pmcid = s(v, "pmcid");
    r.open_access = yes(v, "isOpenAccess");
    r.licence = s(v, "license").map(|l| normalise_licence(&l));
    r.language = s(v, "language");
    r.url = match (s(v, "source"), s(v, "id")) {
        (Some(src), Some(id)) => Some(format!("https://europepmc.org/article/{src}/{id}")),
        _ => None,
    };
    r.normalise();
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Harvesting
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    completed: bool,
    /// Complete: the first-index date the next run starts from. In progress: this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// The configured query (without the date filter).
    query: String,
    /// In progress: the cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
}

/// Harvests a Europe PMC query, page by page.
///
/// - `search` with `query`, `resultType=core`, `format=json`, `pageSize` (`page_size`, default 200,
///   at most 1000) and `cursorMark` (`*` first).
/// - With a start date (the previous complete harvest's day; else the source's `from`), the query
///   becomes `(<query>) AND (FIRST_IDATE:[<from> TO 3000-01-01])`: records first indexed on or after
///   that day.
/// - The harvest ends when a page has no results, or `nextCursorMark` is absent or unchanged.
/// - The checkpoint after each page holds the next cursor; after the last page it is
///   `{"completed": true, "from": "<day the harvest started>", "query": ...}`. A changed query starts
///   over.
#[derive(Debug)]
pub struct EuropePmcHarvester {
    cfg: SourceConfig,
    url: String,
    query: String,
    page_size: u32,
    from: Option<String>,
    cursor: Option<String>,
    started: String,
    total: Option<u64>,
}

impl EuropePmcHarvester {
    /// Prepares a harvest of `cfg.query`, resuming from `checkpoint` unless `full` is set.
    pub fn new(
        cfg: &SourceConfig,
        checkpoint: Option<&serde_json::Value>,
        full: bool,
    ) -> Result<Self, HarvestError> {
        let query = cfg
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| config_error(cfg, "a europepmc source needs a query"))?
            .to_string();
        let mut h = EuropePmcHarvester {
            cfg: cfg.clone(),
            url: cfg.endpoint("search"),
            query,
            page_size: cfg
                .page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            from: config_from(cfg)?,
            cursor: Some("*".to_string()),
            started: today(),
            total: None,
        };
        let checkpoint = if full {
            None
        } else {
            checkpoint.filter(|c| !c.is_null())
        };
        let Some(c) = checkpoint else { return Ok(h) };
        let cp: Checkpoint = serde_json::from_value(c.clone())
            .map_err(|e| config_error(cfg, format!("unrecognised checkpoint {c}: {e}")))?;
        if cp.query != h.query {
            warn!(source = %cfg.name, "query changed since the checkpoint; starting over");
            return Ok(h);
        }
        let valid = |d: Option<String>| match d {
            Some(d) if parse_date(&d).is_none() => {
                Err(config_error(cfg, format!("invalid checkpoint date {d:?}")))
            }
            other => Ok(other),
        };
        if cp.completed {
            h.from = valid(cp.from)?.or(h.from);
        } else if let Some(cursor) = cp.cursor {
            h.cursor = Some(cursor);
            h.from = valid(cp.from)?;
            h.total = cp.total;
            if let Some(s) = valid(cp.started)? {
                h.started = s;
            }
        } else {
            return Err(config_error(cfg, format!("unrecognised checkpoint {c}")));
        }
        Ok(h)
    }

    /// The query sent, with the date filter of an incremental run.
    pub fn effective_query(&self) -> String {
        match &self.from {
            Some(f) => format!("({}) AND (FIRST_IDATE:[{f} TO 3000-01-01])", self.query),
            None => self.query.clone(),
        }
    }

    /// The checkpoint describing the current state.
    pub fn checkpoint(&self) -> serde_json::Value {
        let cp = match &self.cursor {
            Some(c) if c != "*" => Checkpoint {
                from: self.from.clone(),
                query: self.query.clone(),
                cursor: Some(c.clone()),
                started: Some(self.started.clone()),
                total: self.total,
                ..Checkpoint::default()
            },
            // Not started: as if the previous harvest ended at `from`.
            Some(_) => Checkpoint {
                completed: true,
                from: self.from.clone(),
                query: self.query.clone(),
                ..Checkpoint::default()
            },
            None => Checkpoint {
                completed: true,
                from: Some(self.started.clone()),
                query: self.query.clone(),
                ..Checkpoint::default()
            },
        };
        serde_json::to_value(cp).unwrap_or(serde_json::Value::Null)
    }

    /// Fetches the next page, or `None` when the harvest is complete.
    pub async fn next_page(&mut self, fetcher: &Fetcher) -> Result<Option<Page>, HarvestError> {
        let Some(cursor) = self.cursor.clone() else {
            return Ok(None);
        };
        let params = vec![
            ("query", self.effective_query()),
            ("resultType", "core".to_string()),
            ("format", "json".to_string()),
            ("pageSize", self.page_size.to_string()),
            ("cursorMark", cursor.clone()),
        ];
        let url = display_url(&self.url, &params);
        let body = fetcher.get(&self.url, &params).await?;
        let source = self.cfg.name.clone();
        let mut page = parse_off_thread(&self.cfg.name, &url, body, move |b| {
            parse_search(b, &source)
        })
        .await?;
        if self.total.is_none() || cursor == "*" {
            self.total = page.hit_count;
        }
        self.cursor = match page.next_cursor_mark.take() {
            Some(next) if page.result_count > 0 && next != cursor => Some(next),
            _ => None,
        };
        for r in &mut page.parsed.records {
            self.cfg.apply_defaults(r);
        }
        Ok(Some(Page {
            parsed: page.parsed,
            checkpoint: self.checkpoint(),
            url,
            total: self.total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_core_result() {
        let json = br#"{"hitCount":2,"resultList":{"result":[
          {"id":"123","source":"MED","pmid":"123","pmcid":"PMC9","doi":"10.1/X","title":"T",
           "abstractText":"<h4>Background</h4>Text.","authorList":{"author":[{"fullName":"Smith J"},{"collectiveName":"Group"}]},
           "journalInfo":{"journal":{"title":"J"}},"pubYear":"2020","pubTypeList":{"pubType":"Review"},
           "meshHeadingList":{"meshHeading":[{"majorTopic_YN":"N","descriptorName":"A",
             "meshQualifierList":{"meshQualifier":[{"majorTopic_YN":"Y","qualifierName":"q"}]}},
             {"majorTopic_YN":"N","descriptorName":"B"}]},
           "keywordList":{"keyword":["k","K"]},"isOpenAccess":"N","language":"eng"},
          {"id":"5","source":"MED"}]}}"#;
        let p = parse_search(json, "e").unwrap();
        let r = &p.parsed.records[0];
        assert_eq!(r.id, "e:123");
        assert_eq!(r.abstract_text.as_deref(), Some("Background: Text."));
        assert_eq!(r.authors, ["Smith J", "Group"]);
        assert_eq!(r.published.unwrap().to_string(), "2020");
        assert_eq!(r.publication_types, ["Review"]);
        assert_eq!(r.mesh_terms, ["A", "B"]);
        assert_eq!(r.mesh_major, ["A"]);
        assert_eq!(r.keywords, ["k"]);
        assert_eq!(r.open_access, Some(false));
        assert_eq!(
            r.url.as_deref(),
            Some("https://europepmc.org/article/MED/123")
        );
        assert_eq!(
            p.parsed.rejected,
            [Rejected {
                source_id: Some("MED:5".into()),
                reason: "missing title".into()
            }]
        );
        assert_eq!(p.hit_count, Some(2));
        assert_eq!(p.next_cursor_mark, None);
        assert!(matches!(
            parse_search(br#"{"version":"6.9"}"#, "e"),
            Err(ParseError::Unexpected(_))
        ));
    }
}
