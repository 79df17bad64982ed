"""Blind-artifact check of a training set's counterfactual negatives (`make bench-artifacts`).

Can a reader who never sees the query tell an edited passage from its source?
- a bag-of-words classifier: logistic regression on word uni+bigram counts, trained on 4/5 of
  the (source, edit) pairs and scored on the rest, folds by source passage, AUC averaged; 0.5
  means the edits leave no surface cue;
- a bigram language model (add-k, interpolated with unigrams) trained on the corpus with the
  scored passage left out: the share of pairs whose source it finds more probable than the edit.

Reads a `labeled-list` Parquet written by `hardneg mine --counterfactuals N` (the positive is
`texts[0]`, negative k is `texts[k + 1]` with its edit in `negative_edits[k]`), or with
`--perturbed` what `hardneg perturb --input CORPUS --column text` wrote (edits of every passage,
no query: many more pairs), and the corpus. Prints one JSON object: pairs, AUC and LM preference
pooled and per family.
"""

import argparse
import collections
import gzip
import json
import math
import re
import zlib

import pyarrow.parquet as pq

WORD = re.compile(r"[\w']+")


def words(text):
    return [w.lower() for w in WORD.findall(text)]


def ngrams(text):
    w = words(text)
    return w + [f"{a} {b}" for a, b in zip(w, w[1:])]


def auc(scores, labels):
    """Area under the ROC curve (rank statistic, ties averaged)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(labels)
    neg = len(labels) - pos
    rank_sum = sum(r for r, l in zip(ranks, labels) if l)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def fold_auc(train, test):
    """L2-regularised logistic regression by SGD (as tests/it/counterfactuals.rs does)."""
    vocab = {}
    rows = []
    for _, source, edited in train:
        for text, label in ((source, 0), (edited, 1)):
            rows.append(([vocab.setdefault(g, len(vocab)) for g in ngrams(text)], label))
    w = [0.0] * (len(vocab) + 1)
    bias = len(vocab)
    for epoch in range(40):
        rate = 0.5 / (1 + epoch)
        for features, label in rows:
            z = w[bias] + sum(w[f] for f in features)
            z = max(min(z, 35.0), -35.0)
            gradient = 1 / (1 + math.exp(-z)) - label
            w[bias] -= rate * gradient
            for f in features:
                w[f] -= rate * (gradient + 1e-3 * w[f])
    scores, labels = [], []
    for _, source, edited in test:
        for text, label in ((source, 0), (edited, 1)):
            scores.append(w[bias] + sum(w[vocab[g]] for g in ngrams(text) if g in vocab))
            labels.append(label)
    return auc(scores, labels)


def artifact_auc(pairs, folds=5):
    """Held-out AUC averaged over folds; a source passage's pairs stay in one fold."""
    fold_of = lambda source_id: zlib.crc32(source_id.encode()) % folds  # noqa: E731
    results = []
    for fold in range(folds):
        test = [p for p in pairs if fold_of(p[0]) == fold]
        train = [p for p in pairs if fold_of(p[0]) != fold]
        if test and train:
            results.append(fold_auc(train, test))
    return sum(results) / len(results)


class BigramLM:
    """Add-k bigram model interpolated with add-one unigrams, counts from the corpus."""

    def __init__(self, passages, k=0.1, weight=0.7):
        self.uni = collections.Counter()
        self.bi = collections.Counter()
        for text in passages:
            self.add(text, 1)
        self.k, self.weight = k, weight

    def add(self, text, sign):
        w = ["<s>"] + words(text)
        for a in w:
            self.uni[a] += sign
        for a, b in zip(w, w[1:]):
            self.bi[(a, b)] += sign

    def logprob(self, text):
        w = ["<s>"] + words(text)
        total = sum(self.uni.values())
        v = len(self.uni) + 1
        lp = 0.0
        for a, b in zip(w, w[1:]):
            unigram = (self.uni[b] + 1) / (total + v)
            bigram = (self.bi[(a, b)] + self.k * unigram * v) / (self.uni[a] + self.k * v)
            lp += math.log(self.weight * bigram + (1 - self.weight) * unigram)
        return lp


def read_corpus(path):
    """The corpus's documents by id."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return {d["_id"]: d for d in map(json.loads, filter(str.strip, f))}


def passage(doc):
    """A document as the language model reads it: title and text."""
    return " ".join(t for t in (doc.get("title"), doc.get("text")) if t)


def pairs_of(training_set):
    """(source id, source text, edited text) per family, each distinct edit once."""
    table = pq.read_table(training_set, columns=["positive_id", "texts", "negative_edits"]).to_pylist()
    seen = set()
    by_family = collections.defaultdict(list)
    for row in table:
        for k, edit in enumerate(row["negative_edits"] or []):
            edited = row["texts"][k + 1]
            if edit is None or (row["positive_id"], edited) in seen:
                continue
            seen.add((row["positive_id"], edited))
            by_family[edit["family"]].append((row["positive_id"], row["texts"][0], edited))
    return by_family


def perturbed_pairs(edits, docs):
    """(source id, source text, edited text) per family from `hardneg perturb` output."""
    by_family = collections.defaultdict(list)
    for row in pq.read_table(edits, columns=["source_id", "text", "family"]).to_pylist():
        by_family[row["family"]].append((row["source_id"], docs[row["source_id"]]["text"], row["text"]))
    return by_family


def lm_win(lm, corpus, pair):
    """1 when the model finds the source more probable than the edit, 0.5 on a tie, else 0."""
    source_id, source, edited = pair
    own = corpus.get(source_id)
    if own is not None:
        lm.add(own, -1)
    a, b = lm.logprob(source), lm.logprob(edited)
    if own is not None:
        lm.add(own, 1)
    return 1.0 if a > b else 0.5 if a == b else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--training-set", help="labeled-list Parquet from hardneg mine")
    source.add_argument("--perturbed", help="Parquet from hardneg perturb --input CORPUS --column text")
    ap.add_argument("--corpus", required=True, help="the corpus JSONL the edits were made from")
    args = ap.parse_args()
    docs = read_corpus(args.corpus)
    if args.training_set:
        by_family = pairs_of(args.training_set)
    else:
        by_family = perturbed_pairs(args.perturbed, docs)
    corpus = {doc_id: passage(doc) for doc_id, doc in docs.items()}
    lm = BigramLM(corpus.values())
    everything = [p for pairs in by_family.values() for p in pairs]
    if not everything:
        raise SystemExit(f"{args.training_set or args.perturbed}: no counterfactual edits to check")
    # Each pair is scored by the language model once; the pooled share and each family's come
    # from the same wins.
    wins = {family: [lm_win(lm, corpus, p) for p in pairs] for family, pairs in by_family.items()}
    share = lambda w: round(sum(w) / len(w), 3)  # noqa: E731
    report = {"pairs": len(everything), "auc": round(artifact_auc(everything), 3),
              "lm_prefers_source": share([w for ws in wins.values() for w in ws]), "families": {}}
    for family, pairs in sorted(by_family.items()):
        entry = {"pairs": len(pairs), "lm_prefers_source": share(wins[family])}
        # Fewer than 20 pairs leave a fold with a handful of texts: no AUC worth printing.
        if len(pairs) >= 20:
            entry["auc"] = round(artifact_auc(pairs), 3)
        report["families"][family] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
