//! Errors of parsing and harvesting.

/// A response that could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Malformed XML, with the byte position where the reader stopped.
    #[error("malformed xml at byte {position}: {message}")]
    Xml {
        /// Byte offset in the response.
        position: u64,
        /// The reader's message.
        message: String,
    },
    /// Malformed or unexpected JSON.
    #[error("malformed json at line {line} column {column}: {message}")]
    Json {
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Well-formed, but not the document expected (an HTML error page, another root element).
    #[error("unexpected document: {0}")]
    Unexpected(String),
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        ParseError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }
    }
}

/// A harvest step that failed.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// The HTTP request failed after every retry (connection, timeout, or status).
    #[error("request to {url} failed: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// HTTP status, when one came back.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The response was larger than the configured cap.
    #[error("response from {url} exceeds {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The response could not be parsed.
    #[error("source {source_name}: failed to parse {url}: {error}")]
    Parse {
        /// The configured source name.
        source_name: String,
        /// The URL requested.
        url: String,
        /// The parse error, with position.
        error: ParseError,
    },
    /// The source answered with a protocol-level error (an OAI-PMH `<error>`, an E-utilities
    /// `ERROR`).
    #[error("source {source_name} answered an error for {url}: {code}: {message}")]
    Protocol {
        /// The configured source name.
        source_name: String,
        /// The URL requested.
        url: String,
        /// The source's error code.
        code: String,
        /// The source's message.
        message: String,
    },
    /// The source's configuration is not usable.
    #[error("source {source_name}: {message}")]
    Config {
        /// The configured source name.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// Local file IO failed.
    #[error("io error on {path}: {error}")]
    Io {
        /// The file path.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// The harvest was cancelled.
    #[error("cancelled")]
    Cancelled,
}
