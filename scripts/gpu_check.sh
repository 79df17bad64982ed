#!/usr/bin/env bash
# The GPU check (issue "GPU-ready without a GPU"); the steps are in scripts/gpu_check.py.
#
# Here, once:   make setup build GPU=1 && bash scripts/gpu_check.sh prepare
#               (writes .gpu/call-N/ folders of at most 56 MiB and .gpu/chain.json)
# There, one device `run` per entry of .gpu/chain.json, in order, each with carry=[".gpu/call-N"]:
#               bash scripts/gpu_check.sh receive .gpu/call-N        (every call)
#               ... && bash scripts/gpu_check.sh device              (the last call adds this)
#               The JSON for BENCHMARKS.md comes back as $OUT/gpu_check.json.
# Dry run on CPU (make test runs it):
#               bash scripts/gpu_check.sh prepare --dry --out DIR, then the chain it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
# Here the project's venv; on the device machine its python3 (torch, sentence-transformers, numpy).
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
# `--prepare` reads as the step `prepare` (the name the issue gave it).
if [ "${1:-}" = --prepare ]; then shift; set -- prepare "$@"; fi
exec "$PY" scripts/gpu_check.py "$@"
