# Quick start: `make demo` runs the demo, `make test` runs the tests. Each creates .venv and
# installs what it needs (torch 2.13.0 CPU, pinned by constraints.txt) the first time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[torch,test,plot,dashboard]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/optuna-sotl demo

# tests/test_browser.py drives Debian's Chromium with Playwright; no browser is downloaded.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update && apt-get install -y --no-install-recommends chromium

test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest

# Regenerates benchmarks/results/ (rank table, replayed search, pruner overhead); long: see
# benchmarks/Makefile for SEEDS=, JOBS=, BUDGET= and the single targets rank/search/overhead.
bench: $(STAMP)
	$(MAKE) -C benchmarks BENCH_PY=$(abspath $(PY))

clean:
	rm -rf $(VENV) *.egg-info
