"""Every output format read the way trainers read it: pyarrow, Hugging Face `datasets`
(`load_dataset("parquet" | "json", ...)`), with the column names and types that
sentence-transformers, FlagEmbedding and Tevatron expect. Drives the release binary on the
repository's sample collection."""
import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release" / "hardneg"
SAMPLE = ROOT / "tests" / "fixtures" / "sample"


def mine(tmp_path, fmt, *extra):
    suffix = "jsonl" if fmt in ("flag-embedding", "tevatron") else "parquet"
    out = tmp_path / f"{fmt}.{suffix}"
    subprocess.run(
        [str(BIN), "mine", "--no-progress", "--corpus", str(SAMPLE / "corpus.jsonl"), "--queries", str(SAMPLE / "queries.jsonl"),
         "--qrels", str(SAMPLE / "qrels.tsv"), "--out", str(out), "--format", fmt, "--num-negatives", "3", *extra],
        check=True, cwd=ROOT, capture_output=True)
    return out


def hf(path, kind="parquet"):
    return load_dataset(kind, data_files=str(path), split="train", cache_dir=str(path.parent / "hf-cache"))


def qrels():
    out = {}
    for line in (SAMPLE / "qrels.tsv").read_text().splitlines()[1:]:
        q, d, _ = line.split("\t")
        out.setdefault(q, set()).add(d)
    return out


def test_triplet_columns_for_sentence_transformers(tmp_path):
    ds = hf(mine(tmp_path, "triplet"))
    assert ds.column_names[:3] == ["anchor", "positive", "negative"]
    assert all(ds.features[c].dtype == "string" for c in ("anchor", "positive", "negative"))
    assert ds.features["negative_score"].dtype == "float32"
    rel = qrels()
    assert all(n not in rel[q] for q, n in zip(ds["query_id"], ds["negative_id"]))


def test_n_tuple_scores_for_margin_mse(tmp_path):
    path = mine(tmp_path, "n-tuple-scores")
    table = pq.read_table(path)
    assert table.column_names[:6] == ["anchor", "positive", "negative_1", "negative_2", "negative_3", "scores"]
    ds = hf(path)
    row = ds[0]
    assert len(row["scores"]) == 4 and row["scores"][0] == pytest.approx(row["positive_score"])
    assert row["scores"][1:] == pytest.approx(row["negative_scores"])
    assert row["negative_ranks"] == sorted(row["negative_ranks"])


def test_no_provenance_leaves_only_trainer_columns(tmp_path):
    ds = hf(mine(tmp_path, "n-tuple", "--no-provenance"))
    assert ds.column_names == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]


def test_labeled_formats(tmp_path):
    pair = hf(mine(tmp_path, "labeled-pair"))
    assert pair.column_names[:3] == ["anchor", "text", "label"]
    assert pair.features["label"].dtype == "int64"
    assert pair["label"][:4] == [1, 0, 0, 0]
    lst = hf(mine(tmp_path, "labeled-list"))
    assert lst.column_names[:3] == ["anchor", "texts", "labels"]
    assert lst[0]["labels"] == [1, 0, 0, 0] and len(lst[0]["texts"]) == 4


def test_flag_embedding_jsonl_and_sidecar(tmp_path):
    path = mine(tmp_path, "flag-embedding")
    ds = hf(path, "json")
    assert set(ds.column_names) == {"query", "pos", "neg", "pos_scores", "neg_scores"}
    row = ds[0]
    assert isinstance(row["pos"], list) and isinstance(row["pos"][0], str)  # not split into characters
    assert len(row["neg"]) == 3 and len(row["neg_scores"]) == 3
    side = pq.read_table(str(path) + ".provenance.parquet")
    assert side.num_rows == len(ds)
    assert side.column("negative_scores")[0].as_py() == pytest.approx(row["neg_scores"])


def test_tevatron_jsonl(tmp_path):
    path = mine(tmp_path, "tevatron")
    first = json.loads(path.read_text().splitlines()[0])
    assert set(first) == {"query_id", "query", "positive_passages", "negative_passages"}
    assert set(first["negative_passages"][0]) == {"docid", "title", "text"}
    assert len(first["negative_passages"]) == 3


def test_counterfactual_negatives_carry_their_edit(tmp_path):
    path = mine(tmp_path, "triplet", "--counterfactuals", "2")
    table = pq.read_table(path)
    edits = table.schema.field("negative_edits").type
    assert [f.name for f in edits.value_type] == ["family", "original", "replacement", "offset", "anchor"]
    ds = hf(path)
    rows = [r for r in ds if r["negative_source"].startswith("counterfactual:")]
    assert rows, "the sample yields counterfactuals"
    for r in rows:
        family = r["negative_source"].split(":", 1)[1]
        assert r["negative_id"].startswith(f"{r['positive_id']}#cf:{family}:")
        assert r["negative_rank"] is None
        (edit,) = r["negative_edits"]
        assert edit["family"] == family and r["positive"][edit["offset"]:].startswith(edit["original"])
        assert edit["anchor"] and edit["anchor"] in r["anchor"].lower()
        assert r["negative"] != r["positive"] and edit["replacement"] in r["negative"]
    mined = [r for r in ds if r["negative_source"] == "mined"]
    assert all(r["negative_edits"] in (None, [], [None]) for r in mined)


def test_perturb_output_reads_back(tmp_path):
    out = tmp_path / "edits.parquet"
    subprocess.run([str(BIN), "perturb", "--input", str(SAMPLE / "queries.jsonl"), "--out", str(out), "--counterfactuals", "1"],
                   check=True, cwd=ROOT, capture_output=True)
    table = pq.read_table(out)
    assert table.column_names == ["id", "source_id", "source", "text", "family", "original", "replacement", "direction", "similarity"]
    for row in table.to_pylist():
        assert row["text"] != row["source"] and row["id"] == f"{row['source_id']}#cf:{row['family']}:0"
        assert row["original"] in row["source"] and row["replacement"] in row["text"]


def run_hardneg(*args):
    return subprocess.run([str(BIN), *args], check=True, cwd=ROOT, capture_output=True, text=True)


def test_a_folder_output_from_mine_and_from_a_sharded_run_loads_with_datasets(tmp_path):
    inputs = ["--corpus", str(SAMPLE / "corpus.jsonl"), "--queries", str(SAMPLE / "queries.jsonl"),
              "--qrels", str(SAMPLE / "qrels.tsv"), "--format", "n-tuple", "--no-progress"]
    mined = tmp_path / "mined"
    run_hardneg("mine", *inputs, "--out", f"{mined}/")
    run = tmp_path / "run"
    staged = tmp_path / "staged"
    run_hardneg("plan", "--run", str(run), "--corpus-shards", "2", "--query-shards", "2", *inputs,
                "--sort-window", "100", "--query-chunk", "20", "--out", f"{staged}/")
    for stage, n in (("embed-corpus", 2), ("build-index", 1), ("mine-queries", 2)):
        for i in range(n):
            run_hardneg("stage", stage, "--run", str(run), "--shard", f"{i}/{n}", "--no-progress")
    run_hardneg("finalize", "--run", str(run))
    for folder in (mined, staged):
        assert sorted(p.name for p in folder.iterdir()) == ["part-00000.parquet"]
        manifest = json.loads((tmp_path / f"{folder.name}.manifest.json").read_text())
        ds = load_dataset("parquet", data_dir=str(folder), split="train", cache_dir=str(tmp_path / "hf-cache"))
        assert ds.num_rows == manifest["counts"]["rows"] > 0
        assert ds.column_names[:3] == ["anchor", "positive", "negative_1"]
    # The same rows whichever way they were mined (different windows change float rounding only).
    a = pq.read_table(mined).to_pylist()
    b = pq.read_table(staged).to_pylist()
    assert [r["query_id"] for r in a] == [r["query_id"] for r in b]
