# Two entry points: `make demo` (the main job) and `make test` (the whole suite). Each sets up .venv itself.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ssclip-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint bench-val-sweep bench-sclip bench-sclip-cached bench-multilabel bench-multilabel-ceiling bench-ddp bench-scale reliability clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ssclip demo --output runs/demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

# Preset choices on UCM's val split (bench-sclip reads its supervised runs to choose the methods' regime).
bench-val-sweep: $(STAMP)
	$(PY) benchmarks/ucm_val_sweep.py --grid full --seeds 0

# The S-CLIP benchmark in two invocations of under an hour each: the locked regime (where the methods run, chosen
# on val) and the cached regime's supervised baselines; the table in docs/RESULTS.md shows both.
bench-sclip: $(STAMP)
	$(PY) benchmarks/ucm_sclip.py --regimes locked

bench-sclip-cached: $(STAMP)
	$(PY) benchmarks/ucm_sclip.py --regimes cached

bench-multilabel: $(STAMP)
	$(PY) benchmarks/ucm_multilabel.py

# Diagnostics of why pseudo-labels add nothing on UCM (reads the runs of bench-multilabel).
bench-multilabel-ceiling: $(STAMP)
	$(PY) benchmarks/ucm_multilabel_ceiling.py

# Data-parallel training on this machine's CPU cores: torchrun against threads, then why (~40 min).
bench-ddp: $(STAMP)
	$(PY) benchmarks/ddp_cpu.py
	$(PY) benchmarks/ddp_diagnose.py

# docs/RELIABILITY.md: every bad input and fault tried, with its outcome (a few minutes).
reliability: $(STAMP)
	$(PY) benchmarks/reliability.py

# Cost per step, cache build and peak RSS against the unlabeled pool's size (run alone on a quiet machine).
# The GPU figure that the loader workers must keep fed: ViT-B-32 in LAION's scaling-law runs, 108,845 samples/s
# over 128 GPUs (local batch 256), from their trained_models_info.csv.
bench-scale: $(STAMP)
	$(PY) benchmarks/scale.py --gpu-images-per-s 850 \
		--gpu-source "ViT-B-32 in LAION's scaling-law runs: 108,845 samples/s on 128 GPUs at a local batch of 256, trained_models_info.csv at huggingface.co/mehdidc/test"

clean:
	rm -rf $(VENV) runs .pytest_cache
