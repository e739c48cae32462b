//! Integration tests of the store through its public API, one module per area.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use model::{EvidenceLevel, Record};
use serde_json::json;
use store::{Change, PageStats, Store, StoreError};

fn rec(source: &str, n: u64, title: &str) -> Record {
    Record::new(source, &n.to_string(), title)
}

fn ids(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

fn stats(added: u64, updated: u64, unchanged: u64, deleted: u64) -> PageStats {
    PageStats {
        added,
        updated,
        unchanged,
        deleted,
    }
}

mod records {
    use super::*;

    #[test]
    fn second_identical_page_adds_nothing_and_keeps_seq() {
        let s = Store::open_in_memory().unwrap();
        let page = vec![rec("t", 1, "one"), rec("t", 2, "two")];
        let cp = json!({"page": 1});
        assert_eq!(
            s.apply_page("t", &page, &[], &cp).unwrap(),
            stats(2, 0, 0, 0)
        );
        let seq = s.max_seq().unwrap();
        assert_eq!(seq, 2);
        let first = s.get("t:1").unwrap().unwrap();
        assert_eq!(
            s.apply_page("t", &page, &[], &cp).unwrap(),
            stats(0, 0, 2, 0)
        );
        assert_eq!(s.max_seq().unwrap(), seq);
        assert_eq!(s.count_live().unwrap(), 2);
        // Not rewritten: the stored harvest time is the first one.
        assert_eq!(s.get("t:1").unwrap().unwrap(), first);
        assert_eq!(
            first.content_hash.as_deref(),
            Some(page[0].compute_hash().as_str())
        );
        assert!(first.updated.is_some());
    }

    #[test]
    fn a_real_change_is_an_update_with_a_new_seq() {
        let s = Store::open_in_memory().unwrap();
        s.apply_page(
            "t",
            &[rec("t", 1, "one"), rec("t", 2, "two")],
            &[],
            &json!(1),
        )
        .unwrap();
        let mut changed = rec("t", 1, "one, revised");
        changed.publication_types.push("Systematic Review".into());
        changed.classify();
        let st = s
            .apply_page("t", &[changed, rec("t", 2, "two")], &[], &json!(2))
            .unwrap();
        assert_eq!(st, stats(0, 1, 1, 0));
        assert_eq!(st.changed(), 1);
        assert_eq!(s.max_seq().unwrap(), 3);
        let got = s.get("t:1").unwrap().unwrap();
        assert_eq!(got.title, "one, revised");
        assert_eq!(got.evidence_level, Some(EvidenceLevel::SystematicReview));
    }

    #[test]
    fn tombstones_and_resurrection() {
        let s = Store::open_in_memory().unwrap();
        let r = rec("t", 1, "one");
        s.apply_page("t", std::slice::from_ref(&r), &[], &json!(1))
            .unwrap();
        assert_eq!(s.is_deleted("t:1").unwrap(), Some(false));

        let st = s
            .apply_page("t", &[], &["t:1".into(), "t:99".into()], &json!(2))
            .unwrap();
        assert_eq!(st, stats(0, 0, 0, 2), "a never-seen id is tombstoned too");
        assert_eq!(s.get("t:1").unwrap(), None);
        assert_eq!(s.is_deleted("t:1").unwrap(), Some(true));
        assert_eq!(s.is_deleted("t:99").unwrap(), Some(true));
        assert_eq!(s.is_deleted("t:100").unwrap(), None);
        assert_eq!(s.count_live().unwrap(), 0);
        let seq = s.max_seq().unwrap();
        assert_eq!(seq, 3);

        // Deleting again changes nothing.
        let st = s
            .apply_page("t", &[], &["t:1".into(), "t:99".into()], &json!(3))
            .unwrap();
        assert_eq!(st, stats(0, 0, 0, 0));
        assert_eq!(s.max_seq().unwrap(), seq);

        // The same content coming back is an addition with a new seq.
        let st = s.apply_page("t", &[r], &[], &json!(4)).unwrap();
        assert_eq!(st, stats(1, 0, 0, 0));
        assert_eq!(s.max_seq().unwrap(), seq + 1);
        assert_eq!(s.get("t:1").unwrap().unwrap().title, "one");
        assert_eq!(s.is_deleted("t:1").unwrap(), Some(false));
    }

    #[test]
    fn deletion_wins_over_a_record_in_the_same_page() {
        let s = Store::open_in_memory().unwrap();
        let st = s
            .apply_page("t", &[rec("t", 1, "one")], &["t:1".into()], &json!(1))
            .unwrap();
        assert_eq!(st, stats(1, 0, 0, 1));
        assert_eq!(s.get("t:1").unwrap(), None);
    }

    #[test]
    fn failing_page_stores_neither_records_nor_checkpoint() {
        let s = Store::open_in_memory().unwrap();
        s.apply_page("t", &[rec("t", 1, "one")], &[], &json!({"page": 1}))
            .unwrap();
        let seq = s.max_seq().unwrap();

        // Two good records are written inside the transaction before the third fails.
        let bad = Record {
            id: String::new(),
            title: "no id".into(),
            ..Default::default()
        };
        let page = vec![
            rec("t", 2, "two"),
            rec("t", 1, "one, changed"),
            bad,
            rec("t", 3, "three"),
        ];
        let err = s
            .apply_page("t", &page, &["t:1".into()], &json!({"page": 2}))
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidRecord { .. }), "{err}");
        assert_eq!(s.get("t:2").unwrap(), None);
        assert_eq!(s.get("t:3").unwrap(), None);
        assert_eq!(s.get("t:1").unwrap().unwrap().title, "one");
        assert_eq!(s.checkpoint("t").unwrap(), Some(json!({"page": 1})));
        assert_eq!(s.max_seq().unwrap(), seq);

        // A bad deletion fails the page the same way.
        let err = s
            .apply_page(
                "t",
                &[rec("t", 4, "four")],
                &["t:1".into(), " ".into()],
                &json!({"page": 2}),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidRecord { .. }), "{err}");
        assert_eq!(s.get("t:4").unwrap(), None);
        assert_eq!(s.is_deleted("t:1").unwrap(), Some(false));
        assert_eq!(s.checkpoint("t").unwrap(), Some(json!({"page": 1})));
    }

    #[test]
    fn import_batches_and_counts() {
        let s = Store::open_in_memory().unwrap();
        let mut all: Vec<Record> = (0..2500)
            .map(|n| rec(if n % 2 == 0 { "a" } else { "b" }, n, "x"))
            .collect();
        for (i, r) in all.iter_mut().enumerate() {
            r.evidence_level = match i % 5 {
                0 => Some(EvidenceLevel::Guideline),
                1 => Some(EvidenceLevel::Rct),
                _ => None,
            };
        }
        assert_eq!(s.upsert_records(&all).unwrap(), stats(2500, 0, 0, 0));
        assert_eq!(s.upsert_records(&all).unwrap(), stats(0, 0, 2500, 0));
        assert_eq!(s.max_seq().unwrap(), 2500);

        s.apply_page("a", &[], &["a:0".into(), "a:2".into()], &json!(null))
            .unwrap();
        assert_eq!(s.count_live().unwrap(), 2498);
        let by_source = s.count_by_source().unwrap();
        assert_eq!(by_source.get("a"), Some(&1248));
        assert_eq!(by_source.get("b"), Some(&1250));
        let by_level = s.count_by_evidence_level().unwrap();
        assert_eq!(by_level.get(&EvidenceLevel::Guideline), Some(&499)); // 500 less a:0
        assert_eq!(by_level.get(&EvidenceLevel::Rct), Some(&500));
        assert_eq!(by_level.get(&EvidenceLevel::Other), Some(&1499)); // 1500 less a:2
        assert_eq!(
            by_level.keys().next(),
            Some(&EvidenceLevel::Guideline),
            "strongest first"
        );
    }

    #[test]
    fn record_without_source_takes_the_page_source() {
        let s = Store::open_in_memory().unwrap();
        let r = Record {
            id: "feed:1".into(),
            title: "t".into(),
            ..Default::default()
        };
        s.apply_page("nice-feed", &[r], &[], &json!(null)).unwrap();
        assert_eq!(s.get("feed:1").unwrap().unwrap().source, "nice-feed");
        assert_eq!(s.count_by_source().unwrap().get("nice-feed"), Some(&1));
    }

    #[test]
    fn tombstone_source_deletes_only_that_source() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_records(&[rec("a", 1, "x"), rec("a", 2, "y"), rec("b", 1, "z")])
            .unwrap();
        assert_eq!(s.tombstone_source("a").unwrap(), 2);
        assert_eq!(s.tombstone_source("a").unwrap(), 0);
        assert_eq!(s.count_live().unwrap(), 1);
        assert_eq!(s.is_deleted("a:1").unwrap(), Some(true));
    }
}

mod checkpoints {
    use super::*;

    #[test]
    fn reset_keeps_records_and_data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("store.db");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.path(), Some(path.as_path()));
            s.apply_page(
                "oai",
                &[rec("oai", 1, "one")],
                &[],
                &json!({"token": "abc"}),
            )
            .unwrap();
            s.set_meta("index.seq", "1").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), store::SCHEMA_VERSION);
        assert_eq!(s.checkpoint("oai").unwrap(), Some(json!({"token": "abc"})));
        assert_eq!(s.get_meta("index.seq").unwrap().as_deref(), Some("1"));
        s.reset_source("oai").unwrap();
        assert_eq!(s.checkpoint("oai").unwrap(), None);
        assert_eq!(s.count_live().unwrap(), 1);
        s.set_checkpoint("oai", &json!({"token": "def"})).unwrap();
        assert_eq!(s.checkpoint("oai").unwrap(), Some(json!({"token": "def"})));
    }
}

mod streaming {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

    #[derive(Debug)]
    enum BuildError {
        Store(#[allow(dead_code)] StoreError),
        Stop,
    }

    impl From<StoreError> for BuildError {
        fn from(e: StoreError) -> Self {
            BuildError::Store(e)
        }
    }

    fn filled(n: u64) -> Store {
        let s = Store::open_in_memory().unwrap();
        let records: Vec<Record> = (0..n).map(|i| rec("t", i, "x")).collect();
        s.upsert_records(&records).unwrap();
        s
    }

    #[test]
    fn for_each_live_batches_and_skips_tombstones() {
        let s = filled(1050);
        s.apply_page("t", &[], &["t:5".into(), "t:500".into()], &json!(null))
            .unwrap();
        let mut sizes = Vec::new();
        let mut seen = HashSet::new();
        let n = s
            .for_each_live(100, |batch| {
                sizes.push(batch.len());
                for r in batch {
                    assert!(seen.insert(r.id), "each record once");
                }
                Ok::<(), StoreError>(())
            })
            .unwrap();
        assert_eq!(n, 1048);
        assert_eq!(seen.len(), 1048);
        assert!(!seen.contains("t:5") && !seen.contains("t:500"));
        assert!(sizes.iter().all(|&b| b <= 100));
        assert_eq!(sizes.len(), 11);

        // Batch of zero is taken as one; an empty store calls nothing.
        let mut calls = 0;
        filled(3)
            .for_each_live(0, |b| {
                assert_eq!(b.len(), 1);
                calls += 1;
                Ok::<(), StoreError>(())
            })
            .unwrap();
        assert_eq!(calls, 3);
        let empty = Store::open_in_memory().unwrap();
        assert_eq!(
            empty
                .for_each_live(10, |_| -> Result<(), StoreError> { panic!("no batch") })
                .unwrap(),
            0
        );
    }

    #[test]
    fn callback_error_stops_the_stream() {
        let s = filled(30);
        let mut calls = 0;
        let err = s
            .for_each_live(10, |_| {
                calls += 1;
                Err(BuildError::Stop)
            })
            .unwrap_err();
        assert!(matches!(err, BuildError::Stop));
        assert_eq!(calls, 1);
    }

    #[test]
    fn changes_since_in_seq_order_with_deletes() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_records(&[rec("t", 1, "a"), rec("t", 2, "b"), rec("t", 3, "c")])
            .unwrap(); // seq 1, 2, 3
        s.upsert_records(&[rec("t", 1, "a2")]).unwrap(); // t:1 -> 4
        s.apply_page("t", &[], &["t:2".into(), "t:9".into()], &json!(null))
            .unwrap(); // t:2 -> 5, t:9 -> 6

        let mut all = Vec::new();
        let last = s
            .changes_since(0, 100, |b| {
                all.extend(b);
                Ok::<(), StoreError>(())
            })
            .unwrap();
        assert_eq!(last, 6);
        let summary: Vec<(i64, &str, bool)> = all
            .iter()
            .map(|c| (c.seq(), c.id(), matches!(c, Change::Delete { .. })))
            .collect();
        assert_eq!(
            summary,
            vec![
                (3, "t:3", false),
                (4, "t:1", false),
                (5, "t:2", true),
                (6, "t:9", true)
            ]
        );
        assert!(matches!(&all[1], Change::Upsert { record, .. } if record.title == "a2"));

        let mut batches = Vec::new();
        let last = s
            .changes_since(3, 1, |b| {
                batches.push(b.iter().map(Change::seq).collect::<Vec<_>>());
                Ok::<(), StoreError>(())
            })
            .unwrap();
        assert_eq!(last, 6);
        assert_eq!(batches, vec![vec![4], vec![5], vec![6]]);

        let last = s
            .changes_since(6, 10, |_| -> Result<(), StoreError> {
                panic!("nothing new")
            })
            .unwrap();
        assert_eq!(last, 6);
    }

    /// A full build while a harvest writes, followed by a catch-up from the seq read before it,
    /// ends with exactly the live records: the contract documented on `for_each_live`.
    #[test]
    fn full_build_then_catch_up_converges() {
        let s = filled(100);
        let start = s.max_seq().unwrap();
        let mut index: BTreeMap<String, String> = BTreeMap::new();
        let mut first = true;
        s.for_each_live(10, |batch| {
            if first {
                first = false;
                // Meanwhile a harvest changes, deletes and adds records (the callback may use
                // the store: no lock is held while it runs).
                s.apply_page(
                    "t",
                    &[
                        rec("t", 1, "changed early"),
                        rec("t", 95, "changed late"),
                        rec("t", 500, "new"),
                    ],
                    &["t:2".into(), "t:96".into()],
                    &json!(null),
                )?;
                assert!(s.get("t:500")?.is_some());
            }
            for r in batch {
                index.insert(r.id, r.title);
            }
            Ok::<(), StoreError>(())
        })
        .unwrap();
        let reached = s
            .changes_since(start, 3, |changes| {
                for c in changes {
                    match c {
                        Change::Upsert { record, .. } => {
                            index.insert(record.id, record.title);
                        }
                        Change::Delete { id, .. } => {
                            index.remove(&id);
                        }
                    }
                }
                Ok::<(), StoreError>(())
            })
            .unwrap();
        assert_eq!(reached, s.max_seq().unwrap());

        let mut truth = BTreeMap::new();
        s.for_each_live(1000, |batch| {
            for r in batch {
                truth.insert(r.id, r.title);
            }
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert_eq!(index, truth);
        assert_eq!(index.get("t:1").map(String::as_str), Some("changed early"));
        assert!(!index.contains_key("t:96"));
    }

    #[test]
    fn streamed_records_equal_gets() {
        let s = filled(5);
        let mut streamed = Vec::new();
        s.for_each_live(2, |b| {
            streamed.extend(b);
            Ok::<(), StoreError>(())
        })
        .unwrap();
        assert_eq!(ids(&streamed), vec!["t:0", "t:1", "t:2", "t:3", "t:4"]);
        for r in streamed {
            assert_eq!(s.get(&r.id).unwrap().unwrap(), r);
        }
    }
}

mod jobs {
    use super::*;
    use store::{JobRecord, JobState};

    #[test]
    fn lifecycle_and_mark_interrupted_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let s = Store::open(&path).unwrap();
            s.insert_job(&JobRecord::new(
                "j1",
                "harvest",
                json!({"source": "pubmed"}),
            ))
            .unwrap();
            let mut j2 = JobRecord::new("j2", "build", json!({}));
            j2.state = JobState::Running;
            j2.started_at = Some(store::timestamp::now());
            j2.progress = json!({"indexed": 500});
            s.insert_job(&j2).unwrap();
            let mut j3 = JobRecord::new("j3", "import", json!({"path": "x.jsonl"}));
            s.insert_job(&j3).unwrap();
            j3.state = JobState::Succeeded;
            j3.counts = json!({"added": 10});
            j3.finished_at = Some(store::timestamp::now());
            s.update_job(&j3).unwrap();
            // The process dies here with j1 queued and j2 running.
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.mark_interrupted().unwrap(), vec!["j1", "j2"]);
        assert!(s.mark_interrupted().unwrap().is_empty());

        let j2 = s.get_job("j2").unwrap().unwrap();
        assert_eq!(j2.state, JobState::Interrupted);
        assert!(j2.finished_at.is_some());
        assert_eq!(j2.progress, json!({"indexed": 500}));
        assert_eq!(j2.errors.len(), 1);
        let j3 = s.get_job("j3").unwrap().unwrap();
        assert_eq!(j3.state, JobState::Succeeded);
        assert_eq!(j3.counts, json!({"added": 10}));
        assert!(j3.errors.is_empty());

        let listed: Vec<String> = s.list_jobs(2).unwrap().into_iter().map(|j| j.id).collect();
        assert_eq!(listed, vec!["j3", "j2"]);
        assert_eq!(s.list_jobs(10).unwrap().len(), 3);
    }
}

mod harvests {
    use super::*;

    #[test]
    fn history_of_a_harvest_with_pages() {
        let s = Store::open_in_memory().unwrap();
        let id = s.start_harvest("pubmed").unwrap();
        let mut total = PageStats::default();
        for page in 0..3u64 {
            let records: Vec<Record> = (0..10).map(|i| rec("pubmed", page * 10 + i, "x")).collect();
            total += s
                .apply_page(
                    "pubmed",
                    &records,
                    &[],
                    &json!({"retstart": (page + 1) * 10}),
                )
                .unwrap();
            s.update_harvest(id, &total, 1).unwrap();
        }
        s.finish_harvest(id, &total, 3, None).unwrap();
        let h = s.last_harvest("pubmed").unwrap().unwrap();
        assert_eq!(h.stats, stats(30, 0, 0, 0));
        assert_eq!(h.rejected, 3);
        assert!(h.succeeded());
        assert_eq!(s.harvests(10).unwrap(), vec![h]);
    }
}

mod querylog {
    use super::*;

    /// A batch logged in one transaction counts as the same searches logged one by one.
    #[test]
    fn a_batch_logs_what_single_calls_log() {
        let one = Store::open_in_memory().unwrap();
        let batch = Store::open_in_memory().unwrap();
        let f = json!({"level": ["guideline"]});
        let none = json!({});
        let entries: Vec<(&str, &serde_json::Value, u64, u64)> = vec![
            ("Asthma", &f, 12, 30),
            ("asthma ", &f, 12, 31),
            ("copd", &none, 0, 5),
            ("Sepsis 0161 496 0000", &none, 3, 2),
        ];
        for &(q, fl, n, ms) in &entries {
            one.log_query(q, fl, n, ms).unwrap();
        }
        batch.log_queries(&entries).unwrap();
        batch.log_queries(&[]).unwrap();
        let since = "2000-01-01";
        assert_eq!(
            batch.top_queries(since, 10).unwrap(),
            one.top_queries(since, 10).unwrap()
        );
        assert_eq!(
            batch.top_queries(since, 1).unwrap(),
            vec![("asthma".to_string(), 2)]
        );
        assert_eq!(
            batch.zero_result_queries(since, 10).unwrap(),
            vec![("copd".to_string(), 1)]
        );
    }

    #[test]
    fn top_and_zero_result_queries() {
        let s = Store::open_in_memory().unwrap();
        let f = json!({"level": ["guideline"]});
        for q in ["Asthma", " asthma ", "ASTHMA", "copd", "Copd", "sepsis"] {
            s.log_query(q, &f, 12, 30).unwrap();
        }
        for q in ["anaemia in pregnancy", "Anaemia  in pregnancy", "zzz"] {
            s.log_query(q, &json!({}), 0, 5).unwrap();
        }
        s.log_query("   ", &json!({}), 100, 5).unwrap();

        let since = "2000-01-01";
        assert_eq!(
            s.top_queries(since, 3).unwrap(),
            vec![
                ("asthma".to_string(), 3),
                ("anaemia in pregnancy".to_string(), 2),
                ("copd".to_string(), 2),
            ]
        );
        assert_eq!(
            s.zero_result_queries(since, 10).unwrap(),
            vec![
                ("anaemia in pregnancy".to_string(), 2),
                ("zzz".to_string(), 1)
            ]
        );
        assert!(s
            .top_queries("2999-01-01T00:00:00Z", 10)
            .unwrap()
            .is_empty());

        s.log_click("Asthma", "pubmed:1").unwrap();
        s.log_click("asthma", "pubmed:1").unwrap();
        s.log_click("copd", "nice:ng115").unwrap();
        assert_eq!(
            s.top_clicked(since, 1).unwrap(),
            vec![("pubmed:1".to_string(), 2)]
        );
        assert_eq!(s.prune_query_log("2999-01-01").unwrap(), 13);
        assert!(s.top_queries(since, 10).unwrap().is_empty());
    }

    #[test]
    fn personal_numbers_are_not_logged() {
        let s = Store::open_in_memory().unwrap();
        s.log_query("anaemia 943 476 5919", &json!({}), 1, 1)
            .unwrap();
        assert_eq!(
            s.top_queries("2000-01-01", 10).unwrap(),
            vec![("anaemia [number]".to_string(), 1)]
        );
    }
}

mod concurrency {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;
    use store::JobRecord;

    const PAGE: u64 = 20;
    const PAGES: u64 = 150;

    fn page_of(checkpoint: Option<serde_json::Value>) -> u64 {
        checkpoint.and_then(|c| c["page"].as_u64()).unwrap_or(0)
    }

    /// A harvest writes pages while another thread reads counts, checkpoints, jobs and logs
    /// queries. Every page is seen whole or not at all, and counts only grow.
    #[test]
    fn readers_see_whole_pages_while_a_harvest_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(Store::open(&dir.path().join("store.db")).unwrap());
        s.insert_job(&JobRecord::new("h", "harvest", json!({})))
            .unwrap();
        let done = Arc::new(AtomicBool::new(false));

        let writer = {
            let s = Arc::clone(&s);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                for p in 1..=PAGES {
                    let records: Vec<Record> = (0..PAGE)
                        .map(|i| rec("w", p * PAGE + i, "written"))
                        .collect();
                    s.apply_page("w", &records, &[], &json!({ "page": p }))
                        .unwrap();
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        let reader = {
            let s = Arc::clone(&s);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut last = 0;
                let mut reads = 0u64;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let before = page_of(s.checkpoint("w").unwrap());
                    let n = s.count_live().unwrap();
                    let after = page_of(s.checkpoint("w").unwrap());
                    assert_eq!(n % PAGE, 0, "a page was seen half written");
                    assert!(
                        before * PAGE <= n && n <= after * PAGE,
                        "{before} {n} {after}"
                    );
                    assert!(n >= last, "count went back");
                    last = n;
                    assert_eq!(s.get_job("h").unwrap().unwrap().id, "h");
                    s.log_query("reading", &json!({}), n, 1).unwrap();
                    reads += 1;
                    if finished {
                        return reads;
                    }
                }
            })
        };
        writer.join().unwrap();
        let reads = reader.join().unwrap();
        assert!(reads >= 1);
        assert_eq!(s.count_live().unwrap(), PAGE * PAGES);
        assert_eq!(s.max_seq().unwrap(), (PAGE * PAGES) as i64);
        assert_eq!(
            s.top_queries("2000-01-01", 1).unwrap(),
            vec![("reading".to_string(), reads)]
        );
    }
}

/// A harvest killed with SIGKILL (a child process running `child_writer`) resumes after the last
/// stored page: nothing lost, nothing duplicated.
mod crash {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    const ENV: &str = "STORE_TEST_CRASH_CHILD_DB";
    const PAGE: u64 = 25;

    fn page(k: u64) -> Vec<Record> {
        (0..PAGE)
            .map(|i| rec("crash", k * 1000 + i, &format!("page {k} item {i}")))
            .collect()
    }

    fn stored_page(s: &Store) -> u64 {
        s.checkpoint("crash")
            .unwrap()
            .and_then(|c| c["page"].as_u64())
            .unwrap_or(0)
    }

    /// Not a test on its own: does nothing unless started by `killed_harvest_resumes`, which sets
    /// the environment variable and kills this process part way.
    #[test]
    fn child_writer() {
        let Ok(path) = std::env::var(ENV) else {
            return;
        };
        let s = Store::open(Path::new(&path)).unwrap();
        let started = Instant::now();
        let mut k = stored_page(&s);
        // Bounded, in case the parent fails before killing us.
        while started.elapsed() < Duration::from_secs(60) {
            k += 1;
            s.apply_page("crash", &page(k), &[], &json!({ "page": k }))
                .unwrap();
        }
    }

    #[test]
    fn killed_harvest_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let watcher = Store::open(&path).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash::child_writer", "--exact", "--test-threads=1"])
            .env(ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while stored_page(&watcher) < 5 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "child wrote nothing"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL, mid-page more often than not
        child.wait().unwrap();
        drop(watcher);

        let s = Store::open(&path).unwrap();
        let n = stored_page(&s);
        assert!(n >= 5);
        assert_eq!(s.count_live().unwrap(), n * PAGE, "pages {n}");
        assert_eq!(s.max_seq().unwrap(), (n * PAGE) as i64);
        for k in 1..=n {
            for r in page(k) {
                assert!(s.get(&r.id).unwrap().is_some(), "lost {}", r.id);
            }
        }
        assert_eq!(s.get(&page(n + 1)[0].id).unwrap(), None);

        // Re-fetching the last stored page (a cautious connector) changes nothing; the next pages
        // follow on.
        let again = s
            .apply_page("crash", &page(n), &[], &json!({ "page": n }))
            .unwrap();
        assert_eq!(again, stats(0, 0, PAGE, 0));
        for k in n + 1..=n + 3 {
            s.apply_page("crash", &page(k), &[], &json!({ "page": k }))
                .unwrap();
        }
        assert_eq!(s.count_live().unwrap(), (n + 3) * PAGE);
        assert_eq!(s.max_seq().unwrap(), ((n + 3) * PAGE) as i64);
    }
}
