//! Exports (RIS, BibTeX, CSV) and the Atom feed, driven in memory over the starter corpus plus
//! records with hostile titles: quotes, commas, line breaks, braces, spreadsheet formulas, LaTeX
//! commands, characters XML forbids, and non-ASCII text.

#[allow(dead_code)]
#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use model::{PartialDate, Record};
use query_api::AppState;
use quick_xml::events::Event;
use tower::ServiceExt;

use crate::common::{enc, get, starter_app};

const HOSTILE_SOURCE: &str = "hostile";

/// Records written to break naive writers. Every one is from source `hostile`.
fn hostile_records() -> Vec<Record> {
    let titles = [
        "He said \"stop\", then {left} and \\end{document} % 100$ & #1 a_b ^ ~",
        "=cmd|' /C calc'!A0 formula title",
        "+SUM(1,2) plus title",
        "-2+3 minus title",
        "@SUM(A1) at title",
        "Anämie bei Kindern: ß, 日本語, emoji 🩺, naïve café",
        "Control \u{1} char ]]> <script>alert(1)</script> & done",
        "Unbalanced } brace { test",
        "Duplicate key study",
        "Duplicate key study",
    ];
    titles
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut r = Record::new(HOSTILE_SOURCE, &format!("h{i}"), t);
            r.authors = vec![
                "Smith AB".into(),
                "O'Brien \"Jim\"\nNew line, Esq.".into(),
                "=HYPERLINK(\"http://evil.example\")".into(),
            ];
            r.journal = Some("Journal of {Braces}, \"Quotes\"\r\nand Lines".into());
            r.abstract_text = Some(format!(
                "Abstract {i} with, commas and \"quotes\" and <b>tags</b>."
            ));
            r.keywords = vec!["=1+1".into(), "a,b".into(), "line\nbreak".into()];
            r.published = Some(PartialDate::from_parts(2020, Some(2), Some(29)).expect("date"));
            r.identifiers.doi = Some(format!("10.5555/hostile.{i}"));
            r
        })
        .collect()
}

struct HostileApp {
    router: Router,
    _dir: tempfile::TempDir,
}

/// An app over the starter corpus plus the hostile records, with `max_export`.
async fn hostile_app(max_export: usize) -> HostileApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = indexer::Config::default();
    config.server.data = dir.path().to_path_buf();
    config.server.max_export = max_export;
    config.index.memory_mb = 32;
    let state = AppState::new(config.clone()).expect("state");
    let gens = state.generations().clone();
    let mut records = indexer::starter::records().expect("starter");
    records.extend(hostile_records());
    let n = records.len() as u64;
    let report = tokio::task::spawn_blocking(move || {
        indexer::build_generation(
            &gens,
            &config.ranking,
            &indexer::BuildOptions {
                memory_bytes: 32 << 20,
                keep_generations: 2,
                compact: false,
                encoder: None,
            },
            std::iter::once(Ok::<_, std::convert::Infallible>(records)),
            Some(n),
            &indexer::Progress::default(),
        )
    })
    .await
    .expect("join")
    .expect("build");
    state.load_generation(report.generation).expect("load");
    HostileApp {
        router: query_api::app(state),
        _dir: dir,
    }
}

/// GETs a path; returns status, headers and the body as text.
async fn get_text(router: &Router, uri: &str) -> (StatusCode, HeaderMap, String) {
    let resp = router
        .clone()
        .oneshot(
            Request::get(uri)
                .header(header::HOST, "evidence.test")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
    )
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// What a line-based writer must make of a value: whitespace and control runs become one space.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The titles as the index keeps them (whitespace collapsed by normalisation).
fn hostile_titles() -> Vec<String> {
    hostile_records()
        .into_iter()
        .map(|mut r| {
            r.normalise();
            r.title
        })
        .collect()
}

// ---- RIS.

/// Parses RIS into records of (tag, value) pairs, checking every line's shape.
fn parse_ris(text: &str) -> Vec<Vec<(String, String)>> {
    assert!(
        !text.contains('\n') || text.contains("\r\n"),
        "RIS lines end CRLF"
    );
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "stray line break in {line:?}"
        );
        let (tag, value) = line.split_at(6.min(line.len()));
        let tag = tag
            .strip_suffix("  - ")
            .unwrap_or_else(|| panic!("bad RIS line {line:?}"));
        assert!(
            tag.len() == 2
                && tag
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "bad tag in {line:?}"
        );
        if tag == "TY" {
            assert!(cur.is_empty(), "TY inside a record");
        }
        if tag == "ER" {
            assert_eq!(
                cur.first().map(|(t, _)| t.as_str()),
                Some("TY"),
                "record must start with TY"
            );
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push((tag.to_string(), value.to_string()));
        }
    }
    assert!(cur.is_empty(), "unterminated record");
    out
}

fn ris_values<'a>(rec: &'a [(String, String)], tag: &str) -> Vec<&'a str> {
    rec.iter()
        .filter(|(t, _)| t == tag)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[tokio::test]
async fn ris_keeps_hostile_values_on_one_line() {
    let app = hostile_app(1000).await;
    let (s, h, text) = get_text(&app.router, "/api/v1/export?source=hostile&format=ris").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(header_str(&h, "content-type").starts_with("application/x-research-info-systems"));
    let cd = header_str(&h, "content-disposition");
    assert!(
        cd.starts_with("attachment; filename=\"evidence-search-") && cd.ends_with(".ris\""),
        "{cd}"
    );
    let records = parse_ris(&text);
    assert_eq!(records.len(), hostile_records().len());
    assert_eq!(header_str(&h, "x-export-count"), records.len().to_string());
    let mut titles: Vec<String> = records
        .iter()
        .map(|r| ris_values(r, "TI")[0].to_string())
        .collect();
    let mut expect: Vec<String> = hostile_titles().iter().map(|t| one_line(t)).collect();
    titles.sort();
    expect.sort();
    assert_eq!(titles, expect);
    for r in &records {
        assert_eq!(ris_values(r, "TY"), ["JOUR"]);
        assert_eq!(ris_values(r, "AU").len(), 3);
        assert!(
            ris_values(r, "AU").contains(&"O'Brien \"Jim\" New line, Esq."),
            "{r:?}"
        );
        assert_eq!(
            ris_values(r, "JO"),
            ["Journal of {Braces}, \"Quotes\" and Lines"]
        );
        assert_eq!(ris_values(r, "PY"), ["2020"]);
        assert_eq!(ris_values(r, "DA"), ["2020/02/29/"]);
        assert!(ris_values(r, "DO")[0].starts_with("10.5555/hostile."));
        assert!(ris_values(r, "KW").contains(&"line break"));
        assert!(
            !ris_values(r, "N1").iter().any(|n| n.contains("sample")),
            "not a sample: {r:?}"
        );
    }
    assert!(
        text.contains("Anämie bei Kindern: ß, 日本語, emoji 🩺"),
        "non-ASCII survives"
    );
}

#[tokio::test]
async fn ris_marks_every_sample_record() {
    let app = starter_app().await;
    let (s, _, text) = get_text(&app.router, "/api/v1/export?q=asthma&format=ris").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let records = parse_ris(&text);
    assert!(!records.is_empty());
    for r in &records {
        assert!(
            ris_values(r, "N1").contains(&"Invented sample record, not evidence"),
            "{r:?}"
        );
        assert!(
            ["JOUR", "RPRT", "ELEC", "GEN"].contains(&ris_values(r, "TY")[0]),
            "{r:?}"
        );
        assert!(!ris_values(r, "TI")[0].is_empty());
    }
}

// ---- BibTeX.

/// Whether every brace not escaped by a backslash is balanced, never going below zero.
fn braces_balanced(s: &str) -> bool {
    let mut depth = 0i64;
    let mut prev_backslash = false;
    for c in s.chars() {
        match c {
            '{' if !prev_backslash => depth += 1,
            '}' if !prev_backslash => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
    }
    depth == 0
}

#[tokio::test]
async fn bibtex_escapes_and_keys_are_unique() {
    let app = hostile_app(1000).await;
    let (s, h, text) = get_text(&app.router, "/api/v1/export?source=hostile&format=bibtex").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(header_str(&h, "content-type").starts_with("application/x-bibtex"));
    assert!(header_str(&h, "content-disposition").ends_with(".bib\""));
    let entries: Vec<&str> = text.split("\n@").filter(|e| !e.trim().is_empty()).collect();
    assert_eq!(entries.len(), hostile_records().len(), "{text}");
    let mut keys = HashSet::new();
    for e in &entries {
        let e = e.trim_start_matches('@');
        assert!(e.starts_with("article{"), "{e}");
        let key = &e["article{".len()..e.find(',').expect("key")];
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{key}"
        );
        assert!(keys.insert(key.to_string()), "duplicate key {key}");
        assert!(braces_balanced(e), "unbalanced braces in {e}");
        for line in e.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let line = line.trim();
            assert!(
                line == "}" || (line.contains(" = {") && line.ends_with("},")),
                "bad field line {line:?}"
            );
        }
    }
    assert!(
        text.contains("\\\\end") || text.contains("\\textbackslash{}end"),
        "backslash escaped"
    );
    assert!(
        !text.contains(" \\end{document}"),
        "no raw LaTeX command from the data"
    );
    assert!(
        text.contains("then \\{left\\} and"),
        "braces escaped: {text}"
    );
    assert!(text.contains("100\\$ \\& \\#1 a\\_b"), "specials escaped");
    assert!(text.contains("Unbalanced \\} brace \\{ test"));
    assert!(text.contains("author = {Smith, A. B. and "), "{text}");
    assert!(text.contains("Anämie bei Kindern"), "non-ASCII kept");
    assert!(!text.contains('\u{1}'), "control characters dropped");
}

// ---- CSV.

/// An RFC 4180 parser: quoted fields may hold commas, quotes (doubled) and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => panic!("bare quote inside an unquoted cell: {cell:?}"),
            ',' => {
                row.push(std::mem::take(&mut cell));
                at_start = true;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR must start CRLF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
                at_start = true;
            }
            '\n' => panic!("bare LF outside quotes"),
            c => {
                cell.push(c);
                at_start = false;
            }
        }
    }
    assert!(!quoted, "unterminated quote");
    assert!(cell.is_empty() && row.is_empty(), "last row must end CRLF");
    rows
}

#[tokio::test]
async fn csv_quotes_and_defuses_formulas() {
    let app = hostile_app(1000).await;
    let (s, h, text) = get_text(&app.router, "/api/v1/export?source=hostile&format=csv").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(header_str(&h, "content-type").starts_with("text/csv"));
    assert!(header_str(&h, "content-disposition").ends_with(".csv\""));
    let text = text
        .strip_prefix('\u{feff}')
        .expect("UTF-8 byte order mark for spreadsheets");
    let rows = parse_csv(text);
    let header = &rows[0];
    assert_eq!(header[0], "id");
    assert_eq!(header[1], "title");
    assert_eq!(rows.len(), 1 + hostile_records().len());
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    for row in &rows[1..] {
        assert_eq!(row.len(), header.len(), "{row:?}");
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?}"
            );
        }
        assert_eq!(row[col("source")], HOSTILE_SOURCE);
        assert_eq!(
            row[col("authors")],
            "Smith AB; O'Brien \"Jim\"\nNew line, Esq.; =HYPERLINK(\"http://evil.example\")"
        );
        assert_eq!(
            row[col("journal")],
            "Journal of {Braces}, \"Quotes\"\r\nand Lines",
            "line breaks kept inside quotes"
        );
        assert!(!row[col("note")].contains("sample"));
    }
    let mut titles: Vec<String> = rows[1..].iter().map(|r| r[col("title")].clone()).collect();
    let mut expect: Vec<String> = hostile_titles()
        .into_iter()
        .map(|t| {
            if t.starts_with(['=', '+', '-', '@']) {
                format!("'{t}")
            } else {
                t
            }
        })
        .collect();
    titles.sort();
    expect.sort();
    assert_eq!(titles, expect);
}

#[tokio::test]
async fn csv_follows_search_order_and_marks_samples() {
    let app = starter_app().await;
    let (_, search) = get(&app.router, "/api/v1/search?q=asthma&per_page=5").await;
    let ids: Vec<&str> = search["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id"))
        .collect();
    assert!(!ids.is_empty());
    let (s, h, text) = get_text(
        &app.router,
        "/api/v1/export?q=asthma&format=csv&limit=5&page=3&per_page=1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let rows = parse_csv(text.trim_start_matches('\u{feff}'));
    let exported: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        exported, ids,
        "exports start at the first hit, in search order, whatever page says"
    );
    assert_eq!(header_str(&h, "x-total-count"), search["total"].to_string());
    let note = rows[0]
        .iter()
        .position(|c| c == "note")
        .expect("note column");
    for r in &rows[1..] {
        assert!(
            r[note].contains("Invented sample record, not evidence"),
            "{r:?}"
        );
    }
}

// ---- Limits and errors.

#[tokio::test]
async fn limits_and_errors() {
    let app = hostile_app(4).await;
    let count = |h: &HeaderMap| {
        header_str(h, "x-export-count")
            .parse::<usize>()
            .expect("count")
    };
    let (s, h, _) = get_text(&app.router, "/api/v1/export?format=ris").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(count(&h), 4, "max_export is the default limit");
    let (_, h, text) = get_text(&app.router, "/api/v1/export?format=csv&limit=2").await;
    assert_eq!(count(&h), 2);
    assert_eq!(parse_csv(text.trim_start_matches('\u{feff}')).len(), 3);
    for (uri, code, needle) in [
        (
            "/api/v1/export?format=ris&limit=5",
            "invalid_parameter",
            "from 1 to 4",
        ),
        (
            "/api/v1/export?format=ris&limit=0",
            "invalid_parameter",
            "limit",
        ),
        (
            "/api/v1/export?format=ris&limit=lots",
            "invalid_parameter",
            "limit",
        ),
        ("/api/v1/export", "invalid_parameter", "format is required"),
        (
            "/api/v1/export?format=pdf",
            "invalid_parameter",
            "ris, bibtex or csv",
        ),
        (
            "/api/v1/export?format=ris&evidence_level=gold",
            "invalid_parameter",
            "evidence_level",
        ),
        (
            "/api/v1/export?format=ris&year_from=2020&year_to=2010",
            "invalid_parameter",
            "year_from",
        ),
        (
            "/api/v1/feed?year_from=20x0",
            "invalid_parameter",
            "year_from",
        ),
        (
            "/api/v1/feed?audience=robots",
            "invalid_parameter",
            "audience",
        ),
    ] {
        let (s, v) = get(&app.router, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert_eq!(v["error"]["code"], code, "{uri}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("message")
                .contains(needle),
            "{uri}: {v}"
        );
    }
    let long = format!("/api/v1/export?format=csv&q={}", enc(&"a".repeat(2000)));
    let (s, v) = get(&app.router, &long).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "query_too_long");
    let (s, _, text) = get_text(&app.router, "/api/v1/export?format=bibtex&q=zzzqqqnothing").await;
    assert_eq!(s, StatusCode::OK, "an empty export is still a file");
    assert!(text.is_empty());
}

// ---- Atom.

#[derive(Debug, Default)]
struct Entry {
    id: String,
    title: String,
    updated: String,
    published: Option<String>,
    link: Option<String>,
    summary: String,
}

#[derive(Debug, Default)]
struct Feed {
    id: String,
    title: String,
    updated: String,
    self_link: Option<String>,
    has_author: bool,
    entries: Vec<Entry>,
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// Parses an Atom feed with quick-xml, checking RFC 4287's required elements as it goes.
fn parse_atom(xml: &str) -> Feed {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut feed = Feed::default();
    let mut path: Vec<String> = Vec::new();
    let mut entry: Option<Entry> = None;
    let mut text = String::new();
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("XML error at {}: {e}\n{xml}", reader.buffer_position()));
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = String::from_utf8(e.name().as_ref().to_vec()).expect("name");
                let attr = |k: &str| {
                    e.attributes()
                        .map(|a| a.expect("attribute"))
                        .find(|a| a.key.as_ref() == k.as_bytes())
                        .map(|a| a.unescape_value().expect("attribute value").into_owned())
                };
                if path.is_empty() {
                    assert_eq!(name, "feed", "root element");
                    assert_eq!(
                        attr("xmlns").as_deref(),
                        Some("http://www.w3.org/2005/Atom")
                    );
                }
                match (path.last().map(String::as_str), name.as_str()) {
                    (Some("feed"), "entry") => entry = Some(Entry::default()),
                    (Some("feed"), "link") if attr("rel").as_deref() == Some("self") => {
                        feed.self_link = attr("href")
                    }
                    (Some("feed"), "author") => feed.has_author = true,
                    (Some("entry"), "link")
                        if attr("rel").as_deref().unwrap_or("alternate") == "alternate" =>
                    {
                        if let Some(en) = entry.as_mut() {
                            en.link = attr("href");
                        }
                    }
                    _ => {}
                }
                if !empty {
                    path.push(name);
                }
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.unescape().expect("text")),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                let name = path.pop().expect("balanced elements");
                let value = std::mem::take(&mut text);
                match (path.last().map(String::as_str), name.as_str()) {
                    (Some("feed"), "id") => feed.id = value,
                    (Some("feed"), "title") => feed.title = value,
                    (Some("feed"), "updated") => feed.updated = value,
                    (Some("feed"), "entry") => feed.entries.push(entry.take().expect("entry")),
                    (Some("entry"), field) => {
                        let en = entry.as_mut().expect("in an entry");
                        match field {
                            "id" => en.id = value,
                            "title" => en.title = value,
                            "updated" => en.updated = value,
                            "published" => en.published = Some(value),
                            "summary" => en.summary = value,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(path.is_empty(), "unclosed elements {path:?}");
    assert!(
        !feed.id.is_empty() && feed.id.contains(':'),
        "feed id is an absolute IRI: {:?}",
        feed.id
    );
    assert!(!feed.title.is_empty(), "feed title");
    assert!(is_rfc3339(&feed.updated), "feed updated {:?}", feed.updated);
    assert!(feed.self_link.is_some(), "feed link rel=self");
    assert!(feed.has_author, "a feed author covers entries without one");
    let mut ids = HashSet::new();
    for e in &feed.entries {
        assert!(
            e.id.starts_with("urn:") && !e.id.contains(' '),
            "entry id {:?}",
            e.id
        );
        assert!(ids.insert(e.id.clone()), "duplicate entry id {}", e.id);
        assert!(!e.title.is_empty(), "entry title");
        assert!(is_rfc3339(&e.updated), "entry updated {:?}", e.updated);
        assert!(
            e.published.as_deref().is_none_or(is_rfc3339),
            "entry published {:?}",
            e.published
        );
        assert!(
            e.link.as_deref().is_some_and(|l| !l.is_empty()),
            "entry link"
        );
        assert!(!e.summary.is_empty(), "entry summary");
    }
    feed
}

#[tokio::test]
async fn atom_feed_is_valid_newest_first_and_marks_samples() {
    let app = starter_app().await;
    let (s, h, xml) = get_text(&app.router, "/api/v1/feed?q=asthma&page=3&sort=relevance").await;
    assert_eq!(s, StatusCode::OK, "{xml}");
    assert!(header_str(&h, "content-type").starts_with("application/atom+xml"));
    let feed = parse_atom(&xml);
    assert!(xml.contains("xml:base=\"http://evidence.test/\""), "{xml}");
    assert_eq!(feed.self_link.as_deref(), Some("/api/v1/feed?q=asthma"));
    assert!(feed.title.contains("asthma"));
    let (_, search) = get(&app.router, "/api/v1/search?q=asthma&sort=date&per_page=50").await;
    let expect: Vec<String> = search["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            format!(
                "urn:evidence-search:record:{}",
                enc(h["id"].as_str().expect("id"))
            )
        })
        .collect();
    let got: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert!(!got.is_empty());
    assert_eq!(
        got, expect,
        "the feed is the newest matches, whatever sort and page say"
    );
    let published: Vec<&str> = feed
        .entries
        .iter()
        .filter_map(|e| e.published.as_deref())
        .collect();
    assert!(
        published.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {published:?}"
    );
    for e in &feed.entries {
        assert!(
            e.summary
                .starts_with("Invented sample record, not evidence."),
            "{}",
            e.summary
        );
        assert!(e.title.contains("[sample, not evidence]"));
    }
    let (_, _, again) = get_text(&app.router, "/api/v1/feed?sort=date&q=asthma").await;
    assert_eq!(
        parse_atom(&again).id,
        feed.id,
        "feed ids are stable across parameter order"
    );
}

#[tokio::test]
async fn atom_feed_escapes_hostile_text() {
    let app = hostile_app(1000).await;
    let (s, _, xml) = get_text(
        &app.router,
        "/api/v1/feed?source=hostile&q=%3Cfeed%3E%20%26",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{xml}");
    parse_atom(&xml);
    let (s, _, xml) = get_text(&app.router, "/api/v1/feed?source=hostile").await;
    assert_eq!(s, StatusCode::OK, "{xml}");
    assert!(!xml.contains('\u{1}'), "characters XML forbids are dropped");
    let feed = parse_atom(&xml);
    assert_eq!(feed.entries.len(), hostile_records().len());
    let mut titles: Vec<String> = feed.entries.iter().map(|e| e.title.clone()).collect();
    let mut expect: Vec<String> = hostile_titles().iter().map(|t| one_line(t)).collect();
    titles.sort();
    expect.sort();
    assert_eq!(titles, expect, "titles survive escaping");
    for e in &feed.entries {
        assert!(e
            .link
            .as_deref()
            .is_some_and(|l| l.starts_with("https://doi.org/10.5555/hostile.")));
        assert!(
            e.summary
                .contains("with, commas and \"quotes\" and <b>tags</b>"),
            "{}",
            e.summary
        );
        assert_eq!(e.published.as_deref(), Some("2020-02-29T00:00:00Z"));
    }
    let (s, _, xml) = get_text(&app.router, "/api/v1/feed?q=zzzqqqnothing").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        parse_atom(&xml).entries.is_empty(),
        "an empty feed is still valid"
    );
}
