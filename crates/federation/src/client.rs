//! Live search clients: one request (two for PubMed) per search, parsed by the harvest parsers.
//!
//! - PubMed: `esearch.fcgi` (`sort=relevance`, `retmax` = depth) then `efetch.fcgi` for the PMIDs
//!   found, in esearch's order.
//! - Europe PMC: `search` with `resultType=core`, `format=json`, `pageSize` = depth.
//! - ClinicalTrials.gov: `studies` with `format=json`, `pageSize` = depth, `countTotal=true`.
//!
//! Requests go through the harvest [`Fetcher`] (User-Agent, gzip, body cap, the source's rate
//! limit) built without retries; this client retries a transient failure once, and only when the
//! deadline leaves room for a second attempt as long as the first. The caller bounds the whole
//! search by the deadline in any case.

use std::time::Duration;

use harvest::fetch::{FetchConfig, Fetcher};
use harvest::{HarvestError, ParseError, SourceConfig, SourceKind};
use model::Record;
use tokio::time::Instant;

use crate::translate::Translation;

/// What a source answered.
#[derive(Debug, Clone, Default)]
pub struct RemoteAnswer {
    /// Records in the source's own order.
    pub records: Vec<Record>,
    /// How many records the source says match.
    pub total: Option<u64>,
    /// The source's remarks about the query (PubMed's phrase-not-found errors and warnings).
    pub remarks: Vec<String>,
}

/// Why a search of one source failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The request failed (connection, status, size).
    #[error("{0}")]
    Http(String),
    /// The response was not what the source should send.
    #[error("unexpected response: {0}")]
    Parse(String),
    /// The source answered with an error of its own.
    #[error("the source answered an error: {0}")]
    Protocol(String),
}

impl From<HarvestError> for RemoteError {
    fn from(e: HarvestError) -> Self {
        match e {
            HarvestError::Http {
                status, message, ..
            } => {
                // Retries are this client's business: drop the fetcher's attempt count.
                let message = match message.strip_prefix("gave up after ") {
                    Some(rest) => rest
                        .split_once(": ")
                        .map_or(message.clone(), |(_, m)| m.to_string()),
                    None => message,
                };
                RemoteError::Http(match status {
                    Some(s) if !message.contains(&s.to_string()) => {
                        format!("status {s}: {message}")
                    }
                    _ => message,
                })
            }
            HarvestError::TooLarge { limit, .. } => {
                RemoteError::Http(format!("response larger than {limit} bytes"))
            }
            HarvestError::Parse { error, .. } => RemoteError::Parse(error.to_string()),
            HarvestError::Protocol { code, message, .. } => {
                RemoteError::Protocol(format!("{code}: {message}"))
            }
            other => RemoteError::Http(other.to_string()),
        }
    }
}

impl From<ParseError> for RemoteError {
    fn from(e: ParseError) -> Self {
        RemoteError::Parse(e.to_string())
    }
}

/// The client of one source.
#[derive(Debug)]
pub(crate) struct Client {
    cfg: SourceConfig,
    fetcher: Fetcher,
    api_key: Option<String>,
}

/// Whether a failure is worth one more attempt.
fn transient(e: &HarvestError) -> bool {
    matches!(e, HarvestError::Http { status: None, .. })
        || matches!(e, HarvestError::Http { status: Some(s), .. } if *s == 429 || *s >= 500)
}

impl Client {
    /// A client with requests bounded by `timeout` and bodies by `max_body_bytes`.
    pub(crate) fn new(
        cfg: &SourceConfig,
        timeout: Duration,
        max_body_bytes: u64,
    ) -> Result<Self, HarvestError> {
        let fetcher = Fetcher::new(FetchConfig {
            rate_per_s: harvest::connector::rate_for(cfg),
            timeout,
            max_retries: 0,
            max_body_bytes,
            base_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            ..FetchConfig::default()
        })?;
        let api_key = cfg
            .api_key_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        Ok(Client {
            cfg: cfg.clone(),
            fetcher,
            api_key,
        })
    }

    /// GETs with one retry of a transient failure, when the deadline leaves room for it.
    async fn get(
        &self,
        url: &str,
        params: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Vec<u8>, RemoteError> {
        let started = Instant::now();
        match self.fetcher.get(url, params).await {
            Ok(body) => Ok(body),
            Err(e) if transient(&e) => {
                let took = started.elapsed();
                let pause = Duration::from_millis(20);
                let left = deadline.saturating_duration_since(Instant::now());
                if left > took * 2 + pause {
                    tracing::debug!(source = %self.cfg.name, error = %e, "retrying once");
                    tokio::time::sleep(pause).await;
                    Ok(self.fetcher.get(url, params).await?)
                } else {
                    Err(e.into())
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Searches the source for a translated query, `depth` records at most.
    pub(crate) async fn search(
        &self,
        t: &Translation,
        depth: usize,
        deadline: Instant,
    ) -> Result<RemoteAnswer, RemoteError> {
        let mut answer = match self.cfg.kind {
            SourceKind::Pubmed => self.pubmed(t, depth, deadline).await?,
            SourceKind::Europepmc => self.europepmc(t, depth, deadline).await?,
            SourceKind::Clinicaltrials => self.clinicaltrials(t, depth, deadline).await?,
            other => {
                return Err(RemoteError::Protocol(format!(
                    "{} sources cannot be searched live",
                    other.as_str()
                )))
            }
        };
        answer.records.truncate(depth);
        for r in &mut answer.records {
            if r.open_access.is_none() {
                r.open_access = t.open_access;
            }
            self.cfg.apply_defaults(r);
        }
        Ok(answer)
    }

    fn pubmed_common(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("db", "pubmed".to_string()),
            ("tool", "evidence-search".to_string()),
        ];
        if let Some(email) = self.cfg.email.as_deref().filter(|e| !e.is_empty()) {
            p.push(("email", email.to_string()));
        }
        if let Some(key) = &self.api_key {
            p.push(("api_key", key.clone()));
        }
        p
    }

    async fn pubmed(
        &self,
        t: &Translation,
        depth: usize,
        deadline: Instant,
    ) -> Result<RemoteAnswer, RemoteError> {
        let mut params = self.pubmed_common();
        params.extend([
            ("term", t.query.clone()),
            ("retmax", depth.to_string()),
            ("sort", "relevance".to_string()),
        ]);
        params.extend(t.params.iter().cloned());
        let url = self.cfg.endpoint("esearch.fcgi");
        let body = self.get(&url, &params, deadline).await?;
        let es = parse_blocking(body, harvest::pubmed::parse_esearch).await?;
        let mut remarks: Vec<String> = es.errors.iter().chain(&es.warnings).cloned().collect();
        remarks.dedup();
        let ids: Vec<String> = es.ids.into_iter().take(depth).collect();
        if ids.is_empty() {
            return Ok(RemoteAnswer {
                records: Vec::new(),
                total: Some(es.count),
                remarks,
            });
        }
        let mut params = self.pubmed_common();
        params.extend([
            ("id", ids.join(",")),
            ("retmode", "xml".to_string()),
            ("rettype", "abstract".to_string()),
        ]);
        let url = self.cfg.endpoint("efetch.fcgi");
        let body = self.get(&url, &params, deadline).await?;
        let source = self.cfg.name.clone();
        let parsed =
            parse_blocking(body, move |b| harvest::pubmed::parse_efetch(b, &source)).await?;
        // efetch answers in its own order; keep esearch's relevance order.
        let rank: std::collections::HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut records = parsed.records;
        records.sort_by_key(|r| {
            r.identifiers
                .pmid
                .as_deref()
                .and_then(|p| rank.get(p).copied())
                .unwrap_or(usize::MAX)
        });
        Ok(RemoteAnswer {
            records,
            total: Some(es.count),
            remarks,
        })
    }

    async fn europepmc(
        &self,
        t: &Translation,
        depth: usize,
        deadline: Instant,
    ) -> Result<RemoteAnswer, RemoteError> {
        let mut params = vec![
            ("query", t.query.clone()),
            ("resultType", "core".to_string()),
            ("format", "json".to_string()),
            ("pageSize", depth.clamp(1, 1000).to_string()),
        ];
        if let Some(email) = self.cfg.email.as_deref().filter(|e| !e.is_empty()) {
            params.push(("email", email.to_string()));
        }
        params.extend(t.params.iter().cloned());
        let url = self.cfg.endpoint("search");
        let body = self.get(&url, &params, deadline).await?;
        let source = self.cfg.name.clone();
        let page =
            parse_blocking(body, move |b| harvest::europe_pmc::parse_search(b, &source)).await?;
        Ok(RemoteAnswer {
            records: page.parsed.records,
            total: page.hit_count,
            remarks: Vec::new(),
        })
    }

    async fn clinicaltrials(
        &self,
        t: &Translation,
        depth: usize,
        deadline: Instant,
    ) -> Result<RemoteAnswer, RemoteError> {
        let mut params = vec![
            ("format", "json".to_string()),
            ("query.term", t.query.clone()),
            ("pageSize", depth.clamp(1, 1000).to_string()),
            ("countTotal", "true".to_string()),
        ];
        params.extend(t.params.iter().cloned());
        let url = self.cfg.endpoint("studies");
        let body = self.get(&url, &params, deadline).await?;
        let source = self.cfg.name.clone();
        let page = parse_blocking(body, move |b| {
            harvest::clinicaltrials::parse_studies(b, &source)
        })
        .await?;
        Ok(RemoteAnswer {
            records: page.parsed.records,
            total: page.total_count,
            remarks: Vec::new(),
        })
    }
}

/// Runs a parser on the blocking pool (parsing is CPU work, kept off the async workers).
async fn parse_blocking<T, F>(body: Vec<u8>, parse: F) -> Result<T, RemoteError>
where
    T: Send + 'static,
    F: FnOnce(&[u8]) -> Result<T, ParseError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || parse(&body))
        .await
        .map_err(|e| RemoteError::Parse(format!("parser task failed: {e}")))?
        .map_err(RemoteError::from)
}
