//! What the model costs on this machine: embedding a query and an abstract, and the exhaustive
//! scan of quantized vectors per 100k records.
//!
//! `cargo run --release -p semantic --example speed -- MODEL_DIR`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("EVIDENCE_SEMANTIC_MODEL").ok())
        .ok_or("usage: speed MODEL_DIR (or EVIDENCE_SEMANTIC_MODEL)")?;
    let enc = semantic::Encoder::load(std::path::Path::new(&dir))?;
    let query = "inhaled corticosteroids for asthma in children";
    let abstract_text = "Asthma is a common chronic disease of childhood. ".repeat(30);
    let time = |n: usize, f: &dyn Fn()| {
        f();
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    };
    let q_ms = time(50, &|| drop(enc.embed(query)));
    let a_ms = time(10, &|| drop(enc.embed(&abstract_text)));
    let qv = enc.embed(query)?;
    let packed: Vec<Vec<u8>> = (0..100_000)
        .map(|i| {
            let v: Vec<f32> = (0..qv.len())
                .map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0)
                .collect();
            semantic::quantize(&v)
        })
        .collect();
    let scan_ms = time(5, &|| {
        let best = packed
            .iter()
            .filter_map(|p| semantic::dot(&qv, p))
            .fold(f32::MIN, f32::max);
        std::hint::black_box(best);
    });
    println!("query embedding: {q_ms:.2} ms; abstract (128 tokens): {a_ms:.1} ms; scan of 100k vectors: {scan_ms:.1} ms (one thread)");
    Ok(())
}
