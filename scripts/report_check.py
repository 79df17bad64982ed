#!/usr/bin/env python3
"""Opens the sample's HTML report in a real browser: headless Chromium, a file:// URL, the
network off. Saves a screenshot and fails if it is blank or the page logged anything to the
console (the page has no scripts, so any console line is an error: a blocked resource, a parse
failure). Standard library only.

    python scripts/report_check.py --hardneg target/release/hardneg --out out/report-check
"""

import argparse
import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("report-check: no Chromium found; `make report-check` installs Debian's chromium (as root)")


def offline_prefix() -> list[str]:
    """Runs the browser in a network namespace of its own when the kernel allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


def png_pixels(path: pathlib.Path) -> tuple[int, int, list[bytes]]:
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) into rows."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"report-check: {path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        sys.exit(f"report-check: unexpected PNG layout {header}")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hardneg", default=str(ROOT / "target/release/hardneg"))
    ap.add_argument("--out", default=str(ROOT / "out/report-check"))
    ap.add_argument("--height", type=int, default=2600, help="screenshot height in pixels")
    ap.add_argument("--page", help="check this HTML page instead of the sample's report")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = ROOT / "tests/fixtures/sample"
    page = pathlib.Path(args.page) if args.page else out / "report.html"
    args.page or subprocess.run(
        [args.hardneg, "mine", "--no-progress", "--corpus", sample / "corpus.jsonl",
         "--queries", sample / "queries.jsonl", "--qrels", sample / "qrels.tsv",
         "--out", out / "sample.parquet", "--format", "labeled-list", "--counterfactuals", "2",
         "--report", page],
        check=True,
    )
    shot = out / "report.png"
    shot.unlink(missing_ok=True)
    cmd = offline_prefix() + [
        browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--enable-logging=stderr", "--v=0",
        # Belt and braces where no network namespace could be made: no proxy, no DNS.
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--window-size=1280,{args.height}", f"--screenshot={shot}", page.resolve().as_uri(),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    # The browser's own pages (chrome://) log too; only the page's lines count.
    console = [l for l in run.stderr.splitlines() if ":CONSOLE" in l and "source: chrome://" not in l]
    if run.returncode != 0 or not shot.exists():
        sys.exit(f"report-check: the browser failed ({run.returncode}):\n{run.stderr[-2000:]}")
    if console:
        sys.exit("report-check: the page logged to the console:\n" + "\n".join(console))
    width, height, rows = png_pixels(shot)
    colours, ink = set(), 0
    for row in rows[::4]:
        for x in range(0, len(row), 3 * 4):
            px = row[x : x + 3]
            colours.add(px)
            ink += px != b"\xff\xff\xff"
    sampled = len(rows[::4]) * ((width + 3) // 4)
    share = ink / sampled
    print(f"report-check: {shot} {width}x{height}, {100 * share:.1f}% non-white, {len(colours)} colours, no console output")
    if share < 0.02 or len(colours) < 16:
        sys.exit("report-check: the screenshot is blank")


if __name__ == "__main__":
    main()
