# rnnlab: every target sets itself up on a fresh machine.
#   make test   lint (ruff check + format check) and the test suite over all cores (pytest-xdist;
#               with ray installed, so the Ray executor is tested against a real local Ray
#               instance)
#   make demo   the main job: Pascanu et al. 2013's Fig. 7 in miniature (rnnlab reproduce
#               pascanu2013 --preset quick): a table, plots and an HTML report in runs/
#   make bench  the benchmarks, written to benchmarks/RESULTS.md
#
# TORCH picks the PyTorch build installed before rnnlab. The default is the CPU build that lies
# on this project's machines; elsewhere choose yours, for example
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cu126"

PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnnlab-installed

.PHONY: setup test lint demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: lint
	$(BIN)/python -m pytest -n auto

demo: $(STAMP)
	$(BIN)/rnnlab demo --workers 2

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
