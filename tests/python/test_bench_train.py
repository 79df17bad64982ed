"""The training-value benchmark end to end on the sample collection: every recipe is mined by the
release binary, fine-tuned for one step with sentence-transformers (`.venv-train`, which
`make test` installs) and scored on held-out queries, in both regimes. A smoke test of the
scripts, not a result: one step trains nothing worth measuring."""
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAIN_PY = ROOT / ".venv-train" / "bin" / "python"
sys.path.insert(0, str(ROOT / "scripts"))

from bench_train import RECIPES  # noqa: E402  (the script's own table: every recipe must run)


def test_every_recipe_runs_one_training_step_in_both_regimes(tmp_path):
    assert TRAIN_PY.exists(), "`make test` installs .venv-train (sentence-transformers, torch)"
    run = subprocess.run(
        [str(TRAIN_PY), "scripts/bench_train.py", "tests/fixtures/sample", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {(r["regime"], r["recipe"]) for r in rows} == {(g, name) for g in "AB" for name in RECIPES}
    for r in rows:
        assert 0.0 <= r["ndcg@10"] <= 1.0 and 0.0 <= r["recall@100"] <= 1.0, r
        if r["recipe"] not in ("untrained", "inbatch"):
            assert r["rows"] > 0 and r["mean_rank"] is not None and math.isfinite(r["mean_rank"]), r
    # The summary names each recipe, with paired differences against the untrained model.
    summary = (tmp_path / "summary.txt").read_text()
    assert all(name in summary for name in RECIPES) and "Δ untrained" in summary
