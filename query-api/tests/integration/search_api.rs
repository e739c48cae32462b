use axum::http::StatusCode;
use proptest::prelude::*;

use crate::common::{enc, get, starter, starter_app};

fn hits(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["hits"].as_array().expect("hits array")
}

#[tokio::test]
async fn guideline_filter_returns_highlighted_guidelines_with_facets() {
    let app = starter_app().await;
    let (s, v) = get(
        &app.router,
        "/api/v1/search?q=asthma&evidence_level=guideline",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["total"].as_u64().unwrap() > 0);
    for h in hits(&v) {
        assert_eq!(h["evidence_level"], "guideline", "{h}");
    }
    let marked = hits(&v).iter().any(|h| {
        h["snippet"].as_str().unwrap().contains("<mark>")
            || h["title_html"].as_str().unwrap().contains("<mark>")
    });
    assert!(marked, "no highlights in {v}");
    let facets = &v["facets"]["evidence_level"];
    assert_eq!(facets[0]["value"], "guideline");
    assert_eq!(facets[0]["count"], v["total"]);
    assert!(v["notices"][0].as_str().unwrap().contains("not evidence"));
    for h in hits(&v) {
        assert_eq!(h["sample"], true);
    }
}

#[tokio::test]
async fn uk_and_us_spellings_find_the_same_records() {
    let app = starter_app().await;
    for (uk, us) in [
        ("anaemia", "anemia"),
        ("paediatric", "pediatric"),
        ("haemorrhage", "hemorrhage"),
        ("randomised", "randomized"),
    ] {
        let (_, a) = get(&app.router, &format!("/api/v1/search?q={uk}&per_page=100")).await;
        let (_, b) = get(&app.router, &format!("/api/v1/search?q={us}&per_page=100")).await;
        assert!(a["total"].as_u64().unwrap() > 0, "{uk} finds nothing");
        assert_eq!(a["total"], b["total"], "{uk} vs {us}");
        let ids = |v: &serde_json::Value| {
            let mut x: Vec<String> = hits(v)
                .iter()
                .map(|h| h["id"].as_str().unwrap().to_string())
                .collect();
            x.sort();
            x
        };
        assert_eq!(ids(&a), ids(&b), "{uk} vs {us}");
    }
    let (_, v) = get(&app.router, "/api/v1/search?q=anaemia").await;
    assert_eq!(v["query"]["expansions"][0]["variants"][0], "anemia");
}

#[tokio::test]
async fn identifiers_typed_alone_come_first() {
    let app = starter_app().await;
    let records = starter();
    let with = |f: fn(&model::Record) -> Option<String>| {
        records.iter().find_map(|r| f(r).map(|v| (r.id.clone(), v)))
    };
    let cases = [
        with(|r| r.identifiers.pmid.clone()).expect("a record with a PMID"),
        with(|r| r.identifiers.doi.clone()).expect("a record with a DOI"),
        with(|r| r.identifiers.nct.clone()).expect("a record with an NCT id"),
    ];
    for (id, value) in cases {
        let (s, v) = get(&app.router, &format!("/api/v1/search?q={}", enc(&value))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(hits(&v)[0]["id"], id.as_str(), "{value}: {v}");
        assert!(v["query"]["identifier"]["kind"].is_string());
    }
    let (_, v) = get(
        &app.router,
        &format!(
            "/api/v1/search?q={}",
            enc("doi:https://doi.org/10.5555/NOPE")
        ),
    )
    .await;
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn empty_query_browses_everything_and_filters_narrow() {
    let app = starter_app().await;
    let n = starter().len() as u64;
    let (_, all) = get(&app.router, "/api/v1/search").await;
    assert_eq!(all["total"].as_u64().unwrap(), n);
    let (_, star) = get(&app.router, "/api/v1/search?q=*").await;
    assert_eq!(star["total"], all["total"]);
    let sum: u64 = all["facets"]["evidence_level"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, n, "evidence facet counts add up to the total");

    let (_, v) = get(
        &app.router,
        "/api/v1/search?year_from=2015&year_to=2019&per_page=100",
    )
    .await;
    assert!(v["total"].as_u64().unwrap() > 0);
    for h in hits(&v) {
        let y: u32 = h["published"].as_str().unwrap()[..4].parse().unwrap();
        assert!((2015..=2019).contains(&y), "{h}");
    }
    let (_, v) = get(&app.router, "/api/v1/search?audience=patient&per_page=100").await;
    assert!(v["total"].as_u64().unwrap() > 0);
    assert!(hits(&v).iter().all(|h| h["audience"] == "patient"));
    let (_, v) = get(&app.router, "/api/v1/search?open_access=true&per_page=100").await;
    assert!(hits(&v).iter().all(|h| h["open_access"] == true));
    let (_, v) = get(&app.router, "/api/v1/search?source=nowhere").await;
    assert_eq!(v["total"], 0);
    let (_, v) = get(
        &app.router,
        "/api/v1/search?source=sample&evidence_level=rct,systematic_review&per_page=100",
    )
    .await;
    assert!(hits(&v)
        .iter()
        .all(|h| h["evidence_level"] == "rct" || h["evidence_level"] == "systematic_review"));
}

#[tokio::test]
async fn paging_is_disjoint_and_stable_and_date_sort_orders() {
    let app = starter_app().await;
    let (_, p1) = get(&app.router, "/api/v1/search?q=diabetes&per_page=5&page=1").await;
    let (_, p2) = get(&app.router, "/api/v1/search?q=diabetes&per_page=5&page=2").await;
    let (_, both) = get(&app.router, "/api/v1/search?q=diabetes&per_page=10").await;
    assert!(p1["total"].as_u64().unwrap() >= 10);
    assert_eq!(p1["total"], p2["total"]);
    let ids = |v: &serde_json::Value| {
        hits(v)
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut joined = ids(&p1);
    joined.extend(ids(&p2));
    assert_eq!(joined, ids(&both));
    let (_, far) = get(&app.router, "/api/v1/search?q=diabetes&page=999").await;
    assert!(hits(&far).is_empty());

    let (_, d) = get(&app.router, "/api/v1/search?q=asthma&sort=date&per_page=50").await;
    let dates: Vec<String> = hits(&d)
        .iter()
        .map(|h| h["published"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
}

#[tokio::test]
async fn query_language_constructs() {
    let app = starter_app().await;
    let total = |v: &serde_json::Value| v["total"].as_u64().unwrap();
    let (_, a) = get(&app.router, "/api/v1/search?q=asthma").await;
    let (_, b) = get(
        &app.router,
        &format!("/api/v1/search?q={}", enc("asthma NOT children")),
    )
    .await;
    assert!(total(&b) < total(&a));
    let (_, c) = get(
        &app.router,
        &format!("/api/v1/search?q={}", enc("asthma AND sepsis")),
    )
    .await;
    let (_, d) = get(
        &app.router,
        &format!("/api/v1/search?q={}", enc("asthma OR sepsis")),
    )
    .await;
    assert!(total(&c) <= total(&a) && total(&d) >= total(&a));
    let (_, t) = get(
        &app.router,
        &format!("/api/v1/search?q={}", enc("asthma[ti]")),
    )
    .await;
    for h in hits(&t) {
        assert!(
            h["title"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("asthma"),
            "{h}"
        );
    }
    let (_, p) = get(
        &app.router,
        &format!("/api/v1/search?q={}", enc("\"heart failure\"")),
    )
    .await;
    assert!(total(&p) > 0);
    let (_, pre) = get(&app.router, &format!("/api/v1/search?q={}", enc("diabet*"))).await;
    let (_, word) = get(&app.router, "/api/v1/search?q=diabetes").await;
    assert!(total(&pre) >= total(&word));
    for q in ["COVID-19", "covid19", "IL-6", "HbA1c", "type 2 diabetes"] {
        let (s, v) = get(&app.router, &format!("/api/v1/search?q={}", enc(q))).await;
        assert_eq!(s, StatusCode::OK);
        assert!(total(&v) > 0, "{q} finds nothing");
    }
    let (_, w) = get(
        &app.router,
        &format!("/api/v1/search?q={}", enc("\"heart failure")),
    )
    .await;
    assert!(w["query"]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("unclosed quote"));
    let (_, e) = get(
        &app.router,
        &format!("/api/v1/search?q={}&explain=true", enc("asthma inhaler")),
    )
    .await;
    let ex = &hits(&e)[0]["explain"];
    assert!(ex["text"].as_f64().unwrap() > 0.0, "{ex}");
    assert!(
        ex["evidence_prior"].is_number() && ex["recency"].is_number() && ex["trust"].is_number()
    );
}

#[tokio::test]
async fn records_by_id() {
    let app = starter_app().await;
    let (s, v) = get(&app.router, "/api/v1/records/sample:1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["record"]["id"], "sample:1");
    assert!(v["notices"][0].as_str().unwrap().contains("not evidence"));
    let (s, v) = get(&app.router, "/api/v1/records/pubmed:0").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], "not_found");
}

#[tokio::test]
async fn bad_input_gets_clear_json_errors() {
    let app = starter_app().await;
    let long = "a".repeat(search::MAX_QUERY_CHARS + 1);
    let cases = [
        (format!("/api/v1/search?q={long}"), "query_too_long"),
        (
            "/api/v1/search?per_page=101".to_string(),
            "invalid_parameter",
        ),
        (
            "/api/v1/search?page=100000".to_string(),
            "invalid_parameter",
        ),
        (
            "/api/v1/search?page=999999999999999999999999".to_string(),
            "invalid_parameter",
        ),
        (
            "/api/v1/search?page=1001&per_page=10".to_string(),
            "page_too_deep",
        ),
        (
            "/api/v1/search?evidence_level=gold".to_string(),
            "invalid_parameter",
        ),
        (
            "/api/v1/search?year_from=twenty".to_string(),
            "invalid_parameter",
        ),
        (
            "/api/v1/search?year_from=2020&year_to=2001".to_string(),
            "invalid_parameter",
        ),
        ("/api/v1/search?sort=best".to_string(), "invalid_parameter"),
        (
            "/api/v1/search?audience=robots".to_string(),
            "invalid_parameter",
        ),
        (
            "/api/v1/search?open_access=maybe".to_string(),
            "invalid_parameter",
        ),
        ("/api/v1/nope".to_string(), "not_found"),
    ];
    for (uri, code) in cases {
        let (s, v) = get(&app.router, &uri).await;
        assert!(s.is_client_error(), "{uri}: {s}");
        assert_eq!(v["error"]["code"], code, "{uri}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (_, v) = get(&app.router, "/api/v1/search?evidence_level=gold").await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("systematic_review"),
        "lists valid levels"
    );
    // Unbalanced input is parsed leniently and says so.
    for q in [
        "(asthma", "asthma)", "\"asthma", "AND", "NOT", "-", "()", "[ti]", "title:", "*:*",
    ] {
        let (s, v) = get(&app.router, &format!("/api/v1/search?q={}", enc(q))).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
    }
}

#[tokio::test]
async fn openapi_and_health() {
    let app = starter_app().await;
    let (s, v) = get(&app.router, "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["paths"]["/api/v1/search"]["get"].is_object());
    assert!(v["paths"]["/api/v1/records/{id}"]["get"].is_object());
    for p in [
        "/api/v1/export",
        "/api/v1/feed",
        "/api/v1/admin/jobs",
        "/api/v1/admin/jobs/{id}",
        "/api/v1/admin/stats",
    ] {
        assert!(v["paths"][p].is_object(), "{p} is documented");
    }
    assert!(v["components"]["securitySchemes"]["bearer"].is_object());
    let (s, _) = get(&app.router, "/healthz").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = get(&app.router, "/readyz").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["documents"].as_u64().unwrap() > 0);
    // The starter corpus is small: its vocabulary is built by the first search that needs it.
    let (s, _) = get(&app.router, "/api/v1/search?q=asthmaa").await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = get(&app.router, "/readyz").await;
    assert_eq!(v["suggestions"], "ready", "{v}");
}

#[tokio::test]
async fn not_ready_until_prepared() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = indexer::Config::default();
    config.server.data = dir.path().to_path_buf();
    let state = query_api::AppState::new(config).unwrap();
    let router = query_api::app(state);
    let (s, v) = get(&router, "/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["error"]["code"], "not_ready");
    let (s, _) = get(&router, "/api/v1/search?q=asthma").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn hostile_queries_always_get_well_formed_answers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(starter_app());
    let pieces = prop::sample::select(vec![
        "asthma", "\"", "(", ")", "AND", "OR", "NOT", "-", "*", "[ti]", "[", "]", "title:",
        "mesh:", "pmid:", "doi:", "10.5555/", "NCT9", "é", "😀", "\u{0}", "%", "&", "<script>",
        "covid-19", "\\", "/", ":", "~", "^2", "{", "?",
    ]);
    let query = prop::collection::vec(pieces, 0..40).prop_map(|v| v.join(" "));
    let any = "\\PC{0,60}";
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 150,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&(query, any), |(q, noise)| {
            for text in [q, noise] {
                let uri = format!("/api/v1/search?q={}&per_page=3", enc(&text));
                let (s, v) = rt.block_on(get(&app.router, &uri));
                prop_assert!(
                    s == StatusCode::OK || s == StatusCode::BAD_REQUEST,
                    "{text:?}: {s}"
                );
                if s == StatusCode::OK {
                    prop_assert!(v["total"].is_u64() && v["hits"].is_array(), "{text:?}: {v}");
                    for h in v["hits"].as_array().unwrap() {
                        prop_assert!(!h["snippet"].as_str().unwrap().contains("<script>"));
                    }
                } else {
                    prop_assert!(v["error"]["code"].is_string());
                }
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn autocomplete_from_titles_and_mesh() {
    let app = starter_app().await;
    let (s, v) = get(&app.router, "/api/v1/suggest?q=hea").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let texts: Vec<String> = v["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["text"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("heart failure")),
        "{texts:?}"
    );
    assert!(texts.iter().all(|t| t.starts_with("hea")), "{texts:?}");
    let (s, v) = get(&app.router, "/api/v1/suggest?q=").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["suggestions"].as_array().unwrap().is_empty());
    let (s, v) = get(&app.router, "/api/v1/suggest?q=asth&limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_parameter");
    let (s, _) = get(
        &app.router,
        &format!("/api/v1/suggest?q={}", "a".repeat(101)),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn misspelt_searches_offer_a_correction() {
    let app = starter_app().await;
    let (s, v) = get(&app.router, "/api/v1/search?q=asthmaa+inhalers").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["did_you_mean"], "asthma inhalers", "{v}");
    // The correction finds what the misspelling missed.
    let (_, fixed) = get(&app.router, "/api/v1/search?q=asthma+inhalers").await;
    assert!(
        fixed["total"].as_u64().unwrap() > v["total"].as_u64().unwrap(),
        "{fixed}"
    );
    assert!(fixed.get("did_you_mean").is_none(), "{fixed}");
    // Known words and later pages are left alone.
    let (_, v) = get(&app.router, "/api/v1/search?q=sepsis").await;
    assert!(v.get("did_you_mean").is_none(), "{v}");
    let (_, v) = get(&app.router, "/api/v1/search?q=asthmaa&page=2").await;
    assert!(v.get("did_you_mean").is_none(), "{v}");
}

#[tokio::test]
async fn a_configured_mesh_thesaurus_expands_queries() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path());
    config.index.mesh_xml = Some(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/mesh/descriptors.xml"),
    );
    let state = query_api::AppState::new(config).unwrap();
    state.prepare().await.unwrap();
    let router = query_api::app(state.clone());
    // No starter record says "myocardial infarction"; one says "heart attack".
    let plain = starter_app().await;
    let (_, without) = get(&plain.router, "/api/v1/search?q=myocardial+infarction").await;
    let (s, with) = get(&router, "/api/v1/search?q=myocardial+infarction").await;
    assert_eq!(s, StatusCode::OK, "{with}");
    assert!(
        with["total"].as_u64().unwrap() > without["total"].as_u64().unwrap(),
        "with: {} without: {}",
        with["total"],
        without["total"]
    );
    let text = with["hits"][0]["snippet"]
        .as_str()
        .unwrap()
        .replace("<mark>", "")
        .replace("</mark>", "")
        .to_lowercase();
    assert!(text.contains("heart attack"), "{text}");
    // An unreadable file is logged and the server searches without synonyms.
    let dir2 = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir2.path());
    config.index.mesh_xml = Some(dir2.path().join("missing.xml"));
    let state = query_api::AppState::new(config).unwrap();
    state.prepare().await.unwrap();
    let (s, v) = get(
        &query_api::app(state),
        "/api/v1/search?q=myocardial+infarction",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["total"], without["total"]);
}
