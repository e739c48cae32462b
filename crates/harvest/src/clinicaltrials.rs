//! ClinicalTrials.gov API v2: pure parsers for a `/studies` page ([`parse_studies`]) and a single
//! study (`/studies/{nct}`, [`parse_study`]), and the [`ClinicalTrialsHarvester`] that walks a query
//! with `pageToken`.
//!
//! # Parsing
//! Each study's `protocolSection` becomes a record:
//! - id `"<source>:<NCT number>"` (`identificationModule.nctId`, also `identifiers.nct`); title
//!   `briefTitle`, else `officialTitle`; abstract `descriptionModule.briefSummary`;
//! - published: `statusModule.studyFirstPostDateStruct` (when the registration was posted), else
//!   `startDateStruct`;
//! - `trial`: overall status, phases (`NA` dropped), conditions, intervention names, study type;
//!   `conditionsModule.keywords` and the derived condition and intervention MeSH terms;
//! - publisher: the lead sponsor; country when every location is in one country; url
//!   `https://clinicaltrials.gov/study/<NCT>`;
//! - evidence level: `designInfo.allocation` `RANDOMIZED` → `rct`; `NON_RANDOMIZED` or `NA` (single
//!   group) → `observational`, as are `OBSERVATIONAL` studies; `EXPANDED_ACCESS` → `other`. An
//!   interventional study whose allocation is not in the response (a `fields`-filtered capture) is
//!   classified from its title, and failing that counts as a registered trial (`rct`).
//!
//! A study without an NCT number or a title is a [`Rejected`]. An HTML page or JSON of another shape
//! is [`ParseError::Unexpected`]; malformed JSON is [`ParseError::Json`] with line and column.
//!
//! # Harvesting
//! See [`ClinicalTrialsHarvester`].

use model::{EvidenceLevel, PartialDate, Record, TrialInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use crate::connector::{
    config_error, config_from, display_url, parse_date, parse_json, parse_off_thread, today,
};
use crate::fetch::Fetcher;
use crate::{HarvestError, Page, ParseError, Parsed, Rejected, SourceConfig};

/// Studies per request unless `page_size` says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The API's largest page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One parsed `/studies` response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudiesPage {
    /// Records (normalised) and rejects.
    pub parsed: Parsed,
    /// `nextPageToken`, absent on the last page.
    pub next_page_token: Option<String>,
    /// `totalCount` (sent when the request asked `countTotal=true`).
    pub total_count: Option<u64>,
    /// How many studies the page held.
    pub study_count: usize,
}

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |cur, k| cur.get(k))
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strings(v: Option<&Value>) -> Vec<String> {
    array(v)
        .iter()
        .filter_map(|x| x.as_str().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses a `/studies` page.
///
/// ```
/// let json = br#"{"studies":[{"protocolSection":{
///   "identificationModule":{"nctId":"NCT01234567","briefTitle":"Oxytocin for PMS"},
///   "designModule":{"studyType":"INTERVENTIONAL","designInfo":{"allocation":"RANDOMIZED"}}}}],
///   "nextPageToken":"abc","totalCount":21}"#;
/// let page = harvest::clinicaltrials::parse_studies(json, "ctgov").unwrap();
/// let r = &page.parsed.records[0];
/// assert_eq!(r.id, "ctgov:NCT01234567");
/// assert_eq!(r.evidence_level, Some(model::EvidenceLevel::Rct));
/// assert_eq!(page.next_page_token.as_deref(), Some("abc"));
/// ```
pub fn parse_studies(bytes: &[u8], source: &str) -> Result<StudiesPage, ParseError> {
    let doc = parse_json(bytes, "a ClinicalTrials.gov studies response")?;
    let studies = doc
        .get("studies")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ParseError::Unexpected(match s(&doc, "message").or_else(|| s(&doc, "error")) {
                Some(m) => format!("clinicaltrials.gov answered an error: {m}"),
                None => "no studies array in the response".to_string(),
            })
        })?;
    let mut page = StudiesPage {
        next_page_token: s(&doc, "nextPageToken"),
        total_count: doc.get("totalCount").and_then(Value::as_u64),
        study_count: studies.len(),
        ..StudiesPage::default()
    };
    for study in studies {
        push(&mut page.parsed, map_study(study, source));
    }
    Ok(page)
}

/// Parses a single study (`GET /studies/{nct}`).
pub fn parse_study(bytes: &[u8], source: &str) -> Result<Parsed, ParseError> {
    let doc = parse_json(bytes, "a ClinicalTrials.gov study")?;
    if doc.get("protocolSection").is_none() {
        return Err(ParseError::Unexpected(
            "no protocolSection in the study".to_string(),
        ));
    }
    let mut parsed = Parsed::default();
    push(&mut parsed, map_study(&doc, source));
    Ok(parsed)
}

fn push(parsed: &mut Parsed, item: Result<Record, Rejected>) {
    match item {
        Ok(r) => parsed.records.push(r),
        Err(r) => parsed.rejected.push(r),
    }
}

fn date_of(status: Option<&Value>, key: &str) -> Option<PartialDate> {
    status
        .and_then(|st| st.get(key))
        .and_then(|d| s(d, "date"))
        .and_then(|d| PartialDate::parse_loose(&d).ok())
}

fn map_study(study: &Value, source: &str) -> Result<Record, Rejected> {
    let p = study.get("protocolSection").unwrap_or(&Value::Null);
    let ident = p.get("identificationModule");
    let Some(nct) = ident.and_then(|i| s(i, "nctId")) else {
        return Err(Rejected {
            source_id: None,
            reason: "missing nctId".to_string(),
        });
    };
    let title = ident
        .and_then(|i| s(i, "briefTitle").or_else(|| s(i, "officialTitle")))
        .unwrap_or_default();
    if title.is_empty() {
        return Err(Rejected {
            source_id: Some(nct),
            reason: "missing title".to_string(),
        });
    }
    let mut r = Record::new(source, &nct, &title);
    r.identifiers.nct = Some(nct.clone());
    r.abstract_text = path(p, &["descriptionModule"]).and_then(|d| s(d, "briefSummary"));
    let status = p.get("statusModule");
    r.published =
        date_of(status, "studyFirstPostDateStruct").or_else(|| date_of(status, "startDateStruct"));
    let design = p.get("designModule");
    let study_type = design.and_then(|d| s(d, "studyType"));
    let allocation = design
        .and_then(|d| d.get("designInfo"))
        .and_then(|d| s(d, "allocation"));
    let phases: Vec<String> = strings(design.and_then(|d| d.get("phases")))
        .into_iter()
        .filter(|ph| ph != "NA")
        .collect();
    let conditions_module = p.get("conditionsModule");
    let conditions = strings(conditions_module.and_then(|c| c.get("conditions")));
    r.keywords = strings(conditions_module.and_then(|c| c.get("keywords")));
    let interventions: Vec<String> = array(path(p, &["armsInterventionsModule", "interventions"]))
        .iter()
        .filter_map(|i| s(i, "name"))
        .collect();
    for browse in ["conditionBrowseModule", "interventionBrowseModule"] {
        for m in array(path(study, &["derivedSection", browse, "meshes"])) {
            if let Some(term) = s(m, "term") {
                if !r.mesh_terms.contains(&term) {
                    r.mesh_terms.push(term);
                }
            }
        }
    }
    r.publisher =
        path(p, &["sponsorCollaboratorsModule", "leadSponsor"]).and_then(|l| s(l, "name"));
    let countries: Vec<String> = array(path(p, &["contactsLocationsModule", "locations"]))
        .iter()
        .filter_map(|l| s(l, "country"))
        .collect();
    if let Some(first) = countries.first() {
        if countries.iter().all(|c| c == first) {
            r.country = Some(first.clone());
        }
    }
    r.url = Some(format!("https://clinicaltrials.gov/study/{nct}"));
    r.language = Some("eng".to_string());
    r.open_access = Some(true);
    r.evidence_level = match (study_type.as_deref(), allocation.as_deref()) {
        (_, Some("RANDOMIZED")) => Some(EvidenceLevel::Rct),
        (_, Some("NON_RANDOMIZED" | "NA")) | (Some("OBSERVATIONAL"), _) => {
            Some(EvidenceLevel::Observational)
        }
        (Some("EXPANDED_ACCESS"), _) => Some(EvidenceLevel::Other),
        _ => None,
    };
    r.trial = Some(TrialInfo {
        status: status.and_then(|st| s(st, "overallStatus")),
        phases,
        conditions,
        interventions,
        study_type: study_type.clone(),
    });
    r.normalise();
    if r.evidence_level.is_none() && study_type.as_deref() == Some("INTERVENTIONAL") {
        r.evidence_level = Some(EvidenceLevel::Rct);
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Harvesting
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    completed: bool,
    /// Complete: the last-update date the next run starts from. In progress: this run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    /// In progress: the token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    First,
    Token(String),
    Done,
}

/// Harvests ClinicalTrials.gov studies, page by page.
///
/// - `GET studies` with `format=json`, `pageSize` (`page_size`, default 100, at most 1000),
///   `query.term` (the source's `query`; none harvests every study) and, on the first page,
///   `countTotal=true`; then `pageToken` from each `nextPageToken`.
/// - With a start date (the previous complete harvest's day; else the source's `from`):
///   `filter.advanced=AREA[LastUpdatePostDate]RANGE[<from>,MAX]`, the studies updated since.
/// - The harvest ends on a page without `nextPageToken`, or on an empty page (the API may hand out
///   a token whose page turns out empty).
/// - The checkpoint after each page holds the next token; after the last page it is
///   `{"completed": true, "from": "<day the harvest started>", "query": ...}`. A changed query starts
///   over.
#[derive(Debug)]
pub struct ClinicalTrialsHarvester {
    cfg: SourceConfig,
    url: String,
    query: Option<String>,
    page_size: u32,
    from: Option<String>,
    next: Next,
    started: String,
    total: Option<u64>,
}

impl ClinicalTrialsHarvester {
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
            .map(str::to_string);
        let mut h = ClinicalTrialsHarvester {
            cfg: cfg.clone(),
            url: cfg.endpoint("studies"),
            query,
            page_size: cfg
                .page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            from: config_from(cfg)?,
            next: Next::First,
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
        } else if let Some(token) = cp.token {
            h.next = Next::Token(token);
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

    /// The checkpoint describing the current state.
    pub fn checkpoint(&self) -> serde_json::Value {
        let cp = match &self.next {
            Next::Token(t) => Checkpoint {
                from: self.from.clone(),
                query: self.query.clone(),
                token: Some(t.clone()),
                started: Some(self.started.clone()),
                total: self.total,
                ..Checkpoint::default()
            },
            Next::First => Checkpoint {
                completed: true,
                from: self.from.clone(),
                query: self.query.clone(),
                ..Checkpoint::default()
            },
            Next::Done => Checkpoint {
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
        let mut params = vec![
            ("format", "json".to_string()),
            ("pageSize", self.page_size.to_string()),
        ];
        if let Some(q) = &self.query {
            params.push(("query.term", q.clone()));
        }
        if let Some(f) = &self.from {
            params.push((
                "filter.advanced",
                format!("AREA[LastUpdatePostDate]RANGE[{f},MAX]"),
            ));
        }
        let token = match &self.next {
            Next::Done => return Ok(None),
            Next::First => {
                params.push(("countTotal", "true".to_string()));
                None
            }
            Next::Token(t) => {
                params.push(("pageToken", t.clone()));
                Some(t.clone())
            }
        };
        let url = display_url(&self.url, &params);
        let body = fetcher.get(&self.url, &params).await?;
        let source = self.cfg.name.clone();
        let mut page = parse_off_thread(&self.cfg.name, &url, body, move |b| {
            parse_studies(b, &source)
        })
        .await?;
        if token.is_none() {
            self.total = page.total_count;
        }
        self.next = match page.next_page_token.take() {
            Some(t) if page.study_count > 0 && Some(&t) != token.as_ref() => Next::Token(t),
            _ => Next::Done,
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

    fn level(design: &str) -> Option<EvidenceLevel> {
        let json = format!(
            r#"{{"protocolSection":{{"identificationModule":{{"nctId":"NCT00000001","briefTitle":"A study of X"}},"designModule":{design}}}}}"#
        );
        parse_study(json.as_bytes(), "c").unwrap().records[0].evidence_level
    }

    #[test]
    fn evidence_levels_from_design() {
        use EvidenceLevel::*;
        assert_eq!(
            level(r#"{"studyType":"INTERVENTIONAL","designInfo":{"allocation":"RANDOMIZED"}}"#),
            Some(Rct)
        );
        assert_eq!(
            level(r#"{"studyType":"INTERVENTIONAL","designInfo":{"allocation":"NA"}}"#),
            Some(Observational)
        );
        assert_eq!(
            level(r#"{"studyType":"OBSERVATIONAL"}"#),
            Some(Observational)
        );
        assert_eq!(level(r#"{"studyType":"EXPANDED_ACCESS"}"#), Some(Other));
        assert_eq!(level(r#"{"studyType":"INTERVENTIONAL"}"#), Some(Rct));
        assert_eq!(level(r#"{}"#), None);
    }

    #[test]
    fn rejects_and_errors() {
        let p = parse_studies(br#"{"studies":[{"protocolSection":{}},{"protocolSection":{"identificationModule":{"nctId":"NCT00000002"}}}]}"#, "c").unwrap();
        assert_eq!(p.parsed.rejected.len(), 2);
        assert_eq!(
            p.parsed.rejected[1].source_id.as_deref(),
            Some("NCT00000002")
        );
        assert!(matches!(
            parse_studies(b"{}", "c"),
            Err(ParseError::Unexpected(_))
        ));
        assert!(matches!(
            parse_study(b"{}", "c"),
            Err(ParseError::Unexpected(_))
        ));
    }
}
