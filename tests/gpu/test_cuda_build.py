"""`make gpu-test` (CI, after `make setup build GPU=1`): the CUDA build with onnxruntime-gpu from
.venv-gpu, on a machine without a GPU. Each way --device cuda cannot start is one sentence that
says what is missing, and the same build still embeds on CPU."""

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "target/release/hardneg"
QUERIES = ROOT / "tests/fixtures/sample/queries.jsonl"


def embed(tmp_path, device, env=None):
    return subprocess.run(
        [BIN, "embed", "--no-progress", "--input", QUERIES, "--out", tmp_path / "q.parquet", "--device", device],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )


def gpu_library():
    found = sorted((ROOT / ".venv-gpu/lib").glob("python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"))
    if not found:
        pytest.fail("no onnxruntime-gpu in .venv-gpu: run `make setup GPU=1`")
    return found[-1]


def one_sentence(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_no_driver_is_one_sentence(tmp_path):
    gpu_library()
    if pathlib.Path("/dev/nvidia0").exists():
        pytest.skip("this machine has a GPU")
    done = embed(tmp_path, "cuda")
    assert done.returncode == 2
    line = one_sentence(done.stderr)
    assert "no NVIDIA driver" in line and "libcuda.so.1" in line, line
    assert not (tmp_path / "q.parquet").exists()


def test_cpu_onnxruntime_says_it_has_no_cuda_provider(tmp_path):
    cpu = sorted((ROOT / ".venv/lib").glob("python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"))[-1]
    done = embed(tmp_path, "cuda:1", env={"ORT_DYLIB_PATH": str(cpu), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    line = one_sentence(done.stderr)
    assert "no CUDA provider" in line and "make setup GPU=1" in line, line


def test_the_gpu_build_embeds_on_cpu_with_the_gpu_library(tmp_path):
    gpu_library()
    done = embed(tmp_path, "cpu")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "q.parquet").exists()
