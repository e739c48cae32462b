//! PubMed XML parsing speed (MB/s, one core): the real 121-article efetch response from
//! `../shared/data/sources/pubmed/efetch_pubmedarticleset_121.xml`, its articles repeated into one
//! ~16 MB `PubmedArticleSet`. Skips with a message when the file is absent. Goal: ≥ 50 MB/s.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let Some(path) =
        benches::shared_data().map(|d| d.join("sources/pubmed/efetch_pubmedarticleset_121.xml"))
    else {
        eprintln!("skipping pubmed_parse: ../shared/data is absent");
        return;
    };
    let Ok(xml) = std::fs::read_to_string(&path) else {
        eprintln!("skipping pubmed_parse: {} is absent", path.display());
        return;
    };
    let (Some(open), Some(close)) = (
        xml.find("<PubmedArticleSet>"),
        xml.rfind("</PubmedArticleSet>"),
    ) else {
        eprintln!(
            "skipping pubmed_parse: {} has no PubmedArticleSet",
            path.display()
        );
        return;
    };
    let head = &xml[..open + "<PubmedArticleSet>".len()];
    let body = &xml[open + "<PubmedArticleSet>".len()..close];
    let copies = (16 << 20) / body.len().max(1) + 1;
    let mut big = String::with_capacity(head.len() + body.len() * copies + 32);
    big.push_str(head);
    for _ in 0..copies {
        big.push_str(body);
    }
    big.push_str("</PubmedArticleSet>\n");
    let big = big.into_bytes();
    match harvest::pubmed::parse_efetch(&big, "pubmed") {
        Ok(p) => eprintln!(
            "pubmed_parse: {:.1} MB, {} records per pass",
            big.len() as f64 / 1e6,
            p.records.len()
        ),
        Err(e) => {
            eprintln!("skipping pubmed_parse: the parser rejects the input: {e}");
            return;
        }
    }
    let mut g = c.benchmark_group("pubmed_parse");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("efetch_121_repeated", |b| {
        b.iter(|| {
            black_box(
                harvest::pubmed::parse_efetch(black_box(&big), "pubmed").map(|p| p.records.len()),
            )
        })
    });
    let one = xml.as_bytes();
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function("efetch_121_once", |b| {
        b.iter(|| {
            black_box(
                harvest::pubmed::parse_efetch(black_box(one), "pubmed").map(|p| p.records.len()),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
