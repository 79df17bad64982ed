#!/usr/bin/env python3
"""`make bench`: measures hardneg beside the anchor tools in one session and rewrites the tables
between the bench markers in BENCHMARKS.md.

Data: BENCH_DATA (a BEIR folder), else ../shared/data/cisi when present, else the repo's sample.
Anchors (sentence-transformers, ONNX Runtime's Python API): BENCH_ANCHORS (the scripts folder,
default ../shared/anchors) run with ANCHOR_VENV's python; rows are skipped when either is missing.
Threads: BENCH_THREADS (default 2). Every figure comes from a whole process run here, now.
Embedding rows: the median of BENCH_ROUNDS rounds (default 3), the tools taking turns in each.
Synthetic sizes: BENCH_SCALE (default 10000; e.g. 10000,100000), BENCH_SCALE_PRECISIONS (default
fp32,int8), BENCH_SCALE_ANCHOR=0 skips sentence-transformers there. BENCH_ONLY=perturb or
BENCH_ONLY=scale runs just that table (scale is printed, for the recorded-once sections).
"""
import functools, json, os, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "hardneg"
MODEL = ROOT / "models" / "all-MiniLM-L6-v2"
THREADS = os.environ.get("BENCH_THREADS", "2")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
OUT = ROOT / "bench-out"


def data_dir():
    for cand in (os.environ.get("BENCH_DATA"), ROOT.parent / "shared" / "data" / "cisi"):
        if cand and Path(cand, "corpus.jsonl").exists():
            return Path(cand)
    return ROOT / "tests" / "fixtures" / "sample"


def anchors():
    scripts = Path(os.environ.get("BENCH_ANCHORS", ROOT.parent / "shared" / "anchors"))
    py = Path(os.environ.get("ANCHOR_VENV", ROOT.parent / "anchor-venv")) / "bin" / "python"
    return (scripts, py) if scripts.is_dir() and py.exists() else (None, None)


def timed(cmd, cwd=ROOT, env=None):
    """Runs cmd under /usr/bin/time -v; returns (stdout+stderr, wall seconds, peak RSS MiB)."""
    e = dict(os.environ, ANCHOR_THREADS=THREADS, **(env or {}))
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *map(str, cmd)], cwd=cwd, env=e, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{p.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return p.stdout + p.stderr, wall, rss


def rate(text, pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else float("nan")


def embed_rows(data, scripts, py):
    """Embedding throughput of hardneg and the anchors on `data`: BENCH_ROUNDS rounds (default 3),
    every tool once per round in turn, so that drift on a shared machine hits all of them alike;
    each row keeps the median docs/s and tokens/s and the largest peak RSS."""
    runs = []  # (row name, command, working folder, docs/s pattern, tokens/s pattern, command shown)
    # hardneg with its own batches (the default token budget), then with the anchors' batches:
    # 32 rows sorted by length, a budget no batch reaches (32 x 256 tokens), as the issue compares
    # onnxruntime on "the same graph, threads and batches".
    for precision in ("fp32", "int8"):
        for name, extra in (("", []), (" (the anchors' 32-row batches)", ["--batch-size", "32", "--max-batch-tokens", "8192"])):
            shown = " ".join(["hardneg embed --threads", THREADS, "--precision", precision, *extra, "--input corpus.jsonl"])
            runs.append((f"hardneg embed --precision {precision}{name}",
                         [BIN, "embed", "--no-progress", "--threads", THREADS, "--precision", precision, *extra,
                          "--input", data / "corpus.jsonl", "--out", OUT / f"emb-{precision}.parquet"], ROOT,
                         r"([\d.]+) texts/s", r"([\d.]+) tokens/s", shown))
    if scripts:
        for graph in ("model.onnx", "model.int8.onnx"):
            runs.append((f"onnxruntime python ({graph})", [py, "ort_encode.py", MODEL / graph, MODEL / "tokenizer.json", data], scripts,
                         r"= ([\d.]+) docs/s", None, f"ort_encode.py {graph} (batch 32, sorted)"))
        runs.append(("sentence-transformers encode", [py, "st_encode.py", data], scripts, r"= ([\d.]+) docs/s", None, "st_encode.py (batch 32)"))
    measured = {run[0]: [] for run in runs}
    for _ in range(ROUNDS):
        for name, cmd, cwd, docs, tokens, _ in runs:
            out, _, rss = timed(cmd, cwd=cwd)
            measured[name].append((rate(out, docs), rate(out, tokens) if tokens else None, rss))
    median = lambda xs: sorted(xs)[len(xs) // 2]
    return [(name, median([m[0] for m in measured[name]]), None if tokens is None else median([m[1] for m in measured[name]]),
             max(m[2] for m in measured[name]), shown) for name, _, _, _, tokens, shown in runs]


def mine_rows(data, scripts, py):
    qrels = "qrels_labeled.tsv" if (data / "qrels_labeled.tsv").exists() else "qrels.tsv"
    rows = []
    out, wall, rss = timed([BIN, "mine", "--no-progress", "--threads", THREADS, "--corpus", data / "corpus.jsonl",
                            "--queries", data / "queries.jsonl", "--qrels", data / qrels, "--format", "n-tuple-scores",
                            "--num-negatives", "5", "--out", OUT / "hardneg-top5.parquet"])
    rows.append(("hardneg mine (top 5)", wall, rss, f"hardneg mine --qrels {qrels} --num-negatives 5 --threads {THREADS}"))
    if scripts:
        out, wall, rss = timed([py, "st_mine.py", data, qrels, OUT / "st-top5.parquet"], cwd=scripts)
        rows.append(("sentence-transformers mine_hard_negatives (top 5)", wall, rss, f"st_mine.py {qrels}"))
    return rows


def scale_rows(scripts, py):
    """End to end on synthetic collections (BENCH_SCALE sizes, default 10000): wall time and peak RSS."""
    rows = []
    for n in [int(x) for x in os.environ.get("BENCH_SCALE", "10000").split(",") if x]:
        d = OUT / f"synth-{n}"
        if not (d / "corpus.jsonl").exists():
            subprocess.run([sys.executable, ROOT / "scripts" / "synth_corpus.py", d, "--passages", str(n), "--queries", "1000"], check=True)
        base = [BIN, "mine", "--no-progress", "--threads", THREADS, "--corpus", d / "corpus.jsonl", "--queries", d / "queries.jsonl",
                "--qrels", d / "qrels.tsv", "--format", "n-tuple", "--num-negatives", "5", "--fn-filter", "off"]
        for precision in os.environ.get("BENCH_SCALE_PRECISIONS", "fp32,int8").split(","):
            out = OUT / f"synth-{n}-{precision}.parquet"
            _, wall, rss = timed(base + ["--precision", precision, "--out", out])
            m = json.loads(Path(f"{out}.manifest.json").read_text())
            corpus = m["embedding"]["corpus"]
            index = m["index"]
            rows.append((n, f"hardneg mine --precision {precision}", wall, rss, corpus["texts"] / corpus["wall_seconds"],
                         f'{index["kind"]}, {index["bytes"] / 2**20:.0f}', rss - index["bytes"] / 2**20, shared_with_fp32(out, n)))
        if scripts and os.environ.get("BENCH_SCALE_ANCHOR", "1") == "1":
            out = OUT / f"synth-{n}-st.parquet"
            _, wall, rss = timed([py, "st_mine.py", d, "qrels.tsv", out, "--use-faiss"], cwd=scripts)
            rows.append((n, "sentence-transformers mine_hard_negatives (use_faiss)", wall, rss, None, None, None, shared_with_fp32(out, n)))
    return rows


def shared_with_fp32(path, n):
    """Share of the negative ids in `path` that hardneg's fp32 run mined for the same query, or
    None for the fp32 run itself (or when it is missing)."""
    fp32 = OUT / f"synth-{n}-fp32.parquet"
    if Path(path) == fp32 or not fp32.exists():
        return None
    ref, got = negatives(fp32), negatives(path)
    shared = sum(len(ids & ref.get(q, set())) for q, ids in got.items())
    return shared / max(1, sum(len(ids) for ids in got.values()))


@functools.lru_cache(maxsize=4)
def negatives(path):
    """query id -> the set of its negative ids, from a mined Parquet file (read once per file)."""
    import pyarrow.parquet as pq
    table = pq.read_table(path, columns=["query_id", "negative_ids"]).to_pydict()
    return {q: set(ids) for q, ids in zip(table["query_id"], table["negative_ids"])}


# all-MiniLM-L6-v2: 6 layers of width 384 (feed-forward 1536), FLOPs per token at sequence length L:
# projections 8·d² and feed-forward 16·d² multiply-adds ×2, attention 4·L·d.
def flops_per_token(mean_len, d=384, layers=6):
    return layers * (24 * d * d + 4 * mean_len * d)


def floor_rows(emb):
    """The model's floor: this machine's measured matrix-multiply rates (scripts/gemm_rate.py, same
    threads) over the model's FLOPs per token at the data's mean length."""
    hard = {r[0]: r for r in emb if r[0].startswith("hardneg")}
    fp32 = hard.get("hardneg embed --precision fp32")
    if not fp32 or not fp32[2]:
        return []
    mean_len = fp32[2] / fp32[1]
    rates = json.loads(subprocess.run([ROOT / ".venv" / "bin" / "python", ROOT / "scripts" / "gemm_rate.py", "--threads", THREADS],
                                      check=True, capture_output=True, text=True).stdout)
    per_token = flops_per_token(mean_len)
    rows = []
    for precision, key, unit in (("fp32", "fp32_gflops", "GFLOP/s"), ("int8", "int8_gops", "GOP/s")):
        tps = rates[key] * 1e9 / per_token
        measured = hard.get(f"hardneg embed --precision {precision}")
        share = f"{measured[2] / tps:.0%}" if measured and measured[2] else ""
        rows.append((precision, rates[key], unit, per_token / 1e6, mean_len, tps, tps / mean_len, share))
    return rows


def perturb_rows(data):
    """Counterfactual edits of every corpus passage, one family at a time: texts and chosen edits
    per second of the edit stage (embedding excluded), beside the run's own embedding rate."""
    rows = []
    for family in ("number", "negation", "comparative", "antonym", "all"):
        out = OUT / f"perturb-{family}.parquet"
        cmd = [BIN, "perturb", "--input", data / "corpus.jsonl", "--out", out, "--families", family, "--threads", THREADS]
        timed(cmd)
        m = json.loads(Path(f"{out}.manifest.json").read_text())
        e, secs = m["edits"], m["edit_seconds"]
        chosen = sum(e["chosen"].values())
        embed_rate = m["embedding"]["texts"] / m["embedding"]["wall_seconds"]
        rows.append((family, e["texts"] / secs, chosen, chosen / secs, embed_rate,
                     " ".join(str(c).replace(str(ROOT) + "/", "").replace(str(ROOT.parent) + "/", "../") for c in cmd)))
    return rows


def main():
    OUT.mkdir(exist_ok=True)
    data = data_dir()
    scripts, py = anchors()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    lines = [f"Run by `make bench` on {time.strftime('%Y-%m-%d')}: {cpu}, {os.cpu_count()} cores, {THREADS} threads, "
             f"data `{data.name}` ({sum(1 for _ in open(data / 'corpus.jsonl'))} passages). "
             + ("Anchors run in the same session." if scripts else "Anchor venv not found: anchor rows skipped.")
             + f" Embedding rows: median of {ROUNDS} rounds, the tools taking turns.", ""]
    emb = embed_rows(data, scripts, py)
    base = next((r[1] for r in emb if r[0].startswith("sentence-transformers")), None)
    # Each row against onnxruntime's Python API running the same graph file.
    ort = {graph: r[1] for r in emb for graph in ("model.onnx", "model.int8.onnx") if r[0].endswith(f"({graph})")}
    same_graph = lambda name: ort.get("model.int8.onnx" if "int8" in name else "model.onnx")
    lines += ["| embedding | docs/s | tokens/s | peak RSS MiB | × sentence-transformers | × onnxruntime python (same graph) | command |",
              "|---|---|---|---|---|---|---|"]
    for name, dps, tps, rss, cmd in emb:
        lines.append(f"| {name} | {dps:.1f} | {'' if tps is None else f'{tps:.0f}'} | {rss:.0f} | "
                     f"{'' if not base else f'{dps / base:.2f}'} | {'' if not same_graph(name) else f'{dps / same_graph(name):.2f}'} | `{cmd}` |")
    floors = floor_rows(emb)
    if floors:
        lines += ["", "| model floor (`scripts/gemm_rate.py`) | matrix-multiply rate | MFLOP/token (mean length) | floor tokens/s | floor docs/s | hardneg embed ÷ floor |",
                  "|---|---|---|---|---|---|"]
        for precision, r, unit, mflop, mean_len, tps, dps, share in floors:
            lines.append(f"| {precision} | {r:.0f} {unit} | {mflop:.1f} ({mean_len:.0f} tokens) | {tps:.0f} | {dps:.1f} | {share} |")
    mine = mine_rows(data, scripts, py)
    lines += ["", "| mining end to end | wall s | peak RSS MiB | command |", "|---|---|---|---|"]
    for name, wall, rss, cmd in mine:
        lines.append(f"| {name} | {wall:.1f} | {rss:.0f} | `{cmd}` |")
    if len(mine) == 2:
        lines.append(f"\nhardneg / sentence-transformers: time {mine[0][1] / mine[1][1]:.2f}×, peak memory {mine[0][2] / mine[1][2]:.2f}×.")
    lines += [""] + scale_table(scripts, py)
    table = "\n".join(lines)
    rewrite("bench", table)
    print(table)
    perturb_table(data)


def scale_table(scripts, py):
    lines = ["| synthetic passages (`scripts/synth_corpus.py`, 1,000 queries, top 5) | tool | wall s | peak RSS MiB | corpus embedding docs/s | index (manifest: kind, MiB) | RSS − index MiB | negative ids shared with fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    blank = lambda v, fmt: "" if v is None else format(v, fmt)
    for n, name, wall, rss, dps, index, rest, shared in scale_rows(scripts, py):
        lines.append(f"| {n:,} | {name} | {wall:.1f} | {rss:.0f} | {blank(dps, '.1f')} | {index or ''} | {blank(rest, '.0f')} | {blank(shared, '.1%')} |")
    return lines


def rewrite(marker, table):
    """Replaces the text between `<!-- marker:start -->` and `<!-- marker:end -->` in BENCHMARKS.md."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    text = re.sub(f"{start}.*{end}", lambda _: f"{start}\n{table}\n{end}", text, flags=re.S)
    path.write_text(text)


def perturb_table(data):
    """The counterfactual table (`BENCH_ONLY=perturb` runs just this one)."""
    OUT.mkdir(exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    lines = [f"Run by `make bench` on {time.strftime('%Y-%m-%d')}: {cpu}, {THREADS} threads, every passage of `{data.name}`.", "",
             "| counterfactual family | texts/s (edit stage) | edits chosen | edits/s | embedding texts/s (same run) | edit stage ÷ embedding | command |",
             "|---|---|---|---|---|---|---|"]
    for family, tps, chosen, eps, emb_rate, cmd in perturb_rows(data):
        lines.append(f"| {family} | {tps:,.0f} | {chosen} | {eps:,.0f} | {emb_rate:.1f} | {tps / emb_rate:,.0f}× | `{cmd}` |")
    table = "\n".join(lines)
    rewrite("perturb", table)
    print(table)


if __name__ == "__main__":
    if os.environ.get("BENCH_ONLY") == "perturb":
        perturb_table(data_dir())
    elif os.environ.get("BENCH_ONLY") == "scale":
        # Recorded-once sizes (BENCH_SCALE=100000 or 1000000): printed, not written into the file.
        OUT.mkdir(exist_ok=True)
        print("\n".join(scale_table(*anchors())))
    else:
        main()
