"""scripts/gpu_check.sh's dry run: the payload is prepared and cut into calls, each call's command
runs as the device would run it (here, on CPU), and the JSON it writes holds the checks and the
sweep. So the script the first lent GPU runs cannot rot."""

import json
import os
import pathlib
import shlex
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_dry_chain_runs_and_writes_the_json(tmp_path):
    out = tmp_path / "gpu"
    env = dict(os.environ, GPU_CHECK_STATE=str(tmp_path / "state"), OUT=str(tmp_path / "device-out"))
    (tmp_path / "device-out").mkdir()
    subprocess.run(["bash", "scripts/gpu_check.sh", "prepare", "--dry", "--out", out, "--part-mib", "8"],
                   cwd=ROOT, check=True, env=env)
    chain = json.loads((out / "chain.json").read_text())
    assert len(chain) >= 2, "the dry payload is cut into several calls"
    for call in chain:
        assert all(pathlib.Path(c).exists() for c in call["carry"])
        assert all((pathlib.Path(c) / "part").stat().st_size <= 8 * 2**20 for c in call["carry"])
        subprocess.run(["bash", "-c", call["command"]], cwd=ROOT, check=True, env=env)
    result = json.loads((tmp_path / "device-out/gpu_check.json").read_text())
    assert result["dry"] is True
    for precision in ("fp32", "fp16"):
        assert result["checks"][precision]["min_cosine_to_cpu_fp32"] >= 0.999
        sweep = result["throughput"][precision]["sweep"]
        assert [r["batch_size"] for r in sweep] == [16, 32]
        assert all(r["passages_per_s"] > 0 and round(r["tokens"] / r["texts"]) == 128 for r in sweep)
    assert "sentence_transformers" in result
