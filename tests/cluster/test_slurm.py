"""The Slurm launcher on a real one-node Slurm (`make slurm-local`, root): `submit.sh --wait` runs
the plan's job arrays and finalize and writes byte for byte what `hardneg mine` writes; after one
array task fails, a second `submit.sh` resubmits that shard alone. Run by `make slurm-test`."""
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release" / "hardneg"
SUBMIT = ROOT / "launchers" / "slurm" / "submit.sh"
SAMPLE = ROOT / "tests" / "fixtures" / "sample"
SETTINGS = ["--corpus", str(SAMPLE / "corpus.jsonl"), "--queries", str(SAMPLE / "queries.jsonl"),
            "--qrels", str(SAMPLE / "qrels.tsv"), "--format", "n-tuple", "--no-progress",
            "--sort-window", "100", "--query-chunk", "20"]


def hardneg(*args):
    return subprocess.run([str(BIN), *args], cwd=ROOT, capture_output=True, text=True, check=True)


def planned(tmp_path, corpus_shards, query_shards):
    mined = tmp_path / "mine.parquet"
    hardneg("mine", *SETTINGS, "--out", str(mined))
    run, out = tmp_path / "run", tmp_path / "staged.parquet"
    hardneg("plan", "--run", str(run), "--corpus-shards", str(corpus_shards), "--query-shards", str(query_shards),
            *SETTINGS, "--out", str(out))
    return run, out, mined


def submit(run, *extra):
    return subprocess.run([str(SUBMIT), str(run), "--wait", *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_submit_wait_runs_every_stage_and_writes_what_mine_writes(tmp_path):
    run, out, mined = planned(tmp_path, 2, 2)
    p = submit(run, "--throttle", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert out.read_bytes() == mined.read_bytes()
    assert re.search(r"embed-corpus: job \d+, shards 0,1 of 2", p.stdout), p.stdout
    assert "finalized" in p.stdout
    assert sorted(q.name for q in (run / "logs" / "mine-queries").iterdir()) == ["0.log", "1.log"]


def test_after_a_failed_array_task_a_second_submit_reruns_that_shard_alone(tmp_path):
    run, out, mined = planned(tmp_path, 2, 1)
    part = run / "corpus" / "part-00001.parquet"
    shutil.move(part, tmp_path / "aside.parquet")
    p = submit(run)
    assert p.returncode != 0
    assert re.search(r"1/2\s+failed", p.stdout), p.stdout
    assert "part is missing" in (run / "logs" / "embed-corpus" / "1.log").read_text()
    assert not out.exists()
    shutil.move(tmp_path / "aside.parquet", part)
    p = submit(run)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"embed-corpus: job \d+, shards 1 of 2\n", p.stdout), p.stdout
    assert out.read_bytes() == mined.read_bytes()
