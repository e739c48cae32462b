//! RSS and Atom guideline feeds: the parser on our fixtures (no real guideline feed was available),
//! and the harvester against a fake publisher on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use harvest::connector::Connector;
use harvest::feed::{item_id, parse_feed, FeedFormat, FeedHarvester};
use harvest::{HarvestError, ParseError, Parsed, SourceConfig, SourceKind};
use model::{Audience, EvidenceLevel, Record};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn by_id<'a>(p: &'a Parsed, id: &str) -> &'a Record {
    p.records
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no record {id}"))
}

fn date(r: &Record) -> String {
    r.published.map(|d| d.to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

#[test]
fn rss_guidance_feed() {
    let feed = parse_feed(&fixture("feed/guidance.rss"), "inst").unwrap();
    assert_eq!(feed.format, FeedFormat::Rss);
    assert_eq!(
        feed.title.as_deref(),
        Some("Example Institute for Health and Care Guidance: new and updated guidance")
    );
    assert_eq!(feed.next, None);
    let p = &feed.parsed;
    assert_eq!(p.records.len(), 6);
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(p.rejected[0].source_id.as_deref(), Some("NG999"));
    assert_eq!(p.rejected[0].reason, "missing title");
    assert!(p
        .records
        .iter()
        .all(|r| r.language.as_deref() == Some("en-gb")));
    assert!(p
        .records
        .iter()
        .all(|r| r.publisher.as_deref() == Some("Example Institute for Health and Care Guidance")));
    assert_eq!(
        feed.newest.map(|d| d.to_string()).as_deref(),
        Some("2024-11-27")
    );

    let r = by_id(p, "inst:NG245");
    assert_eq!(
        r.title,
        "Asthma: diagnosis, monitoring and chronic asthma management (NG245)"
    );
    assert_eq!(
        r.url.as_deref(),
        Some("https://guidance.example.org/guidance/ng245")
    );
    assert_eq!(date(r), "2024-11-27");
    assert_eq!(r.keywords, ["Respiratory conditions", "Asthma"]);
    assert_eq!(
        r.authors,
        ["Example Institute for Health and Care Guidance"]
    );
    assert_eq!(r.publication_types, ["Guideline"]);
    assert_eq!(r.evidence_level, Some(EvidenceLevel::Guideline));
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("This guideline covers diagnosing, monitoring and managing asthma in adults, young people and children. It aims to improve the accuracy of diagnosis, help people to control their asthma and reduce the risk of asthma attacks. It replaces NG80 & NG81.")
    );

    // A permalink guid (a long URL) becomes a stable hash.
    let qs = item_id("https://guidance.example.org/guidance/qs86/update-2024-11");
    let r = by_id(p, &format!("inst:{qs}"));
    assert_eq!(r.title, "Falls in older people: quality standard update");
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("What has changed: Statement 3 on multifactorial risk assessment has been updated to reflect the 2024 evidence review. New measures Updated audit criteria")
    );
    assert_eq!(r.keywords, ["Older people", "Falls"]);
    assert_eq!(date(r), "2024-11-04");

    // No guid: the link is the id; the author's name comes out of `email (Name)`.
    let r = by_id(
        p,
        &format!(
            "inst:{}",
            item_id("https://guidance.example.org/guidance/ng124/evidence")
        ),
    );
    assert_eq!(r.authors, ["Example Institute Publications Team"]);
    assert_eq!(date(r), "2024-10-18");

    let r = by_id(p, "inst:NG28-IFP");
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("This information explains the advice about type 2 diabetes that is set out in our guideline.")
    );

    let r = by_id(p, "inst:GID-NG10260");
    assert_eq!(r.title, "Sepsis – recognition in pregnancy (consultation)");
    assert_eq!(date(r), "2024-10-01");
    // Relative as written; the harvester resolves it against the feed URL.
    assert_eq!(r.url.as_deref(), Some("/guidance/gid-ng10260/consultation"));

    let r = by_id(p, "inst:SC1");
    assert_eq!(date(r), "2024-09-20");
    assert_eq!(r.authors, ["Care Homes Guideline Committee"]);
}

#[test]
fn atom_guidance_feed() {
    let feed = parse_feed(&fixture("feed/guidance.atom"), "net").unwrap();
    assert_eq!(feed.format, FeedFormat::Atom);
    assert_eq!(feed.next.as_deref(), Some("guidance-page2.atom"));
    let p = &feed.parsed;
    assert_eq!(p.records.len(), 4);
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(p.rejected[0].reason, "missing title");
    assert!(p
        .records
        .iter()
        .all(|r| r.language.as_deref() == Some("en-GB")));
    assert!(p
        .records
        .iter()
        .all(|r| r.publisher.as_deref() == Some("Example Guidance Network")));

    let id = item_id("tag:guidelines.example.org,2024:guideline/sign-999");
    let r = by_id(p, &format!("net:{id}"));
    assert_eq!(
        r.title,
        "Management of sepsis in adults: a national clinical guideline"
    );
    assert_eq!(
        r.url.as_deref(),
        Some("https://guidelines.example.org/guidelines/sepsis-adults")
    );
    assert_eq!(date(r), "2024-11-15");
    assert_eq!(r.keywords, ["Sepsis", "Emergency care"]);
    assert_eq!(r.authors, ["Sepsis Guideline Development Group"]);
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("Recommendations on recognising and treating sepsis in adults in hospital & the community.")
    );

    let r = by_id(
        p,
        &format!(
            "net:{}",
            item_id("tag:guidelines.example.org,2024:guideline/heart-failure-2024")
        ),
    );
    // Only `updated`, in the writer's time zone.
    assert_eq!(date(r), "2024-10-30");
    assert_eq!(
        r.abstract_text.as_deref(),
        Some("This update adds recommendations on SGLT2 inhibitors. It also revises the section on cardiac rehabilitation.")
    );
    assert!(r.authors.is_empty());

    let r = by_id(
        p,
        &format!(
            "net:{}",
            item_id("urn:uuid:6f2d1c3e-2b1a-4c0f-9e3d-000000000003")
        ),
    );
    assert_eq!(r.title, "Delirium: prevention, diagnosis and management");

    // No id: the link is the id.
    let r = by_id(
        p,
        &format!(
            "net:{}",
            item_id("https://guidelines.example.org/guidelines/pressure-ulcers")
        ),
    );
    assert_eq!(r.title, "Pressure ulcers: prevention and management");
}

#[test]
fn rss_1_0_and_odd_documents() {
    let rdf = br#"<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://example.org/"><title>Bulletin</title><link>https://example.org/</link></channel>
  <item rdf:about="https://example.org/b/1"><title>Bulletin 1</title><link>https://example.org/b/1</link><dc:date>2024-05-02</dc:date></item>
</rdf:RDF>"#;
    let feed = parse_feed(rdf, "b").unwrap();
    assert_eq!(feed.format, FeedFormat::Rdf);
    assert_eq!(feed.parsed.records.len(), 1);
    assert_eq!(date(&feed.parsed.records[0]), "2024-05-02");

    let err = parse_feed(HTML_ERROR_PAGE.as_bytes(), "b").unwrap_err();
    assert!(
        matches!(err, ParseError::Unexpected(ref m) if m.contains("html page")),
        "{err:?}"
    );
    let err = parse_feed(b"<OAI-PMH/>", "b").unwrap_err();
    assert!(
        matches!(err, ParseError::Unexpected(ref m) if m.contains("expected <rss> or <feed>")),
        "{err:?}"
    );
    let err = parse_feed(&truncated(&fixture("feed/guidance.atom"), 1500), "b").unwrap_err();
    assert!(matches!(err, ParseError::Xml { .. }), "{err:?}");
    let none = parse_feed(
        b"<rss version=\"2.0\"><channel><title>Empty</title></channel></rss>",
        "b",
    )
    .unwrap();
    assert_eq!(none.parsed, Parsed::default());
    let no_id = parse_feed(
        b"<rss><channel><item><title>T</title></item></channel></rss>",
        "b",
    )
    .unwrap();
    assert_eq!(no_id.parsed.rejected[0].reason, "missing guid and link");
}

#[test]
fn ids_are_stable_across_parses() {
    let a = parse_feed(&fixture("feed/guidance.rss"), "inst").unwrap();
    let b = parse_feed(&fixture("feed/guidance.rss"), "inst").unwrap();
    let ids = |p: &harvest::feed::FeedPage| {
        p.parsed
            .records
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(
        item_id("https://guidance.example.org/guidance/qs86/update-2024-11"),
        "4ce969d057d0cb92"
    );
}

// ---------------------------------------------------------------------------------------------
// Harvesting against a fake publisher
// ---------------------------------------------------------------------------------------------

fn feed_body(body: Vec<u8>, content_type: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, content_type)
}

async fn mount(server: &MockServer, at: &str, body: Vec<u8>, content_type: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(feed_body(body, content_type))
        .mount(server)
        .await;
}

fn cfg(server: &MockServer, file: &str) -> SourceConfig {
    let mut c = source(
        "inst",
        SourceKind::Feed,
        &format!("{}/feeds/{file}", server.uri()),
    );
    c.evidence_level = Some(EvidenceLevel::Guideline);
    c
}

async fn paths(server: &MockServer) -> Vec<String> {
    requests(server, None)
        .await
        .iter()
        .map(|r| r.url.path().to_string())
        .collect()
}

#[tokio::test]
async fn one_page_per_rss_fetch_with_source_defaults() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/feeds/guidance.rss",
        fixture("feed/guidance.rss"),
        "application/rss+xml",
    )
    .await;
    let mut c = cfg(&server, "guidance.rss");
    c.audience = Some(Audience::Patient);
    let pages = harvest(&c, None, false).await;
    assert_eq!(pages.len(), 1);
    let p = &pages[0].parsed;
    assert_eq!(p.records.len(), 6);
    assert_eq!(p.rejected.len(), 1);
    // The source says what it publishes, whatever a title suggests ("cohort studies").
    assert!(p
        .records
        .iter()
        .all(|r| r.evidence_level == Some(EvidenceLevel::Guideline)));
    assert!(p.records.iter().all(|r| r.audience == Audience::Patient));
    assert_eq!(
        by_id(p, "inst:GID-NG10260").url.as_deref(),
        Some(format!("{}/guidance/gid-ng10260/consultation", server.uri()).as_str())
    );
    assert_eq!(pages[0].url, format!("{}/feeds/guidance.rss", server.uri()));
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        pages[0].checkpoint,
        json!({"completed": true, "from": today})
    );

    // The next run fetches the feed again (a feed has no date filter).
    let again = harvest(&c, Some(&pages[0].checkpoint), false).await;
    assert_eq!(again.len(), 1);
    assert_eq!(
        paths(&server).await,
        ["/feeds/guidance.rss", "/feeds/guidance.rss"]
    );
}

#[tokio::test]
async fn a_paged_atom_feed_is_followed_and_resumed_after_a_crash() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/feeds/guidance.atom",
        fixture("feed/guidance.atom"),
        "application/atom+xml",
    )
    .await;
    mount(
        &server,
        "/feeds/guidance-page2.atom",
        fixture("feed/guidance-page2.atom"),
        "application/atom+xml",
    )
    .await;
    let c = cfg(&server, "guidance.atom");

    let pages = harvest(&c, None, false).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(
        pages
            .iter()
            .map(|p| p.parsed.records.len())
            .collect::<Vec<_>>(),
        [4, 2]
    );
    let page2 = format!("{}/feeds/guidance-page2.atom", server.uri());
    assert_eq!(pages[0].checkpoint["next"], json!(page2));
    assert_eq!(pages[1].url, page2);
    assert_eq!(last_checkpoint(&pages)["completed"], json!(true));
    // Relative entry links are resolved against the page's URL.
    let delirium = item_id("urn:uuid:6f2d1c3e-2b1a-4c0f-9e3d-000000000003");
    assert_eq!(
        by_id(&pages[0].parsed, &format!("inst:{delirium}"))
            .url
            .as_deref(),
        Some(format!("{}/guidelines/delirium", server.uri()).as_str())
    );

    // A crash after page 1: the rebuilt harvester fetches page 2 only.
    server.reset().await;
    mount(
        &server,
        "/feeds/guidance.atom",
        fixture("feed/guidance.atom"),
        "application/atom+xml",
    )
    .await;
    mount(
        &server,
        "/feeds/guidance-page2.atom",
        fixture("feed/guidance-page2.atom"),
        "application/atom+xml",
    )
    .await;
    let mut first = FeedHarvester::new(&c, None, false).unwrap();
    let cp1 = first
        .next_page(&fetcher())
        .await
        .unwrap()
        .unwrap()
        .checkpoint;
    drop(first);
    let mut resumed = Connector::new(&c, Some(&cp1), false).unwrap();
    let (rest, err) = drain(&mut resumed, &fetcher()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].parsed.records.len(), 2);
    assert_eq!(
        paths(&server).await,
        ["/feeds/guidance.atom", "/feeds/guidance-page2.atom"]
    );

    // An incremental run stops paging once a page holds nothing new since the last harvest.
    server.reset().await;
    mount(
        &server,
        "/feeds/guidance.atom",
        fixture("feed/guidance.atom"),
        "application/atom+xml",
    )
    .await;
    let done = last_checkpoint(&rest);
    let again = harvest(&c, Some(&done), false).await;
    assert_eq!(again.len(), 1);
    assert_eq!(paths(&server).await, ["/feeds/guidance.atom"]);
    // `full` follows the archive again.
    mount(
        &server,
        "/feeds/guidance-page2.atom",
        fixture("feed/guidance-page2.atom"),
        "application/atom+xml",
    )
    .await;
    assert_eq!(harvest(&c, Some(&done), true).await.len(), 2);
}

#[tokio::test]
async fn a_truncated_page_fails_after_the_earlier_page_was_returned() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/feeds/guidance.atom",
        fixture("feed/guidance.atom"),
        "application/atom+xml",
    )
    .await;
    mount(
        &server,
        "/feeds/guidance-page2.atom",
        truncated(&fixture("feed/guidance-page2.atom"), 700),
        "application/atom+xml",
    )
    .await;
    let mut c = Connector::new(&cfg(&server, "guidance.atom"), None, false).unwrap();
    let (pages, err) = drain(&mut c, &fetcher()).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].parsed.records.len(), 4);
    let err = err.unwrap();
    let text = err.to_string();
    assert!(text.contains("source inst"), "{text}");
    assert!(
        text.contains(&format!("{}/feeds/guidance-page2.atom", server.uri())),
        "{text}"
    );
    assert!(text.contains("malformed xml at byte"), "{text}");
}

#[tokio::test]
async fn an_html_page_with_status_200_is_an_unexpected_document() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/feeds/guidance.rss",
        HTML_ERROR_PAGE.as_bytes().to_vec(),
        "text/html",
    )
    .await;
    let mut c = Connector::new(&cfg(&server, "guidance.rss"), None, false).unwrap();
    let err = c.next_page(&fetcher()).await.unwrap_err();
    assert!(
        matches!(err, HarvestError::Parse { error: ParseError::Unexpected(ref m), .. } if m.contains("html page")),
        "{err:?}"
    );
}

#[test]
fn invalid_config() {
    let c = SourceConfig::new("f", SourceKind::Feed, "not a url");
    assert!(matches!(
        FeedHarvester::new(&c, None, false),
        Err(HarvestError::Config { .. })
    ));
    let c = SourceConfig::new("f", SourceKind::Feed, "https://example.org/feed.rss");
    assert!(FeedHarvester::new(&c, Some(&json!({"pages": 3})), false).is_err());
}

#[test]
fn truncated_or_corrupted_documents_never_panic() {
    for f in [
        "feed/guidance.rss",
        "feed/guidance.atom",
        "feed/guidance-page2.atom",
    ] {
        never_panics(&fixture(f), |b| parse_feed(b, "f"));
    }
}
