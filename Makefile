# The two commands in the README: `make run` (the demo pipeline) and `make test`.
# Each makes the virtualenv on first use and reinstalls when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test lint chromium bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	dvc repro
	@echo "Done. The audit: reports/index.html; a message per student: reports/feedback/; the numbers: dvc metrics show; curves: dvc plots show"

test: lint chromium
	pytest

# The report's browser test needs headless Chromium: Debian's packages, installed once when
# missing. Where apt-get is not there or fails, one line says so and the suite skips that test.
CHROMIUM ?= /usr/bin/chromium
APT_GET ?= apt-get
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v $(APT_GET) >/dev/null 2>&1; then \
	  echo "make test: no $(APT_GET) here to install Chromium; the browser test will be skipped"; \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" -ne 0 ]; then sudo="sudo -n"; else sudo=; fi; \
	echo "make test: installing Chromium for the browser test (Debian's chromium, chromium-driver)"; \
	install="$$sudo env DEBIAN_FRONTEND=noninteractive $(APT_GET) -q -y \
	  -o DPkg::Lock::Timeout=600 install --no-install-recommends chromium chromium-driver"; \
	$$install >/dev/null 2>&1 || { $$sudo $(APT_GET) -q update && $$install; } \
	  || echo "make test: $(APT_GET) could not install Chromium; the browser test will be skipped"

lint: $(STAMP)
	ruff check pipeline tests bench data/make_demo.py

clean:
	rm -rf .facedata-cache data/interim data/processed models metrics plots reports
