//! The polite HTTP fetcher every connector shares.
//!
//! FIXME(harvest helper): rate limiting, retries with backoff and jitter, Retry-After, size cap.

use std::time::Duration;

use crate::HarvestError;

/// Settings of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Requests per second allowed to this source.
    pub rate_per_s: f64,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries after the first attempt, on timeouts, 429 and 5xx.
    pub max_retries: u32,
    /// Largest accepted response body, in bytes.
    pub max_body_bytes: u64,
    /// User-Agent header.
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            rate_per_s: 3.0,
            timeout: Duration::from_secs(30),
            max_retries: 4,
            max_body_bytes: 256 * 1024 * 1024,
            user_agent: concat!(
                "evidence-search/",
                env!("CARGO_PKG_VERSION"),
                " (+https://example.org/evidence-search; mailto:evidence-search@example.org)"
            )
            .to_string(),
        }
    }
}

/// A polite HTTP client for one source.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
}

impl Fetcher {
    /// Builds a fetcher.
    pub fn new(config: FetchConfig) -> Result<Self, HarvestError> {
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .gzip(true)
            .build()
            .map_err(|e| HarvestError::Http {
                url: String::new(),
                status: None,
                message: e.to_string(),
            })?;
        Ok(Fetcher { client, config })
    }

    /// The settings in use.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// GETs `url` with query parameters and returns the body.
    pub async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Vec<u8>, HarvestError> {
        let err = |status: Option<u16>, message: String| HarvestError::Http {
            url: url.to_string(),
            status,
            message,
        };
        let resp = self
            .client
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|e| err(None, e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(err(Some(status.as_u16()), format!("status {status}")));
        }
        let body = resp.bytes().await.map_err(|e| err(None, e.to_string()))?;
        Ok(body.to_vec())
    }
}
