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
	$(PIP) -e ".[torch,test,plot]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/optuna-sotl demo

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) *.egg-info
