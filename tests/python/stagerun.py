"""Helpers of the launcher tests (Ray here, Slurm in tests/cluster): the sample mined by `hardneg mine`
and planned into a run folder with the same settings, small windows and chunks so every shard has work."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release" / "hardneg"
SAMPLE = ROOT / "tests" / "fixtures" / "sample"
SETTINGS = ["--corpus", str(SAMPLE / "corpus.jsonl"), "--queries", str(SAMPLE / "queries.jsonl"),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--format", "n-tuple", "--no-progress",
            "--sort-window", "100", "--query-chunk", "20"]


def hardneg(*args):
    return subprocess.run([str(BIN), *args], cwd=ROOT, capture_output=True, text=True, check=True)


def planned(tmp_path, corpus_shards, query_shards):
    """(run folder, the plan's output, mine's output)."""
    mined = tmp_path / "mine.parquet"
    hardneg("mine", *SETTINGS, "--out", str(mined))
    run, out = tmp_path / "run", tmp_path / "staged.parquet"
    hardneg("plan", "--run", str(run), "--corpus-shards", str(corpus_shards), "--query-shards", str(query_shards),
            *SETTINGS, "--out", str(out))
    return run, out, mined
