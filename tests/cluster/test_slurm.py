"""The Slurm launcher on a real one-node Slurm (`make slurm-local`, root): `submit.sh --wait` runs
the plan's job arrays and finalize and writes byte for byte what `hardneg mine` writes; after one
array task fails, a second `submit.sh` resubmits that shard alone. Run by `make slurm-test`."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from stagerun import ROOT, planned  # noqa: E402

SUBMIT = ROOT / "launchers" / "slurm" / "submit.sh"


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
