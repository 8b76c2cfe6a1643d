# vlm-eval: `make eval` (set-up + the demo evaluation), `make test` (set-up + the test suite),
# `make bench` (set-up + the benchmarks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-stamp
TINY_MODEL := build/tiny-idefics2
DEMO_DATA := vlm_eval/demo/data
DEMO_RUN := runs/demo
DEMO_NOTE := Demo of the pipeline, not a benchmark result: a tiny Idefics2-architecture checkpoint \
with random weights built from a config by vlm_eval.demo.tiny.idefics2 ($(TINY_MODEL)), evaluated \
on the bundled mini splits in the official formats ($(DEMO_DATA): generated images and questions). \
Random weights score near zero; that is expected.

.PHONY: setup eval test bench lint clean

setup: $(SETUP_STAMP)

# Java runs the COCO caption scorer (PTB tokenizer, METEOR): required. The HTML report tests render
# pages in Debian's chromium: without it they are skipped, so its install may fail. torch is pinned
# to the CPU build.
$(SETUP_STAMP): pyproject.toml
	@SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	if ! command -v java >/dev/null 2>&1 || [ ! -x /usr/bin/chromium ]; then \
		$$SUDO apt-get update -qq || true; fi; \
	command -v java >/dev/null 2>&1 || { \
		echo "java not found: installing default-jre-headless from Debian"; \
		$$SUDO apt-get install -y -qq default-jre-headless || exit 1; }; \
	[ -x /usr/bin/chromium ] || { \
		echo "chromium not found: installing it from Debian (for the HTML report tests)"; \
		$$SUDO apt-get install -y -qq chromium || \
		echo "warning: chromium could not be installed: the browser tests will be skipped"; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(TINY_MODEL)/config.json: $(SETUP_STAMP) vlm_eval/demo/tiny/idefics2.py
	$(BIN)/python -m vlm_eval.demo.tiny idefics2 $(TINY_MODEL)

eval: $(TINY_MODEL)/config.json
	rm -rf $(DEMO_RUN)
	$(BIN)/vlm-eval run --model hf --model-args pretrained=$(TINY_MODEL) --tasks all \
		--data-dir $(DEMO_DATA) --batch-size 8 --output $(DEMO_RUN)
	$(BIN)/vlm-eval report $(DEMO_RUN) --output reports/demo.md \
		--title "vlm-eval demo report" --note "$(DEMO_NOTE)"

test: setup
	$(BIN)/python -m pytest -q

# Benchmarks write JSON to bench/results/; they time, the test suite never does. The GPU one is
# run by hand in GPU sessions: $(BIN)/python -m bench.gpu
bench: setup
	$(BIN)/python -m bench.run_all

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf build runs $(VENV)
