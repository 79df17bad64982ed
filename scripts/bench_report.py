#!/usr/bin/env python3
"""Times `hardneg report` on a large training set: the sample mined once (n-tuple-scores, with
counterfactuals), its rows tiled to --rows with fresh query and positive ids (the texts and
negatives repeat, so reuse is high), with the sample's manifest and score-profile sidecar beside
it. Prints the seconds to write the page and its size, beside `hardneg inspect` (the score table)
on the same file.

    python scripts/bench_report.py --rows 100000
"""

import argparse
import pathlib
import shutil
import subprocess
import tempfile
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--hardneg", default=str(ROOT / "target/release/hardneg"))
    ap.add_argument("--keep", help="also copy the tiled set and its sidecars to this folder")
    args = ap.parse_args()
    sample = ROOT / "tests/fixtures/sample"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        mined = tmp / "sample.parquet"
        subprocess.run(
            [args.hardneg, "mine", "--no-progress", "--corpus", sample / "corpus.jsonl",
             "--queries", sample / "queries.jsonl", "--qrels", sample / "qrels.tsv", "--out", mined,
             "--format", "labeled-list", "--counterfactuals", "2"],
            check=True, capture_output=True,
        )
        table = pq.read_table(mined)
        copies = -(-args.rows // table.num_rows)
        tiles = []
        for k in range(copies):
            t = table
            for col in ("query_id", "positive_id"):
                t = t.set_column(t.schema.get_field_index(col), col,
                                 pc.binary_join_element_wise(t[col], pa.scalar(f"-{k}"), ""))
            tiles.append(t)
        big = pa.concat_tables(tiles).slice(0, args.rows)
        out = tmp / "big.parquet"
        pq.write_table(big, out, compression="zstd", row_group_size=8192)
        for side in ("manifest.json", "profiles.json"):
            shutil.copy(f"{mined}.{side}", f"{out}.{side}")
        if args.keep:
            pathlib.Path(args.keep).mkdir(parents=True, exist_ok=True)
            for f in tmp.glob("big.parquet*"):
                shutil.copy(f, args.keep)
        page = tmp / "big.html"
        start = time.perf_counter()
        subprocess.run([args.hardneg, "report", out, "--out", page], check=True, capture_output=True)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([args.hardneg, "inspect", out], check=True, capture_output=True)
        inspect = time.perf_counter() - start
        size = page.stat().st_size
        print(f"report of {big.num_rows} rows ({out.stat().st_size / 2**20:.1f} MiB labeled-list Parquet): "
              f"{seconds:.2f} s, page {size / 2**10:.0f} KiB; `inspect` of the same file: {inspect:.2f} s")


if __name__ == "__main__":
    main()
