//! RSS 2.0 and Atom 1.0 feeds (guideline publishers announce new and updated guidance this way):
//! the pure [`parse_feed`], the [`FeedHarvester`], and the HTML-to-text helpers every connector
//! shares ([`html_to_text`], [`decode_entities`]).
//!
//! # Parsing
//! Each RSS `<item>` (RSS 1.0 items too) or Atom `<entry>` becomes a record:
//! - source id from the RSS `guid` (else `link`) or the Atom `id`: kept as it is when it is a short
//!   token (`NG123`, `a1b2-c3`), else a stable 64-bit FNV-1a hash in hex ([`item_id`]), since guids
//!   are usually long URLs;
//! - title, plain text; abstract from `description`/`summary`, else `content:encoded`/`content`,
//!   with HTML flattened to text;
//! - url from `link` (Atom: the `alternate` link);
//! - published from `pubDate` (RFC 2822), `dc:date`, or Atom `published`, else `updated`
//!   (RFC 3339), as the publisher's calendar day;
//! - keywords from `category` (Atom `term`); authors from the RSS `author` (the name in
//!   `email (Name)`), `dc:creator`, or Atom `author/name`;
//! - publisher from `dc:publisher` (item, then channel) or the Atom feed's own author; language
//!   from the channel `language` or the feed's `xml:lang`.
//!
//! An item without an id or a title is a [`Rejected`]. A document that is neither RSS nor Atom (an
//! HTML page included) is [`ParseError::Unexpected`]; malformed XML is [`ParseError::Xml`].
//!
//! # Harvesting
//! See [`FeedHarvester`].

use std::collections::HashSet;

use model::{PartialDate, Record};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::connector::{
    config_error, config_from, display_url, parse_date, parse_off_thread, today,
};
use crate::fetch::Fetcher;
use crate::oai_pmh::xml::{self, Element};
use crate::{HarvestError, Page, ParseError, Parsed, Rejected, SourceConfig};

// ---------------------------------------------------------------------------------------------
// Text helpers shared by the connectors
// ---------------------------------------------------------------------------------------------

/// Decodes character references: the XML five, numeric references, and the common HTML named
/// entities (`&nbsp;`, `&ndash;`, `&eacute;`, …). Unknown or malformed references stay as written.
///
/// ```
/// assert_eq!(harvest::feed::decode_entities("p &lt; 0.05 &amp; &#946;&#x3b1; &eacute; &bogus;"), "p < 0.05 & βα é &bogus;");
/// ```
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // `;` is ASCII: the byte position found is a character boundary.
        let window = &rest.as_bytes()[1..rest.len().min(34)];
        let decoded = window
            .iter()
            .position(|b| *b == b';')
            .and_then(|end| entity(&rest[1..end + 1]).map(|c| (c, end)));
        match decoded {
            Some((text, end)) => {
                out.push_str(&text);
                rest = &rest[end + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        return char::from_u32(code)
            .filter(|c| *c != '\0')
            .map(String::from);
    }
    let c = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" | "ensp" | "emsp" | "thinsp" => " ",
        "shy" | "zwnj" | "zwj" | "lrm" | "rlm" => "",
        "ndash" => "–",
        "mdash" => "—",
        "minus" => "−",
        "hellip" => "…",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "micro" => "µ",
        "middot" => "·",
        "bull" => "•",
        "para" => "¶",
        "sect" => "§",
        "euro" => "€",
        "pound" => "£",
        "cent" => "¢",
        "yen" => "¥",
        "le" => "≤",
        "ge" => "≥",
        "ne" => "≠",
        "asymp" => "≈",
        "infin" => "∞",
        "prime" => "′",
        "Prime" => "″",
        "sup2" => "²",
        "sup3" => "³",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "rarr" => "→",
        "larr" => "←",
        "harr" => "↔",
        "uarr" => "↑",
        "darr" => "↓",
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "delta" => "δ",
        "epsilon" => "ε",
        "kappa" => "κ",
        "lambda" => "λ",
        "mu" => "μ",
        "pi" => "π",
        "sigma" => "σ",
        "tau" => "τ",
        "chi" => "χ",
        "omega" => "ω",
        "Delta" => "Δ",
        "Sigma" => "Σ",
        "Omega" => "Ω",
        "aacute" => "á",
        "agrave" => "à",
        "acirc" => "â",
        "auml" => "ä",
        "aring" => "å",
        "atilde" => "ã",
        "aelig" => "æ",
        "ccedil" => "ç",
        "eacute" => "é",
        "egrave" => "è",
        "ecirc" => "ê",
        "euml" => "ë",
        "iacute" => "í",
        "igrave" => "ì",
        "icirc" => "î",
        "iuml" => "ï",
        "ntilde" => "ñ",
        "oacute" => "ó",
        "ograve" => "ò",
        "ocirc" => "ô",
        "ouml" => "ö",
        "otilde" => "õ",
        "oslash" => "ø",
        "uacute" => "ú",
        "ugrave" => "ù",
        "ucirc" => "û",
        "uuml" => "ü",
        "yacute" => "ý",
        "szlig" => "ß",
        "Aacute" => "Á",
        "Eacute" => "É",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "Aring" => "Å",
        "Oslash" => "Ø",
        _ => return None,
    };
    Some(c.to_string())
}

/// Tags recognised as markup; anything else after `<` is text (`p <0.05`, `a<b and c>d`).
const KNOWN_TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "article",
    "aside",
    "audio",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "body",
    "bold",
    "br",
    "button",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "disp-formula",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "ext-link",
    "figcaption",
    "figure",
    "font",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "i",
    "iframe",
    "img",
    "inline-formula",
    "input",
    "ins",
    "italic",
    "kbd",
    "label",
    "li",
    "link",
    "list",
    "list-item",
    "main",
    "mark",
    "math",
    "meta",
    "mfrac",
    "mi",
    "mn",
    "mo",
    "mrow",
    "msqrt",
    "msub",
    "msubsup",
    "msup",
    "mtext",
    "named-content",
    "nav",
    "noscript",
    "object",
    "ol",
    "option",
    "p",
    "picture",
    "pre",
    "q",
    "s",
    "samp",
    "sc",
    "script",
    "sec",
    "section",
    "select",
    "small",
    "source",
    "span",
    "strike",
    "strong",
    "style",
    "sub",
    "summary",
    "sup",
    "svg",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "title",
    "tr",
    "tt",
    "u",
    "ul",
    "underline",
    "var",
    "video",
    "wbr",
    "xref",
];

/// Tags after which words must not run together.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "br",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "li",
    "list",
    "list-item",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "sec",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "ul",
];

struct Tag {
    end: usize,
    name: String,
    closing: bool,
}

/// Reads the tag starting at `s[i] == '<'`, if it is one.
fn read_tag(s: &str, i: usize) -> Option<Tag> {
    let rest = &s[i..];
    if rest.starts_with("<!--") {
        let end = rest.find("-->").map_or(s.len(), |e| i + e + 3);
        return Some(Tag {
            end,
            name: "!--".to_string(),
            closing: false,
        });
    }
    let bytes = rest.as_bytes();
    let mut j = 1;
    let closing = bytes.get(1) == Some(&b'/');
    if closing {
        j += 1;
    }
    let name_start = j;
    while j < bytes.len()
        && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b':' || bytes[j] == b'-')
    {
        j += 1;
    }
    let name = rest[name_start..j].to_ascii_lowercase();
    if !name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    if !(name.contains(':') || KNOWN_TAGS.contains(&name.as_str())) {
        return None;
    }
    match bytes.get(j) {
        Some(b'>' | b'/') => {}
        Some(c) if c.is_ascii_whitespace() => {}
        _ => return None,
    }
    // Byte search: `>` and `<` are ASCII, so the positions found are character boundaries.
    let window = &bytes[j..bytes.len().min(j + 2000)];
    let close = window.iter().position(|b| *b == b'>')?;
    if window[..close].contains(&b'<') {
        return None;
    }
    Some(Tag {
        end: i + j + close + 1,
        name,
        closing,
    })
}

/// Removes tags, keeping words apart across block elements and turning a heading into a label
/// (`<h4>Methods</h4>We…` → `Methods: We…`). Script and style content is dropped.
fn strip_tags(s: &str) -> String {
    if !s.contains('<') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s.as_bytes()[i] == b'<' {
            if let Some(tag) = read_tag(s, i) {
                i = tag.end;
                let name = tag.name.as_str();
                if !tag.closing && matches!(name, "script" | "style" | "noscript") {
                    let lower = s[i..].to_ascii_lowercase();
                    i = lower.find(&format!("</{name}")).map_or(s.len(), |e| {
                        let after = i + e;
                        s[after..].find('>').map_or(s.len(), |g| after + g + 1)
                    });
                    continue;
                }
                let heading = matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6");
                if tag.closing && heading {
                    let last = out.trim_end().chars().last();
                    if last.is_some_and(|c| !matches!(c, ':' | '.' | '?' | '!')) {
                        out.truncate(out.trim_end().len());
                        out.push(':');
                    }
                    out.push(' ');
                } else if BLOCK_TAGS.contains(&name) {
                    out.push(' ');
                }
                continue;
            }
        }
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Flattens HTML (or text holding escaped HTML, as some repositories double-escape it) to plain
/// text with whitespace collapsed.
///
/// ```
/// use harvest::feed::html_to_text;
/// assert_eq!(html_to_text("<h4>Objective</h4>To test CO<sub>2</sub>.<h4>Results</h4>p < .05"), "Objective: To test CO2. Results: p < .05");
/// assert_eq!(html_to_text("&lt;p&gt;Detect &amp;amp; flatten&lt;/p&gt;"), "Detect & flatten");
/// ```
pub fn html_to_text(s: &str) -> String {
    let mut text = decode_entities(&strip_tags(s));
    let again = strip_tags(&text);
    if again != text {
        // The markup was escaped: what decoding revealed is markup too.
        text = decode_entities(&again);
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// The syndication format of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// RSS 2.0 (and 0.9x).
    Rss,
    /// RSS 1.0 (RDF).
    Rdf,
    /// Atom 1.0.
    Atom,
}

/// One parsed feed document.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// The items as records, and rejects.
    pub parsed: Parsed,
    /// Which format it was.
    pub format: FeedFormat,
    /// The feed's own title.
    pub title: Option<String>,
    /// The `rel="next"` link of a paged feed (RFC 5005), as written (possibly relative).
    pub next: Option<String>,
    /// The latest item date.
    pub newest: Option<PartialDate>,
}

/// A stable source id for a feed item: a short token (up to 64 of `A-Z a-z 0-9 . _ -`) as it is,
/// anything else (a URL, a `tag:` URI) as the 16 hex digits of its 64-bit FNV-1a hash.
///
/// ```
/// use harvest::feed::item_id;
/// assert_eq!(item_id("NG123"), "NG123");
/// assert_eq!(item_id("https://example.org/guidance/ng123"), item_id(" https://example.org/guidance/ng123 "));
/// assert_eq!(item_id("https://example.org/guidance/ng123").len(), 16);
/// ```
pub fn item_id(raw: &str) -> String {
    let t = raw.trim();
    if !t.is_empty()
        && t.len() <= 64
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return t.to_string();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in t.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Reads a feed date: RFC 2822 (`Mon, 05 Feb 2024 10:00:00 GMT`, with the loose variants feeds
/// use), RFC 3339 or another ISO form. The date is the one written, in the writer's time zone.
///
/// ```
/// use harvest::feed::parse_feed_date;
/// let d = |s| parse_feed_date(s).map(|d| d.to_string());
/// assert_eq!(d("Tue, 06 Feb 2024 09:30:00 +0000").as_deref(), Some("2024-02-06"));
/// assert_eq!(d("6 Feb 2024").as_deref(), Some("2024-02-06"));
/// assert_eq!(d("2024-02-06T23:30:00-05:00").as_deref(), Some("2024-02-06"));
/// assert_eq!(d("soon"), None);
/// ```
pub fn parse_feed_date(s: &str) -> Option<PartialDate> {
    let t = s.trim();
    if let Ok(dt) = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc2822) {
        return PartialDate::from_parts(dt.year(), Some(u8::from(dt.month())), Some(dt.day())).ok();
    }
    // Loose RFC 2822: `[Day,] D Mon YYYY [time zone]`, whatever the rest looks like.
    let tokens: Vec<&str> = t
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
        .collect();
    let month_at = tokens.iter().position(|p| {
        p.chars().all(|c| c.is_ascii_alphabetic()) && model::date::parse_month(p).is_some()
    });
    if let Some(m) = month_at {
        let month = model::date::parse_month(tokens[m]);
        let year = tokens
            .get(m + 1)
            .filter(|y| y.len() == 4)
            .and_then(|y| y.parse::<i32>().ok());
        let day = m
            .checked_sub(1)
            .and_then(|d| tokens.get(d))
            .and_then(|d| d.parse::<u8>().ok());
        if let Some(year) = year {
            return PartialDate::from_parts(year, month, day)
                .or_else(|_| PartialDate::from_parts(year, month, None))
                .ok();
        }
    }
    PartialDate::parse_loose(t).ok()
}

/// Parses an RSS 2.0, RSS 1.0 or Atom 1.0 document.
///
/// ```
/// let rss = br#"<rss version="2.0"><channel><title>Guidance</title><language>en-gb</language>
///   <item><title>Asthma: diagnosis</title><guid isPermaLink="false">NG245</guid>
///   <link>https://example.org/ng245</link><pubDate>Tue, 06 Feb 2024 09:30:00 GMT</pubDate>
///   <description>&lt;p&gt;Updated &amp;amp; expanded.&lt;/p&gt;</description></item></channel></rss>"#;
/// let feed = harvest::feed::parse_feed(rss, "guidance").unwrap();
/// let r = &feed.parsed.records[0];
/// assert_eq!(r.id, "guidance:NG245");
/// assert_eq!(r.abstract_text.as_deref(), Some("Updated & expanded."));
/// assert_eq!(r.published.unwrap().to_string(), "2024-02-06");
/// ```
pub fn parse_feed(bytes: &[u8], source: &str) -> Result<FeedPage, ParseError> {
    let root = xml::parse_document(bytes, "an RSS or Atom feed")?;
    match root.name.as_str() {
        "rss" => {
            let channel = root.child("channel").ok_or_else(|| {
                ParseError::Unexpected("an rss document without a channel".to_string())
            })?;
            Ok(parse_rss(
                channel,
                channel.children("item").collect(),
                FeedFormat::Rss,
                source,
            ))
        }
        "RDF" => {
            let channel = root.child("channel").ok_or_else(|| {
                ParseError::Unexpected("an rdf document without a channel".to_string())
            })?;
            Ok(parse_rss(
                channel,
                root.children("item").collect(),
                FeedFormat::Rdf,
                source,
            ))
        }
        "feed" => Ok(parse_atom(&root, source)),
        other => Err(ParseError::Unexpected(format!(
            "expected <rss> or <feed>, found <{other}>"
        ))),
    }
}

fn next_link(el: &Element) -> Option<String> {
    el.children("link")
        .find(|l| {
            l.attr("rel")
                .is_some_and(|r| r.trim().eq_ignore_ascii_case("next"))
        })
        .and_then(|l| l.attr("href"))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn dc_text(el: &Element, name: &str) -> Option<String> {
    el.children(name)
        .filter(|e| e.prefix.as_deref() == Some("dc"))
        .map(|e| e.text_trimmed())
        .find(|t| !t.is_empty())
}

/// `editor@example.org (Jane Smith)` → `Jane Smith`; a bare e-mail address gives nothing.
fn rss_author(raw: &str) -> Option<String> {
    let t = raw.trim();
    if let (Some(open), Some(close)) = (t.find('('), t.rfind(')')) {
        if open < close {
            let name = t[open + 1..close].trim();
            return (!name.is_empty()).then(|| name.to_string());
        }
    }
    (!t.is_empty() && (!t.contains('@') || t.contains(' '))).then(|| t.to_string())
}

fn finish(mut record: Record, rejected: &mut Vec<Rejected>, records: &mut Vec<Record>, sid: &str) {
    if record.title.trim().is_empty() {
        rejected.push(Rejected {
            source_id: Some(sid.to_string()),
            reason: "missing title".to_string(),
        });
        return;
    }
    let mut seen = HashSet::new();
    record.keywords.retain(|k| seen.insert(k.to_lowercase()));
    record.normalise();
    records.push(record);
}

fn parse_rss(
    channel: &Element,
    items: Vec<&Element>,
    format: FeedFormat,
    source: &str,
) -> FeedPage {
    let mut parsed = Parsed::default();
    let language = channel
        .child_text("language")
        .or_else(|| dc_text(channel, "language"));
    let channel_publisher = dc_text(channel, "publisher");
    let mut newest: Option<PartialDate> = None;
    for item in items {
        let guid = item.child_text("guid");
        let link = item
            .children("link")
            .find(|l| l.prefix.is_none())
            .map(|l| l.text_trimmed())
            .filter(|l| !l.is_empty())
            .or_else(|| {
                item.children("link")
                    .find_map(|l| l.attr("href").map(|h| h.trim().to_string()))
            });
        let about = item
            .attr("about")
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        let Some(raw_id) = guid.or_else(|| link.clone()).or(about) else {
            parsed.rejected.push(Rejected {
                source_id: None,
                reason: "missing guid and link".to_string(),
            });
            continue;
        };
        let sid = item_id(&raw_id);
        let title = item
            .child_text("title")
            .map(|t| html_to_text(&t))
            .unwrap_or_default();
        let mut r = Record::new(source, &sid, &title);
        r.abstract_text = item
            .child_text("description")
            .or_else(|| item.child_text("encoded"))
            .map(|d| html_to_text(&d))
            .filter(|d| !d.is_empty());
        r.url = link;
        r.published = item
            .child_text("pubDate")
            .and_then(|d| parse_feed_date(&d))
            .or_else(|| dc_text(item, "date").and_then(|d| parse_feed_date(&d)));
        for c in item.children("category") {
            let t = html_to_text(&c.text());
            if !t.is_empty() {
                r.keywords.push(t);
            }
        }
        for s in item
            .children("subject")
            .filter(|e| e.prefix.as_deref() == Some("dc"))
        {
            let t = html_to_text(&s.text());
            if !t.is_empty() {
                r.keywords.push(t);
            }
        }
        for a in item.children("author") {
            if let Some(name) = rss_author(&a.text()) {
                r.authors.push(name);
            }
        }
        for c in item
            .children("creator")
            .filter(|e| e.prefix.as_deref() == Some("dc"))
        {
            let t = c.text_trimmed();
            if !t.is_empty() {
                r.authors.push(t);
            }
        }
        if let Some(t) = dc_text(item, "type") {
            r.publication_types.push(t);
        }
        r.publisher = dc_text(item, "publisher").or_else(|| channel_publisher.clone());
        r.language = dc_text(item, "language").or_else(|| language.clone());
        r.licence = dc_text(item, "rights");
        if r.published > newest {
            newest = r.published;
        }
        finish(r, &mut parsed.rejected, &mut parsed.records, &sid);
    }
    FeedPage {
        parsed,
        format,
        title: channel.child_text("title").map(|t| html_to_text(&t)),
        next: next_link(channel),
        newest,
    }
}

fn atom_text(el: Option<&Element>) -> Option<String> {
    // `type="html"` holds escaped HTML, `xhtml` nested elements; both flatten the same way.
    el.map(|e| html_to_text(&e.text()))
        .filter(|t| !t.is_empty())
}

fn atom_authors(el: &Element) -> Vec<String> {
    el.children("author")
        .filter_map(|a| a.child_text("name"))
        .collect()
}

fn parse_atom(feed: &Element, source: &str) -> FeedPage {
    let mut parsed = Parsed::default();
    let language = feed.attr("lang").map(str::to_string);
    let feed_publisher = atom_authors(feed).into_iter().next();
    let mut newest: Option<PartialDate> = None;
    for entry in feed.children("entry") {
        let Some(raw_id) = entry.child_text("id").or_else(|| {
            entry
                .child("link")
                .and_then(|l| l.attr("href"))
                .map(str::to_string)
        }) else {
            parsed.rejected.push(Rejected {
                source_id: None,
                reason: "missing id".to_string(),
            });
            continue;
        };
        let sid = item_id(&raw_id);
        let title = atom_text(entry.child("title")).unwrap_or_default();
        let mut r = Record::new(source, &sid, &title);
        r.abstract_text =
            atom_text(entry.child("summary")).or_else(|| atom_text(entry.child("content")));
        r.url = entry
            .children("link")
            .find(|l| l.attr("rel").is_none_or(|rel| rel.trim() == "alternate"))
            .and_then(|l| l.attr("href"))
            .map(|h| h.trim().to_string());
        r.published = entry
            .child_text("published")
            .and_then(|d| parse_feed_date(&d))
            .or_else(|| {
                entry
                    .child_text("updated")
                    .and_then(|d| parse_feed_date(&d))
            });
        for c in entry.children("category") {
            if let Some(t) = c
                .attr("term")
                .or(c.attr("label"))
                .map(html_to_text)
                .filter(|t| !t.is_empty())
            {
                r.keywords.push(t);
            }
        }
        r.authors = atom_authors(entry);
        r.publisher = dc_text(entry, "publisher").or_else(|| feed_publisher.clone());
        r.language = entry
            .attr("lang")
            .map(str::to_string)
            .or_else(|| language.clone());
        r.licence = entry.child_text("rights");
        if r.published > newest {
            newest = r.published;
        }
        finish(r, &mut parsed.rejected, &mut parsed.records, &sid);
    }
    FeedPage {
        parsed,
        format: FeedFormat::Atom,
        title: atom_text(feed.child("title")),
        next: next_link(feed),
        newest,
    }
}

// ---------------------------------------------------------------------------------------------
// Harvesting
// ---------------------------------------------------------------------------------------------

/// The most pages one harvest follows through `rel="next"` links.
const MAX_PAGES: u32 = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    completed: bool,
    /// Complete: the day of the harvest; the next run follows `next` links only while pages hold
    /// items from that day on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// In progress: the next page to fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pages: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Harvests an RSS or Atom feed: one page per fetch of `base_url`.
///
/// A paged feed (RFC 5005: `<link rel="next">`, also as `atom:link` in RSS) is followed page by page,
/// at most 100 pages, never the same URL twice; an incremental run stops following once a page holds
/// nothing published since the previous harvest. The checkpoint after a page with a `next` link
/// holds that link; after the last page it is `{"completed": true, "from": "<day>"}`.
///
/// Every record takes the source's `evidence_level` (a guideline feed says what it publishes, whatever
/// a title suggests) and `audience`; relative links are resolved against the feed URL.
#[derive(Debug)]
pub struct FeedHarvester {
    cfg: SourceConfig,
    next: Option<String>,
    since: Option<String>,
    started: String,
    pages: u32,
    seen: HashSet<String>,
}

impl FeedHarvester {
    /// Prepares a harvest, resuming from `checkpoint` unless `full` is set.
    pub fn new(
        cfg: &SourceConfig,
        checkpoint: Option<&serde_json::Value>,
        full: bool,
    ) -> Result<Self, HarvestError> {
        let url = cfg.endpoint("");
        reqwest::Url::parse(&url)
            .map_err(|e| config_error(cfg, format!("invalid feed url {url:?}: {e}")))?;
        let mut h = FeedHarvester {
            cfg: cfg.clone(),
            next: Some(url),
            since: config_from(cfg)?,
            started: today(),
            pages: 0,
            seen: HashSet::new(),
        };
        let checkpoint = if full {
            None
        } else {
            checkpoint.filter(|c| !c.is_null())
        };
        let Some(c) = checkpoint else { return Ok(h) };
        let cp: Checkpoint = serde_json::from_value(c.clone())
            .map_err(|e| config_error(cfg, format!("unrecognised checkpoint {c}: {e}")))?;
        if cp.completed {
            h.since = cp.from.or(h.since);
        } else if let Some(next) = cp.next {
            h.next = Some(next);
            h.since = cp.since;
            h.pages = cp.pages;
            if let Some(s) = cp.started {
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
            Some(next) if self.pages > 0 => Checkpoint {
                next: Some(next.clone()),
                started: Some(self.started.clone()),
                since: self.since.clone(),
                pages: self.pages,
                ..Checkpoint::default()
            },
            // Nothing fetched yet: as if the previous harvest had ended at `since`.
            Some(_) => Checkpoint {
                completed: true,
                from: self.since.clone(),
                ..Checkpoint::default()
            },
            None => Checkpoint {
                completed: true,
                from: Some(self.started.clone()),
                ..Checkpoint::default()
            },
        };
        serde_json::to_value(cp).unwrap_or(serde_json::Value::Null)
    }

    /// Fetches the next page of the feed, or `None` when done.
    pub async fn next_page(&mut self, fetcher: &Fetcher) -> Result<Option<Page>, HarvestError> {
        let Some(url) = self.next.clone() else {
            return Ok(None);
        };
        self.seen.insert(url.clone());
        let shown = display_url(&url, &[]);
        let body = fetcher.get(&url, &[]).await?;
        let source = self.cfg.name.clone();
        let mut feed = parse_off_thread(&self.cfg.name, &shown, body, move |b| {
            parse_feed(b, &source)
        })
        .await?;
        let base = reqwest::Url::parse(&url).ok();
        let resolve = |link: &str| match &base {
            Some(b) if !link.starts_with("http://") && !link.starts_with("https://") => b
                .join(link)
                .map(|u| u.to_string())
                .unwrap_or_else(|_| link.to_string()),
            _ => link.to_string(),
        };
        for r in &mut feed.parsed.records {
            if let Some(level) = self.cfg.evidence_level {
                r.evidence_level = Some(level);
            }
            self.cfg.apply_defaults(r);
            if let Some(u) = r.url.take() {
                r.url = Some(resolve(&u));
            }
        }
        self.pages += 1;
        let since = self.since.as_deref().and_then(parse_date);
        let fresh = match (since, feed.newest) {
            (Some(s), Some(newest)) => {
                PartialDate::from_parts(s.year(), Some(u8::from(s.month())), Some(s.day()))
                    .is_ok_and(|s| newest >= s)
            }
            _ => true,
        };
        self.next = match feed.next.as_deref().map(resolve) {
            Some(n) if self.seen.contains(&n) => {
                warn!(source = %self.cfg.name, next = %n, "feed pages link back to a page already fetched");
                None
            }
            Some(_) if self.pages >= MAX_PAGES => {
                warn!(source = %self.cfg.name, pages = self.pages, "feed paging stopped at the page limit");
                None
            }
            Some(n) if fresh && !feed.parsed.records.is_empty() => Some(n),
            _ => None,
        };
        Ok(Some(Page {
            parsed: feed.parsed,
            checkpoint: self.checkpoint(),
            url: shown,
            total: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        assert_eq!(html_to_text(input), expect, "{input:?}");
    }

    #[test]
    fn html_to_text_cases() {
        check("plain  text\n here", "plain text here");
        check("<p>One</p><p>Two</p>", "One Two");
        check("a<br/>b<br>c", "a b c");
        check(
            "<h4>Objective</h4>This study<h4>Design:</h4>Cohort",
            "Objective: This study Design: Cohort",
        );
        check(
            "p <\u{2009}.001) and <1 year and x<y and z>w",
            "p < .001) and <1 year and x<y and z>w",
        );
        check("<i>BRCA</i>-negative", "BRCA-negative");
        check("CO<sub>2</sub> and x<sup>2</sup>", "CO2 and x2");
        check("<script>alert(1)</script>Safe<style>p{}</style>", "Safe");
        check("<!-- note -->Kept", "Kept");
        check(
            "<a href=\"https://example.org/x?a=1&amp;b=2\">link</a> text",
            "link text",
        );
        check(
            "&lt;p&gt;Escaped&lt;/p&gt; &amp;amp; more",
            "Escaped & more",
        );
        check("5 &lt; 6 &amp; 7 &gt; 3", "5 < 6 & 7 > 3");
        check("<mml:math><mml:mi>x</mml:mi></mml:math> = 1", "x = 1");
        check("unclosed <b tag", "unclosed <b tag");
        check("", "");
        let long = format!(
            "<p>{}–x</p> a &amp;{}é&eacute;",
            "y".repeat(1995),
            "z".repeat(29)
        );
        assert!(html_to_text(&long).ends_with("–x a &zzzzzzzzzzzzzzzzzzzzzzzzzzzzzéé"));
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("&#0; &#xZZ; &#1114112; &"),
            "&#0; &#xZZ; &#1114112; &"
        );
        assert_eq!(decode_entities("caf&eacute; &ndash; &#8212;"), "café – —");
        assert_eq!(decode_entities("&amp;lt;"), "&lt;");
    }

    #[test]
    fn ids_and_dates() {
        assert_eq!(
            item_id("tag:example.org,2024:ng245"),
            item_id("tag:example.org,2024:ng245")
        );
        assert_ne!(
            item_id("https://example.org/a"),
            item_id("https://example.org/b")
        );
        assert_eq!(item_id("a".repeat(65).as_str()).len(), 16);
        let d = |s| parse_feed_date(s).map(|d| d.to_string());
        assert_eq!(
            d("Mon, 5 Feb 2024 10:00:00 GMT").as_deref(),
            Some("2024-02-05")
        );
        assert_eq!(
            d("Mon, 05 Feb 2024 23:30:00 -0500").as_deref(),
            Some("2024-02-05")
        );
        assert_eq!(
            d("Monday, 05 February 2024 10:00 BST").as_deref(),
            Some("2024-02-05")
        );
        assert_eq!(d("Feb 2024").as_deref(), Some("2024-02"));
        assert_eq!(d("2024-02-05").as_deref(), Some("2024-02-05"));
        assert_eq!(d("31 Feb 2024").as_deref(), Some("2024-02"));
        assert_eq!(
            rss_author("guidance@example.org (Example Institute)").as_deref(),
            Some("Example Institute")
        );
        assert_eq!(rss_author("guidance@example.org"), None);
        assert_eq!(rss_author("Jane Smith").as_deref(), Some("Jane Smith"));
    }
}
