//! The polite HTTP fetcher every connector shares.
//!
//! A [`Fetcher`] is one source's HTTP client. It
//! - spaces requests to at most [`FetchConfig::rate_per_s`] per second, shared by every clone of the
//!   fetcher (next-slot scheduling behind an async mutex, so waiting never blocks a worker thread);
//! - retries connection errors, timeouts, `429 Too Many Requests` and `5xx` with exponential backoff
//!   and full jitter, honouring `Retry-After` (seconds or an HTTP date) up to
//!   [`FetchConfig::max_backoff`]; any other `4xx` fails at once, with the status and the start of the
//!   body in the error;
//! - counts the body while streaming it and aborts past [`FetchConfig::max_body_bytes`] (counted after
//!   gzip decoding, so a compressed bomb is caught too);
//! - sends its User-Agent and accepts gzip.
//!
//! Error messages never contain the query string, so an `api_key` parameter does not leak into logs or
//! job reports.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::warn;

use crate::HarvestError;

/// Settings of a [`Fetcher`].
///
/// Build it with struct update syntax so new settings keep their defaults:
/// `FetchConfig { rate_per_s: 10.0, ..FetchConfig::default() }`.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Requests per second allowed to this source (zero or less: unlimited).
    pub rate_per_s: f64,
    /// Timeout of one request, body included.
    pub timeout: Duration,
    /// Retries after the first attempt, on connection errors, timeouts, 429 and 5xx.
    pub max_retries: u32,
    /// Largest accepted response body, in bytes, after decompression.
    pub max_body_bytes: u64,
    /// User-Agent header.
    pub user_agent: String,
    /// The first retry waits up to this long; each later retry doubles the ceiling (full jitter).
    pub base_backoff: Duration,
    /// Ceiling of any wait between attempts, `Retry-After` included.
    pub max_backoff: Duration,
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
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// A polite HTTP client for one source. Clones share the connection pool and the rate limit.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
    limiter: RateLimiter,
}

/// Next-slot scheduling: each request takes the next free slot and sleeps until it comes.
#[derive(Debug, Clone)]
struct RateLimiter {
    interval: Option<Duration>,
    next_slot: Arc<Mutex<Instant>>,
}

impl RateLimiter {
    fn new(rate_per_s: f64) -> Self {
        let interval = (rate_per_s.is_finite() && rate_per_s > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / rate_per_s));
        RateLimiter {
            interval,
            next_slot: Arc::new(Mutex::new(Instant::now())),
        }
    }

    async fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next_slot.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt, after at least `retry_after` when the server said so.
    Retry {
        status: Option<u16>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Final: report at once.
    Fatal(HarvestError),
}

impl Fetcher {
    /// Builds a fetcher.
    pub fn new(config: FetchConfig) -> Result<Self, HarvestError> {
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .gzip(true)
            .build()
            .map_err(|e| HarvestError::Http {
                url: String::new(),
                status: None,
                message: e.without_url().to_string(),
            })?;
        let limiter = RateLimiter::new(config.rate_per_s);
        Ok(Fetcher {
            client,
            config,
            limiter,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// GETs `url` with query parameters and returns the body, retrying transient failures.
    ///
    /// Errors: [`HarvestError::Http`] (with the status when one came back) once retries are spent or
    /// on a non-retryable status, [`HarvestError::TooLarge`] when the body passes the cap.
    pub async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Vec<u8>, HarvestError> {
        let mut attempt: u32 = 0;
        loop {
            self.limiter.acquire().await;
            let failure = match self.attempt(url, query).await {
                Ok(body) => return Ok(body),
                Err(f) => f,
            };
            let (status, message, retry_after) = match failure {
                Failure::Fatal(e) => return Err(e),
                Failure::Retry {
                    status,
                    message,
                    retry_after,
                } => (status, message, retry_after),
            };
            if attempt >= self.config.max_retries {
                let attempts = attempt + 1;
                return Err(HarvestError::Http {
                    url: url.to_string(),
                    status,
                    message: format!("gave up after {attempts} attempts: {message}"),
                });
            }
            let delay = self.backoff(attempt, retry_after);
            attempt += 1;
            warn!(
                url,
                attempt,
                max_retries = self.config.max_retries,
                status,
                delay_ms = delay.as_millis() as u64,
                error = %message,
                "retrying request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// The wait before retry number `attempt + 1`: the server's `Retry-After` when it sent one,
    /// otherwise a uniform draw from zero to `base_backoff * 2^attempt`; both capped at `max_backoff`.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.config.max_backoff;
        if let Some(wait) = retry_after {
            return wait.min(cap);
        }
        let ceiling = self
            .config
            .base_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .min(cap);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos =
            rand::thread_rng().gen_range(0..=ceiling.as_nanos().min(u64::MAX as u128) as u64);
        Duration::from_nanos(nanos)
    }

    async fn attempt(&self, url: &str, query: &[(&str, String)]) -> Result<Vec<u8>, Failure> {
        let transport = |e: reqwest::Error| {
            let retryable = e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
            let message = error_chain(&e.without_url());
            if retryable {
                Failure::Retry {
                    status: None,
                    message,
                    retry_after: None,
                }
            } else {
                Failure::Fatal(HarvestError::Http {
                    url: url.to_string(),
                    status: None,
                    message,
                })
            }
        };
        let mut resp = self
            .client
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(Failure::Retry {
                status: Some(status.as_u16()),
                message: format!("status {status}"),
                retry_after: retry_after(resp.headers(), SystemTime::now()),
            });
        }
        if !status.is_success() {
            // The start of the body says why (E-utilities and OAI-PMH explain their 400s).
            let snippet = match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let end = chunk.len().min(300);
                    String::from_utf8_lossy(&chunk[..end])
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                }
                _ => String::new(),
            };
            let message = if snippet.is_empty() {
                format!("status {status}")
            } else {
                format!("status {status}: {snippet}")
            };
            return Err(Failure::Fatal(HarvestError::Http {
                url: url.to_string(),
                status: Some(status.as_u16()),
                message,
            }));
        }
        let limit = self.config.max_body_bytes;
        let too_large = || {
            Failure::Fatal(HarvestError::TooLarge {
                url: url.to_string(),
                limit,
            })
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(
            resp.content_length().unwrap_or(0).min(limit).min(64 << 20) as usize,
        );
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The error and its causes, `: `-joined (reqwest's own message alone is often just "error sending
/// request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Reads `Retry-After` as delay-seconds or an HTTP date (relative to `now`; a date in the past means
/// no wait).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, now)
}

fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let now = time::OffsetDateTime::from(now);
    let wait = when - now;
    Some(if wait.is_positive() {
        Duration::try_from(wait).unwrap_or_default()
    } else {
        Duration::ZERO
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let f = Fetcher::new(FetchConfig {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..FetchConfig::default()
        })
        .unwrap();
        for attempt in 0..40 {
            let d = f.backoff(attempt, None);
            assert!(d <= Duration::from_millis(350), "{attempt}: {d:?}");
            if attempt == 0 {
                assert!(d <= Duration::from_millis(100));
            }
        }
        assert_eq!(
            f.backoff(0, Some(Duration::from_secs(1))),
            Duration::from_millis(350)
        );
        assert_eq!(
            f.backoff(0, Some(Duration::from_millis(20))),
            Duration::from_millis(20)
        );
    }

    #[tokio::test]
    async fn rate_limit_spaces_requests_across_clones() {
        let limiter = RateLimiter::new(40.0);
        let other = limiter.clone();
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
            other.acquire().await;
        }
        // Six slots at 25 ms spacing: the sixth starts 125 ms after the first.
        assert!(Instant::now() - start >= Duration::from_millis(125));
    }
}
