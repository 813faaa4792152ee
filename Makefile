# The two set-up commands of the README: `make run` and `make test`.
# Both create .venv on first use and (re)install when pyproject.toml changes.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CI pins torch through this file (see .ci/run); locally it is used too so that
# a fresh machine takes the CPU build instead of a multi-GB CUDA one.
CONSTRAINTS ?= .ci/constraints.txt
PRESET ?= digits-pc
PYTEST_ARGS ?=

.PHONY: run test install bench clean-venv

$(BIN)/python:
	$(PY) -m venv $(VENV)
	-$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -c $(CONSTRAINTS) -e '.[test,sweep]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/pcviz --preset $(PRESET)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[test,sweep,bench]'
	QT_QPA_PLATFORM=offscreen $(BIN)/pcviz bench --out docs/performance.json

clean-venv:
	rm -rf $(VENV)
