"""The Ray launcher on a real local Ray instance: `python -m hardneg_ray` runs plan -> stages ->
finalize on the sample and writes byte for byte what `hardneg mine` writes; a shard process killed
with SIGKILL is retried by Ray; a shard failing past its retries stops the run with its log."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stagerun import ROOT, planned


def launcher(run, *extra, env=None):
    cmd = [sys.executable, "-m", "hardneg_ray", "--run", str(run), "--threads", "1", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **(env or {})))


def test_ray_runs_every_stage_and_writes_what_mine_writes(tmp_path):
    run, out, mined = planned(tmp_path, 2, 2)
    p = launcher(run)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert out.read_bytes() == mined.read_bytes()
    logs = sorted(str(p.relative_to(run)) for p in (run / "logs").rglob("*.log"))
    assert logs == ["logs/build-index/00000-of-00001.log", "logs/embed-corpus/00000-of-00002.log",
                    "logs/embed-corpus/00001-of-00002.log", "logs/finalize.log",
                    "logs/mine-queries/00000-of-00002.log", "logs/mine-queries/00001-of-00002.log"]
    assert "mine-queries: 2/2 shards done" in err
    # Again on the finished folder: nothing is submitted, the output stays.
    p = launcher(run)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "embed-corpus: 2/2 shards done" in err
    for log in (run / "logs").rglob("*-of-*.log"):
        assert log.read_text().count("--- exit 0") == 1, log


def test_a_shard_killed_with_sigkill_is_retried_and_the_output_is_unchanged(tmp_path):
    run, out, mined = planned(tmp_path, 2, 1)
    # Each shard sleeps after every embedded window, long enough to be caught and killed.
    p = launcher(run, env={"HARDNEG_HOLD": "embed:1500"})
    pattern = f"stage embed-corpus --run {run.resolve()} --shard 1/2"
    deadline = time.time() + 120
    pid = None
    while pid is None:
        assert time.time() < deadline, "the shard never started"
        assert p.poll() is None, p.communicate()[1]
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        pid = int(found[0]) if found else None
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert out.read_bytes() == mined.read_bytes()
    log = (run / "logs" / "embed-corpus" / "00001-of-00002.log").read_text()
    assert log.count("--- exit -9") == 1 and log.count("--- exit 0") == 1, log


def test_a_shard_failing_past_its_retries_stops_the_run_with_its_log(tmp_path):
    run, out, _ = planned(tmp_path, 2, 1)
    (run / "corpus" / "part-00001.parquet").unlink()
    p = launcher(run, "--max-retries", "1")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 1
    assert "embed-corpus 1/2 failed after 1 retries" in err
    assert "part is missing" in err
    assert not out.exists()
    log = (run / "logs" / "embed-corpus" / "00001-of-00002.log").read_text()
    assert log.count("--- exit 2") == 2, log
