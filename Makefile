# Quick start: `make demo` runs the demo, `make test` runs the tests. Each creates .venv and
# installs what it needs (torch 2.13.0 CPU, pinned by constraints.txt) the first time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint test-oldest-optuna bench install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[torch,test,plot,dashboard,lightning,transformers]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/optuna-sotl demo

# tests/system/test_browser.py drives Debian's Chromium with Playwright; no browser is downloaded.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update && apt-get install -y chromium

test: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest

# ruff (Optuna's rules, pyproject's [tool.ruff]) on the code and tests, mypy (Optuna's options,
# [tool.mypy]) on the package; CI fails on either. Pinned: a new release cannot fail CI overnight.
LINT_STAMP := $(VENV)/.lint-stamp
$(LINT_STAMP): $(STAMP)
	$(PIP) "ruff==0.17.6" "mypy==2.4.1"
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check optuna_sotl tests benchmarks
	$(VENV)/bin/mypy optuna_sotl

# Regenerates benchmarks/results/ (rank table, calibration, replayed search, overhead, scale);
# long: see benchmarks/Makefile for SEEDS=, JOBS=, BUDGET= and the single targets.
bench: $(STAMP)
	$(MAKE) -C benchmarks BENCH_PY=$(abspath $(PY))

# The lowest optuna we claim (pyproject: optuna>=4.0), tested in CI on the core: estimators, rules,
# pruners, reporter and samplers. Two sampler tests call a private TPE function whose signature
# changed after 4.0, and Optuna's gRPC proxy came in 4.2: those are left out here.
OLDEST_OPTUNA := 4.0.0
OLDEST_VENV := .venv-optuna-$(OLDEST_OPTUNA)
OLDEST_STAMP := $(OLDEST_VENV)/.installed-stamp

$(OLDEST_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --disable-pip-version-check -c constraints.txt \
		torch==2.13.0 "optuna==$(OLDEST_OPTUNA)" pytest psycopg2-binary PyMySQL redis -e .
	touch $(OLDEST_STAMP)

test-oldest-optuna: $(OLDEST_STAMP)
	$(OLDEST_VENV)/bin/python -m pytest -p no:cacheprovider \
		tests/unit/estimators tests/unit/rules tests/unit/pruners tests/unit/reporter \
		tests/unit/samplers tests/system/test_many_workers.py \
		-k "not grpc and not ranking_is_reversed and not estimator_sets_the_ranking"

clean:
	rm -rf $(VENV) $(OLDEST_VENV) *.egg-info
