//! Local files for `indexer import`: PubMed XML (`.xml`, or `.xml.gz` as in the NLM baseline and
//! update files) and the project's JSONL record format.
//!
//! Both readers stream: memory holds one batch, never the whole file. Each batch goes to a callback
//! (which stores it) before the next is read, and a callback error stops the read.
//!
//! ```no_run
//! use std::path::Path;
//! let stats = harvest::files::read_pubmed_xml(
//!     Path::new("pubmed25n0001.xml.gz"),
//!     "pubmed",
//!     1000,
//!     |batch| -> Result<(), harvest::HarvestError> {
//!         println!("{} records", batch.records.len());
//!         Ok(())
//!     },
//! )?;
//! println!("{stats:?}");
//! # Ok::<(), harvest::HarvestError>(())
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use model::Record;
use quick_xml::Reader;

use crate::pubmed::{self, StreamError};
use crate::{HarvestError, ParseError, Parsed, Rejected};

const READ_BUFFER: usize = 256 * 1024;

/// What a file held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Records handed to the callback.
    pub records: u64,
    /// Deletions handed to the callback.
    pub deleted: u64,
    /// Items rejected (no id, no title, a bad JSONL line).
    pub rejected: u64,
    /// Calls of the callback.
    pub batches: u64,
    /// Lines read (JSONL only).
    pub lines: u64,
}

impl FileStats {
    fn count(&mut self, p: &Parsed) {
        self.records += p.records.len() as u64;
        self.deleted += p.deleted.len() as u64;
        self.rejected += p.rejected.len() as u64;
        self.batches += 1;
    }
}

fn io_error(path: &Path, error: std::io::Error) -> HarvestError {
    HarvestError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Opens a file, decompressing it when its name ends in `.gz` (concatenated gzip members included).
fn open(path: &Path) -> Result<Box<dyn BufRead>, HarvestError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(BufReader::with_capacity(READ_BUFFER, file))
    })
}

fn batch_full(p: &Parsed, batch: usize) -> bool {
    p.records.len() + p.deleted.len() + p.rejected.len() >= batch.max(1)
}

/// Streams a PubMed XML file (`PubmedArticleSet`, plain or gzipped) in batches of about `batch` items
/// (records, deletions and rejects together).
///
/// Errors: [`HarvestError::Io`] when the file cannot be read (a corrupt gzip stream included),
/// [`HarvestError::Parse`] for malformed XML (position counted in decompressed bytes) or a file that
/// is not a `PubmedArticleSet`, or the callback's own error. Batches already handed over stay handed
/// over.
pub fn read_pubmed_xml<E: From<HarvestError>>(
    path: &Path,
    source: &str,
    batch: usize,
    mut on_batch: impl FnMut(Parsed) -> Result<(), E>,
) -> Result<FileStats, E> {
    let mut reader = Reader::from_reader(open(path)?);
    let mut stats = FileStats::default();
    let mut current = Parsed::default();
    let result = pubmed::read_articles(&mut reader, source, |item| {
        pubmed::push_item(&mut current, item);
        if batch_full(&current, batch) {
            let full = std::mem::take(&mut current);
            stats.count(&full);
            on_batch(full)?;
        }
        Ok(())
    });
    let parse_error = |error: ParseError| HarvestError::Parse {
        source_name: source.to_string(),
        url: path.display().to_string(),
        error,
    };
    match result {
        Ok(()) => {}
        Err(StreamError::Callback(e)) => return Err(e),
        Err(StreamError::Io(e)) => return Err(io_error(path, e).into()),
        Err(StreamError::Parse(e)) => return Err(parse_error(e).into()),
        Err(StreamError::Eutils(m)) => {
            return Err(
                parse_error(ParseError::Unexpected(format!("e-utilities error: {m}"))).into(),
            )
        }
    }
    if !current.records.is_empty() || !current.deleted.is_empty() || !current.rejected.is_empty() {
        stats.count(&current);
        on_batch(current)?;
    }
    Ok(stats)
}

/// Streams a JSONL file of [`Record`]s (one JSON object per line, blank lines skipped; `.jsonl.gz`
/// works too) in batches of `batch` items.
///
/// Each record is normalised; a record without `source` takes it from its id (`"<source>:..."`). A line
/// that is not a valid record becomes a [`Rejected`] whose reason names the line number, and the rest
/// of the file is read.
pub fn read_jsonl<E: From<HarvestError>>(
    path: &Path,
    batch: usize,
    mut on_batch: impl FnMut(Parsed) -> Result<(), E>,
) -> Result<FileStats, E> {
    let mut input = open(path)?;
    let mut stats = FileStats::default();
    let mut current = Parsed::default();
    let mut line = Vec::with_capacity(4096);
    let mut number = 0u64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = trim_ascii(&line);
        if text.is_empty() {
            continue;
        }
        match parse_record_line(text) {
            Ok(record) => current.records.push(record),
            Err((source_id, reason)) => current.rejected.push(Rejected {
                source_id,
                reason: format!("line {number}: {reason}"),
            }),
        }
        if batch_full(&current, batch) {
            let full = std::mem::take(&mut current);
            stats.count(&full);
            on_batch(full)?;
        }
    }
    stats.lines = number;
    if !current.records.is_empty() || !current.rejected.is_empty() {
        stats.count(&current);
        on_batch(current)?;
    }
    Ok(stats)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

/// One JSONL line to a valid, normalised record, or the id (when known) and the reason it is not one.
fn parse_record_line(text: &[u8]) -> Result<Record, (Option<String>, String)> {
    let mut record: Record = serde_json::from_slice(text).map_err(|e| {
        // serde_json ends its message with "at line 1 column N"; within one line the column is enough.
        let message = e.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |i| &message[..i]);
        (
            None,
            format!("invalid json at column {}: {message}", e.column()),
        )
    })?;
    if record.source.is_empty() {
        if let Some((source, _)) = record.id.split_once(':') {
            record.source = source.to_string();
        }
    }
    record.normalise();
    record.validate().map_err(|e| {
        let id = (!record.id.is_empty()).then(|| record.id.clone());
        (id, e.to_string())
    })?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines() {
        let ok = parse_record_line(br#"{"id":"sample:1","title":"  Asthma  care "}"#).unwrap();
        assert_eq!(ok.source, "sample");
        assert_eq!(ok.title, "Asthma care");
        let (id, reason) = parse_record_line(br#"{"id":"sample:2","title":""}"#).unwrap_err();
        assert_eq!(id.as_deref(), Some("sample:2"));
        assert!(reason.contains("title"), "{reason}");
        let (id, reason) = parse_record_line(b"{not json").unwrap_err();
        assert_eq!(id, None);
        assert!(reason.starts_with("invalid json at column 2: "), "{reason}");
        assert_eq!(trim_ascii(b"  x y \r\n"), b"x y");
        assert_eq!(trim_ascii(b" \n"), b"");
    }
}
