# The two commands in the README: `make run` (the demo pipeline) and `make test`.
# Each makes the virtualenv on first use and reinstalls when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	dvc repro
	@echo "Done. The audit: reports/index.html; the numbers: dvc metrics show; curves: dvc plots show"

test: lint
	pytest

lint: $(STAMP)
	ruff check pipeline tests bench data/make_demo.py

clean:
	rm -rf .facedata-cache data/interim data/processed models metrics plots reports
