# Stride: two commands on a fresh machine.
#   make serve   install, build the index if needed, serve on $(HOST):$(PORT)
#   make test    install everything (incl. test tools and Chromium), run every test and the eval gate
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test browser index serve test eval fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is remade when the dependency pins change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test browser

# Debian's Chromium for the widget tests (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

index: install
	$(BIN)/stride index check >/dev/null 2>&1 || $(BIN)/stride index build

serve: index
	STRIDE_HOST=$(HOST) STRIDE_PORT=$(PORT) $(BIN)/stride serve --no-build

test: install-test index
	$(BIN)/python -m pytest
	$(BIN)/stride eval --split test --gate --no-baselines

eval: install index
	$(BIN)/stride eval --split test

fuzz: install-test index
	STRIDE_FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest tests/hardening -k schemathesis -q

bench: install index
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) index/artifact index/artifact.building eval/reports test-artifacts
