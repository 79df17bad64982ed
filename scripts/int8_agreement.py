#!/usr/bin/env python3
"""How far a lossy graph (int8) moves embeddings and neighbours from the fp32 graph.

Embeds the first N passages of a JSONL corpus (and, with --queries, its queries) with FP32.onnx and
each LOSSY.onnx the way hardneg batches them, and prints per lossy graph: the min and mean cosine of
its sentence embeddings to fp32's, and the share of the 5 nearest passages it shares with fp32's,
for every passage (itself excluded) and for every query. The neighbour share is what decides
whether mined negatives change (hardneg's issue 7 asks ≥ 90% of negative ids shared).

usage: int8_agreement.py FP32.onnx LOSSY.onnx [LOSSY.onnx ...] --tokenizer TOKENIZER.json
                         --corpus CORPUS.jsonl [--queries QUERIES.jsonl] [--n 4000] [--threads 2]
"""
import argparse, time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from encode import feeds, length_sorted_batches, read_passages, session_options

K = 5


def embed(model, tok, texts, threads):
    sess = ort.InferenceSession(model, session_options(threads, "SkipLayerNormFusion"), providers=["CPUExecutionProvider"])
    out = np.zeros((len(texts), sess.get_outputs()[-1].shape[-1]), np.float32)
    for rows, ids, mask in length_sorted_batches(tok, texts, 64):
        out[rows] = sess.run(["sentence_embedding"], feeds(ids, mask))[0]
    return out


def neighbours(queries, passages, exclude_self):
    scores = queries @ passages.T
    if exclude_self:
        np.fill_diagonal(scores, -np.inf)
    return np.argpartition(-scores, K, axis=1)[:, :K]


def shared(a, b):
    return np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fp32"); ap.add_argument("lossy", nargs="+")
    ap.add_argument("--tokenizer", required=True); ap.add_argument("--corpus", required=True)
    ap.add_argument("--queries"); ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    tok = Tokenizer.from_file(a.tokenizer)
    sets = {"passages": read_passages(a.corpus, a.n)}
    if a.queries:
        sets["queries"] = read_passages(a.queries)
    ref = {k: embed(a.fp32, tok, t, a.threads) for k, t in sets.items()}
    ref_by_passage = neighbours(ref["passages"], ref["passages"], True)
    ref_by_query = neighbours(ref["queries"], ref["passages"], False) if a.queries else None
    print("| graph | texts | min cosine | mean cosine | top-5 passages shared (passages) | top-5 passages shared (queries) | embed s |")
    print("|---|---|---|---|---|---|---|")
    for model in a.lossy:
        start = time.perf_counter()
        got = {k: embed(model, tok, t, a.threads) for k, t in sets.items()}
        took = time.perf_counter() - start
        cos = np.concatenate([(got[k] * ref[k]).sum(1) for k in sets])
        by_passage = shared(ref_by_passage, neighbours(got["passages"], got["passages"], True))
        by_query = f"{shared(ref_by_query, neighbours(got['queries'], got['passages'], False)):.1%}" if a.queries else ""
        print(f"| {model} | {len(cos)} | {cos.min():.4f} | {cos.mean():.5f} | {by_passage:.1%} | {by_query} | {took:.1f} |")


if __name__ == "__main__":
    main()
