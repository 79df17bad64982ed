#!/usr/bin/env python3
"""Derives the background bigram table (data/background-bigrams.txt.gz) from WordNet 3.0's
glosses and example sentences, once.

The fluency check of counterfactual edits asks whether the bigrams at an edit's boundary occur in
running text. A run's own corpus is often too small to attest them (a few thousand abstracts), so
the check also consults this table of general English: every bigram of WordNet's glosses and
examples (about 1.9M tokens) that involves a word some edit family may write (the words of
data/comparatives.tsv and data/antonyms.tsv). Tokens are lower-cased, numbers are `<num>`,
sentences are framed by `<s>` and `</s>`, as in src/perturb/checks.rs. The file is committed with
WordNet's licence (data/WORDNET-LICENSE).

usage: derive_bigrams.py wn/usr/share/wordnet > data/background-bigrams.txt.gz
"""
import gzip
import io
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
TOKEN = re.compile(r"\d[\d,.]*\d|\d|\w+(?:['’]\w+)*|[^\w\s]")


def watched():
    words = set()
    for name in ("comparatives.tsv", "antonyms.tsv"):
        for line in (DATA / name).read_text().splitlines():
            if not line.startswith("#"):
                words.update(line.split())
    return words


def main():
    root = Path(sys.argv[1])
    words = watched()
    bigrams = set()
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (root / f"data.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" ") or "|" not in line:
                continue
            for part in re.split(r";\s*", line.split("|", 1)[1].strip()):
                tokens = ["<s>"] + ["<num>" if t[0].isdigit() else t.lower() for t in TOKEN.findall(part.strip().strip('"'))] + ["</s>"]
                bigrams.update((a, b) for a, b in zip(tokens, tokens[1:]) if a in words or b in words)
    text = "# Bigrams of WordNet 3.0 glosses and examples (scripts/derive_bigrams.py); WordNet 3.0 Copyright 2006 by Princeton University. See data/WORDNET-LICENSE.\n"
    text += "".join(f"{a}\t{b}\n" for a, b in sorted(bigrams))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(text.encode())
    sys.stdout.buffer.write(out.getvalue())


if __name__ == "__main__":
    main()
