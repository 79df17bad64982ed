#!/usr/bin/env python3
"""Stages against one process: `hardneg mine` beside plan -> stages -> finalize on the same synthetic
collection, in one session, each command under /usr/bin/time -v (wall seconds, peak RSS).

The staged run uses --corpus-shards/--query-shards N (default 4) run --parallel at a time (default 2,
one thread each, so both runs use the machine's 2 cores), or an engine: `--engine ray` runs
`python -m hardneg_ray`, `--engine slurm` runs `launchers/slurm/submit.sh --wait` (a running Slurm).
Prints a Markdown table and writes bench-out/stages-<passages>-<engine>.json.

usage: bench_stages.py [--passages 100000] [--queries 1000] [--shards 4] [--parallel 2] [--engine local|ray|slurm]
"""
import argparse
import concurrent.futures
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "hardneg"
OUT = ROOT / "bench-out"


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v: (wall seconds, peak RSS MiB, output)."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *map(str, cmd)], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{p.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return wall, rss, p.stdout + p.stderr


def collection(n, queries):
    d = OUT / f"synth-{n}"
    if not (d / "corpus.jsonl").exists():
        subprocess.run([sys.executable, ROOT / "scripts" / "synth_corpus.py", d, "--passages", str(n),
                        "--queries", str(queries)], check=True)
    return ["--corpus", d / "corpus.jsonl", "--queries", d / "queries.jsonl", "--qrels", d / "qrels.tsv",
            "--format", "n-tuple", "--no-progress"]


def local(run, shards, parallel):
    """Every stage's shards, `parallel` at a time with one thread each; per stage: wall and workers."""
    stages = {}
    for stage, n in (("embed-corpus", shards), ("build-index", 1), ("mine-queries", shards)):
        t = time.perf_counter()
        cmds = [[BIN, "stage", stage, "--run", run, "--shard", f"{i}/{n}", "--threads", "1", "--no-progress"] for i in range(n)]
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            workers = list(pool.map(timed, cmds))
        stages[stage] = {"wall": time.perf_counter() - t, "workers": [(w, r) for w, r, _ in workers]}
    return stages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=100000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--engine", choices=["local", "ray", "slurm"], default="local")
    ap.add_argument("--mine-from", type=Path, help="reuse this earlier run's `mine` figures (a stages-*.json)")
    a = ap.parse_args()
    base = collection(a.passages, a.queries)
    result = {"passages": a.passages, "queries": a.queries, "shards": a.shards, "engine": a.engine}

    mined = OUT / f"stages-{a.passages}-mine.parquet"
    if a.mine_from:
        result["mine"] = json.loads(a.mine_from.read_text())["mine"]
        wall, rss = result["mine"]["wall"], result["mine"]["rss"]
    else:
        wall, rss, _ = timed([BIN, "mine", *base, "--threads", str(a.parallel), "--out", mined])
        result["mine"] = {"wall": wall, "rss": rss}
    print(f"mine: {wall:.1f}s, {rss:.0f} MiB", flush=True)

    run = OUT / f"stages-{a.passages}-{a.engine}-run"
    staged = OUT / f"stages-{a.passages}-{a.engine}.parquet"
    shutil.rmtree(run, ignore_errors=True)
    started = time.perf_counter()
    wall, rss, _ = timed([BIN, "plan", "--run", run, "--corpus-shards", a.shards, "--query-shards", a.shards, *base,
                          "--out", staged])
    result["plan"] = {"wall": wall, "rss": rss}
    if a.engine == "local":
        result["stages"] = local(run, a.shards, a.parallel)
        wall, rss, _ = timed([BIN, "finalize", "--run", run])
        result["finalize"] = {"wall": wall, "rss": rss}
    elif a.engine == "ray":
        wall, rss, _ = timed([ROOT / ".venv" / "bin" / "python", "-m", "hardneg_ray", "--run", run,
                              "--cpus-per-task", "1", "--threads", "1"])
        result["engine_wall"] = wall
    else:
        wall, rss, _ = timed([ROOT / "launchers" / "slurm" / "submit.sh", run, "--wait", "--threads", "1"])
        result["engine_wall"] = wall
    result["staged_wall"] = time.perf_counter() - started
    result["identical"] = filecmp.cmp(mined, staged, shallow=False)
    markers = {}
    for stage in ("embed-corpus", "build-index", "mine-queries"):
        markers[stage] = [json.loads(p.read_text())["seconds"] for p in sorted((run / "done" / stage).glob("*.json"))]
    result["shard_seconds"] = markers
    # The shards' own seconds scheduled ideally on the slots (longest first); what the run took
    # beyond that is the launcher's: scheduling, process start-up, reading the plan, finalize.
    ideal = 0.0
    for secs in markers.values():
        slots = [0.0] * a.parallel
        for x in sorted(secs, reverse=True):
            slots[slots.index(min(slots))] += x
        ideal += max(slots)
    tasks = sum(len(v) for v in markers.values()) + 1
    result["ideal_wall"] = ideal
    result["overhead_per_task"] = (result["staged_wall"] - result["plan"]["wall"] - ideal) / tasks
    OUT.mkdir(exist_ok=True)
    (OUT / f"stages-{a.passages}-{a.engine}.json").write_text(json.dumps(result, indent=1))

    ratio = result["staged_wall"] / result["mine"]["wall"]
    print(f"\n| run | wall s | peak RSS MiB |\n|---|---|---|")
    print(f"| `hardneg mine --threads {a.parallel}` | {result['mine']['wall']:.1f} | {result['mine']['rss']:.0f} |")
    print(f"| `plan` | {result['plan']['wall']:.1f} | {result['plan']['rss']:.0f} |")
    for stage, s in result.get("stages", {}).items():
        walls = [w for w, _ in s["workers"]]
        rss = max(r for _, r in s["workers"])
        print(f"| `stage {stage}` x{len(walls)} ({a.parallel} at a time, 1 thread each) | {s['wall']:.1f} "
              f"(shards {min(walls):.1f}-{max(walls):.1f}) | {rss:.0f} per worker |")
    if "finalize" in result:
        print(f"| `finalize` | {result['finalize']['wall']:.1f} | {result['finalize']['rss']:.0f} |")
    if "engine_wall" in result:
        print(f"| {a.engine} launcher, every stage and finalize | {result['engine_wall']:.1f} | |")
    print(f"| **staged in all** | **{result['staged_wall']:.1f}** ({ratio:.2f}x mine, overhead {100 * (ratio - 1):+.1f}%) | |")
    per_m = 1e6 / a.passages
    for stage, secs in markers.items():
        print(f"{stage}: {sum(secs):.1f} worker-s in all, {sum(secs) * per_m:.0f} worker-s per 1M passages (x{per_m:g})")
    print(f"ideal schedule of the shards' own seconds on {a.parallel} slots: {ideal:.1f}s; beyond it "
          f"{result['overhead_per_task']:.2f}s per task over {tasks} tasks (finalize included)")
    print(f"training set identical to mine's: {result['identical']}")


if __name__ == "__main__":
    main()
