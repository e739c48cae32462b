#!/usr/bin/env python3
"""Lexical ranking methods on NFCorpus dev, outside the engine (benches/RELEVANCE.md rows 31-35).

A numpy reimplementation of BM25 with the engine's analysis in outline (lower case, UK "ae"
folded, Lucene stop words, Snowball English stems), used to find where lexical methods top out on
this split before porting any of them into the engine. Its one-field baseline reads 0.3019 nDCG@10,
the engine's 0.2994: the same level, not the same figures, so compare rows within this script only.

    pip install numpy scipy snowballstemmer
    python3 benches/relevance/lexical_ceiling.py [../shared/data/beir/nfcorpus] [--only NAME ...]

Each experiment prints its settings with nDCG@10 and recall@100 (trec_eval's definitions, as in
indexer::eval). It needs a few minutes; the neighbour graph needs about 100 MB.
"""

import argparse
import collections
import json
import math
import os
import re
import sys

try:
    import numpy as np
    import scipy.sparse as sp
    import snowballstemmer
except ImportError as e:
    sys.exit(f"missing python package ({e.name}): pip install numpy scipy snowballstemmer")

LUCENE_STOP = set(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
QUESTION_WORDS = set(
    "why how what which who whom whose when where does do did can could should would may might "
    "must shall will your you our we i my".split()
)
WORD = re.compile(r"[a-z0-9]+")
STEM = snowballstemmer.stemmer("english")


def analyse(text):
    text = text.lower().replace("ae", "e")
    return [STEM.stemWord(w) for w in WORD.findall(text) if w not in LUCENE_STOP]


def recover_title(text):
    """As indexer::eval::recover_title: words before `abstract` among the first 40 are the title."""
    words = text.split()
    k = words.index("abstract") if "abstract" in words[:40] else 0
    return (" ".join(words[:k]), " ".join(words[k + 1 :])) if k else ("", text)


class Field:
    """Term frequencies of one field, column-major, with BM25 statistics."""

    def __init__(self, texts, vocab=None):
        toks = [analyse(t) for t in texts]
        self.vocab = {} if vocab is None else vocab
        rows, cols, vals = [], [], []
        for i, ts in enumerate(toks):
            for w, c in collections.Counter(ts).items():
                rows.append(i)
                cols.append(self.vocab.setdefault(w, len(self.vocab)))
                vals.append(c)
        n = len(texts)
        self.tf = sp.csc_matrix((vals, (rows, cols)), shape=(n, len(self.vocab)), dtype=float)
        self.dl = np.array([len(t) for t in toks], dtype=float)
        self.avgdl = max(self.dl.mean(), 1e-9)
        df = np.diff(self.tf.indptr)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        self.n = n

    def bm25(self, terms, k1=1.2, b=0.75, weights=None):
        s = np.zeros(self.n)
        for t in terms:
            j = self.vocab.get(t)
            if j is None:
                continue
            a, e = self.tf.indptr[j], self.tf.indptr[j + 1]
            r, tf = self.tf.indices[a:e], self.tf.data[a:e]
            w = 1.0 if weights is None else weights[t]
            s[r] += w * self.idf[j] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * self.dl[r] / self.avgdl))
        return s

    def pseudo_tf(self, term, b=0.75):
        """A term's length-normalised frequency per record, for BM25F."""
        out = np.zeros(self.n)
        j = self.vocab.get(term)
        if j is not None:
            a, e = self.tf.indptr[j], self.tf.indptr[j + 1]
            r = self.tf.indices[a:e]
            out[r] = self.tf.data[a:e] / (1 - b + b * self.dl[r] / self.avgdl)
        return out


class Bench:
    def __init__(self, root):
        docs = [json.loads(line) for line in open(os.path.join(root, "corpus.jsonl"))]
        self.ids = [d["_id"] for d in docs]
        self.queries = {}
        for line in open(os.path.join(root, "queries.jsonl")):
            q = json.loads(line)
            self.queries[q["_id"]] = q["text"]
        self.qrels = collections.defaultdict(dict)
        with open(os.path.join(root, "qrels", "dev.tsv")) as f:
            next(f)
            for line in f:
                q, d, g = line.split("\t")
                self.qrels[q][d] = int(g)
        self.queries = {q: t for q, t in self.queries.items() if q in self.qrels}
        split = [recover_title(d["text"]) if not d["title"].strip() else (d["title"], d["text"]) for d in docs]
        self.whole = Field([d["title"] + " " + d["text"] for d in docs])
        self.title = Field([t for t, _ in split])
        self.abstract = Field([a for _, a in split])
        self.n = len(docs)

    def evaluate(self, rank):
        """Mean nDCG@10 and recall@100 of `rank(query words) -> scores` over the judged queries."""
        nd, rc = [], []
        for q, text in self.queries.items():
            s = rank(analyse(text))
            order = np.argsort(-s, kind="stable")[:100]
            run = [self.ids[i] for i in order if s[i] > 0]
            rel = self.qrels[q]
            dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(run[:10]))
            ideal = sorted(rel.values(), reverse=True)[:10]
            idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
            nd.append(dcg / idcg if idcg else 0.0)
            relevant = {d for d, g in rel.items() if g > 0}
            rc.append(len(relevant & set(run)) / len(relevant) if relevant else 0.0)
        return float(np.mean(nd)), float(np.mean(rc))

    def fields(self, q, title_weight=1.0):
        return title_weight * self.title.bm25(q) + self.abstract.bm25(q)

    def bm25f(self, q, title_weight, k1=1.2):
        s = np.zeros(self.n)
        for t in q:
            j = self.whole.vocab.get(t)
            if j is None:
                continue
            ptf = title_weight * self.title.pseudo_tf(t) + self.abstract.pseudo_tf(t)
            s += self.whole.idf[j] * ptf * (k1 + 1) / (ptf + k1)
        return s

    def rm3(self, q, first, docs=10, terms=20, lam=0.5, widen=True):
        """RM3 as search::index does it: terms of the best records by weight x idf."""
        s = first(q)
        top = np.argsort(-s)[:docs]
        top = top[s[top] > 0]
        if len(top) == 0:
            return s
        rows = self.whole.tf.tocsr()
        inv = {j: w for w, j in self.whole.vocab.items()}
        mass = collections.defaultdict(float)
        for i in top:
            row = rows.getrow(i)
            for j, c in zip(row.indices, row.data):
                mass[j] += c / row.data.sum() * s[i] / s[top].sum()
        best = sorted(mass.items(), key=lambda x: -x[1] * self.whole.idf[x[0]])[:terms]
        z = sum(v for _, v in best)
        weights = collections.defaultdict(float)
        for t in q:
            weights[t] += lam / len(q)
        for j, v in best:
            weights[inv[j]] += (1 - lam) * v / z
        s2 = self.title.bm25(list(weights), weights=weights) + self.abstract.bm25(list(weights), weights=weights)
        return s2 if widen else np.where(s > 0, s2, 0)


def neighbour_graph(field, k):
    """Each record's k most similar records by cosine of BM25-weighted vectors."""
    w = field.tf.tocsr().astype(float)
    for i in range(w.shape[0]):
        a, e = w.indptr[i], w.indptr[i + 1]
        tf = w.data[a:e]
        w.data[a:e] = tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * field.dl[i] / field.avgdl)) * field.idf[w.indices[a:e]]
    norm = np.sqrt(np.asarray(w.multiply(w).sum(axis=1)).ravel())
    w = sp.diags(1 / np.maximum(norm, 1e-12)) @ w
    sim = (w @ w.T).toarray()
    np.fill_diagonal(sim, 0)
    g = np.zeros_like(sim)
    idx = np.argpartition(-sim, k, axis=1)[:, :k]
    for i in range(len(g)):
        g[i, idx[i]] = sim[i, idx[i]]
    return g


def regularise(s, graph, alpha):
    """Score regularisation: interpolate each record's score with its neighbours' mean."""
    m = s.max()
    if m <= 0:
        return s
    s = s / m
    return (1 - alpha) * s + alpha * (graph @ s) / np.maximum(graph.sum(axis=1), 1e-9)


def mesh_explode(tree_file):
    """Descriptor names (analysed) -> tree numbers, and tree number -> children, from MeshTree."""
    with open(tree_file, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    by_name, name_of, children = collections.defaultdict(list), {}, collections.defaultdict(list)
    for tn, _ui, term in rows:
        by_name[tuple(analyse(term))].append(tn)
        name_of[tn] = term
    for tn in name_of:
        if "." in tn:
            children[tn.rsplit(".", 1)[0]].append(tn)

    def expand(q, depth):
        found = [tuple(q[i : i + n]) for n in (3, 2, 1) for i in range(len(q) - n + 1) if tuple(q[i : i + n]) in by_name]
        out = collections.Counter()
        for g in found:
            for tn in by_name[g]:
                frontier = [tn]
                for _ in range(depth):
                    frontier = [c for f in frontier for c in children[f]]
                    for c in frontier[:30]:
                        out.update(w for w in analyse(name_of[c]) if w not in q)
        return out

    return expand


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("beir", nargs="?", default="../shared/data/beir/nfcorpus")
    ap.add_argument("--only", nargs="*", help="experiments to run (default: all)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.beir, "corpus.jsonl")):
        sys.exit(f"NFCorpus not found at {args.beir} (real data lives in ../shared/data beside the repo)")
    b = Bench(args.beir)
    wanted = lambda name: not args.only or name in args.only

    def report(name, rank):
        nd, rc = b.evaluate(rank)
        print(f"{name:<55} ndcg@10 {nd:.4f}  recall@100 {rc:.4f}", flush=True)

    if wanted("baseline"):
        report("one field (text whole)", lambda q: b.whole.bm25(q))
        for tw in (0.5, 1.0, 2.0):
            report(f"title {tw} + abstract 1 (per-field sum)", lambda q: b.fields(q, tw))
    if wanted("k1b"):  # row 31
        for k1 in (0.6, 0.9, 1.2, 1.5, 2.0):
            for bb in (0.4, 0.6, 0.75, 0.9, 1.0):
                report(f"one field, k1 {k1} b {bb}", lambda q: b.whole.bm25(q, k1, bb))
    if wanted("bm25f"):  # row 32
        for tw in (0.5, 1.0, 2.0, 3.0):
            report(f"BM25F title {tw}", lambda q: b.bm25f(q, tw))
    if wanted("rm3"):
        for docs, terms, lam in ((10, 20, 0.5), (10, 40, 0.5), (20, 80, 0.3)):
            for widen in (True, False):
                report(
                    f"RM3 docs {docs} terms {terms} lambda {lam} {'widened' if widen else 'restricted'}",
                    lambda q: b.rm3(q, b.fields, docs, terms, lam, widen),
                )
    if wanted("graph"):  # row 33
        for k in (5, 10, 20, 50):
            g = neighbour_graph(b.whole, k)
            for alpha in (0.1, 0.3, 0.5):
                report(f"neighbours k {k} alpha {alpha}", lambda q: regularise(b.fields(q), g, alpha))
                report(
                    f"neighbours k {k} alpha {alpha} restricted",
                    lambda q: np.where(b.fields(q) > 0, regularise(b.fields(q), g, alpha), 0),
                )
            report(f"neighbours k {k} alpha 0.5 on RM3", lambda q: regularise(b.rm3(q, b.fields), g, 0.5))
    tree = os.path.join(args.beir, "..", "..", "mesh", "mesh_tree_2017.txt")
    if wanted("mesh") and os.path.exists(tree):  # row 34
        expand = mesh_explode(tree)

        def exploded(q, w, depth):
            s = b.fields(q)
            extra = expand(q, depth)
            z = sum(extra.values())
            for t, c in extra.items():
                s = s + w * c / z * len(q) * b.fields([t])
            return s

        for w in (0.1, 0.2, 0.4):
            for depth in (1, 2):
                report(f"MeSH explode weight {w} depth {depth}", lambda q: exploded(q, w, depth))
    if wanted("question"):  # row 35
        stems = {t for w in QUESTION_WORDS for t in analyse(w)}
        report("question words dropped from queries", lambda q: b.fields([t for t in q if t not in stems] or q))


if __name__ == "__main__":
    main()
