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

.PHONY: run test install system-deps bench clean-venv

$(BIN)/python:
	$(PY) -m venv $(VENV)
	-$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -c $(CONSTRAINTS) -e '.[test,export,sweep]'
	touch $(STAMP)

install: $(STAMP)

# HDF5 1.10 command-line tools (h5dump, h5ls): the tests check that recordings read
# there. Installed with apt-get where missing (as root, or through sudo without a password).
system-deps:
	@command -v h5dump >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing hdf5-tools (h5dump, h5ls) for the recording tests"; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq hdf5-tools >/dev/null; \
	  fi; \
	  command -v h5dump >/dev/null 2>&1 || echo "make: WARNING: h5dump is missing (install Debian's hdf5-tools);" \
	    "the tests that read recordings with HDF5 1.10 tools will be skipped, and fail under CI"; \
	}

run: $(STAMP)
	$(BIN)/pcviz --preset $(PRESET)

test: $(STAMP) system-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[test,export,sweep,bench]'
	QT_QPA_PLATFORM=offscreen $(BIN)/pcviz bench --out docs/performance.json

clean-venv:
	rm -rf $(VENV)
