//! One type over every connector, chosen by a source's `kind`, and the fetcher a source should use.
//!
//! ```no_run
//! use harvest::connector::{fetcher_for, Connector};
//! use harvest::{SourceConfig, SourceKind};
//! # async fn run() -> Result<(), harvest::HarvestError> {
//! let cfg = SourceConfig::new("zenodo", SourceKind::OaiPmh, "https://zenodo.org/oai2d");
//! let fetcher = fetcher_for(&cfg)?;
//! let mut connector = Connector::new(&cfg, None, false)?;
//! while let Some(page) = connector.next_page(&fetcher).await? {
//!     // Store page.parsed and page.checkpoint in one transaction.
//!     println!("{} records from {}", page.parsed.records.len(), page.url);
//! }
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use crate::clinicaltrials::ClinicalTrialsHarvester;
use crate::europe_pmc::EuropePmcHarvester;
use crate::feed::FeedHarvester;
use crate::fetch::{FetchConfig, Fetcher};
use crate::oai_pmh::OaiPmhHarvester;
use crate::pubmed::PubmedHarvester;
use crate::{HarvestError, Page, ParseError, SourceConfig, SourceKind};

/// Requests per second for sources other than PubMed, unless `rate_per_s` says otherwise.
pub const DEFAULT_RATE: f64 = 5.0;

/// Request timeout in seconds, unless `timeout_s` says otherwise.
pub const DEFAULT_TIMEOUT_S: u64 = 30;

/// A harvester of any kind.
#[derive(Debug)]
pub enum Connector {
    /// An OAI-PMH repository.
    OaiPmh(OaiPmhHarvester),
    /// PubMed through E-utilities.
    Pubmed(PubmedHarvester),
    /// Europe PMC REST search.
    Europepmc(EuropePmcHarvester),
    /// ClinicalTrials.gov API v2.
    Clinicaltrials(ClinicalTrialsHarvester),
    /// An RSS or Atom feed.
    Feed(FeedHarvester),
}

impl Connector {
    /// The harvester for `cfg.kind`, resuming from `checkpoint` unless `full` is set.
    pub fn new(
        cfg: &SourceConfig,
        checkpoint: Option<&serde_json::Value>,
        full: bool,
    ) -> Result<Self, HarvestError> {
        Ok(match cfg.kind {
            SourceKind::OaiPmh => Connector::OaiPmh(OaiPmhHarvester::new(cfg, checkpoint, full)?),
            SourceKind::Europepmc => {
                Connector::Europepmc(EuropePmcHarvester::new(cfg, checkpoint, full)?)
            }
            SourceKind::Clinicaltrials => {
                Connector::Clinicaltrials(ClinicalTrialsHarvester::new(cfg, checkpoint, full)?)
            }
            SourceKind::Feed => Connector::Feed(FeedHarvester::new(cfg, checkpoint, full)?),
            SourceKind::Pubmed => Connector::Pubmed(PubmedHarvester::new(cfg, checkpoint, full)?),
        })
    }

    /// The kind of source this connector harvests.
    pub fn kind(&self) -> SourceKind {
        match self {
            Connector::OaiPmh(_) => SourceKind::OaiPmh,
            Connector::Pubmed(_) => SourceKind::Pubmed,
            Connector::Europepmc(_) => SourceKind::Europepmc,
            Connector::Clinicaltrials(_) => SourceKind::Clinicaltrials,
            Connector::Feed(_) => SourceKind::Feed,
        }
    }

    /// Fetches the next page, or `None` when the harvest is complete.
    pub async fn next_page(&mut self, fetcher: &Fetcher) -> Result<Option<Page>, HarvestError> {
        match self {
            Connector::OaiPmh(h) => h.next_page(fetcher).await,
            Connector::Europepmc(h) => h.next_page(fetcher).await,
            Connector::Clinicaltrials(h) => h.next_page(fetcher).await,
            Connector::Feed(h) => h.next_page(fetcher).await,
            Connector::Pubmed(h) => h.next_page(fetcher).await,
        }
    }
}

/// The request rate for a source: `rate_per_s` when set, else PubMed's own default (3 per second, 10
/// with an API key), else [`DEFAULT_RATE`].
pub fn rate_for(cfg: &SourceConfig) -> f64 {
    match (cfg.rate_per_s, cfg.kind) {
        (Some(r), _) => r,
        (None, SourceKind::Pubmed) => crate::pubmed::default_rate(cfg),
        (None, _) => DEFAULT_RATE,
    }
}

/// The polite fetcher for a source: its rate ([`rate_for`]) and timeout (`timeout_s`, default
/// [`DEFAULT_TIMEOUT_S`]), the other settings at their defaults.
pub fn fetcher_for(cfg: &SourceConfig) -> Result<Fetcher, HarvestError> {
    let timeout_s = cfg.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    if timeout_s == 0 {
        return Err(config_error(cfg, "timeout_s must be at least 1"));
    }
    let rate = rate_for(cfg);
    if !rate.is_finite() || rate < 0.0 {
        return Err(config_error(cfg, format!("invalid rate_per_s {rate}")));
    }
    Fetcher::new(FetchConfig {
        rate_per_s: rate,
        timeout: Duration::from_secs(timeout_s),
        ..FetchConfig::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the harvesters
// ---------------------------------------------------------------------------------------------

pub(crate) fn config_error(cfg: &SourceConfig, message: impl Into<String>) -> HarvestError {
    HarvestError::Config {
        source_name: cfg.name.clone(),
        message: message.into(),
    }
}

/// The URL with its query, for reports and errors.
pub(crate) fn display_url(url: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    reqwest::Url::parse_with_params(url, params)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| url.to_string())
}

/// Runs a parser on the blocking pool (parsing is CPU work, kept off the async workers) and names
/// the source and URL in its error.
pub(crate) async fn parse_off_thread<T, F>(
    source: &str,
    url: &str,
    body: Vec<u8>,
    parse: F,
) -> Result<T, HarvestError>
where
    T: Send + 'static,
    F: FnOnce(&[u8]) -> Result<T, ParseError> + Send + 'static,
{
    let error = |e: ParseError| HarvestError::Parse {
        source_name: source.to_string(),
        url: url.to_string(),
        error: e,
    };
    tokio::task::spawn_blocking(move || parse(&body))
        .await
        .map_err(|e| error(ParseError::Unexpected(format!("parser task failed: {e}"))))?
        .map_err(error)
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    format_date(time::OffsetDateTime::now_utc().date())
}

pub(crate) fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Reads a `YYYY-MM-DD` date (a longer datestamp is cut to its day).
pub(crate) fn parse_date(s: &str) -> Option<time::Date> {
    let day = s.trim().get(..10)?;
    time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The `from` date of a source's config, checked.
pub(crate) fn config_from(cfg: &SourceConfig) -> Result<Option<String>, HarvestError> {
    match cfg.from.as_deref() {
        None => Ok(None),
        Some(f) => parse_date(f)
            .map(|d| Some(format_date(d)))
            .ok_or_else(|| config_error(cfg, format!("invalid from date {f:?}"))),
    }
}

/// Unwraps the JSON a parser needs, refusing an HTML page or another markup document first.
pub(crate) fn parse_json(bytes: &[u8], expected: &str) -> Result<serde_json::Value, ParseError> {
    if crate::oai_pmh::xml::looks_like_html(bytes) {
        return Err(ParseError::Unexpected(format!(
            "an html page instead of {expected}"
        )));
    }
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| bytes[i]);
    if start == Some(b'<') {
        return Err(ParseError::Unexpected(format!(
            "an xml document instead of {expected}"
        )));
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_timeouts() {
        let mut cfg = SourceConfig::new("z", SourceKind::OaiPmh, "http://127.0.0.1:1/oai");
        assert_eq!(rate_for(&cfg), DEFAULT_RATE);
        cfg.rate_per_s = Some(1.5);
        assert_eq!(rate_for(&cfg), 1.5);
        cfg.timeout_s = Some(7);
        let f = fetcher_for(&cfg).unwrap();
        assert_eq!(f.config().timeout, Duration::from_secs(7));
        assert_eq!(f.config().rate_per_s, 1.5);
        let pubmed = SourceConfig::new("p", SourceKind::Pubmed, "http://127.0.0.1:1/");
        assert_eq!(rate_for(&pubmed), 3.0);
        cfg.timeout_s = Some(0);
        assert!(fetcher_for(&cfg).is_err());
    }

    #[test]
    fn dates_and_urls() {
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(
            parse_date("2024-01-05T10:00:00Z")
                .map(format_date)
                .as_deref(),
            Some("2024-01-05")
        );
        assert_eq!(today().len(), 10);
        assert_eq!(
            display_url(
                "http://h/oai",
                &[
                    ("verb", "ListRecords".into()),
                    ("from", "2024-01-01".into())
                ]
            ),
            "http://h/oai?verb=ListRecords&from=2024-01-01"
        );
    }

    #[test]
    fn json_sniffing() {
        assert!(
            matches!(parse_json(b"<!DOCTYPE html><html>", "x"), Err(ParseError::Unexpected(m)) if m.contains("html"))
        );
        assert!(matches!(
            parse_json(b" <?xml version='1.0'?><a/>", "x"),
            Err(ParseError::Unexpected(_))
        ));
        assert!(matches!(
            parse_json(b"{\"a\":", "x"),
            Err(ParseError::Json { line: 1, .. })
        ));
        assert!(parse_json(b"{}", "x").is_ok());
    }
}
