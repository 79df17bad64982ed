#!/usr/bin/env python3
"""Seeded synthetic BEIR collection for speed and memory benchmarks (never for quality claims).

Passages are drawn from a bigram model of a source collection's words (default: the repository's
own sample), with lengths from a log-normal fitted to the source's passage lengths (scaled by
--length-scale). Each query is a handful of a passage's rarer words; that passage is its positive.

usage: synth_corpus.py OUT_DIR --passages 100000 [--queries 1000] [--seed 7] [--source DIR] [--length-scale 1.0]
"""
import argparse, collections, json, math, random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def words(text):
    return [w for w in text.replace("\n", " ").split(" ") if w]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--passages", type=int, required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--source", type=Path, default=ROOT / "tests" / "fixtures" / "sample")
    ap.add_argument("--length-scale", type=float, default=1.0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    docs = [json.loads(l) for l in open(a.source / "corpus.jsonl", encoding="utf-8")]
    texts = [words(d.get("text", "")) for d in docs]
    follow = collections.defaultdict(list)
    freq = collections.Counter()
    for t in texts:
        freq.update(t)
        for x, y in zip(t, t[1:]):
            follow[x].append(y)
    starts = [t[0] for t in texts if t]
    logs = [math.log(len(t)) for t in texts if t]
    mu = sum(logs) / len(logs)
    sigma = (sum((x - mu) ** 2 for x in logs) / len(logs)) ** 0.5
    a.out.mkdir(parents=True, exist_ok=True)
    picked = set(rng.sample(range(a.passages), min(a.queries, a.passages)))
    queries = []
    with open(a.out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(a.passages):
            n = max(3, int(a.length_scale * math.exp(rng.gauss(mu, sigma))))
            w = [rng.choice(starts)]
            while len(w) < n:
                nxt = follow.get(w[-1])
                w.append(rng.choice(nxt) if nxt else rng.choice(starts))
            text = " ".join(w)
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": text}) + "\n")
            if i in picked:
                rare = sorted(set(w), key=lambda x: (freq[x], x))[:6]
                rng.shuffle(rare)
                queries.append((f"q{len(queries)}", " ".join(rare), f"d{i}"))
    with open(a.out / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text, _ in queries:
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with open(a.out / "qrels.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, _, doc in queries:
            f.write(f"{qid}\t{doc}\t1\n")
    print(f"{a.passages} passages, {len(queries)} queries -> {a.out}")


if __name__ == "__main__":
    main()
