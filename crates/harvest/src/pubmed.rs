//! NCBI E-utilities (PubMed): pure parsers for `efetch` and `esearch` responses, and the
//! [`PubmedHarvester`] that walks a query with `esearch` + `efetch` over the history server.
//!
//! # Parsing
//! [`parse_efetch`] maps a `PubmedArticleSet` (an efetch response, or a baseline/update file through
//! [`read_articles`]) to records:
//! - id `"<source>:<PMID>"`; `PubmedArticle` and `PubmedBookArticle` both become records, and
//!   `DeleteCitation/PMID` (update files) becomes a deletion;
//! - title from `ArticleTitle` (inline markup such as `<i>`, `<sup>` and MathML flattened to its text),
//!   else `VernacularTitle`; for a book, `BookTitle` when there is no chapter title;
//! - abstract from `Abstract/AbstractText`, structured sections kept as `LABEL: text` (never
//!   `OtherAbstract`);
//! - authors `LastName Initials` or `CollectiveName`, skipping `ValidYN="N"` entries and investigators;
//! - journal title, language (the first `Language`), publication types, author keywords;
//! - MeSH descriptor names into `mesh_terms`; a descriptor goes into `mesh_major` when it or any of
//!   its qualifiers is `MajorTopicYN="Y"`. Qualifier names are dropped: `keywords` keep only author
//!   keywords, so their facet stays meaningful, and "etiology"-style subheadings add little to search;
//! - DOI from `PubmedData/ArticleIdList` (falling back to `ELocationID EIdType="doi"`), PMCID from the
//!   same list (falling back to `OtherID Source="NLM"`); references' own id lists are ignored;
//! - `published`: the earlier of the journal issue date (`PubDate`: Year/Month/Day, Season or
//!   `MedlineDate` such as `1998 Dec-1999 Jan`) and the electronic `ArticleDate`; when one refines the
//!   other (`2019 May` and `2019-05-03`) the more precise wins. Without either, the `pubmed`/`entrez`
//!   history date;
//! - `retracted` when a publication type is `Retracted Publication` or a `CommentsCorrections` has
//!   `RefType="RetractionIn"`;
//! - `country` is the journal's country (`MedlineJournalInfo/Country`), `url` the PubMed page (the
//!   Bookshelf page for books).
//!
//! An article without a PMID or a title becomes a [`Rejected`], never dropped in silence. E-utilities
//! error documents (`<eFetchResult><ERROR>`, `<eSearchResult><ERROR>`) and HTML pages are errors, and
//! malformed or truncated XML is [`ParseError::Xml`] with the byte position.
//!
//! The parser is one streaming state machine over a `quick_xml::Reader<R: BufRead>`, reusing its
//! buffers, so the same code serves a response in memory and a multi-gigabyte `.xml.gz` file.
//!
//! # Harvesting
//! See [`PubmedHarvester`].

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::BufRead;

use model::{PartialDate, Record};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use time::{Date, Month};
use tracing::{info, warn};

use crate::fetch::Fetcher;
use crate::{HarvestError, Page, ParseError, Parsed, Rejected, SourceConfig};

/// Records per efetch request when the source sets no `page_size`.
pub const DEFAULT_PAGE_SIZE: u32 = 200;
/// The largest `retmax` efetch accepts.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// The most records one esearch can page through; larger result sets are sliced by date.
pub const SLICE_LIMIT: u64 = 9_999;
/// The date field slices are cut on: the Entrez date, when the record entered PubMed. It never
/// changes, so slices stay a stable partition while a long harvest runs.
pub const DATE_TYPE: &str = "edat";
/// Start of the span (1 January of this year) when neither a checkpoint nor `from` gives one.
const EARLIEST: (i32, u8) = (1700, 1);
/// The `tool` parameter NCBI asks every client to send.
const TOOL: &str = "evidence-search";

// ---------------------------------------------------------------------------------------------
// Parsing: efetch
// ---------------------------------------------------------------------------------------------

/// One item of a `PubmedArticleSet`.
#[derive(Debug, Clone, PartialEq)]
pub enum PubmedItem {
    /// A parsed, normalised record.
    Record(Box<Record>),
    /// The id (`"<source>:<PMID>"`) of a deleted citation.
    Deleted(String),
    /// An article that could not become a record.
    Rejected(Rejected),
}

/// Why [`read_articles`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E> {
    /// The document is malformed or not a `PubmedArticleSet`.
    #[error(transparent)]
    Parse(ParseError),
    /// The document is an E-utilities error (`<ERROR>` elements), with their messages.
    #[error("e-utilities error: {0}")]
    Eutils(String),
    /// Reading the input failed (a file, a corrupt gzip stream).
    #[error("read failed: {0}")]
    Io(std::io::Error),
    /// The callback asked to stop.
    #[error("stopped by callback")]
    Callback(E),
}

impl<E> StreamError<E> {
    /// The error as a [`ParseError`], for a callback that never fails. I/O errors become
    /// [`ParseError::Unexpected`] with their message.
    fn into_parse_error(self) -> ParseError
    where
        E: std::fmt::Display,
    {
        match self {
            StreamError::Parse(e) => e,
            StreamError::Eutils(m) => ParseError::Unexpected(format!("e-utilities error: {m}")),
            StreamError::Io(e) => ParseError::Unexpected(format!("read failed: {e}")),
            StreamError::Callback(e) => ParseError::Unexpected(e.to_string()),
        }
    }
}

/// Parses an efetch response (`PubmedArticleSet`) into records, deletions and rejects.
///
/// ```
/// let xml = br#"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
///   <ArticleTitle>Aspirin for <i>everyone</i>?</ArticleTitle></Article></MedlineCitation>
///   </PubmedArticle></PubmedArticleSet>"#;
/// let parsed = harvest::pubmed::parse_efetch(xml, "pubmed").unwrap();
/// assert_eq!(parsed.records[0].id, "pubmed:1");
/// assert_eq!(parsed.records[0].title, "Aspirin for everyone?");
/// ```
pub fn parse_efetch(bytes: &[u8], source: &str) -> Result<Parsed, ParseError> {
    parse_efetch_inner(bytes, source).map_err(StreamError::into_parse_error)
}

/// [`parse_efetch`], keeping E-utilities errors apart so the harvester can report them as protocol
/// errors (and recover from an expired WebEnv).
fn parse_efetch_inner(
    bytes: &[u8],
    source: &str,
) -> Result<Parsed, StreamError<std::convert::Infallible>> {
    let mut parsed = Parsed::default();
    let mut reader = Reader::from_reader(bytes);
    read_articles(&mut reader, source, |item| {
        push_item(&mut parsed, item);
        Ok(())
    })?;
    Ok(parsed)
}

/// Adds one item to a [`Parsed`].
pub(crate) fn push_item(parsed: &mut Parsed, item: PubmedItem) {
    match item {
        PubmedItem::Record(r) => parsed.records.push(*r),
        PubmedItem::Deleted(id) => parsed.deleted.push(id),
        PubmedItem::Rejected(r) => parsed.rejected.push(r),
    }
}

/// Streams the items of a `PubmedArticleSet` to `on_item`, one at a time, in document order.
///
/// The reader may wrap any `BufRead`: a byte slice, a `BufReader<File>`, a gzip decoder. Memory use is
/// bounded by the largest single article.
pub fn read_articles<R: BufRead, E>(
    reader: &mut Reader<R>,
    source: &str,
    mut on_item: impl FnMut(PubmedItem) -> Result<(), E>,
) -> Result<(), StreamError<E>> {
    let mut p = ArticleParser::new(source);
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => return Err(xml_error(e, reader.error_position())),
        };
        match event {
            Event::Start(e) => p.start(&e)?,
            Event::Empty(e) => {
                p.start(&e)?;
                if let Some(item) = p.end() {
                    on_item(item).map_err(StreamError::Callback)?;
                }
            }
            Event::End(_) => {
                if let Some(item) = p.end() {
                    on_item(item).map_err(StreamError::Callback)?;
                }
            }
            Event::Text(t) => {
                if p.capturing() {
                    match t.unescape() {
                        Ok(s) => p.text.push_str(&s),
                        Err(_) => p.text.push_str(&String::from_utf8_lossy(&t)),
                    }
                } else if p.stack.is_empty() && p.stray.len() < 200 {
                    p.stray.push_str(String::from_utf8_lossy(&t).trim());
                }
            }
            Event::CData(t) if p.capturing() => {
                p.text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::Eof => {
                if !p.stack.is_empty() {
                    return Err(StreamError::Parse(ParseError::Xml {
                        position: reader.buffer_position(),
                        message: format!(
                            "unexpected end of document, {} elements still open",
                            p.stack.len()
                        ),
                    }));
                }
                return p.finish();
            }
            _ => {}
        }
        buf.clear();
    }
}

fn xml_error<E>(e: quick_xml::Error, position: u64) -> StreamError<E> {
    match e {
        quick_xml::Error::Io(io) => StreamError::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => StreamError::Parse(ParseError::Xml {
            position,
            message: other.to_string(),
        }),
    }
}

/// The elements the parser cares about; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    PubmedArticleSet,
    PubmedArticle,
    PubmedBookArticle,
    DeleteCitation,
    MedlineCitation,
    BookDocument,
    Book,
    PubmedData,
    PubmedBookData,
    Pmid,
    Article,
    Journal,
    JournalIssue,
    PubDate,
    ArticleDate,
    History,
    PubMedPubDate,
    Year,
    Month,
    Day,
    MedlineDate,
    Season,
    Title,
    IsoAbbreviation,
    ArticleTitle,
    VernacularTitle,
    BookTitle,
    Abstract,
    AbstractText,
    AuthorList,
    Author,
    LastName,
    ForeName,
    Initials,
    CollectiveName,
    Language,
    PublicationTypeList,
    PublicationType,
    MeshHeadingList,
    MeshHeading,
    DescriptorName,
    QualifierName,
    KeywordList,
    Keyword,
    ArticleIdList,
    ArticleId,
    ELocationId,
    OtherId,
    CommentsCorrections,
    MedlineJournalInfo,
    Country,
    Publisher,
    PublisherName,
    Error,
    Other,
}

fn tag_of(name: &[u8]) -> Tag {
    match name {
        b"PubmedArticleSet" => Tag::PubmedArticleSet,
        b"PubmedArticle" => Tag::PubmedArticle,
        b"PubmedBookArticle" => Tag::PubmedBookArticle,
        b"DeleteCitation" => Tag::DeleteCitation,
        b"MedlineCitation" => Tag::MedlineCitation,
        b"BookDocument" => Tag::BookDocument,
        b"Book" => Tag::Book,
        b"PubmedData" => Tag::PubmedData,
        b"PubmedBookData" => Tag::PubmedBookData,
        b"PMID" => Tag::Pmid,
        b"Article" => Tag::Article,
        b"Journal" => Tag::Journal,
        b"JournalIssue" => Tag::JournalIssue,
        b"PubDate" => Tag::PubDate,
        b"ArticleDate" => Tag::ArticleDate,
        b"History" => Tag::History,
        b"PubMedPubDate" => Tag::PubMedPubDate,
        b"Year" => Tag::Year,
        b"Month" => Tag::Month,
        b"Day" => Tag::Day,
        b"MedlineDate" => Tag::MedlineDate,
        b"Season" => Tag::Season,
        b"Title" => Tag::Title,
        b"ISOAbbreviation" => Tag::IsoAbbreviation,
        b"ArticleTitle" => Tag::ArticleTitle,
        b"VernacularTitle" => Tag::VernacularTitle,
        b"BookTitle" => Tag::BookTitle,
        b"Abstract" => Tag::Abstract,
        b"AbstractText" => Tag::AbstractText,
        b"AuthorList" => Tag::AuthorList,
        b"Author" => Tag::Author,
        b"LastName" => Tag::LastName,
        b"ForeName" => Tag::ForeName,
        b"Initials" => Tag::Initials,
        b"CollectiveName" => Tag::CollectiveName,
        b"Language" => Tag::Language,
        b"PublicationTypeList" => Tag::PublicationTypeList,
        b"PublicationType" => Tag::PublicationType,
        b"MeshHeadingList" => Tag::MeshHeadingList,
        b"MeshHeading" => Tag::MeshHeading,
        b"DescriptorName" => Tag::DescriptorName,
        b"QualifierName" => Tag::QualifierName,
        b"KeywordList" => Tag::KeywordList,
        b"Keyword" => Tag::Keyword,
        b"ArticleIdList" => Tag::ArticleIdList,
        b"ArticleId" => Tag::ArticleId,
        b"ELocationID" => Tag::ELocationId,
        b"OtherID" => Tag::OtherId,
        b"CommentsCorrections" => Tag::CommentsCorrections,
        b"MedlineJournalInfo" => Tag::MedlineJournalInfo,
        b"Country" => Tag::Country,
        b"Publisher" => Tag::Publisher,
        b"PublisherName" => Tag::PublisherName,
        b"ERROR" => Tag::Error,
        _ => Tag::Other,
    }
}

/// A text field being captured; the text of nested markup is flattened into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Pmid,
    DeletePmid,
    ArticleTitle,
    VernacularTitle,
    BookTitle,
    AbstractText,
    LastName,
    ForeName,
    Initials,
    CollectiveName,
    JournalTitle,
    IsoAbbreviation,
    Year,
    Month,
    Day,
    MedlineDate,
    Language,
    PublicationType,
    Descriptor,
    Keyword,
    Doi,
    Pmc,
    BookAccession,
    ElocationDoi,
    OtherPmc,
    Country,
    PublisherName,
    Error,
}

/// Which date the `Year`/`Month`/`Day` elements belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateSlot {
    Issue,
    Electronic,
    History,
}

#[derive(Debug, Default)]
struct DateParts {
    year: Option<i32>,
    month: Option<u8>,
    day: Option<u8>,
    medline: Option<String>,
    seen: bool,
}

impl DateParts {
    fn to_date(&self) -> Option<PartialDate> {
        match self.year {
            Some(y) => PartialDate::from_parts(y, self.month, self.day)
                .or_else(|_| PartialDate::from_parts(y, self.month, None))
                .or_else(|_| PartialDate::from_parts(y, None, None))
                .ok(),
            None => self
                .medline
                .as_deref()
                .and_then(|m| PartialDate::parse_loose(m).ok()),
        }
    }
}

#[derive(Debug, Default)]
struct AuthorParts {
    last: String,
    fore: String,
    initials: String,
    collective: String,
    valid: bool,
}

impl AuthorParts {
    fn display(&self) -> Option<String> {
        if !self.valid {
            return None;
        }
        if !self.collective.is_empty() {
            return Some(self.collective.clone());
        }
        if self.last.is_empty() {
            return None;
        }
        let initials = if self.initials.is_empty() {
            self.fore
                .split(|c: char| c.is_whitespace() || c == '-')
                .filter_map(|p| p.chars().next())
                .filter(|c| c.is_alphabetic())
                .collect::<String>()
        } else {
            self.initials.clone()
        };
        Some(if initials.is_empty() {
            self.last.clone()
        } else {
            format!("{} {}", self.last, initials)
        })
    }
}

/// The fields of the article being read.
#[derive(Debug, Default)]
struct Article {
    book: bool,
    pmid: Option<String>,
    title: String,
    vernacular_title: String,
    book_title: String,
    abstract_text: String,
    label: Option<String>,
    authors: Vec<String>,
    author: AuthorParts,
    in_author: bool,
    journal: Option<String>,
    iso_abbreviation: Option<String>,
    issue_date: DateParts,
    electronic_date: DateParts,
    history_date: DateParts,
    date_slot: Option<DateSlot>,
    language: Option<String>,
    publication_types: Vec<String>,
    mesh_terms: Vec<String>,
    mesh_major: Vec<String>,
    heading: Option<String>,
    heading_major: bool,
    keywords: Vec<String>,
    doi: Option<String>,
    elocation_doi: Option<String>,
    pmcid: Option<String>,
    other_pmcid: Option<String>,
    book_accession: Option<String>,
    retracted: bool,
    country: Option<String>,
    publisher: Option<String>,
}

impl Article {
    fn date_parts(&mut self, slot: DateSlot) -> &mut DateParts {
        match slot {
            DateSlot::Issue => &mut self.issue_date,
            DateSlot::Electronic => &mut self.electronic_date,
            DateSlot::History => &mut self.history_date,
        }
    }

    fn into_item(self, source: &str) -> PubmedItem {
        let Some(pmid) = self.pmid.filter(|p| !p.is_empty()) else {
            let hint: String = self.title.chars().take(80).collect();
            return PubmedItem::Rejected(Rejected {
                source_id: None,
                reason: format!("missing pmid (title {hint:?})"),
            });
        };
        let (title, journal) = if !self.title.is_empty() {
            let journal = if self.book {
                Some(self.book_title).filter(|t| !t.is_empty())
            } else {
                self.journal.or(self.iso_abbreviation)
            };
            (self.title, journal)
        } else if !self.vernacular_title.is_empty() {
            (
                self.vernacular_title,
                self.journal.or(self.iso_abbreviation),
            )
        } else if self.book && !self.book_title.is_empty() {
            (self.book_title, None)
        } else {
            return PubmedItem::Rejected(Rejected {
                source_id: Some(pmid),
                reason: "missing title".to_string(),
            });
        };
        let mut r = Record::new(source, &pmid, &title);
        r.abstract_text = (!self.abstract_text.is_empty()).then_some(self.abstract_text);
        r.authors = self.authors;
        r.journal = journal;
        r.publisher = self.publisher;
        r.published = choose_date(self.issue_date.to_date(), self.electronic_date.to_date())
            .or_else(|| self.history_date.to_date());
        r.url = Some(match (&self.book_accession, self.book) {
            (Some(nbk), true) => format!("https://www.ncbi.nlm.nih.gov/books/{nbk}/"),
            _ => format!("https://pubmed.ncbi.nlm.nih.gov/{pmid}/"),
        });
        r.identifiers.pmid = Some(pmid);
        r.identifiers.doi = self.doi.or(self.elocation_doi);
        r.identifiers.pmcid = self.pmcid.or(self.other_pmcid);
        r.publication_types = self.publication_types;
        r.mesh_terms = self.mesh_terms;
        r.mesh_major = self.mesh_major;
        r.keywords = self.keywords;
        r.language = self.language;
        r.country = self.country;
        r.retracted = self.retracted;
        r.normalise();
        PubmedItem::Record(Box::new(r))
    }
}

/// Chooses the date an article first appeared: the more precise of two dates when one refines the
/// other, otherwise the earlier.
fn choose_date(issue: Option<PartialDate>, electronic: Option<PartialDate>) -> Option<PartialDate> {
    fn contains(outer: &PartialDate, inner: &PartialDate) -> bool {
        outer.year == inner.year
            && (outer.month.is_none()
                || (outer.month == inner.month && (outer.day.is_none() || outer.day == inner.day)))
    }
    match (issue, electronic) {
        (Some(i), Some(e)) => Some(if contains(&i, &e) {
            e
        } else if contains(&e, &i) || i.days_since_epoch() <= e.days_since_epoch() {
            i
        } else {
            e
        }),
        (i, e) => i.or(e),
    }
}

/// The streaming state machine.
struct ArticleParser<'s> {
    source: &'s str,
    stack: Vec<Tag>,
    /// The field being captured and the stack depth of its element.
    capture: Option<(Field, usize)>,
    text: String,
    article: Option<Article>,
    /// The root was an E-utilities result (`eFetchResult` and the like), not an article set.
    error_doc: bool,
    errors: Vec<String>,
    /// Text outside any element, for the message about a non-XML body.
    stray: String,
    root_seen: bool,
}

fn attr<'a>(e: &'a BytesStart<'_>, key: &[u8]) -> Option<Cow<'a, [u8]>> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .map(|a| a.value)
}

fn attr_is(e: &BytesStart<'_>, key: &[u8], value: &[u8]) -> bool {
    attr(e, key).is_some_and(|v| v.as_ref() == value)
}

fn attr_string(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    let raw = attr(e, key)?;
    let s = String::from_utf8_lossy(&raw);
    let s = quick_xml::escape::unescape(&s)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| s.to_string());
    let s = collapse(&s);
    (!s.is_empty()).then_some(s)
}

/// Collapses runs of whitespace to one space and trims.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

impl<'s> ArticleParser<'s> {
    fn new(source: &'s str) -> Self {
        ArticleParser {
            source,
            stack: Vec::with_capacity(32),
            capture: None,
            text: String::with_capacity(4096),
            article: None,
            error_doc: false,
            errors: Vec::new(),
            stray: String::new(),
            root_seen: false,
        }
    }

    fn capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// The tag `n` levels above the current element (`up(1)` is the parent).
    fn up(&self, n: usize) -> Option<Tag> {
        self.stack.len().checked_sub(n + 1).map(|i| self.stack[i])
    }

    fn begin(&mut self, field: Field) {
        self.text.clear();
        self.capture = Some((field, self.stack.len()));
    }

    fn start<E>(&mut self, e: &BytesStart<'_>) -> Result<(), StreamError<E>> {
        let local = e.local_name();
        let tag = tag_of(local.as_ref());
        if self.stack.is_empty() {
            self.root(tag, local.as_ref())?;
        }
        self.stack.push(tag);
        if self.capture.is_some() {
            return Ok(());
        }
        if self.error_doc {
            if tag == Tag::Error {
                self.begin(Field::Error);
            }
            return Ok(());
        }
        let parent = self.up(1);
        if self.article.is_none() {
            match tag {
                Tag::PubmedArticle if parent == Some(Tag::PubmedArticleSet) => {
                    self.article = Some(Article::default());
                }
                Tag::PubmedBookArticle if parent == Some(Tag::PubmedArticleSet) => {
                    self.article = Some(Article {
                        book: true,
                        ..Article::default()
                    });
                }
                Tag::Pmid if parent == Some(Tag::DeleteCitation) => self.begin(Field::DeletePmid),
                _ => {}
            }
            return Ok(());
        }
        let grandparent = self.up(2);
        let top = matches!(parent, Some(Tag::Article | Tag::BookDocument));
        let Some(a) = self.article.as_mut() else {
            return Ok(());
        };
        let field = match tag {
            Tag::Pmid
                if matches!(parent, Some(Tag::MedlineCitation | Tag::BookDocument))
                    && a.pmid.is_none() =>
            {
                Some(Field::Pmid)
            }
            Tag::ArticleTitle if top => Some(Field::ArticleTitle),
            Tag::VernacularTitle if parent == Some(Tag::Article) => Some(Field::VernacularTitle),
            Tag::BookTitle if parent == Some(Tag::Book) => Some(Field::BookTitle),
            Tag::AbstractText
                if parent == Some(Tag::Abstract)
                    && matches!(grandparent, Some(Tag::Article | Tag::BookDocument)) =>
            {
                a.label = attr_string(e, b"Label");
                Some(Field::AbstractText)
            }
            Tag::Author
                if parent == Some(Tag::AuthorList)
                    && matches!(grandparent, Some(Tag::Article | Tag::BookDocument)) =>
            {
                a.author = AuthorParts {
                    valid: !attr_is(e, b"ValidYN", b"N"),
                    ..AuthorParts::default()
                };
                a.in_author = true;
                None
            }
            Tag::LastName if a.in_author && parent == Some(Tag::Author) => Some(Field::LastName),
            Tag::ForeName if a.in_author && parent == Some(Tag::Author) => Some(Field::ForeName),
            Tag::Initials if a.in_author && parent == Some(Tag::Author) => Some(Field::Initials),
            Tag::CollectiveName if a.in_author && parent == Some(Tag::Author) => {
                Some(Field::CollectiveName)
            }
            Tag::Title if parent == Some(Tag::Journal) && grandparent == Some(Tag::Article) => {
                Some(Field::JournalTitle)
            }
            Tag::IsoAbbreviation if parent == Some(Tag::Journal) => Some(Field::IsoAbbreviation),
            Tag::PubDate if matches!(parent, Some(Tag::JournalIssue | Tag::Book)) => {
                a.date_slot = Some(DateSlot::Issue);
                None
            }
            Tag::ArticleDate if parent == Some(Tag::Article) && !a.electronic_date.seen => {
                a.date_slot = Some(DateSlot::Electronic);
                None
            }
            Tag::PubMedPubDate
                if parent == Some(Tag::History)
                    && !a.history_date.seen
                    && (attr_is(e, b"PubStatus", b"pubmed")
                        || attr_is(e, b"PubStatus", b"entrez")) =>
            {
                a.date_slot = Some(DateSlot::History);
                None
            }
            Tag::Year | Tag::Month | Tag::Day | Tag::MedlineDate | Tag::Season
                if a.date_slot.is_some()
                    && matches!(
                        parent,
                        Some(Tag::PubDate | Tag::ArticleDate | Tag::PubMedPubDate)
                    ) =>
            {
                match tag {
                    Tag::Year => Some(Field::Year),
                    Tag::Month => Some(Field::Month),
                    Tag::Day => Some(Field::Day),
                    Tag::MedlineDate => Some(Field::MedlineDate),
                    // A season ("Spring") leaves the month unknown.
                    _ => None,
                }
            }
            Tag::Language if top && a.language.is_none() => Some(Field::Language),
            Tag::PublicationType
                if matches!(parent, Some(Tag::PublicationTypeList | Tag::BookDocument)) =>
            {
                Some(Field::PublicationType)
            }
            Tag::MeshHeading if parent == Some(Tag::MeshHeadingList) => {
                a.heading = None;
                a.heading_major = false;
                None
            }
            Tag::DescriptorName if parent == Some(Tag::MeshHeading) => {
                a.heading_major |= attr_is(e, b"MajorTopicYN", b"Y");
                Some(Field::Descriptor)
            }
            Tag::QualifierName if parent == Some(Tag::MeshHeading) => {
                a.heading_major |= attr_is(e, b"MajorTopicYN", b"Y");
                None
            }
            Tag::Keyword if parent == Some(Tag::KeywordList) => Some(Field::Keyword),
            Tag::ArticleId
                if parent == Some(Tag::ArticleIdList)
                    && matches!(
                        grandparent,
                        Some(Tag::PubmedData | Tag::PubmedBookData | Tag::BookDocument)
                    ) =>
            {
                match attr(e, b"IdType").as_deref() {
                    Some(b"doi") if a.doi.is_none() => Some(Field::Doi),
                    Some(b"pmc") if a.pmcid.is_none() => Some(Field::Pmc),
                    Some(b"bookaccession") if a.book_accession.is_none() => {
                        Some(Field::BookAccession)
                    }
                    _ => None,
                }
            }
            Tag::ELocationId
                if top
                    && a.elocation_doi.is_none()
                    && attr_is(e, b"EIdType", b"doi")
                    && !attr_is(e, b"ValidYN", b"N") =>
            {
                Some(Field::ElocationDoi)
            }
            Tag::OtherId
                if parent == Some(Tag::MedlineCitation) && attr_is(e, b"Source", b"NLM") =>
            {
                Some(Field::OtherPmc)
            }
            Tag::CommentsCorrections => {
                if attr_is(e, b"RefType", b"RetractionIn") {
                    a.retracted = true;
                }
                None
            }
            Tag::Country if parent == Some(Tag::MedlineJournalInfo) => Some(Field::Country),
            Tag::PublisherName if parent == Some(Tag::Publisher) => Some(Field::PublisherName),
            _ => None,
        };
        if let Some(f) = field {
            self.begin(f);
        }
        Ok(())
    }

    /// Checks the root element.
    fn root<E>(&mut self, tag: Tag, name: &[u8]) -> Result<(), StreamError<E>> {
        self.root_seen = true;
        if tag == Tag::PubmedArticleSet {
            return Ok(());
        }
        let name = String::from_utf8_lossy(name);
        if tag == Tag::Error || (name.starts_with('e') && name.ends_with("Result")) {
            self.error_doc = true;
            return Ok(());
        }
        let message = if name.eq_ignore_ascii_case("html") {
            "an html page instead of a PubmedArticleSet".to_string()
        } else {
            format!("expected <PubmedArticleSet>, found <{name}>")
        };
        Err(StreamError::Parse(ParseError::Unexpected(message)))
    }

    /// Handles an end tag; returns an item when an article or deletion is complete.
    fn end(&mut self) -> Option<PubmedItem> {
        let depth = self.stack.len();
        let mut item = None;
        if let Some((field, d)) = self.capture {
            if d == depth {
                self.capture = None;
                item = self.finish_field(field);
            }
        }
        let Some(tag) = self.stack.pop() else {
            return item;
        };
        let Some(a) = self.article.as_mut() else {
            return item;
        };
        match tag {
            Tag::Author if a.in_author => {
                a.in_author = false;
                if let Some(name) = a.author.display() {
                    a.authors.push(name);
                }
            }
            Tag::MeshHeading => {
                if let Some(d) = a.heading.take() {
                    if a.heading_major {
                        a.mesh_major.push(d.clone());
                    }
                    a.mesh_terms.push(d);
                }
            }
            Tag::PubDate | Tag::ArticleDate | Tag::PubMedPubDate => {
                if let Some(slot) = a.date_slot.take() {
                    a.date_parts(slot).seen = true;
                }
            }
            Tag::PubmedArticle | Tag::PubmedBookArticle if self.stack.len() == 1 => {
                let article = self.article.take()?;
                return Some(article.into_item(self.source));
            }
            _ => {}
        }
        item
    }

    fn finish_field(&mut self, field: Field) -> Option<PubmedItem> {
        let raw = self.text.trim();
        if field == Field::Error {
            let m = collapse(raw);
            if !m.is_empty() {
                self.errors.push(m);
            }
            return None;
        }
        if field == Field::DeletePmid {
            return (!raw.is_empty())
                .then(|| PubmedItem::Deleted(format!("{}:{}", self.source, raw)));
        }
        let a = self.article.as_mut()?;
        let opt = |s: &str| {
            let c = collapse(s);
            (!c.is_empty()).then_some(c)
        };
        match field {
            Field::Pmid => a.pmid = opt(raw),
            Field::ArticleTitle => a.title = collapse(raw),
            Field::VernacularTitle => a.vernacular_title = collapse(raw),
            Field::BookTitle => a.book_title = collapse(raw),
            Field::AbstractText => {
                let body = collapse(raw);
                let label = a.label.take();
                if !body.is_empty() || label.is_some() {
                    if !a.abstract_text.is_empty() {
                        a.abstract_text.push(' ');
                    }
                    if let Some(l) = label {
                        a.abstract_text.push_str(&l);
                        a.abstract_text.push(':');
                        if !body.is_empty() {
                            a.abstract_text.push(' ');
                        }
                    }
                    a.abstract_text.push_str(&body);
                }
            }
            Field::LastName => a.author.last = collapse(raw),
            Field::ForeName => a.author.fore = collapse(raw),
            Field::Initials => a.author.initials = collapse(raw),
            Field::CollectiveName => a.author.collective = collapse(raw),
            Field::JournalTitle => a.journal = opt(raw),
            Field::IsoAbbreviation => a.iso_abbreviation = opt(raw),
            Field::Year | Field::Month | Field::Day | Field::MedlineDate => {
                if let Some(slot) = a.date_slot {
                    let d = a.date_parts(slot);
                    match field {
                        Field::Year => d.year = raw.parse().ok(),
                        Field::Month => d.month = model::date::parse_month(raw),
                        Field::Day => d.day = raw.parse().ok(),
                        _ => d.medline = opt(raw),
                    }
                }
            }
            Field::Language => a.language = opt(raw),
            Field::PublicationType => a.publication_types.extend(opt(raw)),
            Field::Descriptor => a.heading = opt(raw),
            Field::Keyword => a.keywords.extend(opt(raw)),
            Field::Doi => a.doi = opt(raw),
            Field::Pmc => a.pmcid = opt(raw),
            Field::BookAccession => a.book_accession = opt(raw),
            Field::ElocationDoi => a.elocation_doi = opt(raw),
            Field::OtherPmc => {
                if raw.starts_with("PMC") {
                    a.other_pmcid = opt(raw);
                }
            }
            Field::Country => a.country = opt(raw),
            Field::PublisherName => a.publisher = opt(raw),
            Field::Error | Field::DeletePmid => {}
        }
        None
    }

    fn finish<E>(self) -> Result<(), StreamError<E>> {
        if !self.root_seen {
            let message = if self.stray.is_empty() {
                "empty response".to_string()
            } else {
                let head: String = self.stray.chars().take(120).collect();
                format!("not an xml document: {head}")
            };
            return Err(StreamError::Parse(ParseError::Unexpected(message)));
        }
        if self.error_doc {
            return Err(if self.errors.is_empty() {
                StreamError::Parse(ParseError::Unexpected(
                    "an e-utilities result instead of a PubmedArticleSet".to_string(),
                ))
            } else {
                StreamError::Eutils(self.errors.join("; "))
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing: esearch
// ---------------------------------------------------------------------------------------------

/// An esearch response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Esearch {
    /// How many records match.
    pub count: u64,
    /// How many ids this response lists at most.
    pub ret_max: u64,
    /// Offset of the first listed id.
    pub ret_start: u64,
    /// The PMIDs listed.
    pub ids: Vec<String>,
    /// The history server's environment, with `usehistory=y`.
    pub webenv: Option<String>,
    /// The query's key on the history server.
    pub query_key: Option<String>,
    /// How PubMed read the query.
    pub query_translation: Option<String>,
    /// Non-fatal problems with the query (`ErrorList`: `PhraseNotFound: fleegle[MeSH Terms]`).
    pub errors: Vec<String>,
    /// Warnings (`WarningList`: `PhraseIgnored: of`).
    pub warnings: Vec<String>,
}

/// Parses an esearch response. A response that is an E-utilities error (`<ERROR>`) is an error, as is
/// anything without a `Count`.
pub fn parse_esearch(bytes: &[u8]) -> Result<Esearch, ParseError> {
    parse_esearch_inner(bytes).map_err(StreamError::into_parse_error)
}

fn parse_esearch_inner(bytes: &[u8]) -> Result<Esearch, StreamError<std::convert::Infallible>> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    let mut out = Esearch::default();
    let mut count = None;
    let mut fatal: Vec<String> = Vec::new();
    let mut stray = String::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(e, reader.error_position()))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if stack.is_empty() && name != b"eSearchResult" {
                    let n = String::from_utf8_lossy(&name).into_owned();
                    if n != "ERROR" && !(n.starts_with('e') && n.ends_with("Result")) {
                        let message = if n.eq_ignore_ascii_case("html") {
                            "an html page instead of an eSearchResult".to_string()
                        } else {
                            format!("expected <eSearchResult>, found <{n}>")
                        };
                        return Err(StreamError::Parse(ParseError::Unexpected(message)));
                    }
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(e) if stack.is_empty() => {
                let n = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                return Err(StreamError::Parse(ParseError::Unexpected(format!(
                    "expected <eSearchResult>, found empty <{n}>"
                ))));
            }
            Event::Text(t) => {
                if stack.is_empty() {
                    if stray.len() < 200 {
                        stray.push_str(String::from_utf8_lossy(&t).trim());
                    }
                } else {
                    match t.unescape() {
                        Ok(s) => text.push_str(&s),
                        Err(_) => text.push_str(&String::from_utf8_lossy(&t)),
                    }
                }
            }
            Event::End(_) => {
                let Some(name) = stack.pop() else { continue };
                let value = collapse(&text);
                let parent = stack.last().map(Vec::as_slice);
                let in_root = stack.len() == 1;
                match (name.as_slice(), parent) {
                    (b"Count", _) if in_root => count = value.parse::<u64>().ok(),
                    (b"RetMax", _) if in_root => out.ret_max = value.parse().unwrap_or(0),
                    (b"RetStart", _) if in_root => out.ret_start = value.parse().unwrap_or(0),
                    (b"QueryKey", _) if in_root => {
                        out.query_key = Some(value).filter(|v| !v.is_empty())
                    }
                    (b"WebEnv", _) if in_root => out.webenv = Some(value).filter(|v| !v.is_empty()),
                    (b"QueryTranslation", _) if in_root => out.query_translation = Some(value),
                    (b"ERROR", _) if stack.len() <= 1 && !value.is_empty() => fatal.push(value),
                    (b"Id", Some(b"IdList")) => out.ids.push(value),
                    (kind, Some(b"ErrorList")) => {
                        out.errors
                            .push(format!("{}: {value}", String::from_utf8_lossy(kind)));
                    }
                    (kind, Some(b"WarningList")) => {
                        out.warnings
                            .push(format!("{}: {value}", String::from_utf8_lossy(kind)));
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(StreamError::Parse(ParseError::Xml {
                        position: reader.buffer_position(),
                        message: format!(
                            "unexpected end of document, {} elements still open",
                            stack.len()
                        ),
                    }));
                }
                break;
            }
            _ => {}
        }
        buf.clear();
    }
    if !fatal.is_empty() {
        return Err(StreamError::Eutils(fatal.join("; ")));
    }
    match count {
        Some(c) => {
            out.count = c;
            Ok(out)
        }
        None if !stray.is_empty() => {
            let head: String = stray.chars().take(120).collect();
            Err(StreamError::Parse(ParseError::Unexpected(format!(
                "not an xml document: {head}"
            ))))
        }
        None => Err(StreamError::Parse(ParseError::Unexpected(
            "esearch response without Count".to_string(),
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Date ranges
// ---------------------------------------------------------------------------------------------

/// An inclusive range of days, as sent in `mindate`/`maxdate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day, inclusive.
    pub min: Date,
    /// Last day, inclusive.
    pub max: Date,
}

impl DayRange {
    /// Splits a range of two days or more into two halves that partition it: `[min, mid]` and
    /// `[mid + 1, max]`. A single day cannot be split.
    pub fn split(&self) -> Option<(DayRange, DayRange)> {
        let (a, b) = (self.min.to_julian_day(), self.max.to_julian_day());
        if a >= b {
            return None;
        }
        let mid = a + (b - a) / 2;
        let left_max = Date::from_julian_day(mid).ok()?;
        let right_min = Date::from_julian_day(mid + 1).ok()?;
        Some((
            DayRange {
                min: self.min,
                max: left_max,
            },
            DayRange {
                min: right_min,
                max: self.max,
            },
        ))
    }
}

/// Formats a date as E-utilities wants it: `YYYY/MM/DD`.
pub fn format_day(d: Date) -> String {
    format!("{:04}/{:02}/{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY/MM/DD`, `YYYY-MM-DD`, `YYYY-MM` or `YYYY` (missing parts are the first).
pub fn parse_day(s: &str) -> Option<Date> {
    let p = PartialDate::parse_loose(s).ok()?;
    let month = Month::try_from(p.month.unwrap_or(1)).ok()?;
    Date::from_calendar_date(p.year, month, p.day.unwrap_or(1)).ok()
}

// ---------------------------------------------------------------------------------------------
// Harvesting
// ---------------------------------------------------------------------------------------------

/// The request rate for a PubMed source: `rate_per_s` when set, else 10 per second with an API key and
/// 3 without, NCBI's limits.
pub fn default_rate(cfg: &SourceConfig) -> f64 {
    cfg.rate_per_s
        .unwrap_or(if api_key(cfg).is_some() { 10.0 } else { 3.0 })
}

/// The API key from the environment variable named by `api_key_env`, when set and not empty.
fn api_key(cfg: &SourceConfig) -> Option<String> {
    let var = cfg.api_key_env.as_deref()?;
    std::env::var(var)
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// An API key, kept out of `Debug` output and so out of logs.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// The slice being fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SliceState {
    min: String,
    max: String,
    /// Records in the slice, as esearch counted them (capped at [`SLICE_LIMIT`]).
    count: u64,
    /// Offset of the next efetch.
    retstart: u64,
    webenv: String,
    query_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RangeState {
    min: String,
    max: String,
}

/// The checkpoint of a harvest in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    query: String,
    datetype: String,
    /// Last day of the span (the day the harvest started).
    through: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<SliceState>,
    #[serde(default)]
    remaining: Vec<RangeState>,
}

/// The checkpoint after a complete harvest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Completed {
    completed_through: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<String>,
}

#[derive(Debug, Clone)]
struct Slice {
    range: DayRange,
    count: u64,
    retstart: u64,
    webenv: String,
    query_key: String,
}

/// Harvests a PubMed query through E-utilities, page by page.
///
/// 1. The span runs from the last harvest's `completed_through` (an incremental run; `full` ignores
///    it), else the source's `from`, else 1700-01-01, to today.
/// 2. `esearch.fcgi` (`usehistory=y`, `datetype=edat`, `mindate`/`maxdate`) counts a day range. esearch
///    and the history server reach only 9,999 records, so a range with more is halved into
///    `[min, mid]` and `[mid + 1, max]`, recursively, until each slice fits: the slices partition the
///    span with no gap and no overlap.
/// 3. `efetch.fcgi` pages through each slice (`WebEnv`, `query_key`, `retstart`, `retmax` =
///    `page_size`, default 200); each page is parsed off the async workers.
/// 4. The checkpoint after every page holds the span's end, the slice and offset in progress (with
///    its WebEnv) and the ranges still to do, so a rebuilt harvester resumes at the next page. After
///    the last page it is `{"completed_through": "YYYY/MM/DD", "query": ...}`, and the next run
///    starts from that day (inclusive: the overlap re-fetches one day, never misses one).
/// 5. When efetch reports an error (an expired WebEnv answers `<ERROR>` or status 400), the slice is
///    searched again and the fetch retried once at the same offset.
///
/// Every request sends `tool`, `email` (when configured) and `api_key` (from the environment variable
/// named by `api_key_env`). A changed query starts over.
#[derive(Debug)]
pub struct PubmedHarvester {
    cfg: SourceConfig,
    query: String,
    page_size: u32,
    esearch_url: String,
    efetch_url: String,
    api_key: Option<ApiKey>,
    through: Date,
    total: Option<u64>,
    current: Option<Slice>,
    remaining: VecDeque<DayRange>,
    /// The completed checkpoint has been handed out with a page.
    completion_emitted: bool,
    done: bool,
}

fn config_error(cfg: &SourceConfig, message: impl Into<String>) -> HarvestError {
    HarvestError::Config {
        source_name: cfg.name.clone(),
        message: message.into(),
    }
}

impl PubmedHarvester {
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
            .ok_or_else(|| config_error(cfg, "a pubmed source needs a query"))?
            .to_string();
        let page_size = cfg
            .page_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        if let Some(var) = cfg.api_key_env.as_deref() {
            if api_key(cfg).is_none() {
                warn!(source = %cfg.name, var, "api key variable is not set; requests go without a key");
            }
        }
        let today = time::OffsetDateTime::now_utc().date();
        let from = match cfg.from.as_deref() {
            Some(f) => Some(
                parse_day(f)
                    .ok_or_else(|| config_error(cfg, format!("invalid from date {f:?}")))?,
            ),
            None => None,
        };
        let earliest = Date::from_calendar_date(EARLIEST.0, Month::January, EARLIEST.1)
            .map_err(|e| config_error(cfg, e.to_string()))?;
        let mut h = PubmedHarvester {
            cfg: cfg.clone(),
            query,
            page_size,
            esearch_url: cfg.endpoint("esearch.fcgi"),
            efetch_url: cfg.endpoint("efetch.fcgi"),
            api_key: api_key(cfg).map(ApiKey),
            through: today,
            total: None,
            current: None,
            remaining: VecDeque::new(),
            completion_emitted: false,
            done: false,
        };
        let fresh_start = from.unwrap_or(earliest);
        let checkpoint = if full {
            None
        } else {
            // No checkpoint, `null` and `{}` all mean a first harvest.
            checkpoint.filter(|c| !c.is_null() && c.as_object().is_none_or(|o| !o.is_empty()))
        };
        let start = match checkpoint {
            None => fresh_start,
            Some(c) => {
                if let Ok(p) = serde_json::from_value::<Progress>(c.clone()) {
                    if p.query == h.query {
                        h.resume(p)?;
                        return Ok(h);
                    }
                    warn!(source = %cfg.name, "query changed since the checkpoint; starting over");
                    fresh_start
                } else if let Ok(done) = serde_json::from_value::<Completed>(c.clone()) {
                    if done.query.as_deref().is_some_and(|q| q != h.query) {
                        warn!(source = %cfg.name, "query changed since the last harvest; starting over");
                        fresh_start
                    } else {
                        parse_day(&done.completed_through).ok_or_else(|| {
                            config_error(
                                cfg,
                                format!("invalid checkpoint date {:?}", done.completed_through),
                            )
                        })?
                    }
                } else {
                    return Err(config_error(cfg, format!("unrecognised checkpoint {c}")));
                }
            }
        };
        h.remaining.push_back(DayRange {
            min: start.min(today),
            max: today,
        });
        Ok(h)
    }

    fn resume(&mut self, p: Progress) -> Result<(), HarvestError> {
        let day = |s: &str| {
            parse_day(s)
                .ok_or_else(|| config_error(&self.cfg, format!("invalid checkpoint date {s:?}")))
        };
        self.through = day(&p.through)?;
        self.total = p.total;
        if let Some(c) = p.current {
            self.current = Some(Slice {
                range: DayRange {
                    min: day(&c.min)?,
                    max: day(&c.max)?,
                },
                count: c.count,
                retstart: c.retstart,
                webenv: c.webenv,
                query_key: c.query_key,
            });
        }
        for r in p.remaining {
            let range = DayRange {
                min: day(&r.min)?,
                max: day(&r.max)?,
            };
            self.remaining.push_back(range);
        }
        Ok(())
    }

    /// The checkpoint describing the current state.
    pub fn checkpoint(&self) -> serde_json::Value {
        let exhausted = self.current.as_ref().is_none_or(|s| s.retstart >= s.count);
        if self.done || (exhausted && self.remaining.is_empty()) {
            let done = Completed {
                completed_through: format_day(self.through),
                query: Some(self.query.clone()),
            };
            return serde_json::to_value(done).unwrap_or(serde_json::Value::Null);
        }
        let progress = Progress {
            query: self.query.clone(),
            datetype: DATE_TYPE.to_string(),
            through: format_day(self.through),
            total: self.total,
            current: self
                .current
                .as_ref()
                .filter(|s| s.retstart < s.count)
                .map(|s| SliceState {
                    min: format_day(s.range.min),
                    max: format_day(s.range.max),
                    count: s.count,
                    retstart: s.retstart,
                    webenv: s.webenv.clone(),
                    query_key: s.query_key.clone(),
                }),
            remaining: self
                .remaining
                .iter()
                .map(|r| RangeState {
                    min: format_day(r.min),
                    max: format_day(r.max),
                })
                .collect(),
        };
        serde_json::to_value(progress).unwrap_or(serde_json::Value::Null)
    }

    fn common_params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("db", "pubmed".to_string()), ("tool", TOOL.to_string())];
        if let Some(email) = self.cfg.email.as_deref().filter(|e| !e.is_empty()) {
            p.push(("email", email.to_string()));
        }
        if let Some(ApiKey(key)) = &self.api_key {
            p.push(("api_key", key.clone()));
        }
        p
    }

    /// A URL for reports: the parameters without the API key.
    fn display_url(url: &str, params: &[(&str, String)]) -> String {
        let shown = params.iter().filter(|(k, _)| *k != "api_key");
        reqwest::Url::parse_with_params(url, shown)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| url.to_string())
    }

    fn protocol_error(&self, url: &str, message: String) -> HarvestError {
        HarvestError::Protocol {
            source_name: self.cfg.name.clone(),
            url: url.to_string(),
            code: "ERROR".to_string(),
            message,
        }
    }

    fn parse_error(&self, url: &str, error: ParseError) -> HarvestError {
        HarvestError::Parse {
            source_name: self.cfg.name.clone(),
            url: url.to_string(),
            error,
        }
    }

    async fn esearch(&self, fetcher: &Fetcher, range: DayRange) -> Result<Esearch, HarvestError> {
        let mut params = self.common_params();
        params.extend([
            ("term", self.query.clone()),
            ("usehistory", "y".to_string()),
            ("retmax", "0".to_string()),
            ("datetype", DATE_TYPE.to_string()),
            ("mindate", format_day(range.min)),
            ("maxdate", format_day(range.max)),
        ]);
        let shown = Self::display_url(&self.esearch_url, &params);
        let body = fetcher.get(&self.esearch_url, &params).await?;
        let es = match parse_esearch_inner(&body) {
            Ok(es) => es,
            Err(StreamError::Eutils(m)) => return Err(self.protocol_error(&shown, m)),
            Err(e) => return Err(self.parse_error(&shown, e.into_parse_error())),
        };
        if !es.errors.is_empty() || !es.warnings.is_empty() {
            warn!(source = %self.cfg.name, errors = ?es.errors, warnings = ?es.warnings, "esearch reported problems with the query");
        }
        if es.count == 0 && !es.errors.is_empty() {
            return Err(self.protocol_error(&shown, es.errors.join("; ")));
        }
        if es.count > 0 && (es.webenv.is_none() || es.query_key.is_none()) {
            return Err(self.parse_error(
                &shown,
                ParseError::Unexpected("esearch response without WebEnv or QueryKey".to_string()),
            ));
        }
        Ok(es)
    }

    /// Fetches the next page of the harvest, or `None` when it is complete and its final checkpoint
    /// has been handed out.
    pub async fn next_page(&mut self, fetcher: &Fetcher) -> Result<Option<Page>, HarvestError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(slice) = &self.current {
                if slice.retstart < slice.count {
                    return self.fetch_page(fetcher).await.map(Some);
                }
                self.current = None;
            }
            let Some(range) = self.remaining.pop_front() else {
                self.done = true;
                if self.completion_emitted {
                    return Ok(None);
                }
                self.completion_emitted = true;
                return Ok(Some(Page {
                    parsed: Parsed::default(),
                    checkpoint: self.checkpoint(),
                    url: self.esearch_url.clone(),
                    total: Some(self.total.unwrap_or(0)),
                }));
            };
            let es = self.esearch(fetcher, range).await?;
            if self.total.is_none() {
                // The first search covers the whole span.
                self.total = Some(es.count);
            }
            if es.count > SLICE_LIMIT {
                if let Some((left, right)) = range.split() {
                    info!(source = %self.cfg.name, min = %format_day(range.min), max = %format_day(range.max), count = es.count, "splitting date range");
                    self.remaining.push_front(right);
                    self.remaining.push_front(left);
                    continue;
                }
                warn!(source = %self.cfg.name, day = %format_day(range.min), count = es.count, limit = SLICE_LIMIT,
                    "more records on one day than esearch can page through; harvesting the first ones only");
            }
            if es.count == 0 {
                continue;
            }
            self.current = Some(Slice {
                range,
                count: es.count.min(SLICE_LIMIT),
                retstart: 0,
                webenv: es.webenv.unwrap_or_default(),
                query_key: es.query_key.unwrap_or_default(),
            });
        }
    }

    async fn fetch_page(&mut self, fetcher: &Fetcher) -> Result<Page, HarvestError> {
        let mut searched_again = false;
        loop {
            let Some(slice) = self.current.as_ref() else {
                return Err(config_error(&self.cfg, "no slice to fetch"));
            };
            let retmax = u64::from(self.page_size).min(slice.count - slice.retstart);
            let mut params = self.common_params();
            params.extend([
                ("retmode", "xml".to_string()),
                ("WebEnv", slice.webenv.clone()),
                ("query_key", slice.query_key.clone()),
                ("retstart", slice.retstart.to_string()),
                ("retmax", retmax.to_string()),
            ]);
            let shown = Self::display_url(&self.efetch_url, &params);
            let (range, retstart) = (slice.range, slice.retstart);
            let failure = match fetcher.get(&self.efetch_url, &params).await {
                Ok(body) => {
                    let source = self.cfg.name.clone();
                    let result =
                        tokio::task::spawn_blocking(move || parse_efetch_inner(&body, &source))
                            .await
                            .map_err(|e| {
                                self.parse_error(
                                    &shown,
                                    ParseError::Unexpected(format!("parser task failed: {e}")),
                                )
                            })?;
                    match result {
                        Ok(mut parsed) => {
                            for r in &mut parsed.records {
                                self.cfg.apply_defaults(r);
                            }
                            if let Some(s) = self.current.as_mut() {
                                s.retstart += retmax;
                            }
                            let checkpoint = self.checkpoint();
                            if self.remaining.is_empty()
                                && self.current.as_ref().is_some_and(|s| s.retstart >= s.count)
                            {
                                self.completion_emitted = true;
                            }
                            return Ok(Page {
                                parsed,
                                checkpoint,
                                url: shown,
                                total: self.total,
                            });
                        }
                        Err(StreamError::Eutils(m)) => self.protocol_error(&shown, m),
                        Err(e) => return Err(self.parse_error(&shown, e.into_parse_error())),
                    }
                }
                Err(
                    e @ HarvestError::Http {
                        status: Some(400), ..
                    },
                ) => e,
                Err(e) => return Err(e),
            };
            if searched_again {
                return Err(failure);
            }
            // Most likely the WebEnv expired: search the slice again and retry at the same offset.
            warn!(source = %self.cfg.name, error = %failure, retstart, "efetch failed; searching the slice again");
            searched_again = true;
            let es = self.esearch(fetcher, range).await?;
            let Some(slice) = self.current.as_mut() else {
                return Err(failure);
            };
            let count = es.count.min(SLICE_LIMIT);
            if count != slice.count {
                warn!(source = %self.cfg.name, before = slice.count, after = es.count, "slice count changed on a new search");
            }
            slice.count = count;
            slice.webenv = es.webenv.unwrap_or_default();
            slice.query_key = es.query_key.unwrap_or_default();
            if slice.retstart >= slice.count {
                // Nothing left at this offset any more: an empty page moves the checkpoint on.
                return Ok(Page {
                    parsed: Parsed::default(),
                    checkpoint: self.checkpoint(),
                    url: shown,
                    total: self.total,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(inner: &str) -> Vec<u8> {
        format!("<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>7</PMID>{inner}</MedlineCitation></PubmedArticle></PubmedArticleSet>").into_bytes()
    }

    fn one(inner: &str) -> Record {
        let p = parse_efetch(&article(inner), "pm").unwrap();
        assert_eq!(p.records.len(), 1, "{p:?}");
        p.records.into_iter().next().unwrap()
    }

    fn date_of(journal_issue_date: &str, article_date: &str) -> Option<String> {
        let r = one(&format!(
            "<Article><Journal><JournalIssue><PubDate>{journal_issue_date}</PubDate></JournalIssue></Journal>\
             <ArticleTitle>T</ArticleTitle>{article_date}</Article>"
        ));
        r.published.map(|d| d.to_string())
    }

    #[test]
    fn dates() {
        let e = |y, m, d| {
            format!("<ArticleDate DateType=\"Electronic\"><Year>{y}</Year><Month>{m}</Month><Day>{d}</Day></ArticleDate>")
        };
        assert_eq!(
            date_of("<Year>2019</Year><Month>May</Month>", "").as_deref(),
            Some("2019-05")
        );
        assert_eq!(
            date_of("<Year>2019</Year><Month>May</Month>", &e(2019, "05", 3)).as_deref(),
            Some("2019-05-03")
        );
        assert_eq!(
            date_of("<Year>2020</Year><Month>Jan</Month>", &e(2019, "11", 5)).as_deref(),
            Some("2019-11-05")
        );
        assert_eq!(
            date_of("<Year>2019</Year><Month>1</Month>", &e(2019, "03", 5)).as_deref(),
            Some("2019-01")
        );
        assert_eq!(
            date_of("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", "").as_deref(),
            Some("1998-12")
        );
        assert_eq!(
            date_of("<Year>2000</Year><Season>Spring</Season>", "").as_deref(),
            Some("2000")
        );
        assert_eq!(
            date_of("<Year>2021</Year><Month>Feb</Month><Day>30</Day>", "").as_deref(),
            Some("2021-02")
        );
        assert_eq!(date_of("", "").as_deref(), None);
    }

    #[test]
    fn title_markup_and_entities() {
        let r = one("<Article><ArticleTitle>A &quot;<i>Blood Relationship&quot;</i> of CO<sub>2</sub>\n  and m<sup>2</sup></ArticleTitle></Article>");
        assert_eq!(r.title, "A \"Blood Relationship\" of CO2 and m2");
    }

    #[test]
    fn mesh_major_from_descriptor_or_qualifier() {
        let r = one(
            "<Article><ArticleTitle>T</ArticleTitle></Article><MeshHeadingList>\
             <MeshHeading><DescriptorName MajorTopicYN=\"Y\">Asthma</DescriptorName></MeshHeading>\
             <MeshHeading><DescriptorName MajorTopicYN=\"N\">Humans</DescriptorName></MeshHeading>\
             <MeshHeading><DescriptorName MajorTopicYN=\"N\">Embolism, Air</DescriptorName>\
             <QualifierName MajorTopicYN=\"N\">therapy</QualifierName><QualifierName MajorTopicYN=\"Y\">etiology</QualifierName></MeshHeading>\
             </MeshHeadingList>",
        );
        assert_eq!(r.mesh_terms, ["Asthma", "Humans", "Embolism, Air"]);
        assert_eq!(r.mesh_major, ["Asthma", "Embolism, Air"]);
        assert!(r.keywords.is_empty());
    }

    #[test]
    fn authors() {
        let r = one(
            "<Article><ArticleTitle>T</ArticleTitle><AuthorList>\
             <Author ValidYN=\"Y\"><LastName>Wang</LastName><ForeName>Ming-Yi</ForeName><Initials>MY</Initials></Author>\
             <Author><LastName>Li</LastName><ForeName>Ke Jun</ForeName></Author>\
             <Author ValidYN=\"N\"><LastName>Wrong</LastName><Initials>X</Initials></Author>\
             <Author><CollectiveName>METRIC Study Group</CollectiveName></Author>\
             </AuthorList></Article>\
             <InvestigatorList><Investigator><LastName>Inv</LastName></Investigator></InvestigatorList>",
        );
        assert_eq!(r.authors, ["Wang MY", "Li KJ", "METRIC Study Group"]);
    }

    #[test]
    fn rejects_and_errors() {
        let p = parse_efetch(b"<PubmedArticleSet><PubmedArticle><MedlineCitation><Article><ArticleTitle>No id</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>", "pm").unwrap();
        assert_eq!(p.rejected.len(), 1);
        assert!(
            p.rejected[0].reason.contains("missing pmid"),
            "{:?}",
            p.rejected
        );
        let p = parse_efetch(
            &article("<Article><ArticleTitle> </ArticleTitle></Article>"),
            "pm",
        )
        .unwrap();
        assert_eq!(
            p.rejected,
            [Rejected {
                source_id: Some("7".into()),
                reason: "missing title".into()
            }]
        );
        assert!(
            matches!(parse_efetch(b"", "pm"), Err(ParseError::Unexpected(m)) if m == "empty response")
        );
        assert!(
            matches!(parse_efetch(b"{\"error\":\"API rate limit exceeded\"}", "pm"), Err(ParseError::Unexpected(m)) if m.contains("rate limit"))
        );
        let err = parse_efetch(
            b"<eFetchResult><ERROR>Cannot retrieve history data</ERROR></eFetchResult>",
            "pm",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("Cannot retrieve history data"),
            "{err}"
        );
        assert!(matches!(
            parse_efetch(b"<PubmedArticleSet><PubmedArticle>", "pm"),
            Err(ParseError::Xml { .. })
        ));
    }

    #[test]
    fn day_ranges_partition() {
        let d = |s| parse_day(s).unwrap();
        let r = DayRange {
            min: d("2020-01-01"),
            max: d("2020-01-04"),
        };
        let (a, b) = r.split().unwrap();
        assert_eq!(
            (format_day(a.min), format_day(a.max)),
            ("2020/01/01".into(), "2020/01/02".into())
        );
        assert_eq!(
            (format_day(b.min), format_day(b.max)),
            ("2020/01/03".into(), "2020/01/04".into())
        );
        let (a, b) = DayRange {
            min: d("2019-12-31"),
            max: d("2020-01-01"),
        }
        .split()
        .unwrap();
        assert_eq!(a.min, a.max);
        assert_eq!(b.min, b.max);
        assert_eq!(b.min, d("2020-01-01"));
        assert!(DayRange {
            min: d("2020-01-01"),
            max: d("2020-01-01")
        }
        .split()
        .is_none());
        // Repeated halving of a long span always partitions it.
        let mut ranges = vec![DayRange {
            min: d("1700-01-01"),
            max: d("2025-11-26"),
        }];
        for _ in 0..12 {
            ranges = ranges
                .iter()
                .flat_map(|r| match r.split() {
                    Some((a, b)) => vec![a, b],
                    None => vec![*r],
                })
                .collect();
        }
        for w in ranges.windows(2) {
            assert_eq!(w[0].max.next_day(), Some(w[1].min));
            assert!(w[0].min <= w[0].max);
        }
        assert_eq!(ranges[0].min, d("1700-01-01"));
        assert_eq!(ranges.last().unwrap().max, d("2025-11-26"));
        assert_eq!(parse_day("2021/3/4"), Some(d("2021-03-04")));
        assert_eq!(parse_day("2021"), Some(d("2021-01-01")));
        assert_eq!(parse_day("yesterday"), None);
    }

    #[test]
    fn esearch_fields() {
        let es = parse_esearch(b"<eSearchResult><Count>3</Count><RetMax>2</RetMax><RetStart>0</RetStart><QueryKey>1</QueryKey>\
            <WebEnv>MCID_1</WebEnv><IdList><Id>1</Id><Id>2</Id></IdList><TranslationStack><TermSet><Count>99</Count></TermSet></TranslationStack>\
            <ErrorList><PhraseNotFound>zzz</PhraseNotFound></ErrorList><WarningList><PhraseIgnored>of</PhraseIgnored></WarningList></eSearchResult>").unwrap();
        assert_eq!(es.count, 3);
        assert_eq!(es.ids, ["1", "2"]);
        assert_eq!(es.webenv.as_deref(), Some("MCID_1"));
        assert_eq!(es.query_key.as_deref(), Some("1"));
        assert_eq!(es.errors, ["PhraseNotFound: zzz"]);
        assert_eq!(es.warnings, ["PhraseIgnored: of"]);
    }
}
